#include "sluice/http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *http_verdict_text(enum http_verdict v)
{
	switch (v) {
	case HTTP_OK: return "ok";
	case HTTP_BAD_HEAD: return "malformed header line";
	case HTTP_BARE_CR: return "bare CR in header block";
	case HTTP_OBS_FOLD: return "obsolete line folding";
	case HTTP_WS_BEFORE_COLON: return "whitespace before colon";
	case HTTP_DUP_CONTENT_LENGTH: return "duplicate Content-Length";
	case HTTP_BAD_CONTENT_LENGTH: return "invalid Content-Length";
	case HTTP_TE_AND_CL: return "Transfer-Encoding with Content-Length";
	case HTTP_BAD_TRANSFER_ENCODING: return "invalid Transfer-Encoding";
	case HTTP_TOO_MANY_HEADERS: return "too many header lines";
	case HTTP_BAD_REQUEST_LINE: return "malformed request line";
	case HTTP_BAD_TARGET: return "invalid character in request target";
	case HTTP_BAD_STATUS_LINE: return "malformed status line";
	case HTTP_UNSUPPORTED_CODING: return "unsupported transfer coding";
	}
	return "?";
}

/* RFC 9110 5.6.2 token characters, as a table: this runs on every byte
 * of every header name. */
const unsigned char http_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
	['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Case-insensitive equality of n bytes.  Most names arrive spelt as the
 * literals they are compared with, and most same-length names differ in
 * their first letter, so strncasecmp is called for the few others only:
 * glibc's takes a slow path when either string lies near the end of a page,
 * which made the cost per request follow the heap's layout. */
static inline int case_eq(const char *a, const char *b, size_t n)
{
	if (memcmp(a, b, n) == 0)
		return 1;
	return n > 0 && ((a[0] ^ b[0]) & ~0x20) == 0 && strncasecmp(a, b, n) == 0;
}

static inline int span_eq_len(const struct http_head *h, struct http_span s, const char *name, size_t len)
{
	return len == s.len && case_eq(h->raw + s.off, name, len);
}

/* A span against a string literal: the length is known at compile time and
 * checked first, so most comparisons cost one integer compare. */
#define SPAN_IS(h, s, lit) span_eq_len((h), (s), (lit), sizeof(lit) - 1)

int http_span_eq(const struct http_head *h, struct http_span s, const char *name)
{
	return span_eq_len(h, s, name, strlen(name));
}

int http_find(const struct http_head *h, const char *name)
{
	for (uint32_t i = 0; i < h->nhdr; i++)
		if (http_span_eq(h, h->hdr[i].name, name))
			return (int)i;
	return -1;
}

static int is_version(const char *v, uint32_t len)
{
	return len == 8 && memcmp(v, "HTTP/", 5) == 0 && isdigit((unsigned char)v[5]) && v[6] == '.' &&
	       isdigit((unsigned char)v[7]);
}

/* "method SP request-target SP HTTP-version" with exactly one space each
 * (RFC 9112 3): a second space or a control byte in the target is where
 * parsers disagree on what the target and the version are.  The target
 * may hold visible ASCII only (RFC 3986); llhttp in strict mode agrees,
 * this check stands whatever mode it was built in. */
static enum http_verdict parse_request_line(struct http_head *h, uint32_t end)
{
	const char *r = h->raw;
	const char *sp1 = memchr(r, ' ', end);
	if (sp1 == NULL || sp1 == r)
		return HTTP_BAD_REQUEST_LINE;
	uint32_t a = (uint32_t)(sp1 - r);
	const char *sp2 = memchr(sp1 + 1, ' ', end - a - 1);
	if (sp2 == NULL || sp2 == sp1 + 1)
		return HTTP_BAD_REQUEST_LINE;
	uint32_t b = (uint32_t)(sp2 - r);
	h->part[0] = (struct http_span){ 0, a };
	h->part[1] = (struct http_span){ a + 1, b - a - 1 };
	h->part[2] = (struct http_span){ b + 1, end - b - 1 };
	for (uint32_t i = a + 1; i < b; i++) {
		unsigned char c = (unsigned char)r[i];
		if (c <= 0x20 || c >= 0x7f)
			return HTTP_BAD_TARGET;
	}
	if (!is_version(r + b + 1, end - b - 1))
		return HTTP_BAD_REQUEST_LINE;
	return HTTP_OK;
}

/* "HTTP-version SP 3DIGIT SP reason-phrase" (RFC 9112 4), the status from
 * 100 to 599.  A missing reason with its space ("HTTP/1.1 200") is taken:
 * common, and unambiguous.  Anything else (two spaces, "0200", a control
 * byte in the reason) would make sluice and the client read different
 * statuses, so the whole response is refused. */
static enum http_verdict parse_status_line(struct http_head *h, uint32_t end)
{
	const char *r = h->raw;
	if (end < 12 || !is_version(r, 8) || r[8] != ' ')
		return HTTP_BAD_STATUS_LINE;
	for (uint32_t i = 9; i < 12; i++)
		if (!isdigit((unsigned char)r[i]))
			return HTTP_BAD_STATUS_LINE;
	h->status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
	if (h->status < 100 || h->status > 599)
		return HTTP_BAD_STATUS_LINE;
	h->part[0] = (struct http_span){ 0, 8 };
	h->part[1] = (struct http_span){ 9, 3 };
	if (end == 12) {
		h->part[2] = (struct http_span){ 12, 0 };
		return HTTP_OK;
	}
	if (r[12] != ' ')
		return HTTP_BAD_STATUS_LINE;
	for (uint32_t i = 13; i < end; i++) {
		unsigned char c = (unsigned char)r[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return HTTP_BAD_STATUS_LINE;
	}
	h->part[2] = (struct http_span){ 13, end - 13 };
	return HTTP_OK;
}

static enum http_verdict parse_start_line(struct http_head *h, uint32_t end)
{
	enum http_verdict v = h->is_request ? parse_request_line(h, end) : parse_status_line(h, end);
	if (v != HTTP_OK)
		return v;
	struct http_span ver = h->is_request ? h->part[2] : h->part[0];
	h->major = h->raw[ver.off + 5] - '0';
	h->minor = h->raw[ver.off + 7] - '0';
	return HTTP_OK;
}

/* Content-Length must be 1*DIGIT (RFC 9110 8.6); a list, even of equal
 * values, is refused: it is a smuggling shape, not a real client. */
static enum http_verdict check_content_length(struct http_head *h, const struct http_hdr *x)
{
	uint64_t v = 0;
	if (x->value.len == 0 || x->value.len > 18)
		return HTTP_BAD_CONTENT_LENGTH;
	for (uint32_t i = 0; i < x->value.len; i++) {
		unsigned char c = (unsigned char)h->raw[x->value.off + i];
		if (!isdigit(c))
			return HTTP_BAD_CONTENT_LENGTH;
		v = v * 10 + (uint64_t)(c - '0');
	}
	h->content_length = v; /* written anew as "Content-Length: v": "05" goes on as "5" */
	return HTTP_OK;
}

/* Walk a comma-separated list value; calls fn for each trimmed element. */
static void each_token(const struct http_head *h, struct http_span v,
		       void (*fn)(struct http_head *h, struct http_span tok, void *arg), void *arg)
{
	uint32_t p = v.off, end = v.off + v.len;
	while (p < end) {
		while (p < end && (is_ows(h->raw[p]) || h->raw[p] == ','))
			p++;
		uint32_t s = p;
		while (p < end && h->raw[p] != ',')
			p++;
		uint32_t e = p;
		while (e > s && is_ows(h->raw[e - 1]))
			e--;
		if (e > s)
			fn((struct http_head *)h, (struct http_span){ s, e - s }, arg);
	}
}

/* The transfer codings of all Transfer-Encoding lines, in order. */
struct te_scan {
	int codings;
	int chunked;		/* how many are "chunked" */
	int chunked_last;	/* ... and whether the last one is */
	int bad;		/* an element that is not a plain coding name */
	int unknown;		/* a coding that is not in the registry (RFC 9112 7) */
};

static void te_coding(struct http_head *h, struct http_span tok, void *arg)
{
	struct te_scan *te = arg;
	/* a coding with parameters, or anything else but a token, is refused:
	 * it is re-written as a bare name, and chunked takes none */
	for (uint32_t i = 0; i < tok.len; i++)
		if (!http_is_tchar((unsigned char)h->raw[tok.off + i]))
			te->bad = 1;
	te->codings++;
	te->chunked_last = SPAN_IS(h, tok, "chunked");
	te->chunked += te->chunked_last;
	/* "identity", "xchunked" and their like are where parsers part ways
	 * (one ignores the coding, one frames by it) */
	if (!te->chunked_last && !SPAN_IS(h, tok, "gzip") && !SPAN_IS(h, tok, "x-gzip") &&
	    !SPAN_IS(h, tok, "deflate") && !SPAN_IS(h, tok, "compress") && !SPAN_IS(h, tok, "x-compress"))
		te->unknown = 1;
}

static void note_conn_token(struct http_head *h, struct http_span tok, void *arg)
{
	if (SPAN_IS(h, tok, "close"))
		h->conn_tokens |= HTTP_CONN_CLOSE;
	else if (SPAN_IS(h, tok, "keep-alive"))
		h->conn_tokens |= HTTP_CONN_KEEPALIVE;
	else if (SPAN_IS(h, tok, "upgrade"))
		h->conn_tokens |= HTTP_CONN_UPGRADE;
}

enum http_verdict http_head_parse(struct http_head *h, const char *raw, uint32_t len,
				  int is_request, struct http_hdr *hdr, uint32_t maxhdr)
{
	memset(h, 0, sizeof(*h));
	h->raw = raw;
	h->len = len;
	h->is_request = is_request;
	h->hdr = hdr;
	h->maxhdr = maxhdr;
	h->max_forwards = -1;
	h->max_forwards_idx = -1;

	/* Every CR must begin a CRLF: llhttp 8.1 accepts a lone CR inside
	 * values, which another parser may read as a line end. */
	for (const char *cr = memchr(raw, '\r', len); cr; cr = memchr(cr + 1, '\r', len - (size_t)(cr + 1 - raw)))
		if ((uint32_t)(cr - raw) + 1 >= len || cr[1] != '\n')
			return HTTP_BARE_CR;

	const char *lf = memchr(raw, '\n', len);
	if (lf == NULL)
		return HTTP_BAD_HEAD;
	uint32_t line_end = (uint32_t)(lf - raw);
	enum http_verdict v = parse_start_line(h, line_end > 0 && raw[line_end - 1] == '\r' ? line_end - 1 : line_end);
	if (v != HTTP_OK)
		return v;

	int te_count = 0;
	struct te_scan te = { 0 };
	uint32_t p = line_end + 1;
	while (p < len) {
		lf = memchr(raw + p, '\n', len - p);
		if (lf == NULL)
			return HTTP_BAD_HEAD;
		uint32_t nl = (uint32_t)(lf - raw);
		uint32_t e = nl > p && raw[nl - 1] == '\r' ? nl - 1 : nl;
		if (e == p)
			break; /* the empty line ends the head */
		if (is_ows(raw[p]))
			return HTTP_OBS_FOLD;
		uint32_t c = p;
		while (c < e && raw[c] != ':')
			c++;
		if (c == e || c == p)
			return HTTP_BAD_HEAD;
		if (is_ows(raw[c - 1]))
			return HTTP_WS_BEFORE_COLON;
		for (uint32_t i = p; i < c; i++)
			if (!http_is_tchar((unsigned char)raw[i]))
				return HTTP_BAD_HEAD;
		if (h->nhdr == h->maxhdr)
			return HTTP_TOO_MANY_HEADERS;
		uint32_t vs = c + 1, ve = e;
		while (vs < ve && is_ows(raw[vs]))
			vs++;
		while (ve > vs && is_ows(raw[ve - 1]))
			ve--;
		struct http_hdr *x = &hdr[h->nhdr++];
		x->name = (struct http_span){ p, c - p };
		x->value = (struct http_span){ vs, ve - vs };
		x->line_end = e;
		x->drop = 0;
		x->framing = 0;

		if (SPAN_IS(h, x->name, "Content-Length")) {
			if (++h->content_length_count > 1)
				return HTTP_DUP_CONTENT_LENGTH;
			if ((v = check_content_length(h, x)) != HTTP_OK)
				return v;
			x->framing = 1;
		} else if (SPAN_IS(h, x->name, "Transfer-Encoding")) {
			te_count++;
			each_token(h, x->value, te_coding, &te);
			x->framing = 1;
		} else if (SPAN_IS(h, x->name, "Connection")) {
			each_token(h, x->value, note_conn_token, NULL);
		} else if (SPAN_IS(h, x->name, "Max-Forwards")) {
			int mf = 0;
			uint32_t i;
			/* saturate: a huge value still means "keep forwarding" */
			for (i = 0; i < x->value.len && isdigit((unsigned char)raw[x->value.off + i]); i++)
				if (mf < 1000000)
					mf = mf * 10 + (raw[x->value.off + i] - '0');
			if (x->value.len > 0 && i == x->value.len && h->max_forwards_idx < 0) {
				h->max_forwards = mf;
				h->max_forwards_idx = (int)h->nhdr - 1;
			}
		}
		p = nl + 1;
	}
	h->transfer_encoding = te_count > 0;
	if (te_count && h->content_length_count)
		return HTTP_TE_AND_CL;
	if (te_count) {
		/* RFC 9112 6.1: chunked at most once, and last.  A request whose
		 * final coding is not chunked cannot be framed at all (6.3); a
		 * response without chunked ends when the server closes. */
		if (te.bad || te.codings == 0 || te.chunked > 1 || (te.chunked && !te.chunked_last))
			return HTTP_BAD_TRANSFER_ENCODING;
		if (is_request && !te.chunked_last)
			return HTTP_BAD_TRANSFER_ENCODING;
		/* A request goes on chunked and nothing else: an origin that does
		 * not know a coding before chunked may drop the framing with it
		 * (RFC 9112 6.1 answers 501); a response may carry the codings
		 * the registry has, to the client that will decode them. */
		if (te.unknown || (is_request && te.codings > 1))
			return HTTP_UNSUPPORTED_CODING;
		h->te_chunked = te.chunked_last;
		h->te_codings = te.codings;
	}
	return HTTP_OK;
}

enum body_kind http_body_of(const struct http_head *h, int answers_head)
{
	if (h->is_request)
		return h->te_chunked ? BODY_CHUNKED : h->content_length_count ? BODY_LENGTH : BODY_NONE;
	if (answers_head || h->status < 200 || h->status == 204 || h->status == 304)
		return BODY_NONE;
	if (h->transfer_encoding)
		return h->te_chunked ? BODY_CHUNKED : BODY_UNTIL_CLOSE;
	return h->content_length_count ? BODY_LENGTH : BODY_UNTIL_CLOSE;
}

/* The scheme a credentials or challenge element starts with. */
static void note_conn_scheme(struct http_head *h, struct http_span tok, void *arg)
{
	const char *p = h->raw + tok.off;
	uint32_t n = 0;
	while (n < tok.len && http_is_tchar((unsigned char)p[n]))
		n++;
	struct http_span scheme = { tok.off, n };
	if (SPAN_IS(h, scheme, "NTLM") || SPAN_IS(h, scheme, "Negotiate"))
		*(int *)arg = 1;
}

int http_connection_auth(const struct http_head *h)
{
	int found = 0;
	for (uint32_t i = 0; i < h->nhdr && !found; i++) {
		const struct http_hdr *x = &h->hdr[i];
		if (h->is_request ? SPAN_IS(h, x->name, "Authorization") : SPAN_IS(h, x->name, "WWW-Authenticate"))
			/* a challenge list may name several schemes: "Negotiate, NTLM" */
			each_token(h, x->value, note_conn_scheme, &found);
	}
	return found;
}

int http_keep_upgrade(struct http_head *h)
{
	h->keep_upgrade = 0;
	for (uint32_t i = 0; i < h->nhdr; i++) {
		struct http_hdr *x = &h->hdr[i];
		if (!SPAN_IS(h, x->name, "Upgrade"))
			continue;
		x->drop = x->value.len == 0;
		if (x->value.len > 0)
			h->keep_upgrade = 1;
	}
	return h->keep_upgrade;
}

int http_keeps_alive(const struct http_head *h)
{
	if (h->major == 1 && h->minor >= 1)
		return !(h->conn_tokens & HTTP_CONN_CLOSE);
	return (h->conn_tokens & HTTP_CONN_KEEPALIVE) && !(h->conn_tokens & HTTP_CONN_CLOSE);
}

/* --- hop-by-hop ---------------------------------------------------------------- */

#define NAME(lit) { lit, sizeof(lit) - 1 }
static const struct {
	const char *name;
	size_t len;
} hop_by_hop[] = {
	NAME("Connection"), NAME("Keep-Alive"), NAME("Proxy-Connection"), NAME("Proxy-Authorization"),
	NAME("TE"), NAME("Trailer"), NAME("Upgrade"),
};
#undef NAME

/* Never dropped, whatever Connection lists: the body goes through framed as
 * received, so its framing headers must stay with it. */
static int is_framing(const struct http_head *h, struct http_span name)
{
	return SPAN_IS(h, name, "Content-Length") || SPAN_IS(h, name, "Transfer-Encoding") ||
	       SPAN_IS(h, name, "Host");
}

static void drop_named(struct http_head *h, struct http_span tok, void *arg)
{
	for (uint32_t i = 0; i < h->nhdr; i++) {
		struct http_hdr *x = &h->hdr[i];
		if (x->name.len == tok.len && case_eq(h->raw + x->name.off, h->raw + tok.off, tok.len) &&
		    !is_framing(h, x->name))
			x->drop = 1;
	}
}

void http_mark_hop_by_hop(struct http_head *h)
{
	for (uint32_t i = 0; i < h->nhdr; i++) {
		struct http_hdr *x = &h->hdr[i];
		for (size_t k = 0; k < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); k++)
			if (span_eq_len(h, x->name, hop_by_hop[k].name, hop_by_hop[k].len))
				x->drop = 1;
		if (h->is_request && SPAN_IS(h, x->name, "Host"))
			x->drop = 1;
	}
	for (uint32_t i = 0; i < h->nhdr; i++)
		if (SPAN_IS(h, h->hdr[i].name, "Connection"))
			each_token(h, h->hdr[i].value, drop_named, NULL);
}

/* --- serialisation ------------------------------------------------------------- */

struct writer {
	struct buf *b;
	int overflow;
};

static void put(struct writer *w, const char *p, size_t len)
{
	if (w->overflow || buf_append(w->b, p, len) == -1)
		w->overflow = 1;
}

static void puts_(struct writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_framing(struct writer *w, const struct http_head *h);

/* The kept lines as received; the framing headers written anew where the
 * first of them stood. */
static void put_kept_headers(struct writer *w, const struct http_head *h, int mf_idx, int mf_value)
{
	int framed = 0;
	for (uint32_t i = 0; i < h->nhdr; i++) {
		const struct http_hdr *x = &h->hdr[i];
		if (x->framing && !framed) {
			put_framing(w, h);
			framed = 1;
		}
		if (x->drop || x->framing)
			continue;
		if ((int)i == mf_idx) {
			char v[32];
			put(w, h->raw + x->name.off, x->name.len);
			snprintf(v, sizeof(v), ": %d\r\n", mf_value);
			puts_(w, v);
			continue;
		}
		/* the line's own bytes: order, case, spacing and duplicates kept */
		put(w, h->raw + x->name.off, x->line_end - x->name.off);
		put(w, "\r\n", 2);
	}
}

struct coding_list {
	struct writer *w;
	int n;
};

/* A coding by its registered name, in lower case (http_head_parse took
 * only those, the longest being "x-compress"). */
static void put_coding(struct http_head *h, struct http_span tok, void *arg)
{
	struct coding_list *l = arg;
	char name[16];
	uint32_t n = tok.len < sizeof(name) ? tok.len : (uint32_t)sizeof(name);
	for (uint32_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)h->raw[tok.off + i]);
	if (l->n++)
		put(l->w, ", ", 2);
	put(l->w, name, n);
}

/* The framing headers, from the values parsed: one Transfer-Encoding line
 * listing every coding ("gzip, chunked"), or one Content-Length without
 * leading zeros.  Whatever spelling, spacing or splitting the sender used,
 * the next hop reads exactly what sluice framed. */
static void put_framing(struct writer *w, const struct http_head *h)
{
	if (h->omit_framing)
		return;
	if (h->transfer_encoding) {
		struct coding_list l = { w, 0 };
		puts_(w, "Transfer-Encoding: ");
		for (uint32_t i = 0; i < h->nhdr; i++)
			if (h->hdr[i].framing && SPAN_IS(h, h->hdr[i].name, "Transfer-Encoding"))
				each_token(h, h->hdr[i].value, put_coding, &l);
		put(w, "\r\n", 2);
	} else if (h->content_length_count) {
		char digits[24];
		int n = 0;
		uint64_t v = h->content_length;
		do {
			digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		puts_(w, "Content-Length: ");
		put(w, digits + sizeof(digits) - n, (size_t)n);
		put(w, "\r\n", 2);
	}
}

static void put_via(struct writer *w, const struct http_head *h, const char *via_name)
{
	char v[9] = "Via: 1.1 ";
	v[5] = (char)('0' + h->major);
	v[7] = (char)('0' + h->minor);
	put(w, v, 9);
	puts_(w, via_name);
	put(w, "\r\n", 2);
}

/* On overflow the buffer goes back to where it was: never half a head. */
static int finish(struct writer *w, uint32_t mark)
{
	if (!w->overflow)
		return 0;
	w->b->end = w->b->parsed = mark;
	return -1;
}

int http_write_request(struct buf *out, const struct http_head *h, const struct http_target *t,
		       const char *via_name, int max_forwards_dec)
{
	struct writer w = { out, 0 };
	uint32_t mark = out->end;
	char host[300];
	size_t hl = http_host_value(t, host, sizeof(host));
	put(&w, h->raw + h->part[0].off, h->part[0].len);
	put(&w, " ", 1);
	put(&w, t->path, t->path_len);
	if (t->query)
		put(&w, t->query, t->query_len);
	puts_(&w, " HTTP/1.1\r\nHost: ");
	put(&w, host, hl);
	put(&w, "\r\n", 2);
	put_kept_headers(&w, h, max_forwards_dec ? h->max_forwards_idx : -1, h->max_forwards - 1);
	if (h->keep_upgrade)
		puts_(&w, "Connection: upgrade\r\n");
	put_via(&w, h, via_name);
	put(&w, "\r\n", 2);
	return finish(&w, mark);
}

/* Where the target and the Host value sit in a head http_write_request
 * wrote: "METHOD SP target SP HTTP/1.1 CRLF Host: value CRLF". */
static int request_layout(const struct buf *b, uint32_t *target, uint32_t *host, uint32_t *host_len)
{
	const char *d = b->data + b->start, *end = b->data + b->end;
	const char *sp = memchr(d, ' ', (size_t)(end - d));
	const char *crlf = sp ? memmem(sp, (size_t)(end - sp), "\r\n", 2) : NULL;
	if (crlf == NULL || end - crlf < 8 || memcmp(crlf, "\r\nHost: ", 8) != 0)
		return -1;
	const char *hv = crlf + 8, *hend = memmem(hv, (size_t)(end - hv), "\r\n", 2);
	if (hend == NULL)
		return -1;
	*target = (uint32_t)(sp + 1 - b->data);
	*host = (uint32_t)(hv - b->data);
	*host_len = (uint32_t)(hend - hv);
	return 0;
}

int http_request_for_parent(struct buf *b, const char *authority, const char *auth, uint32_t *prefix)
{
	uint32_t t, hv, hl, al = (uint32_t)strlen(auth);
	if (request_layout(b, &t, &hv, &hl) == -1 || b->end - b->start < 4)
		return -1;
	uint32_t authl = authority ? (uint32_t)strlen(authority) : hl;
	int star = b->data[t] == '*' && b->data[t + 1] == ' ';
	uint32_t grow = 7 + authl - (uint32_t)star;
	if ((size_t)b->cap - b->end < (size_t)grow + al)
		return -1;
	/* auth before the blank line, then the target's prefix */
	char *blank = b->data + b->end - 2;
	memmove(blank + al, blank, 2);
	memcpy(blank, auth, al);
	b->end += al;
	char *tp = b->data + t;
	memmove(tp + grow + star, tp + star, b->end - t - (uint32_t)star);
	memcpy(tp, "http://", 7);
	/* (the Host value moved by grow too) */
	memcpy(tp + 7, authority ? authority : b->data + hv + grow, authl);
	b->end += grow;
	b->parsed = b->end;
	*prefix = 7 + authl;
	return 0;
}

void http_request_for_origin(struct buf *b, uint32_t prefix, uint32_t auth_len)
{
	const char *sp = memchr(b->data + b->start, ' ', b->end - b->start);
	uint32_t t = (uint32_t)(sp + 1 - b->data);
	uint32_t star = b->data[t + prefix] == ' '; /* an origin-form target is never empty */
	if (star)
		b->data[t] = '*';
	memmove(b->data + t + star, b->data + t + prefix, b->end - (t + prefix));
	b->end -= prefix - star;
	char *blank = b->data + b->end - 2 - auth_len;
	memmove(blank, blank + auth_len, 2);
	b->end -= auth_len;
	b->parsed = b->end;
}

int http_write_response(struct buf *out, const struct http_head *h, const char *via_name,
			enum http_conn_mode mode)
{
	struct writer w = { out, 0 };
	uint32_t mark = out->end;
	puts_(&w, "HTTP/1.1 ");
	put(&w, h->raw + h->part[1].off, h->part[1].len);
	put(&w, " ", 1);
	put(&w, h->raw + h->part[2].off, h->part[2].len);
	put(&w, "\r\n", 2);
	put_kept_headers(&w, h, -1, 0);
	put_via(&w, h, via_name);
	if (h->keep_upgrade)
		puts_(&w, "Connection: upgrade\r\n");
	else if (mode == HTTP_CONN_ADD_CLOSE)
		puts_(&w, "Connection: close\r\n");
	else if (mode == HTTP_CONN_ADD_KEEPALIVE)
		puts_(&w, "Connection: keep-alive\r\n");
	put(&w, "\r\n", 2);
	return finish(&w, mark);
}

/* Fields a TRACE echo leaves out (RFC 9110 9.3.8: likely to hold secrets). */
static int is_secret(const struct http_head *h, struct http_span name)
{
	return SPAN_IS(h, name, "Authorization") || SPAN_IS(h, name, "Proxy-Authorization") ||
	       SPAN_IS(h, name, "Cookie");
}

int http_write_trace(struct buf *out, const struct http_head *h, int close)
{
	uint32_t line_len = h->part[2].off + h->part[2].len;
	size_t body = line_len + 2 + 2;
	for (uint32_t i = 0; i < h->nhdr; i++)
		if (!is_secret(h, h->hdr[i].name))
			body += h->hdr[i].line_end - h->hdr[i].name.off + 2;
	uint32_t mark = out->end;
	struct writer w = { out, 0 };
	if (buf_printf(out, "HTTP/1.1 200 OK\r\nServer: sluice\r\nContent-Type: message/http\r\n"
			    "Content-Length: %zu\r\n%s\r\n", body, close ? "Connection: close\r\n" : "") == -1)
		w.overflow = 1;
	put(&w, h->raw, line_len);
	put(&w, "\r\n", 2);
	for (uint32_t i = 0; i < h->nhdr; i++) {
		if (is_secret(h, h->hdr[i].name))
			continue;
		put(&w, h->raw + h->hdr[i].name.off, h->hdr[i].line_end - h->hdr[i].name.off);
		put(&w, "\r\n", 2);
	}
	put(&w, "\r\n", 2);
	return finish(&w, mark);
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 508: return "Loop Detected";
	}
	return "Error";
}

int http_write_local(struct buf *out, int status, const char *reason, const char *content_type,
		     const char *extra, const char *body, size_t body_len, int close)
{
	uint32_t mark = out->end;
	if (buf_printf(out, "HTTP/1.1 %d %s\r\nServer: sluice\r\nContent-Type: %s\r\n"
			    "Content-Length: %zu\r\n%s%s\r\n",
		       status, reason ? reason : http_status_text(status), content_type, body_len, extra ? extra : "",
		       close ? "Connection: close\r\n" : "") == -1 ||
	    buf_append(out, body, body_len) == -1) {
		out->end = out->parsed = mark;
		return -1;
	}
	return 0;
}
