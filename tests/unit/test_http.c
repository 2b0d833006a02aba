/* Unit tests for src/http.c: head parsing and its refusals, hop-by-hop
 * marking, and the exact bytes of rewritten and local heads.
 * (Request targets are in test_http_target.c, whose test cases join this
 * suite.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/http.h"
#include "suites.h"

#define MAXHDR 32

/* A parsed head together with the header array it borrows. */
struct parsed {
	struct http_head h;
	struct http_hdr hdr[MAXHDR];
};

static enum http_verdict parse_req(struct parsed *p, const char *raw)
{
	return http_head_parse(&p->h, raw, (uint32_t)strlen(raw), 1, p->hdr, MAXHDR);
}

static enum http_verdict parse_res(struct parsed *p, const char *raw)
{
	return http_head_parse(&p->h, raw, (uint32_t)strlen(raw), 0, p->hdr, MAXHDR);
}

/* A span as a C string (ring of static buffers: a few may be live at once). */
static const char *span(const struct http_head *h, struct http_span s)
{
	static char ring[8][1024];
	static unsigned next;
	char *out = ring[next++ % 8];
	snprintf(out, sizeof(ring[0]), "%.*s", (int)s.len, h->raw + s.off);
	return out;
}

static struct buf *new_buf(uint32_t cap)
{
	struct buf *b = calloc(1, sizeof(*b) + cap + 1) /* + the spare NUL byte */;
	ck_assert_ptr_nonnull(b);
	b->cap = cap;
	return b;
}

/* The buffer's bytes [start, end) as a C string (static; heads hold no NUL). */
static const char *text(const struct buf *b)
{
	static char out[8192];
	ck_assert_uint_lt(b->end - b->start, sizeof(out));
	memcpy(out, b->data + b->start, b->end - b->start);
	out[b->end - b->start] = '\0';
	return out;
}

/* Parse a request, mark hop-by-hop, write it for the upstream: what goes up. */
static const char *forward_request(const char *raw, const char *via, int max_forwards_dec)
{
	static char out[8192];
	struct parsed p;
	struct http_target t;
	const char *why = NULL;
	ck_assert_int_eq(parse_req(&p, raw), HTTP_OK);
	ck_assert_int_eq(http_target_parse(raw + p.h.part[1].off, p.h.part[1].len, &t, &why), 0);
	http_mark_hop_by_hop(&p.h);
	struct buf *b = new_buf(4096);
	ck_assert_int_eq(http_write_request(b, &p.h, &t, via, max_forwards_dec), 0);
	snprintf(out, sizeof(out), "%s", text(b));
	free(b);
	return out;
}

/* Parse a response, mark hop-by-hop, write it for the client. */
static const char *forward_response(const char *raw, enum http_conn_mode mode)
{
	static char out[8192];
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, raw), HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	struct buf *b = new_buf(4096);
	ck_assert_int_eq(http_write_response(b, &p.h, "sluice", mode), 0);
	snprintf(out, sizeof(out), "%s", text(b));
	free(b);
	return out;
}

/* Is header i marked to be dropped? */
static int dropped(const struct parsed *p, const char *name)
{
	int i = http_find(&p->h, name);
	ck_assert_msg(i >= 0, "no header %s", name);
	return p->hdr[i].drop;
}

/* --- start lines --------------------------------------------------------------- */

START_TEST(request_line_is_split_into_method_target_version)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
			 HTTP_OK);
	ck_assert_int_eq(p.h.is_request, 1);
	ck_assert_str_eq(span(&p.h, p.h.part[0]), "GET");
	ck_assert_str_eq(span(&p.h, p.h.part[1]), "http://example.com/a?b=1");
	ck_assert_str_eq(span(&p.h, p.h.part[2]), "HTTP/1.1");
	ck_assert_int_eq(p.h.major, 1);
	ck_assert_int_eq(p.h.minor, 1);
	ck_assert_uint_eq(p.h.nhdr, 1);
}
END_TEST

START_TEST(request_http10_version_is_read)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "HEAD http://h/ HTTP/1.0\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.major, 1);
	ck_assert_int_eq(p.h.minor, 0);
	ck_assert_uint_eq(p.h.nhdr, 0);
}
END_TEST

START_TEST(request_line_without_version_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/\r\n\r\n"), HTTP_BAD_REQUEST_LINE);
}
END_TEST

START_TEST(response_status_line_keeps_reason_with_spaces)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.0 404 Not Found Here\r\nContent-Length: 0\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.is_request, 0);
	ck_assert_str_eq(span(&p.h, p.h.part[0]), "HTTP/1.0");
	ck_assert_str_eq(span(&p.h, p.h.part[1]), "404");
	ck_assert_str_eq(span(&p.h, p.h.part[2]), "Not Found Here");
	ck_assert_int_eq(p.h.status, 404);
	ck_assert_int_eq(p.h.major, 1);
	ck_assert_int_eq(p.h.minor, 0);
}
END_TEST

START_TEST(response_without_reason_phrase_is_accepted)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 204\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.status, 204);
	ck_assert_uint_eq(p.h.part[2].len, 0);
}
END_TEST

/* --- header lines -------------------------------------------------------------- */

START_TEST(header_value_is_trimmed_of_ows)
{
	struct parsed p;
	const char *raw = "GET http://h/ HTTP/1.1\r\nX-A: \t v a l \t \r\nX-Empty:\r\nX-B:tight\r\n\r\n";
	ck_assert_int_eq(parse_req(&p, raw), HTTP_OK);
	ck_assert_uint_eq(p.h.nhdr, 3);
	ck_assert_str_eq(span(&p.h, p.hdr[0].name), "X-A");
	ck_assert_str_eq(span(&p.h, p.hdr[0].value), "v a l");
	ck_assert_str_eq(span(&p.h, p.hdr[1].name), "X-Empty");
	ck_assert_uint_eq(p.hdr[1].value.len, 0);
	ck_assert_str_eq(span(&p.h, p.hdr[2].name), "X-B");
	ck_assert_str_eq(span(&p.h, p.hdr[2].value), "tight");
}
END_TEST

START_TEST(header_line_end_points_at_the_cr)
{
	struct parsed p;
	const char *raw = "GET http://h/ HTTP/1.1\r\nX-A: 1  \r\n\r\n";
	ck_assert_int_eq(parse_req(&p, raw), HTTP_OK);
	ck_assert_uint_eq(p.hdr[0].line_end, (uint32_t)(strstr(raw, "  \r\n") - raw) + 2);
	ck_assert_int_eq(raw[p.hdr[0].line_end], '\r');
	ck_assert_int_eq(p.hdr[0].drop, 0);
}
END_TEST

START_TEST(bare_lf_line_endings_are_accepted)
{
	struct parsed p;
	const char *raw = "GET http://h/ HTTP/1.1\nHost: h\nX-Y: z \n\n";
	ck_assert_int_eq(parse_req(&p, raw), HTTP_OK);
	ck_assert_str_eq(span(&p.h, p.h.part[2]), "HTTP/1.1");
	ck_assert_uint_eq(p.h.nhdr, 2);
	ck_assert_str_eq(span(&p.h, p.hdr[1].value), "z");
	ck_assert_int_eq(raw[p.hdr[1].line_end], '\n');
}
END_TEST

START_TEST(bare_cr_inside_a_value_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nX-A: a\rb\r\n\r\n"), HTTP_BARE_CR);
}
END_TEST

START_TEST(bare_cr_as_line_end_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nX-A: a\rX-B: b\r\n\r\n"), HTTP_BARE_CR);
}
END_TEST

START_TEST(bare_cr_as_last_byte_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nX-A: a\r\n\r"), HTTP_BARE_CR);
}
END_TEST

START_TEST(obs_fold_with_space_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"), HTTP_OBS_FOLD);
}
END_TEST

START_TEST(obs_fold_with_tab_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\n\r\n"), HTTP_OBS_FOLD);
}
END_TEST

START_TEST(space_before_colon_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nHost : x\r\n\r\n"), HTTP_WS_BEFORE_COLON);
}
END_TEST

START_TEST(tab_before_colon_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nHost\t: x\r\n\r\n"), HTTP_WS_BEFORE_COLON);
}
END_TEST

START_TEST(line_without_colon_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nHost: h\r\nNoColonHere\r\n\r\n"),
			 HTTP_BAD_HEAD);
}
END_TEST

START_TEST(empty_header_name_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\n: v\r\n\r\n"), HTTP_BAD_HEAD);
}
END_TEST

START_TEST(non_token_header_name_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nX(y): v\r\n\r\n"), HTTP_BAD_HEAD);
}
END_TEST

START_TEST(headers_up_to_maxhdr_are_accepted)
{
	struct http_head h;
	struct http_hdr hdr[2];
	const char *raw = "GET http://h/ HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n";
	ck_assert_int_eq(http_head_parse(&h, raw, (uint32_t)strlen(raw), 1, hdr, 2), HTTP_OK);
	ck_assert_uint_eq(h.nhdr, 2);
}
END_TEST

START_TEST(more_headers_than_maxhdr_are_refused)
{
	struct http_head h;
	struct http_hdr hdr[2];
	const char *raw = "GET http://h/ HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	ck_assert_int_eq(http_head_parse(&h, raw, (uint32_t)strlen(raw), 1, hdr, 2), HTTP_TOO_MANY_HEADERS);
}
END_TEST

/* --- framing headers ------------------------------------------------------------ */

START_TEST(content_length_is_accepted_and_counted)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length:  42 \r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.content_length_count, 1);
	ck_assert_int_eq(p.h.transfer_encoding, 0);
	ck_assert_str_eq(span(&p.h, p.hdr[0].value), "42");
}
END_TEST

START_TEST(duplicate_content_length_same_value_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
			 HTTP_DUP_CONTENT_LENGTH);
}
END_TEST

START_TEST(duplicate_content_length_different_values_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nCONTENT-LENGTH: 7\r\n\r\n"),
			 HTTP_DUP_CONTENT_LENGTH);
}
END_TEST

START_TEST(content_length_list_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"),
			 HTTP_BAD_CONTENT_LENGTH);
}
END_TEST

START_TEST(non_numeric_content_length_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
			 HTTP_BAD_CONTENT_LENGTH);
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
			 HTTP_BAD_CONTENT_LENGTH);
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: +1\r\n\r\n"),
			 HTTP_BAD_CONTENT_LENGTH);
}
END_TEST

START_TEST(empty_content_length_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: \r\n\r\n"),
			 HTTP_BAD_CONTENT_LENGTH);
}
END_TEST

START_TEST(transfer_encoding_with_content_length_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				       "Content-Length: 5\r\n\r\n"),
			 HTTP_TE_AND_CL);
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n"),
			 HTTP_TE_AND_CL);
}
END_TEST

START_TEST(response_transfer_encoding_with_content_length_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
			 HTTP_TE_AND_CL);
}
END_TEST

START_TEST(request_te_chunked_is_accepted)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.transfer_encoding, 1);
}
END_TEST

START_TEST(request_te_gzip_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
			 HTTP_BAD_TRANSFER_ENCODING);
}
END_TEST

/* Valid, but a request goes on with chunked alone (501): an origin that
 * does not know the coding before chunked may drop the framing with it. */
START_TEST(request_te_gzip_then_chunked_is_not_implemented)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
			 HTTP_UNSUPPORTED_CODING);
	ck_assert_int_eq(p.h.transfer_encoding, 1);
}
END_TEST

START_TEST(request_te_chunked_then_gzip_is_refused)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
			 HTTP_BAD_TRANSFER_ENCODING);
}
END_TEST

START_TEST(request_te_final_coding_is_taken_from_the_last_te_line)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n"),
			 HTTP_UNSUPPORTED_CODING); /* framed by the last line, refused for gzip */
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				       "Transfer-Encoding: gzip\r\n\r\n"),
			 HTTP_BAD_TRANSFER_ENCODING);
}
END_TEST

START_TEST(response_te_not_ending_in_chunked_is_accepted)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.transfer_encoding, 1);
}
END_TEST

/* --- Max-Forwards and Connection --------------------------------------------------- */

START_TEST(max_forwards_absent_is_minus_one)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.max_forwards, -1);
	ck_assert_int_eq(p.h.max_forwards_idx, -1);
}
END_TEST

START_TEST(max_forwards_number_is_parsed_with_its_index)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "OPTIONS http://h/ HTTP/1.1\r\nHost: h\r\nMax-Forwards:  12 \r\n\r\n"),
			 HTTP_OK);
	ck_assert_int_eq(p.h.max_forwards, 12);
	ck_assert_int_eq(p.h.max_forwards_idx, 1);
}
END_TEST

START_TEST(max_forwards_zero_is_parsed)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "TRACE http://h/ HTTP/1.1\r\nmax-forwards: 0\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.max_forwards, 0);
	ck_assert_int_eq(p.h.max_forwards_idx, 0);
}
END_TEST

START_TEST(max_forwards_not_a_number_is_minus_one)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "TRACE http://h/ HTTP/1.1\r\nMax-Forwards: 1a\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.max_forwards, -1);
	ck_assert_int_eq(p.h.max_forwards_idx, -1);
	ck_assert_int_eq(parse_req(&p, "TRACE http://h/ HTTP/1.1\r\nMax-Forwards:\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.max_forwards, -1);
}
END_TEST

START_TEST(max_forwards_first_valid_line_wins)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "TRACE http://h/ HTTP/1.1\r\nMax-Forwards: 3\r\nMax-Forwards: 9\r\n\r\n"),
			 HTTP_OK);
	ck_assert_int_eq(p.h.max_forwards, 3);
	ck_assert_int_eq(p.h.max_forwards_idx, 0);
}
END_TEST

START_TEST(connection_without_header_has_no_tokens)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.conn_tokens, 0);
}
END_TEST

START_TEST(connection_close_sets_close)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nConnection: close\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(p.h.conn_tokens, HTTP_CONN_CLOSE);
}
END_TEST

START_TEST(connection_tokens_are_case_insensitive_and_combined)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nConnection: Keep-Alive, X-Foo\r\n"
				       "connection: ,, UPGRADE ,\r\n\r\n"),
			 HTTP_OK);
	ck_assert_int_eq(p.h.conn_tokens, HTTP_CONN_KEEPALIVE | HTTP_CONN_UPGRADE);
}
END_TEST

START_TEST(connection_token_must_match_whole)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nConnection: closed, keep-alive-ish\r\n\r\n"),
			 HTTP_OK);
	ck_assert_int_eq(p.h.conn_tokens, 0);
}
END_TEST

START_TEST(find_is_case_insensitive_and_returns_the_first)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nA: 1\r\nx-dup: 1\r\nX-Dup: 2\r\n\r\n"), HTTP_OK);
	ck_assert_int_eq(http_find(&p.h, "X-DUP"), 1);
	ck_assert_int_eq(http_find(&p.h, "a"), 0);
	ck_assert_int_eq(http_find(&p.h, "X-Du"), -1);
	ck_assert_int_eq(http_find(&p.h, "Missing"), -1);
}
END_TEST

START_TEST(verdict_texts_name_the_refusal)
{
	ck_assert_str_eq(http_verdict_text(HTTP_OK), "ok");
	ck_assert_str_eq(http_verdict_text(HTTP_BARE_CR), "bare CR in header block");
	ck_assert_str_eq(http_verdict_text(HTTP_TOO_MANY_HEADERS), "too many header lines");
}
END_TEST

START_TEST(status_texts)
{
	ck_assert_str_eq(http_status_text(200), "OK");
	ck_assert_str_eq(http_status_text(414), "URI Too Long");
	ck_assert_str_eq(http_status_text(502), "Bad Gateway");
	ck_assert_str_eq(http_status_text(599), "Error");
}
END_TEST

/* --- hop-by-hop ---------------------------------------------------------------- */

START_TEST(hop_by_hop_headers_are_dropped)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\n"
				       "Connection: keep-alive\r\n"
				       "Keep-Alive: timeout=5\r\n"
				       "Proxy-Connection: keep-alive\r\n"
				       "Proxy-Authorization: Basic eDp5\r\n"
				       "TE: trailers\r\n"
				       "Trailer: X-Sum\r\n"
				       "Upgrade: websocket\r\n"
				       "Accept: */*\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "Connection"), 1);
	ck_assert_int_eq(dropped(&p, "Keep-Alive"), 1);
	ck_assert_int_eq(dropped(&p, "Proxy-Connection"), 1);
	ck_assert_int_eq(dropped(&p, "Proxy-Authorization"), 1);
	ck_assert_int_eq(dropped(&p, "TE"), 1);
	ck_assert_int_eq(dropped(&p, "Trailer"), 1);
	ck_assert_int_eq(dropped(&p, "Upgrade"), 1);
	ck_assert_int_eq(dropped(&p, "Accept"), 0);
}
END_TEST

START_TEST(hop_by_hop_names_match_case_insensitively)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nCONNECTION: close\r\nkeep-alive: max=3\r\n"
				       "te: x\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(p.hdr[0].drop, 1);
	ck_assert_int_eq(p.hdr[1].drop, 1);
	ck_assert_int_eq(p.hdr[2].drop, 1);
}
END_TEST

START_TEST(end_to_end_headers_are_kept)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n"
				       "Set-Cookie: a=1\r\nTEx: not-te\r\nContent-Length: 0\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	for (uint32_t i = 0; i < p.h.nhdr; i++)
		ck_assert_msg(p.hdr[i].drop == 0, "header %s dropped", span(&p.h, p.hdr[i].name));
}
END_TEST

START_TEST(host_is_dropped_in_requests)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"), HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "Host"), 1);
	ck_assert_int_eq(dropped(&p, "Accept"), 0);
}
END_TEST

START_TEST(host_is_kept_in_responses)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nHost: h\r\n\r\n"), HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "Host"), 0);
}
END_TEST

START_TEST(connection_listed_headers_are_dropped)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nConnection: X-Foo\r\nx-foo: 1\r\n"
				       "X-FOO: 2\r\nX-Foo-Bar: 3\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(p.hdr[1].drop, 1);
	ck_assert_int_eq(p.hdr[2].drop, 1);
	ck_assert_int_eq(p.hdr[3].drop, 0);
}
END_TEST

START_TEST(connection_list_with_ows_and_empty_elements)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "GET http://h/ HTTP/1.1\r\nConnection: , X-A ,,\t x-b\t,\r\n"
				       "X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "X-A"), 1);
	ck_assert_int_eq(dropped(&p, "X-B"), 1);
	ck_assert_int_eq(dropped(&p, "X-C"), 0);
}
END_TEST

START_TEST(connection_tokens_from_every_connection_line_drop)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nConnection: X-A\r\nX-A: 1\r\nX-B: 2\r\n"
				       "Connection: X-B\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "X-A"), 1);
	ck_assert_int_eq(dropped(&p, "X-B"), 1);
}
END_TEST

START_TEST(framing_headers_survive_connection_tokens_in_responses)
{
	struct parsed p;
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\nConnection: content-length, Host\r\n"
				       "Content-Length: 3\r\nHost: h\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "Content-Length"), 0);
	ck_assert_int_eq(dropped(&p, "Host"), 0);
}
END_TEST

START_TEST(transfer_encoding_survives_connection_token)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nConnection: Transfer-Encoding\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "Transfer-Encoding"), 0);
}
END_TEST

START_TEST(content_length_survives_connection_token_in_requests)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "POST http://h/ HTTP/1.1\r\nConnection: Content-Length\r\n"
				       "Content-Length: 3\r\n\r\n"),
			 HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert_int_eq(dropped(&p, "Content-Length"), 0);
}
END_TEST

/* --- http_write_request ------------------------------------------------------------- */

START_TEST(write_request_basic_exact_bytes)
{
	ck_assert_str_eq(forward_request("GET http://example.com/a/b?x=1 HTTP/1.1\r\n"
					 "Host: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n",
					 "sluice", 0),
			 "GET /a/b?x=1 HTTP/1.1\r\n"
			 "Host: example.com\r\n"
			 "User-Agent: t/1\r\n"
			 "Accept: */*\r\n"
			 "Via: 1.1 sluice\r\n"
			 "\r\n");
}
END_TEST

START_TEST(write_request_host_comes_first_from_the_target)
{
	ck_assert_str_eq(forward_request("POST http://a.example/p HTTP/1.1\r\nAccept: */*\r\n"
					 "Host: other.example\r\nContent-Length: 0\r\n\r\n",
					 "sluice", 0),
			 "POST /p HTTP/1.1\r\n"
			 "Host: a.example\r\n"
			 "Accept: */*\r\n"
			 "Content-Length: 0\r\n"
			 "Via: 1.1 sluice\r\n"
			 "\r\n");
}
END_TEST

START_TEST(write_request_host_has_port_when_not_80)
{
	ck_assert_str_eq(forward_request("GET http://h.example:8080/ HTTP/1.1\r\n\r\n", "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h.example:8080\r\nVia: 1.1 sluice\r\n\r\n");
	ck_assert_str_eq(forward_request("GET http://h.example:80/ HTTP/1.1\r\n\r\n", "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h.example\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_ipv6_host_is_bracketed)
{
	ck_assert_str_eq(forward_request("GET http://[::1]:8080/x HTTP/1.1\r\n\r\n", "sluice", 0),
			 "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\nVia: 1.1 sluice\r\n\r\n");
	ck_assert_str_eq(forward_request("GET http://[2001:db8::1]/ HTTP/1.1\r\n\r\n", "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_query_without_path)
{
	ck_assert_str_eq(forward_request("GET http://h?q=1 HTTP/1.1\r\n\r\n", "sluice", 0),
			 "GET /?q=1 HTTP/1.1\r\nHost: h\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_keeps_header_bytes_case_spacing_duplicates)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.1\r\n"
					 "x-lower:  spaced  value \t\r\n"
					 "X-Dup: 1\r\n"
					 "x-dup:2\r\n"
					 "X-Dup: 1\r\n\r\n",
					 "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\n"
			 "x-lower:  spaced  value \t\r\n"
			 "X-Dup: 1\r\n"
			 "x-dup:2\r\n"
			 "X-Dup: 1\r\n"
			 "Via: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_turns_bare_lf_into_crlf)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.1\nAccept: */*\n\n", "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_leaves_out_hop_by_hop)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\n"
					 "Proxy-Authorization: Basic eDp5\r\nX-Secret: s\r\nAccept: */*\r\n"
					 "Proxy-Connection: keep-alive\r\n\r\n",
					 "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_http10_gets_via_1_0)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.0\r\nAccept: */*\r\n\r\n", "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nVia: 1.0 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_uses_via_name)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.1\r\n\r\n", "gw-7", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 gw-7\r\n\r\n");
}
END_TEST

START_TEST(write_request_keeps_existing_via_and_appends_own)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.1\r\nVia: 1.1 edge\r\nAccept: */*\r\n\r\n",
					 "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 edge\r\nAccept: */*\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_decrements_max_forwards_in_place)
{
	ck_assert_str_eq(forward_request("OPTIONS http://h/ HTTP/1.1\r\nMax-Forwards:5\r\nAccept: */*\r\n\r\n",
					 "sluice", 1),
			 "OPTIONS / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 4\r\nAccept: */*\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_keeps_max_forwards_unless_asked)
{
	ck_assert_str_eq(forward_request("GET http://h/ HTTP/1.1\r\nMax-Forwards:5\r\n\r\n", "sluice", 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards:5\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_request_appends_after_existing_bytes)
{
	struct parsed p;
	struct http_target t;
	const char *why;
	const char *raw = "GET http://h/ HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(parse_req(&p, raw), HTTP_OK);
	ck_assert_int_eq(http_target_parse(raw + p.h.part[1].off, p.h.part[1].len, &t, &why), 0);
	struct buf *b = new_buf(256);
	ck_assert_int_eq(buf_append(b, "XX", 2), 0);
	ck_assert_int_eq(http_write_request(b, &p.h, &t, "sluice", 0), 0);
	ck_assert_str_eq(text(b), "XXGET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 sluice\r\n\r\n");
	ck_assert_uint_eq(b->parsed, b->end);
	free(b);
}
END_TEST

/* The same head into buffers of every size around its length. */
START_TEST(write_request_fails_when_the_buffer_is_too_small)
{
	struct parsed p;
	struct http_target t;
	const char *why;
	const char *raw = "GET http://h/ HTTP/1.1\r\nAccept: */*\r\n\r\n";
	const char *want = "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nVia: 1.1 sluice\r\n\r\n";
	uint32_t n = (uint32_t)strlen(want);
	ck_assert_int_eq(parse_req(&p, raw), HTTP_OK);
	ck_assert_int_eq(http_target_parse(raw + p.h.part[1].off, p.h.part[1].len, &t, &why), 0);
	http_mark_hop_by_hop(&p.h);
	for (uint32_t cap = 0; cap < n; cap++) {
		struct buf *b = new_buf(cap);
		ck_assert_msg(http_write_request(b, &p.h, &t, "sluice", 0) == -1, "cap %u accepted", cap);
		free(b);
	}
	struct buf *b = new_buf(n);
	ck_assert_int_eq(http_write_request(b, &p.h, &t, "sluice", 0), 0);
	ck_assert_str_eq(text(b), want);
	free(b);
}
END_TEST

/* --- http_write_response ------------------------------------------------------------ */

START_TEST(write_response_as_is_exact_bytes)
{
	ck_assert_str_eq(forward_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n",
					  HTTP_CONN_AS_IS),
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_response_via_carries_upstream_version)
{
	ck_assert_str_eq(forward_response("HTTP/1.0 404 Not Found Here\r\nContent-Length: 0\r\n\r\n",
					  HTTP_CONN_AS_IS),
			 "HTTP/1.1 404 Not Found Here\r\nContent-Length: 0\r\nVia: 1.0 sluice\r\n\r\n");
}
END_TEST

START_TEST(write_response_adds_connection_close)
{
	ck_assert_str_eq(forward_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_CONN_ADD_CLOSE),
			 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: 1.1 sluice\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(write_response_adds_connection_keep_alive)
{
	ck_assert_str_eq(forward_response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
					  HTTP_CONN_ADD_KEEPALIVE),
			 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVia: 1.1 sluice\r\nConnection: keep-alive\r\n\r\n");
}
END_TEST

START_TEST(write_response_replaces_upstream_connection_headers)
{
	ck_assert_str_eq(forward_response("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
					  "X-Hop: 1\r\nDate: x\r\nTransfer-Encoding: chunked\r\n\r\n",
					  HTTP_CONN_ADD_CLOSE),
			 "HTTP/1.1 200 OK\r\nDate: x\r\nTransfer-Encoding: chunked\r\nVia: 1.1 sluice\r\n"
			 "Connection: close\r\n\r\n");
}
END_TEST

START_TEST(write_response_fails_when_the_buffer_is_too_small)
{
	struct parsed p;
	const char *want = "HTTP/1.1 200 OK\r\nVia: 1.1 sluice\r\nConnection: close\r\n\r\n";
	uint32_t n = (uint32_t)strlen(want);
	ck_assert_int_eq(parse_res(&p, "HTTP/1.1 200 OK\r\n\r\n"), HTTP_OK);
	for (uint32_t cap = 0; cap < n; cap++) {
		struct buf *b = new_buf(cap);
		ck_assert_msg(http_write_response(b, &p.h, "sluice", HTTP_CONN_ADD_CLOSE) == -1, "cap %u accepted",
			      cap);
		free(b);
	}
	struct buf *b = new_buf(n);
	ck_assert_int_eq(http_write_response(b, &p.h, "sluice", HTTP_CONN_ADD_CLOSE), 0);
	ck_assert_str_eq(text(b), want);
	free(b);
}
END_TEST

/* --- http_write_trace ---------------------------------------------------------------- */

START_TEST(write_trace_echoes_head_without_secrets)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "TRACE http://h/x HTTP/1.1\r\nMax-Forwards: 0\r\nCookie: c=1\r\n"
					"Authorization: Basic x\r\nProxy-Authorization: Basic y\r\nX-A:  b \r\n\r\n"),
			 HTTP_OK);
	struct buf *b = new_buf(1024);
	ck_assert_int_eq(http_write_trace(b, &p.h, 1), 0);
	const char *body = "TRACE http://h/x HTTP/1.1\r\nMax-Forwards: 0\r\nX-A:  b \r\n\r\n";
	char want[512];
	snprintf(want, sizeof(want),
		 "HTTP/1.1 200 OK\r\nServer: sluice\r\nContent-Type: message/http\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s", strlen(body), body);
	ck_assert_str_eq(text(b), want);
	free(b);
}
END_TEST

START_TEST(write_trace_too_big_leaves_buffer_unchanged)
{
	struct parsed p;
	ck_assert_int_eq(parse_req(&p, "TRACE http://h/x HTTP/1.1\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n"),
			 HTTP_OK);
	struct buf *b = new_buf(120);
	ck_assert_int_eq(http_write_trace(b, &p.h, 0), -1);
	ck_assert_uint_eq(b->end, 0);
	free(b);
}
END_TEST

/* --- http_write_local ---------------------------------------------------------------- */

START_TEST(write_local_exact_bytes)
{
	struct buf *b = new_buf(512);
	ck_assert_int_eq(http_write_local(b, 404, NULL, "text/plain", NULL, "nope\n", 5, 0), 0);
	ck_assert_str_eq(text(b), "HTTP/1.1 404 Not Found\r\nServer: sluice\r\nContent-Type: text/plain\r\n"
				  "Content-Length: 5\r\n\r\nnope\n");
	ck_assert_uint_eq(b->parsed, b->end);
	free(b);
}
END_TEST

START_TEST(write_local_with_reason_and_close)
{
	struct buf *b = new_buf(512);
	ck_assert_int_eq(http_write_local(b, 502, "Upstream Gone", "text/html", NULL, "", 0, 1), 0);
	ck_assert_str_eq(text(b), "HTTP/1.1 502 Upstream Gone\r\nServer: sluice\r\nContent-Type: text/html\r\n"
				  "Content-Length: 0\r\nConnection: close\r\n\r\n");
	free(b);
}
END_TEST

START_TEST(write_local_too_big_leaves_buffer_unchanged)
{
	/* the head fits, the body does not: the head must be taken back */
	struct buf *b = new_buf(100);
	ck_assert_int_eq(buf_append(b, "abc", 3), 0);
	char body[64];
	memset(body, 'x', sizeof(body));
	ck_assert_int_eq(http_write_local(b, 200, NULL, "text/plain", NULL, body, sizeof(body), 0), -1);
	ck_assert_uint_eq(b->start, 0);
	ck_assert_uint_eq(b->parsed, 3);
	ck_assert_uint_eq(b->end, 3);
	ck_assert_str_eq(text(b), "abc");
	free(b);
}
END_TEST

START_TEST(write_local_head_too_big_leaves_buffer_unchanged)
{
	struct buf *b = new_buf(20);
	ck_assert_int_eq(buf_append(b, "abc", 3), 0);
	ck_assert_int_eq(http_write_local(b, 200, NULL, "text/plain", NULL, "", 0, 0), -1);
	ck_assert_uint_eq(b->parsed, 3);
	ck_assert_uint_eq(b->end, 3);
	ck_assert_str_eq(text(b), "abc");
	free(b);
}
END_TEST

/* OPTIONS with Max-Forwards: 0 is answered with exactly this (empty body). */
START_TEST(write_local_fits_exactly_with_empty_body)
{
	const char *want = "HTTP/1.1 200 OK\r\nServer: sluice\r\nContent-Type: text/plain\r\n"
			   "Content-Length: 0\r\n\r\n";
	struct buf *b = new_buf((uint32_t)strlen(want));
	ck_assert_int_eq(http_write_local(b, 200, NULL, "text/plain", NULL, "", 0, 0), 0);
	ck_assert_str_eq(text(b), want);
	free(b);
}
END_TEST

START_TEST(write_local_fits_exactly_with_body)
{
	const char *want = "HTTP/1.1 200 OK\r\nServer: sluice\r\nContent-Type: text/plain\r\n"
			   "Content-Length: 2\r\n\r\nhi";
	struct buf *b = new_buf((uint32_t)strlen(want));
	ck_assert_int_eq(http_write_local(b, 200, NULL, "text/plain", NULL, "hi", 2, 0), 0);
	ck_assert_str_eq(text(b), want);
	free(b);
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, request_line_is_split_into_method_target_version);
	tcase_add_test(tc, request_http10_version_is_read);
	tcase_add_test(tc, request_line_without_version_is_refused);
	tcase_add_test(tc, response_status_line_keeps_reason_with_spaces);
	tcase_add_test(tc, response_without_reason_phrase_is_accepted);
	tcase_add_test(tc, header_value_is_trimmed_of_ows);
	tcase_add_test(tc, header_line_end_points_at_the_cr);
	tcase_add_test(tc, bare_lf_line_endings_are_accepted);
	tcase_add_test(tc, bare_cr_inside_a_value_is_refused);
	tcase_add_test(tc, bare_cr_as_line_end_is_refused);
	tcase_add_test(tc, bare_cr_as_last_byte_is_refused);
	tcase_add_test(tc, obs_fold_with_space_is_refused);
	tcase_add_test(tc, obs_fold_with_tab_is_refused);
	tcase_add_test(tc, space_before_colon_is_refused);
	tcase_add_test(tc, tab_before_colon_is_refused);
	tcase_add_test(tc, line_without_colon_is_refused);
	tcase_add_test(tc, empty_header_name_is_refused);
	tcase_add_test(tc, non_token_header_name_is_refused);
	tcase_add_test(tc, headers_up_to_maxhdr_are_accepted);
	tcase_add_test(tc, more_headers_than_maxhdr_are_refused);
	tcase_add_test(tc, find_is_case_insensitive_and_returns_the_first);
	tcase_add_test(tc, verdict_texts_name_the_refusal);
	tcase_add_test(tc, status_texts);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_test(tc, content_length_is_accepted_and_counted);
	tcase_add_test(tc, duplicate_content_length_same_value_is_refused);
	tcase_add_test(tc, duplicate_content_length_different_values_is_refused);
	tcase_add_test(tc, content_length_list_is_refused);
	tcase_add_test(tc, non_numeric_content_length_is_refused);
	tcase_add_test(tc, empty_content_length_is_refused);
	tcase_add_test(tc, transfer_encoding_with_content_length_is_refused);
	tcase_add_test(tc, response_transfer_encoding_with_content_length_is_refused);
	tcase_add_test(tc, request_te_chunked_is_accepted);
	tcase_add_test(tc, request_te_gzip_is_refused);
	tcase_add_test(tc, request_te_gzip_then_chunked_is_not_implemented);
	tcase_add_test(tc, request_te_chunked_then_gzip_is_refused);
	tcase_add_test(tc, request_te_final_coding_is_taken_from_the_last_te_line);
	tcase_add_test(tc, response_te_not_ending_in_chunked_is_accepted);
	suite_add_tcase(s, tc);

	tc = tcase_create("max-forwards+connection");
	tcase_add_test(tc, max_forwards_absent_is_minus_one);
	tcase_add_test(tc, max_forwards_number_is_parsed_with_its_index);
	tcase_add_test(tc, max_forwards_zero_is_parsed);
	tcase_add_test(tc, max_forwards_not_a_number_is_minus_one);
	tcase_add_test(tc, max_forwards_first_valid_line_wins);
	tcase_add_test(tc, connection_without_header_has_no_tokens);
	tcase_add_test(tc, connection_close_sets_close);
	tcase_add_test(tc, connection_tokens_are_case_insensitive_and_combined);
	tcase_add_test(tc, connection_token_must_match_whole);
	suite_add_tcase(s, tc);

	tc = tcase_create("hop-by-hop");
	tcase_add_test(tc, hop_by_hop_headers_are_dropped);
	tcase_add_test(tc, hop_by_hop_names_match_case_insensitively);
	tcase_add_test(tc, end_to_end_headers_are_kept);
	tcase_add_test(tc, host_is_dropped_in_requests);
	tcase_add_test(tc, host_is_kept_in_responses);
	tcase_add_test(tc, connection_listed_headers_are_dropped);
	tcase_add_test(tc, connection_list_with_ows_and_empty_elements);
	tcase_add_test(tc, connection_tokens_from_every_connection_line_drop);
	tcase_add_test(tc, framing_headers_survive_connection_tokens_in_responses);
	tcase_add_test(tc, transfer_encoding_survives_connection_token);
	tcase_add_test(tc, content_length_survives_connection_token_in_requests);
	suite_add_tcase(s, tc);

	tc = tcase_create("write_request");
	tcase_add_test(tc, write_request_basic_exact_bytes);
	tcase_add_test(tc, write_request_host_comes_first_from_the_target);
	tcase_add_test(tc, write_request_host_has_port_when_not_80);
	tcase_add_test(tc, write_request_ipv6_host_is_bracketed);
	tcase_add_test(tc, write_request_query_without_path);
	tcase_add_test(tc, write_request_keeps_header_bytes_case_spacing_duplicates);
	tcase_add_test(tc, write_request_turns_bare_lf_into_crlf);
	tcase_add_test(tc, write_request_leaves_out_hop_by_hop);
	tcase_add_test(tc, write_request_http10_gets_via_1_0);
	tcase_add_test(tc, write_request_uses_via_name);
	tcase_add_test(tc, write_request_keeps_existing_via_and_appends_own);
	tcase_add_test(tc, write_request_decrements_max_forwards_in_place);
	tcase_add_test(tc, write_request_keeps_max_forwards_unless_asked);
	tcase_add_test(tc, write_request_appends_after_existing_bytes);
	tcase_add_test(tc, write_request_fails_when_the_buffer_is_too_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("write_response");
	tcase_add_test(tc, write_response_as_is_exact_bytes);
	tcase_add_test(tc, write_response_via_carries_upstream_version);
	tcase_add_test(tc, write_response_adds_connection_close);
	tcase_add_test(tc, write_response_adds_connection_keep_alive);
	tcase_add_test(tc, write_response_replaces_upstream_connection_headers);
	tcase_add_test(tc, write_response_fails_when_the_buffer_is_too_small);
	suite_add_tcase(s, tc);

	tc = tcase_create("write_trace");
	tcase_add_test(tc, write_trace_echoes_head_without_secrets);
	tcase_add_test(tc, write_trace_too_big_leaves_buffer_unchanged);
	suite_add_tcase(s, tc);

	tc = tcase_create("write_local");
	tcase_add_test(tc, write_local_exact_bytes);
	tcase_add_test(tc, write_local_with_reason_and_close);
	tcase_add_test(tc, write_local_too_big_leaves_buffer_unchanged);
	tcase_add_test(tc, write_local_head_too_big_leaves_buffer_unchanged);
	tcase_add_test(tc, write_local_fits_exactly_with_empty_body);
	tcase_add_test(tc, write_local_fits_exactly_with_body);
	suite_add_tcase(s, tc);

	http_target_add_tcases(s);
	http_framing_add_tcases(s);
	return s;
}
