/* Unit tests for src/http.c's framing decisions: the start lines read
 * strictly (one space, three status digits, a clean target), the transfer
 * codings and Content-Length read into one decision (http_body_of), and the
 * framing headers written anew in canonical form.  These test cases join the
 * http suite (test_http.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/http.h"
#include "suites.h"

#define MAXHDR 32

struct parsed {
	struct http_head h;
	struct http_hdr hdr[MAXHDR];
};

static enum http_verdict parse(struct parsed *p, const char *raw, int is_request)
{
	return http_head_parse(&p->h, raw, (uint32_t)strlen(raw), is_request, p->hdr, MAXHDR);
}

/* Parse, mark and write again; the bytes written, as a string. */
static const char *rewrite(const char *raw, int is_request, int omit_framing)
{
	static char out[4096];
	struct parsed p;
	ck_assert_int_eq(parse(&p, raw, is_request), HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	p.h.omit_framing = omit_framing;
	struct buf *b = calloc(1, sizeof(*b) + 4096 + 1);
	b->cap = 4096;
	if (is_request) {
		struct http_target t;
		const char *why;
		ck_assert_int_eq(http_target_parse(raw + p.h.part[1].off, p.h.part[1].len, &t, &why), 0);
		ck_assert_int_eq(http_write_request(b, &p.h, &t, "sluice", 0), 0);
	} else {
		ck_assert_int_eq(http_write_response(b, &p.h, "sluice", HTTP_CONN_AS_IS), 0);
	}
	snprintf(out, sizeof(out), "%.*s", (int)(b->end - b->start), b->data + b->start);
	free(b);
	return out;
}

#define REQ(head) "POST http://h/ HTTP/1.1\r\n" head "\r\n"
#define RES(head) "HTTP/1.1 200 OK\r\n" head "\r\n"

/* --- status lines -------------------------------------------------------------------- */

START_TEST(status_is_three_digits_after_one_space)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, "HTTP/1.1  200 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 0200 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 20 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 2000 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 200OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 +20 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1\t200 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 099 Low\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 600 High\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 200 O\x01K\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 200 O\x7fK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
	ck_assert_int_eq(parse(&p, " HTTP/1.1 200 OK\r\n\r\n", 0), HTTP_BAD_STATUS_LINE);
}
END_TEST

START_TEST(status_lines_that_are_right)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, "HTTP/1.1 200 OK\r\n\r\n", 0), HTTP_OK);
	ck_assert_int_eq(p.h.status, 200);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 204\r\n\r\n", 0), HTTP_OK); /* no reason, no space */
	ck_assert_int_eq(p.h.status, 204);
	ck_assert_int_eq(parse(&p, "HTTP/1.0 103 \r\n\r\n", 0), HTTP_OK); /* empty reason */
	ck_assert_int_eq(p.h.status, 103);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 404 Not\tFound \xe9t\xe9\r\n\r\n", 0), HTTP_OK); /* HTAB, obs-text */
	ck_assert_int_eq(p.h.status, 404);
	ck_assert_int_eq(parse(&p, "HTTP/1.1 599 X\r\n\r\n", 0), HTTP_OK);
}
END_TEST

/* --- request lines ----------------------------------------------------------------------- */

START_TEST(request_line_has_one_space_each)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, "GET  http://h/ HTTP/1.1\r\n\r\n", 1), HTTP_BAD_REQUEST_LINE);
	ck_assert_int_eq(parse(&p, "GET http://h/  HTTP/1.1\r\n\r\n", 1), HTTP_BAD_REQUEST_LINE);
	ck_assert_int_eq(parse(&p, " GET http://h/ HTTP/1.1\r\n\r\n", 1), HTTP_BAD_REQUEST_LINE);
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1 \r\n\r\n", 1), HTTP_BAD_REQUEST_LINE);
	ck_assert_int_eq(parse(&p, "GET http://h/ a HTTP/1.1\r\n\r\n", 1), HTTP_BAD_REQUEST_LINE);
}
END_TEST

START_TEST(target_holds_visible_ascii_only)
{
	struct parsed p;
	static const char bad[] = { '\t', '\f', '\v', 0x01, 0x7f, (char)0x80, (char)0xff };
	for (size_t i = 0; i < sizeof(bad); i++) {
		char raw[64];
		snprintf(raw, sizeof(raw), "GET http://h/a%cb HTTP/1.1\r\n\r\n", bad[i]);
		ck_assert_msg(parse(&p, raw, 1) == HTTP_BAD_TARGET, "byte 0x%02x taken", (unsigned char)bad[i]);
	}
	ck_assert_int_eq(parse(&p, "GET http://h/a%09b?q=~!$&'()*+,;=:@[] HTTP/1.1\r\n\r\n", 1), HTTP_OK);
}
END_TEST

/* --- the body decision ---------------------------------------------------------------------- */

START_TEST(request_bodies)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\n\r\n", 1), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_NONE);
	ck_assert_int_eq(parse(&p, REQ("Content-Length: 007\r\n"), 1), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_LENGTH);
	ck_assert_uint_eq(p.h.content_length, 7);
	ck_assert_int_eq(parse(&p, REQ("Transfer-Encoding: chunked\t\r\n"), 1), HTTP_OK); /* OWS is not the value */
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_CHUNKED);
	ck_assert_int_eq(parse(&p, REQ("Transfer-Encoding:\tCHUNKED\r\n"), 1), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_CHUNKED);
}
END_TEST

START_TEST(transfer_codings_that_are_refused)
{
	struct parsed p;
	static const char *const te[] = {
		"chunked, identity", "chunked, chunked", "chunked;q=1", "", ",", "gzip chunked", "\"chunked\"",
		"chunked\x01", "gzip",
	};
	for (size_t i = 0; i < sizeof(te) / sizeof(te[0]); i++) {
		char raw[256];
		snprintf(raw, sizeof(raw), REQ("Transfer-Encoding: %s\r\n"), te[i]);
		ck_assert_msg(parse(&p, raw, 1) == HTTP_BAD_TRANSFER_ENCODING, "request TE '%s' taken", te[i]);
	}
	ck_assert_int_eq(parse(&p, REQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), 1),
			 HTTP_BAD_TRANSFER_ENCODING);
	/* valid, but a request goes on chunked alone, and nobody gets a
	 * coding that is not registered */
	ck_assert_int_eq(parse(&p, REQ("Transfer-Encoding: gzip, chunked\r\n"), 1), HTTP_UNSUPPORTED_CODING);
	ck_assert_int_eq(parse(&p, REQ("Transfer-Encoding: identity, chunked\r\n"), 1), HTTP_UNSUPPORTED_CODING);
	ck_assert_int_eq(parse(&p, REQ("Transfer-Encoding: xchunked\r\n"), 1), HTTP_BAD_TRANSFER_ENCODING);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: xchunked\r\n"), 0), HTTP_UNSUPPORTED_CODING);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: identity\r\n"), 0), HTTP_UNSUPPORTED_CODING);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: identity, chunked\r\n"), 0), HTTP_UNSUPPORTED_CODING);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: chunked, gzip\r\n"), 0), HTTP_BAD_TRANSFER_ENCODING);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"), 0),
			 HTTP_BAD_TRANSFER_ENCODING);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 0), HTTP_TE_AND_CL);
	ck_assert_int_eq(parse(&p, RES("Content-Length: 5\r\nContent-Length: 5\r\n"), 0), HTTP_DUP_CONTENT_LENGTH);
	ck_assert_int_eq(parse(&p, RES("Content-Length: +5\r\n"), 0), HTTP_BAD_CONTENT_LENGTH);
	ck_assert_int_eq(parse(&p, RES("Content-Length: 5,5\r\n"), 0), HTTP_BAD_CONTENT_LENGTH);
	ck_assert_int_eq(parse(&p, RES("Content-Length: 1234567890123456789\r\n"), 0), HTTP_BAD_CONTENT_LENGTH);
}
END_TEST

START_TEST(response_bodies)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, RES("Content-Length: 5\r\n"), 0), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_LENGTH);
	ck_assert_int_eq(http_body_of(&p.h, 1), BODY_NONE); /* answers HEAD */
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: chunked\r\n"), 0), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_CHUNKED);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: gzip\r\n"), 0), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_UNTIL_CLOSE);
	ck_assert_int_eq(parse(&p, RES("Transfer-Encoding: gzip, chunked\r\n"), 0), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_CHUNKED);
	ck_assert_int_eq(parse(&p, RES(""), 0), HTTP_OK);
	ck_assert_int_eq(http_body_of(&p.h, 0), BODY_UNTIL_CLOSE);
	static const char *const none[] = { "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
					    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
					    "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n",
					    "HTTP/1.1 103 Early\r\nTransfer-Encoding: chunked\r\n\r\n" };
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		ck_assert_int_eq(parse(&p, none[i], 0), HTTP_OK);
		ck_assert_int_eq(http_body_of(&p.h, 0), BODY_NONE);
	}
}
END_TEST

START_TEST(keep_alive_by_version_and_connection)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, RES(""), 0), HTTP_OK);
	ck_assert(http_keeps_alive(&p.h));
	ck_assert_int_eq(parse(&p, RES("Connection: x, Close\r\n"), 0), HTTP_OK);
	ck_assert(!http_keeps_alive(&p.h));
	ck_assert_int_eq(parse(&p, "HTTP/1.0 200 OK\r\n\r\n", 0), HTTP_OK);
	ck_assert(!http_keeps_alive(&p.h));
	ck_assert_int_eq(parse(&p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 0), HTTP_OK);
	ck_assert(http_keeps_alive(&p.h));
}
END_TEST

/* NTLM and Negotiate log in the connection: their credentials, or a
 * challenge naming them (alone or in a list), pin the server connection. */
START_TEST(connection_auth_is_recognised)
{
	struct parsed p;
	static const char *const yes_req[] = { "Authorization: NTLM TlRMTVNTUAABAAAA\r\n",
					       "authorization: negotiate YIIG\r\n" };
	for (size_t i = 0; i < 2; i++) {
		char raw[256];
		snprintf(raw, sizeof(raw), "GET http://h/ HTTP/1.1\r\n%s\r\n", yes_req[i]);
		ck_assert_int_eq(parse(&p, raw, 1), HTTP_OK);
		ck_assert_msg(http_connection_auth(&p.h), "%s not seen", yes_req[i]);
	}
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n", 1), HTTP_OK);
	ck_assert(!http_connection_auth(&p.h));
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\nX-Auth: NTLM x\r\n\r\n", 1), HTTP_OK);
	ck_assert(!http_connection_auth(&p.h));
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\nAuthorization: NTLMx y\r\n\r\n", 1), HTTP_OK);
	ck_assert(!http_connection_auth(&p.h));
	ck_assert_int_eq(parse(&p, "HTTP/1.1 401 No\r\nWWW-Authenticate: Basic realm=x, Negotiate\r\n\r\n", 0),
			 HTTP_OK);
	ck_assert(http_connection_auth(&p.h));
	ck_assert_int_eq(parse(&p, "HTTP/1.1 401 No\r\nWWW-Authenticate: Basic realm=x\r\n"
				   "WWW-Authenticate: NTLM\r\n\r\n", 0), HTTP_OK);
	ck_assert(http_connection_auth(&p.h));
	ck_assert_int_eq(parse(&p, "HTTP/1.1 401 No\r\nWWW-Authenticate: Basic realm=x\r\n\r\n", 0), HTTP_OK);
	ck_assert(!http_connection_auth(&p.h));
	/* a request's WWW-Authenticate and a response's Authorization mean nothing */
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\nWWW-Authenticate: NTLM\r\n\r\n", 1), HTTP_OK);
	ck_assert(!http_connection_auth(&p.h));
}
END_TEST

/* An Upgrade with no protocol in it is no upgrade, and goes nowhere; the
 * Upgrade lines with a value go through (a next hop reading only the first
 * line must not meet an empty one first). */
START_TEST(empty_upgrade_lines_are_dropped)
{
	struct parsed p;
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: \r\n\r\n", 1), HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert(!http_keep_upgrade(&p.h));
	ck_assert(!p.h.keep_upgrade);
	ck_assert_int_eq(p.hdr[1].drop, 1);
	ck_assert_int_eq(parse(&p, "GET http://h/ HTTP/1.1\r\nConnection: upgrade\r\nUpgrade:\r\n"
				   "Upgrade: websocket\r\n\r\n", 1), HTTP_OK);
	http_mark_hop_by_hop(&p.h);
	ck_assert(http_keep_upgrade(&p.h));
	ck_assert_int_eq(p.hdr[1].drop, 1);
	ck_assert_int_eq(p.hdr[2].drop, 0);
	ck_assert_str_eq(rewrite("GET http://h/ HTTP/1.1\r\nUpgrade:\r\nUpgrade: websocket\r\n\r\n", 1, 0),
			 "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 sluice\r\n\r\n"); /* no Connection: upgrade */
}
END_TEST

/* --- framing headers written anew ------------------------------------------------------------ */

START_TEST(framing_headers_are_written_canonical)
{
	ck_assert_str_eq(rewrite(REQ("A: 1\r\ncontent-length:  0005 \r\nB: 2\r\n"), 1, 0),
			 "POST / HTTP/1.1\r\nHost: h\r\nA: 1\r\nContent-Length: 5\r\nB: 2\r\nVia: 1.1 sluice\r\n\r\n");
	ck_assert_str_eq(rewrite(REQ("transfer-encoding: ,\r\nA: 1\r\nTransfer-Encoding:\tchunked\t\r\n"), 1, 0),
			 "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nA: 1\r\n"
			 "Via: 1.1 sluice\r\n\r\n");
	ck_assert_str_eq(rewrite(RES("transfer-encoding: gzip ,\r\nA: 1\r\nTransfer-Encoding:\tchunked\t\r\n"), 0, 0),
			 "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nA: 1\r\nVia: 1.1 sluice\r\n\r\n");
	ck_assert_str_eq(rewrite(RES("Content-Length: 0\r\nX: y\r\n"), 0, 0),
			 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: y\r\nVia: 1.1 sluice\r\n\r\n");
	/* a Connection header naming them changes nothing */
	ck_assert_str_eq(rewrite(RES("Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n"), 0, 0),
			 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

START_TEST(framing_headers_can_be_left_out)
{
	ck_assert_str_eq(rewrite("HTTP/1.1 100 Continue\r\nContent-Length: 5\r\nX: y\r\n\r\n", 0, 1),
			 "HTTP/1.1 100 Continue\r\nX: y\r\nVia: 1.1 sluice\r\n\r\n");
	ck_assert_str_eq(rewrite(RES("Transfer-Encoding: chunked\r\n"), 0, 1),
			 "HTTP/1.1 200 OK\r\nVia: 1.1 sluice\r\n\r\n");
}
END_TEST

void http_framing_add_tcases(Suite *s)
{
	TCase *tc = tcase_create("start_lines");
	tcase_add_test(tc, status_is_three_digits_after_one_space);
	tcase_add_test(tc, status_lines_that_are_right);
	tcase_add_test(tc, request_line_has_one_space_each);
	tcase_add_test(tc, target_holds_visible_ascii_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_test(tc, request_bodies);
	tcase_add_test(tc, transfer_codings_that_are_refused);
	tcase_add_test(tc, response_bodies);
	tcase_add_test(tc, keep_alive_by_version_and_connection);
	tcase_add_test(tc, connection_auth_is_recognised);
	tcase_add_test(tc, empty_upgrade_lines_are_dropped);
	tcase_add_test(tc, framing_headers_are_written_canonical);
	tcase_add_test(tc, framing_headers_can_be_left_out);
	suite_add_tcase(s, tc);
}
