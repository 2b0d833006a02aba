/* http_check: what src/http.c promises, checked on one input.
 *
 * Used by the fuzz targets tests/fuzz/fuzz_authority.c, fuzz_request.c
 * and fuzz_response.c (libFuzzer and the gcc driver), and written to be
 * usable in-process by a unit test as hello_check.h is.  Every input is
 * first copied to a heap block of its exact size, so a read past its end is
 * an ASan error.
 *
 * Targets (http_target_check), for any bytes t, as a CONNECT authority, as
 * an absolute-form target (as is and behind "http://"), and as an
 * origin-form target with a Host value (the input split at its first LF):
 *
 *   T1. Each parser returns 0, or -1 with a reason; the same twice.
 *   T2. On 0, host is NUL-terminated, 1..255 bytes of [A-Za-z0-9._-] (an
 *       IPv6 literal: [0-9A-Fa-f:.] and ipv6 set) and port is 1..65535: a
 *       port of 0 is refused, a missing one is 80 (CONNECT: refused).
 *   T3. Absolute-form: the input starts with "http://" (any case); path is
 *       "/" or a span of the input starting with '/', query NULL or a span
 *       starting with '?', neither holds '#'.  Authority: no path, no query,
 *       no '/' or '@' in the input.  Origin-form: path is the whole target.
 *   T4. The Host value re-parses: "http://" + http_host_value() + path
 *       (+ query) gives the same host, port and IPv6 flag and the same path
 *       and query bytes, and so does the value as a Host for "/".
 *   T5. What CONNECT accepts as host:port, "http://host:port" accepts too,
 *       with the same host and port.
 *
 * Heads (http_head_parse on any bytes; requests and responses):
 *
 *   H1. The verdict is one http_verdict_text() knows, the same twice,
 *       with the same parts.
 *   H2. On HTTP_OK every span lies inside the input: start-line parts hold
 *       no CR or LF (request method and target no SP either), the version
 *       is HTTP/d.d; each header is a non-empty token name followed by ':',
 *       its value trimmed of SP/HTAB and inside its line, which ends at a CR
 *       or LF of the input with no CR or LF before; lines in order; at most
 *       one Content-Length, of 1..18 digits, never with Transfer-Encoding;
 *       max_forwards is -1 exactly when no Max-Forwards of only digits.
 *   H3. http_mark_hop_by_hop drops exactly: Connection, Keep-Alive,
 *       Proxy-Connection, Proxy-Authorization, TE, Trailer, Upgrade, Host in
 *       a request, and any field a Connection header lists, except that
 *       Content-Length, Transfer-Encoding and Host listed there are kept.
 *
 * The request rewrite (http_write_request of an absolute-form target, with
 * Upgrade kept as exchange.c keep_upgrade() does and Max-Forwards
 * decremented when it is above 0):
 *
 *   R1. It fits a buffer of twice the input plus 1 kB, after bytes already
 *       there, which it leaves alone; parsed == end after it.
 *   R2. It fits a buffer of exactly its size, and with one byte less it
 *       returns -1 and leaves end and parsed as they were.
 *   R3. It ends with CRLF CRLF, every CR is followed by LF and every LF
 *       follows a CR, and it holds a NUL only when the input did.
 *   R4. It parses (http_head_parse, room for the added headers) to HTTP_OK
 *       with the same method bytes, path + query as target, HTTP/1.1, and
 *       exactly the kept headers plus Host (first, the one Host) and Via
 *       (last, "Via: M.m sluice" with the client's version), plus
 *       "Connection: upgrade" when Upgrade is kept: no hop-by-hop field but
 *       those two then; the same framing (as many Content-Length lines, of
 *       the same value, leading zeros aside; the same transfer codings in
 *       the same order), written once and canonically (one
 *       Transfer-Encoding line, no leading zero in Content-Length) and
 *       giving the same http_body_of(); none with omit_framing; the same
 *       Max-Forwards less one (decremented), the same, or none when
 *       Connection listed it.
 *   R5. The Host it wrote with the origin-form target names the same host
 *       and port (http_origin_target_parse), as the origin server sees it.
 *   R6. The TRACE echo (http_write_trace) is a 200 response head whose
 *       Content-Length is the length of the body after it, and the body
 *       parses as the request head with Authorization, Proxy-Authorization
 *       and Cookie left out and every other line kept.
 *
 * The response rewrite (http_write_response, every enum http_conn_mode,
 * with and without keep_upgrade):
 *
 *   S1. As R1-R3, and it starts with "HTTP/1.1 ".
 *   S2. It parses as a response with the same status, status and reason
 *       bytes, the kept headers, Via, and one Connection header saying
 *       exactly what sluice decided: upgrade (keep_upgrade), close
 *       (HTTP_CONN_ADD_CLOSE), keep-alive (HTTP_CONN_ADD_KEEPALIVE), or
 *       none (HTTP_CONN_AS_IS); the framing as in R4, also with
 *       omit_framing.
 *
 * Against llhttp, as sluice runs (the head is what llhttp framed, up to its
 * pause at headers complete; exchange.c's refusals applied first):
 *
 *   L1. llhttp and http_head_parse name the same method.
 *   L2. llhttp takes the rewritten request head whole, with the same
 *       method, and frames its body as sluice does (http_body_of: chunked,
 *       Content-Length of the same value, or none): the origin reads the
 *       body sluice frames.  It sees an upgrade exactly when sluice kept
 *       Upgrade.
 *   L3. llhttp takes the rewritten response head whole, with the same
 *       status, and frames its body as sluice does (chunked, length, until
 *       close, none), with omit_framing as exchange.c sets it (1xx, 204,
 *       and a chunked body sent decoded to an HTTP/1.0 client, which the
 *       client must read until close): the client reads what sluice frames.
 *
 * llhttp's reading of the client's or server's own head is not compared
 * with sluice's beyond method and status: sluice frames bodies itself
 * (body.c) and writes the framing headers anew, so where llhttp reads a
 * head more loosely ("chunked," or "Upgrade<HTAB>" in Connection), sluice's
 * reading is the one that goes on.
 */
#ifndef SLUICE_TEST_COMMON_HTTP_CHECK_H
#define SLUICE_TEST_COMMON_HTTP_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llhttp.h"
#include "sluice/buf.h"
#include "sluice/http.h"

#define HTTP_CHECK_MAXHDR 100	/* config's default max_headers */
#define HTTP_CHECK_VIA "sluice"

/* --- helpers -------------------------------------------------------------------- */

static inline int hc_span_inside(struct http_span s, size_t len)
{
	return (size_t)s.off + s.len <= len;
}

/* p[0..n) lies inside base[0..len) (compared as addresses: p may point
 * into another object). */
static inline int hc_inside(const void *p, size_t n, const void *base, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
	return a >= b && a - b <= len && n <= len - (a - b);
}

static inline int hc_eq(const void *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static inline int hc_span_is(const struct http_head *h, struct http_span s, const char *lit)
{
	return s.len == strlen(lit) && strncasecmp(h->raw + s.off, lit, s.len) == 0;
}

/* A copy of p[0..len) in a heap block of exactly len bytes. */
static inline char *hc_copy(const void *p, size_t len)
{
	char *c = malloc(len ? len : 1);
	if (c != NULL && len)
		memcpy(c, p, len);
	return c;
}

/* A buffer as buf_get() makes it: cap bytes of room and the spare one. */
static inline struct buf *hc_buf(uint32_t cap)
{
	struct buf *b = malloc(sizeof(*b) + cap + 1);
	if (b == NULL)
		abort();
	b->next = NULL;
	b->cap = cap;
	b->start = b->parsed = b->end = 0;
	return b;
}

static inline uint64_t hc_hash(const void *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
	return h;
}

static inline int hc_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* --- targets -------------------------------------------------------------------- */

enum hc_target_kind { HC_AUTHORITY, HC_ABSOLUTE, HC_ORIGIN };

/* T2, T3 for a target parsed from t[0..len). */
static inline const char *hc_target_sane(const struct http_target *o, const char *t, size_t len,
					 enum hc_target_kind kind)
{
	size_t hl = strnlen(o->host, sizeof(o->host));
	if (hl == 0 || hl == sizeof(o->host))
		return "host empty or not NUL-terminated";
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)o->host[i];
		int ok = o->ipv6 ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
					   c == ':' || c == '.'
				 : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					   c == '.' || c == '-' || c == '_';
		if (!ok)
			return "host holds a byte a host name (or IPv6 literal) cannot";
	}
	if (o->port == 0)
		return "port 0";
	if (kind == HC_AUTHORITY) {
		if (o->path == NULL || o->path_len != 0 || o->query != NULL)
			return "an authority has a path or a query";
		if (memchr(t, '/', len) || memchr(t, '@', len))
			return "an authority with '/' or '@' accepted";
		return NULL;
	}
	if (kind == HC_ORIGIN)
		return o->path == t && o->path_len == len ? NULL : "an origin-form path is not the whole target";
	if (len < 7 || strncasecmp(t, "http://", 7) != 0)
		return "an absolute-form target without http://";
	if (o->path == NULL || o->path_len == 0)
		return "no path";
	if (!hc_inside(o->path, o->path_len, t, len) && !(o->path_len == 1 && o->path[0] == '/'))
		return "path neither \"/\" nor inside the target";
	if (o->path[0] != '/')
		return "path does not start with '/'";
	if (memchr(o->path, '#', o->path_len))
		return "path holds a fragment";
	if (o->query != NULL) {
		if (!hc_inside(o->query, o->query_len, t, len) || o->query_len == 0 || o->query[0] != '?')
			return "query is not a span of the target starting with '?'";
		if (memchr(o->query, '#', o->query_len))
			return "query holds a fragment";
	}
	return NULL;
}

static inline int hc_same_authority(const struct http_target *a, const struct http_target *b)
{
	return strcmp(a->host, b->host) == 0 && a->port == b->port && a->ipv6 == b->ipv6;
}

/* T4.  An origin-form path is the client's bytes as they are (a '#' in it
 * would end the path of a URL), so with one the URL gets "/". */
static inline const char *hc_host_value_check(const struct http_target *o, enum hc_target_kind kind)
{
	char hv[264];
	size_t n = http_host_value(o, hv, sizeof(hv));
	if (n == 0 || n != strnlen(hv, sizeof(hv)))
		return "http_host_value is empty or not its own length";
	const char *path = o->path_len ? o->path : "/";
	size_t plen = o->path_len ? o->path_len : 1, qlen = o->query ? o->query_len : 0;
	if (kind == HC_ORIGIN)
		path = "/", plen = 1;
	size_t ulen = 7 + n + plen + qlen;
	char *url = malloc(ulen);
	if (url == NULL)
		abort();
	memcpy(url, "http://", 7);
	memcpy(url + 7, hv, n);
	memcpy(url + 7 + n, path, plen);
	if (qlen)
		memcpy(url + 7 + n + plen, o->query, qlen);
	struct http_target t2;
	const char *why = NULL, *broken = NULL;
	if (http_target_parse(url, ulen, &t2, &why) != 0)
		broken = "http:// + host value + path does not parse";
	else if (!hc_same_authority(o, &t2))
		broken = "http:// + host value + path names another host or port";
	else if (t2.path_len + (t2.query ? t2.query_len : 0) != plen + qlen ||
		 memcmp(t2.path, url + 7 + n, t2.path_len) != 0 ||
		 (t2.query && memcmp(t2.query, url + 7 + n + t2.path_len, t2.query_len) != 0))
		broken = "http:// + host value + path has another path or query";
	else if (http_origin_target_parse("/", 1, hv, n, &t2, &why) != 0 || !hc_same_authority(o, &t2))
		broken = "the host value as a Host names another host or port";
	free(url);
	return broken;
}

/* One parser on t[0..len): T1, then T2-T4 on success.  *ok gets the result. */
static inline const char *hc_target_one(enum hc_target_kind kind, const char *t, size_t len, const char *host,
					size_t host_len, struct http_target *o, int *ok)
{
	struct http_target again;
	const char *why = NULL, *why2 = NULL;
	int r, r2;
	if (kind == HC_AUTHORITY) {
		r = http_authority_parse(t, len, o, &why);
		r2 = http_authority_parse(t, len, &again, &why2);
	} else if (kind == HC_ABSOLUTE) {
		r = http_target_parse(t, len, o, &why);
		r2 = http_target_parse(t, len, &again, &why2);
	} else {
		r = http_origin_target_parse(t, len, host, host_len, o, &why);
		r2 = http_origin_target_parse(t, len, host, host_len, &again, &why2);
	}
	*ok = r == 0;
	if (r != 0 && r != -1)
		return "a target parser returned neither 0 nor -1";
	if (r2 != r || (r == 0 && memcmp(o, &again, sizeof(again)) != 0) || (r == -1 && why != why2))
		return "a target parser differs on a second call";
	if (r == -1)
		return why == NULL || why[0] == '\0' ? "a target refused without a reason" : NULL;
	const char *broken = hc_target_sane(o, t, len, kind);
	return broken ? broken : hc_host_value_check(o, kind);
}

enum hc_target_outcome {
	HC_T_AUTHORITY,		/* accepted as a CONNECT authority */
	HC_T_ABSOLUTE,		/* accepted as http://... (as is or prefixed) */
	HC_T_ORIGIN,		/* accepted as origin-form with a Host */
	HC_T_OUTCOMES,
};

/* NULL when every promise holds for data[0..size), else the one broken;
 * counts[] gets one more for each parser that accepted it. */
static inline const char *http_target_check(const uint8_t *data, size_t size, unsigned long counts[HC_T_OUTCOMES])
{
	const char *broken = NULL;
	struct http_target a, b;
	int ok, ok2;
	char *t = hc_copy(data, size);
	char *prefixed = malloc(size + 7);
	if (t == NULL || prefixed == NULL)
		abort();
	memcpy(prefixed, "http://", 7);
	memcpy(prefixed + 7, data, size);

	if ((broken = hc_target_one(HC_AUTHORITY, t, size, NULL, 0, &a, &ok)) != NULL)
		goto done;
	if ((broken = hc_target_one(HC_ABSOLUTE, prefixed, size + 7, NULL, 0, &b, &ok2)) != NULL)
		goto done;
	counts[HC_T_AUTHORITY] += ok;
	counts[HC_T_ABSOLUTE] += ok2;
	if (ok && (!ok2 || !hc_same_authority(&a, &b))) { /* T5 */
		broken = "a CONNECT authority is not the same authority behind http://";
		goto done;
	}
	if ((broken = hc_target_one(HC_ABSOLUTE, t, size, NULL, 0, &b, &ok2)) != NULL)
		goto done;
	counts[HC_T_ABSOLUTE] += ok2;

	/* origin-form: "host\ntarget", or the whole input as Host for "/" */
	const char *lf = memchr(t, '\n', size);
	size_t hlen = lf ? (size_t)(lf - t) : size;
	char *host = hc_copy(t, hlen);
	char *target = lf ? hc_copy(lf + 1, size - hlen - 1) : hc_copy("/", 1);
	if (host == NULL || target == NULL)
		abort();
	broken = hc_target_one(HC_ORIGIN, target, lf ? size - hlen - 1 : 1, host, hlen, &b, &ok2);
	counts[HC_T_ORIGIN] += ok2;
	free(host);
	free(target);
done:
	free(t);
	free(prefixed);
	return broken;
}

/* --- heads ---------------------------------------------------------------------- */

/* H2. */
static inline const char *hc_head_sane(const struct http_head *h, size_t len)
{
	const char *r = h->raw;
	const char *lf = memchr(r, '\n', len);
	size_t line = lf ? (size_t)(lf - r) : len;
	for (int i = 0; i < 3; i++) {
		struct http_span s = h->part[i];
		if (!hc_span_inside(s, len) || s.off + s.len > line)
			return "a start-line part lies outside the start line";
		if (memchr(r + s.off, '\r', s.len) || memchr(r + s.off, '\n', s.len))
			return "a start-line part holds CR or LF";
		if (i < 2 && memchr(r + s.off, ' ', s.len))
			return "a start-line part before the last holds SP";
	}
	struct http_span v = h->is_request ? h->part[2] : h->part[0];
	if (v.len != 8 || memcmp(r + v.off, "HTTP/", 5) != 0 || r[v.off + 6] != '.' ||
	    h->major != r[v.off + 5] - '0' || h->minor != r[v.off + 7] - '0' || h->major < 0 || h->major > 9 ||
	    h->minor < 0 || h->minor > 9)
		return "the version is not HTTP/d.d";
	if (h->nhdr > h->maxhdr)
		return "more headers than maxhdr";
	uint32_t prev_end = (uint32_t)line;
	int cl = 0, te = 0;
	for (uint32_t i = 0; i < h->nhdr; i++) {
		const struct http_hdr *x = &h->hdr[i];
		if (!hc_span_inside(x->name, len) || !hc_span_inside(x->value, len) || x->line_end >= len)
			return "a header span lies outside the input";
		if (x->name.off <= prev_end || x->name.len == 0)
			return "header lines out of order, or an empty name";
		for (uint32_t k = 0; k < x->name.len; k++)
			if (!hc_tchar((unsigned char)r[x->name.off + k]))
				return "a header name holds a non-token byte";
		if (r[x->name.off + x->name.len] != ':' || x->value.off < x->name.off + x->name.len + 1 ||
		    x->value.off + x->value.len > x->line_end)
			return "a header value lies outside its line";
		if (r[x->line_end] != '\n' && !(r[x->line_end] == '\r' && x->line_end + 1 < len && r[x->line_end + 1] == '\n'))
			return "a header line does not end at CRLF or LF";
		if (memchr(r + x->name.off, '\r', x->line_end - x->name.off) ||
		    memchr(r + x->name.off, '\n', x->line_end - x->name.off))
			return "a header line holds CR or LF";
		if (x->value.len && (r[x->value.off] == ' ' || r[x->value.off] == '\t' ||
				     r[x->value.off + x->value.len - 1] == ' ' || r[x->value.off + x->value.len - 1] == '\t'))
			return "a header value is not trimmed";
		prev_end = x->line_end;
		if (hc_span_is(h, x->name, "Content-Length")) {
			cl++;
			if (x->value.len == 0 || x->value.len > 18)
				return "a Content-Length of no or more than 18 digits accepted";
			for (uint32_t k = 0; k < x->value.len; k++)
				if (r[x->value.off + k] < '0' || r[x->value.off + k] > '9')
					return "a Content-Length with a non-digit accepted";
		}
		te |= hc_span_is(h, x->name, "Transfer-Encoding");
	}
	if (cl > 1 || cl != h->content_length_count)
		return "Content-Length count wrong, or more than one accepted";
	if (te != h->transfer_encoding || (te && cl))
		return "Transfer-Encoding flag wrong, or with Content-Length";
	if ((h->max_forwards < 0) != (h->max_forwards_idx < 0) || h->max_forwards < -1 ||
	    (h->max_forwards_idx >= 0 && ((uint32_t)h->max_forwards_idx >= h->nhdr ||
					  !hc_span_is(h, h->hdr[h->max_forwards_idx].name, "Max-Forwards"))))
		return "max_forwards and max_forwards_idx disagree";
	return NULL;
}

/* H1, H2: parse raw[0..len) twice. */
static inline const char *hc_head_parse(struct http_head *h, const char *raw, size_t len, int is_request,
					struct http_hdr *hdr, enum http_verdict *v)
{
	static struct http_hdr first[HTTP_CHECK_MAXHDR];
	struct http_head h2;
	*v = http_head_parse(h, raw, (uint32_t)len, is_request, hdr, HTTP_CHECK_MAXHDR);
	if (strcmp(http_verdict_text(*v), "?") == 0)
		return "verdict out of range";
	memcpy(first, hdr, sizeof(first));
	if (http_head_parse(&h2, raw, (uint32_t)len, is_request, hdr, HTTP_CHECK_MAXHDR) != *v ||
	    memcmp(h, &h2, sizeof(h2)) != 0 || (*v == HTTP_OK && memcmp(first, hdr, h->nhdr * sizeof(*hdr)) != 0))
		return "a second parse differs";
	return *v == HTTP_OK ? hc_head_sane(h, len) : NULL;
}

/* Is header i named by a token of a Connection header? */
static inline int hc_listed(const struct http_head *h, uint32_t i)
{
	const struct http_span n = h->hdr[i].name;
	for (uint32_t c = 0; c < h->nhdr; c++) {
		if (!hc_span_is(h, h->hdr[c].name, "Connection"))
			continue;
		const char *p = h->raw + h->hdr[c].value.off, *end = p + h->hdr[c].value.len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
				p++;
			const char *s = p;
			while (p < end && *p != ',')
				p++;
			const char *e = p;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if ((size_t)(e - s) == n.len && strncasecmp(s, h->raw + n.off, n.len) == 0)
				return 1;
		}
	}
	return 0;
}

static inline int hc_hop(const struct http_head *h, struct http_span n)
{
	static const char *const hop[] = { "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
					   "TE", "Trailer", "Upgrade" };
	for (size_t k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
		if (hc_span_is(h, n, hop[k]))
			return 1;
	return 0;
}

/* H3: http_mark_hop_by_hop on a parsed head, and what it should have done. */
static inline const char *hc_mark(struct http_head *h)
{
	http_mark_hop_by_hop(h);
	for (uint32_t i = 0; i < h->nhdr; i++) {
		struct http_span n = h->hdr[i].name;
		int framing = hc_span_is(h, n, "Content-Length") || hc_span_is(h, n, "Transfer-Encoding") ||
			      hc_span_is(h, n, "Host");
		int want = hc_hop(h, n) || (h->is_request && hc_span_is(h, n, "Host")) || (hc_listed(h, i) && !framing);
		if (h->hdr[i].drop != want)
			return want ? "a hop-by-hop header is kept" : "an end-to-end header is dropped";
	}
	return NULL;
}

static inline int hc_count(const struct http_head *h, const char *name)
{
	int n = 0;
	for (uint32_t i = 0; i < h->nhdr; i++)
		n += hc_span_is(h, h->hdr[i].name, name);
	return n;
}

/* R3 on out[0..n); in[0..inlen) is what it was made from. */
static inline const char *hc_lines(const char *out, size_t n, const char *in, size_t inlen)
{
	if (n < 4 || memcmp(out + n - 4, "\r\n\r\n", 4) != 0)
		return "the written head does not end with CRLF CRLF";
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '\r' && (i + 1 == n || out[i + 1] != '\n'))
			return "the written head has a bare CR";
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			return "the written head has a bare LF";
	}
	if (memchr(out, '\0', n) && !memchr(in, '\0', inlen))
		return "the written head has a NUL the input did not have";
	return NULL;
}

static inline int hc_is_framing(const struct http_head *h, struct http_span n)
{
	return hc_span_is(h, n, "Content-Length") || hc_span_is(h, n, "Transfer-Encoding");
}

/* Headers kept (not dropped) and not framing: the lines copied as they are. */
static inline uint32_t hc_copied(const struct http_head *h)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < h->nhdr; i++)
		n += !h->hdr[i].drop && !hc_is_framing(h, h->hdr[i].name);
	return n;
}

static inline uint32_t hc_nonframing(const struct http_head *h)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < h->nhdr; i++)
		n += !hc_is_framing(h, h->hdr[i].name);
	return n;
}

#define HC_CODINGS 64

/* The transfer codings of all Transfer-Encoding lines, in order (at most
 * HC_CODINGS of them); returns how many there are. */
static inline size_t hc_codings(const struct http_head *h, struct http_span *c)
{
	size_t n = 0;
	for (uint32_t i = 0; i < h->nhdr; i++) {
		if (!hc_span_is(h, h->hdr[i].name, "Transfer-Encoding"))
			continue;
		uint32_t p = h->hdr[i].value.off, end = p + h->hdr[i].value.len;
		while (p < end) {
			while (p < end && (h->raw[p] == ' ' || h->raw[p] == '\t' || h->raw[p] == ','))
				p++;
			uint32_t s = p;
			while (p < end && h->raw[p] != ',')
				p++;
			uint32_t e = p;
			while (e > s && (h->raw[e - 1] == ' ' || h->raw[e - 1] == '\t'))
				e--;
			if (e > s && n++ < HC_CODINGS)
				c[n - 1] = (struct http_span){ s, e - s };
		}
	}
	return n;
}

/* The framing two heads carry is the same: as many Content-Length headers
 * with the same value (leading zeros aside: sluice may write it anew), and
 * Transfer-Encoding with the same codings in the same order (coding names
 * compare without case: sluice writes them in lower case). */
static inline int hc_same_framing(const struct http_head *a, const struct http_head *b)
{
	if (a->content_length_count != b->content_length_count || a->transfer_encoding != b->transfer_encoding)
		return 0;
	int i = http_find(a, "Content-Length"), k = http_find(b, "Content-Length");
	if ((i < 0) != (k < 0))
		return 0;
	if (i >= 0) {
		uint64_t va = 0, vb = 0;	/* at most 18 digits: no overflow */
		for (uint32_t d = 0; d < a->hdr[i].value.len; d++)
			va = va * 10 + (uint64_t)(a->raw[a->hdr[i].value.off + d] - '0');
		for (uint32_t d = 0; d < b->hdr[k].value.len; d++)
			vb = vb * 10 + (uint64_t)(b->raw[b->hdr[k].value.off + d] - '0');
		if (va != vb)
			return 0;
	}
	struct http_span ca[HC_CODINGS], cb[HC_CODINGS];
	size_t na = hc_codings(a, ca), nb = hc_codings(b, cb);
	if (na != nb)
		return 0;
	for (size_t c = 0; c < na && c < HC_CODINGS; c++)
		if (ca[c].len != cb[c].len || strncasecmp(a->raw + ca[c].off, b->raw + cb[c].off, ca[c].len) != 0)
			return 0;
	return 1;
}

/* The framing a rewritten head h2 carries for h: none with omit_framing,
 * else the same, written once and canonically (one Transfer-Encoding line,
 * or one Content-Length without leading zeros), so that it frames the body
 * as http_body_of() says. */
static inline const char *hc_framing_written(const struct http_head *h, const struct http_head *h2)
{
	if (h->omit_framing)
		return h2->content_length_count || h2->transfer_encoding ? "framing headers written despite omit_framing"
									 : NULL;
	if (!hc_same_framing(h, h2))
		return "the rewritten head has other framing";
	if (hc_count(h2, "Transfer-Encoding") > 1)
		return "Transfer-Encoding not written as one line";
	int te = http_find(h2, "Transfer-Encoding");
	for (uint32_t i = 0; te >= 0 && i < h2->hdr[te].value.len; i++)
		if (h2->raw[h2->hdr[te].value.off + i] >= 'A' && h2->raw[h2->hdr[te].value.off + i] <= 'Z')
			return "a transfer coding not written in lower case";
	int cl = http_find(h2, "Content-Length");
	if (cl >= 0 && h2->hdr[cl].value.len > 1 && h2->raw[h2->hdr[cl].value.off] == '0')
		return "Content-Length written with a leading zero";
	if (http_body_of(h2, 0) != http_body_of(h, 0) || http_body_of(h2, 1) != http_body_of(h, 1) ||
	    h2->content_length != h->content_length || h2->te_chunked != h->te_chunked)
		return "the rewritten head frames its body otherwise (http_body_of)";
	return NULL;
}

/* R1, R2 for a writer: returns the written head in a fresh heap block of
 * its exact size (*n bytes), or NULL with *broken set. */
typedef int (*hc_writer)(struct buf *out, const void *arg);

static inline char *hc_write(hc_writer w, const void *arg, size_t inlen, size_t *n, const char **broken)
{
	struct buf *b = hc_buf((uint32_t)(2 * inlen + 1024));
	buf_append(b, "pfx", 3);
	char *out = NULL;
	if (w(b, arg) != 0) {
		*broken = "the head does not fit a buffer of twice the input and 1 kB";
		goto done;
	}
	if (memcmp(b->data, "pfx", 3) != 0 || b->start != 0 || b->parsed != b->end || b->end < 3) {
		*broken = "writing changed the bytes before it, or left parsed != end";
		goto done;
	}
	*n = b->end - 3;
	out = hc_copy(b->data + 3, *n);
	free(b);
	/* exactly its size, then one byte less */
	b = hc_buf((uint32_t)(3 + *n));
	buf_append(b, "pfx", 3);
	if (w(b, arg) != 0 || b->end != 3 + *n || memcmp(b->data + 3, out, *n) != 0) {
		*broken = "the head does not fit a buffer of exactly its size";
		goto fail;
	}
	free(b);
	b = hc_buf((uint32_t)(3 + *n - 1));
	buf_append(b, "pfx", 3);
	if (w(b, arg) != -1 || b->end != 3 || b->parsed != 3 || memcmp(b->data, "pfx", 3) != 0) {
		*broken = "a head one byte too big for the buffer is not refused cleanly";
		goto fail;
	}
	goto done;
fail:
	free(out);
	out = NULL;
done:
	free(b);
	return out;
}

/* --- requests ------------------------------------------------------------------- */

struct hc_request_args {
	const struct http_head *h;
	const struct http_target *t;
	int dec;
};

static inline int hc_write_request(struct buf *out, const void *arg)
{
	const struct hc_request_args *a = arg;
	return http_write_request(out, a->h, a->t, HTTP_CHECK_VIA, a->dec);
}

static inline int hc_write_trace(struct buf *out, const void *arg)
{
	const struct hc_request_args *a = arg;
	return http_write_trace(out, a->h, a->dec);
}

/* What exchange.c keep_upgrade() does. */
static inline void hc_keep_upgrade(struct http_head *h)
{
	if (!(h->conn_tokens & HTTP_CONN_UPGRADE) || h->minor == 0)
		return;
	http_keep_upgrade(h);
}

/* R6 on a parsed (not yet marked) request head. */
static inline const char *hc_trace_check(const struct http_head *h, int close)
{
	static struct http_hdr hdr2[HTTP_CHECK_MAXHDR];
	struct hc_request_args a = { h, NULL, close };
	const char *broken = NULL;
	size_t n;
	char *out = hc_write(hc_write_trace, &a, h->len + 200, &n, &broken);
	if (out == NULL)
		return broken;
	struct http_head r, q;
	const char *end = memmem(out, n, "\r\n\r\n", 4);
	size_t hl = end ? (size_t)(end - out) + 4 : 0;
	if (hl == 0 || http_head_parse(&r, out, (uint32_t)hl, 0, hdr2, HTTP_CHECK_MAXHDR) != HTTP_OK || r.status != 200) {
		broken = "the TRACE echo is not a 200 response head";
		goto done;
	}
	int cl = http_find(&r, "Content-Length");
	char want[32];
	int wl = snprintf(want, sizeof(want), "%zu", n - hl);
	if (cl < 0 || !hc_eq(out + r.hdr[cl].value.off, r.hdr[cl].value.len, want, (size_t)wl)) {
		broken = "the TRACE echo's Content-Length is not its body's length";
		goto done;
	}
	uint32_t secrets = 0;
	for (uint32_t i = 0; i < h->nhdr; i++)
		secrets += hc_span_is(h, h->hdr[i].name, "Authorization") ||
			   hc_span_is(h, h->hdr[i].name, "Proxy-Authorization") || hc_span_is(h, h->hdr[i].name, "Cookie");
	if (http_head_parse(&q, out + hl, (uint32_t)(n - hl), 1, hdr2, HTTP_CHECK_MAXHDR) != HTTP_OK ||
	    q.nhdr != h->nhdr - secrets || !hc_eq(q.raw + q.part[0].off, q.part[0].len, h->raw + h->part[0].off, h->part[0].len) ||
	    hc_count(&q, "Authorization") || hc_count(&q, "Proxy-Authorization") || hc_count(&q, "Cookie"))
		broken = "the TRACE echo's body is not the request head without its secrets";
done:
	free(out);
	return broken;
}

/* R1-R5 for a marked request head h (from input in[0..inlen)) and its
 * target t.  *out_head and *out_len get the written head (the caller
 * frees it) when it is not NULL. */
static inline const char *hc_request_rewrite(const struct http_head *h, const struct http_target *t, int dec,
					     const char *in, size_t inlen, char **out_head, size_t *out_len)
{
	static struct http_hdr hdr2[HTTP_CHECK_MAXHDR + 3];
	struct hc_request_args a = { h, t, dec };
	const char *broken = NULL;
	size_t n;
	char *out = hc_write(hc_write_request, &a, h->len + 300, &n, &broken);
	if (out == NULL)
		return broken;
	if ((broken = hc_lines(out, n, in, inlen)) != NULL)
		goto done;

	struct http_head h2;
	if (http_head_parse(&h2, out, (uint32_t)n, 1, hdr2, HTTP_CHECK_MAXHDR + 3) != HTTP_OK) {
		broken = "the rewritten request head does not parse";
		goto done;
	}
	size_t tl = t->path_len + (t->query ? t->query_len : 0);
	if (!hc_eq(out + h2.part[0].off, h2.part[0].len, h->raw + h->part[0].off, h->part[0].len)) {
		broken = "the rewritten request has another method";
		goto done;
	}
	if (h2.part[1].len != tl || memcmp(out + h2.part[1].off, t->path, t->path_len) != 0 ||
	    (t->query && memcmp(out + h2.part[1].off + t->path_len, t->query, t->query_len) != 0)) {
		broken = "the rewritten request's target is not path and query";
		goto done;
	}
	if (h2.major != 1 || h2.minor != 1) {
		broken = "the rewritten request is not HTTP/1.1";
		goto done;
	}
	if (hc_nonframing(&h2) != hc_copied(h) + 2 + (uint32_t)h->keep_upgrade) {
		broken = "the rewritten request has not exactly the kept headers, Host, Via (and Connection)";
		goto done;
	}
	char hv[264], via[80];
	size_t hvl = http_host_value(t, hv, sizeof(hv));
	int vl = snprintf(via, sizeof(via), "%d.%d %s", h->major, h->minor, HTTP_CHECK_VIA);
	if (!hc_span_is(&h2, h2.hdr[0].name, "Host") || hc_count(&h2, "Host") != 1 ||
	    !hc_eq(out + h2.hdr[0].value.off, h2.hdr[0].value.len, hv, hvl)) {
		broken = "the rewritten request's first header is not the one Host, with the target's host value";
		goto done;
	}
	const struct http_hdr *last = &h2.hdr[h2.nhdr - 1];
	if (!hc_span_is(&h2, last->name, "Via") || !hc_eq(out + last->value.off, last->value.len, via, (size_t)vl)) {
		broken = "the rewritten request's last header is not Via";
		goto done;
	}
	if (hc_count(&h2, "Keep-Alive") || hc_count(&h2, "Proxy-Connection") || hc_count(&h2, "Proxy-Authorization") ||
	    hc_count(&h2, "TE") || hc_count(&h2, "Trailer") || hc_count(&h2, "Connection") != h->keep_upgrade ||
	    (hc_count(&h2, "Upgrade") != 0) != h->keep_upgrade ||
	    h2.conn_tokens != (h->keep_upgrade ? HTTP_CONN_UPGRADE : 0)) {
		broken = "a hop-by-hop header went through";
		goto done;
	}
	if ((broken = hc_framing_written(h, &h2)) != NULL)
		goto done;
	int mf = h->max_forwards_idx < 0 || h->hdr[h->max_forwards_idx].drop ? -1 : h->max_forwards - (dec ? 1 : 0);
	if (h2.max_forwards != mf) {
		broken = "Max-Forwards is not the client's less one, the same, or gone when Connection listed it";
		goto done;
	}
	struct http_target o;
	const char *why;
	if (http_origin_target_parse(out + h2.part[1].off, h2.part[1].len, hv, hvl, &o, &why) != 0 ||
	    !hc_same_authority(&o, t)) {
		broken = "the rewritten Host names another host or port than the target";
		goto done;
	}
done:
	if (broken == NULL && out_head != NULL) {
		*out_head = out;
		*out_len = n;
		return NULL;
	}
	free(out);
	return broken;
}

static inline int hc_is_method(const struct http_head *h, const char *m)
{
	return hc_eq(h->raw + h->part[0].off, h->part[0].len, m, strlen(m));
}

/* --- llhttp --------------------------------------------------------------------- */

static inline int hc_on_headers_complete(llhttp_t *p)
{
	return HPE_PAUSED;
}

/* Run llhttp as exchange.c does up to the end of the head: the head's
 * length when it paused there, else 0. */
static inline size_t hc_llhttp_head(llhttp_t *p, llhttp_type_t type, const char *data, size_t len)
{
	static llhttp_settings_t s;
	static int init;
	if (!init) {
		llhttp_settings_init(&s);
		s.on_headers_complete = hc_on_headers_complete;
		init = 1;
	}
	llhttp_init(p, type, &s);
	if (llhttp_execute(p, data, len) != HPE_PAUSED)
		return 0;
	return (size_t)(llhttp_get_error_pos(p) - data);
}

/* llhttp, as the next hop, frames the body of the head it parsed as sluice
 * does (kind from http_body_of, length its Content-Length). */
static inline const char *hc_llhttp_frames_as(const llhttp_t *p, enum body_kind kind, uint64_t length)
{
	int chunked = (p->flags & F_CHUNKED) != 0, cl = (p->flags & F_CONTENT_LENGTH) != 0;
	int eof = p->type == HTTP_RESPONSE && llhttp_message_needs_eof(p);
	int ok;
	switch (kind) {
	case BODY_CHUNKED: ok = chunked && !eof; break;
	case BODY_LENGTH: ok = cl && !chunked && !eof && p->content_length == length; break;
	case BODY_UNTIL_CLOSE: ok = eof; break;
	default: /* a request without framing; a 1xx, 204 or 304 whatever it says */
		ok = p->type == HTTP_RESPONSE ? !eof : !chunked && !cl;
		break;
	}
	return ok ? NULL : "llhttp frames the rewritten head's body otherwise than sluice (http_body_of)";
}

enum hc_request_outcome {
	HC_R_REFUSED,		/* http_head_parse said no */
	HC_R_NO_TARGET,		/* parsed; the target is not absolute-form */
	HC_R_REWRITTEN,		/* rewritten and re-parsed */
	HC_R_LLHTTP_HEAD,	/* llhttp framed a head */
	HC_R_LLHTTP_REWRITTEN,	/* ... that sluice rewrote, and llhttp took again */
	HC_R_OUTCOMES,
};

/* L1, L2: the input as sluice sees it, through llhttp first. */
static inline const char *hc_request_llhttp(const char *raw, size_t size, unsigned long counts[HC_R_OUTCOMES])
{
	static struct http_hdr hdr[HTTP_CHECK_MAXHDR];
	llhttp_t p, p2;
	size_t hl = hc_llhttp_head(&p, HTTP_REQUEST, raw, size);
	if (hl == 0)
		return NULL;
	counts[HC_R_LLHTTP_HEAD]++;
	struct http_head h;
	enum http_verdict v;
	const char *broken = hc_head_parse(&h, raw, hl, 1, hdr, &v);
	if (broken || v != HTTP_OK)
		return broken;
	const char *name = llhttp_method_name((llhttp_method_t)p.method);
	if (!hc_is_method(&h, name))
		return "llhttp and http_head_parse read another method";
	/* exchange.c on_request_head's refusals */
	if (h.major != 1 || (h.minor == 0 && h.transfer_encoding))
		return NULL;
	struct http_target t;
	const char *why;
	if (p.method == HTTP_CONNECT) {
		if (http_authority_parse(h.raw + h.part[1].off, h.part[1].len, &t, &why) == 0)
			return hc_target_sane(&t, h.raw + h.part[1].off, h.part[1].len, HC_AUTHORITY);
		return NULL;
	}
	if (http_target_parse(h.raw + h.part[1].off, h.part[1].len, &t, &why) != 0)
		return NULL;
	int mf_method = p.method == HTTP_TRACE || p.method == HTTP_OPTIONS;
	if (mf_method && h.max_forwards == 0)
		return NULL;	/* answered by sluice */
	if ((broken = hc_mark(&h)) != NULL)
		return broken;
	hc_keep_upgrade(&h);
	char *out;
	size_t n;
	if ((broken = hc_request_rewrite(&h, &t, mf_method && h.max_forwards > 0, raw, hl, &out, &n)) != NULL)
		return broken;
	if (memchr(out, '\0', n))
		broken = "the rewritten head of a head llhttp took holds a NUL";
	else if (hc_llhttp_head(&p2, HTTP_REQUEST, out, n) != n)
		broken = "llhttp does not take the rewritten request head whole";
	else if (p2.method != p.method)
		broken = "llhttp reads another method in the rewritten request";
	else if ((broken = hc_llhttp_frames_as(&p2, http_body_of(&h, 0), h.content_length)) != NULL)
		;
	else if (p2.upgrade != h.keep_upgrade)
		broken = "llhttp sees an upgrade in the rewritten request exactly when sluice did not keep one";
	else
		counts[HC_R_LLHTTP_REWRITTEN]++;
	free(out);
	return broken;
}

/* NULL when every promise holds for data[0..size) as a request head, else
 * the one broken; counts[] gets the outcomes. */
static inline const char *http_request_check(const uint8_t *data, size_t size, unsigned long counts[HC_R_OUTCOMES])
{
	static struct http_hdr hdr[HTTP_CHECK_MAXHDR];
	char *raw = hc_copy(data, size);
	uint64_t hash = hc_hash(data, size);
	struct http_head h;
	struct http_target t;
	enum http_verdict v;
	const char *why, *broken = hc_head_parse(&h, raw, size, 1, hdr, &v);
	if (broken)
		goto done;
	if (v != HTTP_OK) {
		counts[HC_R_REFUSED]++;
		goto llhttp;
	}
	if ((broken = hc_trace_check(&h, (int)(hash & 1))) != NULL)
		goto done;
	if ((broken = hc_mark(&h)) != NULL)
		goto done;
	if (http_target_parse(h.raw + h.part[1].off, h.part[1].len, &t, &why) != 0) {
		counts[HC_R_NO_TARGET]++;
		goto llhttp;
	}
	if ((broken = hc_target_sane(&t, h.raw + h.part[1].off, h.part[1].len, HC_ABSOLUTE)) != NULL)
		goto done;
	hc_keep_upgrade(&h);
	int dec = h.max_forwards > 0 && (hc_is_method(&h, "TRACE") || hc_is_method(&h, "OPTIONS") || (hash & 2));
	if ((broken = hc_request_rewrite(&h, &t, dec, raw, size, NULL, NULL)) != NULL)
		goto done;
	counts[HC_R_REWRITTEN]++;
llhttp:
	broken = hc_request_llhttp(raw, size, counts);
done:
	free(raw);
	return broken;
}

/* --- responses ------------------------------------------------------------------ */

struct hc_response_args {
	const struct http_head *h;
	enum http_conn_mode mode;
};

static inline int hc_write_response(struct buf *out, const void *arg)
{
	const struct hc_response_args *a = arg;
	return http_write_response(out, a->h, HTTP_CHECK_VIA, a->mode);
}

/* S1, S2 for a marked response head h in one mode. */
static inline const char *hc_response_rewrite(const struct http_head *h, enum http_conn_mode mode, const char *in,
					      size_t inlen, char **out_head, size_t *out_len)
{
	static struct http_hdr hdr2[HTTP_CHECK_MAXHDR + 3];
	struct hc_response_args a = { h, mode };
	const char *broken = NULL;
	size_t n;
	char *out = hc_write(hc_write_response, &a, h->len + 300, &n, &broken);
	if (out == NULL)
		return broken;
	if ((broken = hc_lines(out, n, in, inlen)) != NULL)
		goto done;
	if (n < 9 || memcmp(out, "HTTP/1.1 ", 9) != 0) {
		broken = "the rewritten response does not start with \"HTTP/1.1 \"";
		goto done;
	}
	struct http_head h2;
	if (http_head_parse(&h2, out, (uint32_t)n, 0, hdr2, HTTP_CHECK_MAXHDR + 3) != HTTP_OK) {
		broken = "the rewritten response head does not parse";
		goto done;
	}
	if (h2.status != h->status || !hc_eq(out + h2.part[1].off, h2.part[1].len, h->raw + h->part[1].off, h->part[1].len) ||
	    !hc_eq(out + h2.part[2].off, h2.part[2].len, h->raw + h->part[2].off, h->part[2].len)) {
		broken = "the rewritten response has another status or reason";
		goto done;
	}
	int conn = h->keep_upgrade ? HTTP_CONN_UPGRADE
		 : mode == HTTP_CONN_ADD_CLOSE ? HTTP_CONN_CLOSE
		 : mode == HTTP_CONN_ADD_KEEPALIVE ? HTTP_CONN_KEEPALIVE
		 : 0;
	if (hc_nonframing(&h2) != hc_copied(h) + 1 + (conn != 0)) {
		broken = "the rewritten response has not exactly the kept headers, Via (and Connection)";
		goto done;
	}
	uint32_t kept = h2.nhdr - 1 - (conn != 0);	/* Via right after them */
	char via[80];
	int vl = snprintf(via, sizeof(via), "%d.%d %s", h->major, h->minor, HTTP_CHECK_VIA);
	if (!hc_span_is(&h2, h2.hdr[kept].name, "Via") ||
	    !hc_eq(out + h2.hdr[kept].value.off, h2.hdr[kept].value.len, via, (size_t)vl)) {
		broken = "Via is not right after the kept headers";
		goto done;
	}
	if (h2.conn_tokens != conn || hc_count(&h2, "Connection") != (conn != 0)) {
		broken = "the rewritten response's Connection is not what sluice decided";
		goto done;
	}
	if (hc_count(&h2, "Keep-Alive") || hc_count(&h2, "Proxy-Connection") || hc_count(&h2, "Proxy-Authorization") ||
	    hc_count(&h2, "TE") || hc_count(&h2, "Trailer") || (hc_count(&h2, "Upgrade") != 0 && !h->keep_upgrade)) {
		broken = "a hop-by-hop header went through";
		goto done;
	}
	if ((broken = hc_framing_written(h, &h2)) != NULL)
		goto done;
done:
	if (broken == NULL && out_head != NULL) {
		*out_head = out;
		*out_len = n;
		return NULL;
	}
	free(out);
	return broken;
}

enum hc_response_outcome {
	HC_S_REFUSED,		/* http_head_parse said no */
	HC_S_REWRITTEN,		/* rewritten in every mode and re-parsed */
	HC_S_LLHTTP_HEAD,	/* llhttp framed a head */
	HC_S_LLHTTP_REWRITTEN,	/* ... that sluice rewrote, and llhttp took again */
	HC_S_OUTCOMES,
};

/* L3. */
static inline const char *hc_response_llhttp(const char *raw, size_t size, unsigned long counts[HC_S_OUTCOMES])
{
	static struct http_hdr hdr[HTTP_CHECK_MAXHDR];
	llhttp_t p, p2;
	size_t hl = hc_llhttp_head(&p, HTTP_RESPONSE, raw, size);
	if (hl == 0)
		return NULL;
	counts[HC_S_LLHTTP_HEAD]++;
	struct http_head h;
	enum http_verdict v;
	const char *broken = hc_head_parse(&h, raw, hl, 0, hdr, &v);
	if (broken || v != HTTP_OK)
		return broken;
	if (h.status != p.status_code)
		return "llhttp and http_head_parse read another status";
	if ((broken = hc_mark(&h)) != NULL)
		return broken;
	/* as exchange.c on_response_head sets them; and the HTTP/1.0 client's
	 * chunked body, sent decoded until close */
	enum body_kind kind = http_body_of(&h, 0);
	if (h.status == 101) { /* as exchange.c on_switching_protocols */
		http_keep_upgrade(&h);
		h.keep_upgrade = 1;
	}
	for (int dechunk = 0; dechunk <= (kind == BODY_CHUNKED); dechunk++) {
		h.omit_framing = h.status < 200 || h.status == 204 || dechunk;
		for (int mode = HTTP_CONN_AS_IS; mode <= HTTP_CONN_ADD_CLOSE; mode++) {
			char *out;
			size_t n;
			if ((broken = hc_response_rewrite(&h, (enum http_conn_mode)mode, raw, hl, &out, &n)) != NULL)
				return broken;
			if (memchr(out, '\0', n))
				broken = "the rewritten head of a head llhttp took holds a NUL";
			else if (hc_llhttp_head(&p2, HTTP_RESPONSE, out, n) != n)
				broken = "llhttp does not take the rewritten response head whole";
			else if (p2.status_code != p.status_code)
				broken = "llhttp reads another status in the rewritten response";
			else if (h.status != 101)
				broken = hc_llhttp_frames_as(&p2, dechunk ? BODY_UNTIL_CLOSE : kind, h.content_length);
			free(out);
			if (broken)
				return broken;
		}
	}
	counts[HC_S_LLHTTP_REWRITTEN]++;
	return NULL;
}

/* NULL when every promise holds for data[0..size) as a response head,
 * else the one broken; counts[] gets the outcomes. */
static inline const char *http_response_check(const uint8_t *data, size_t size, unsigned long counts[HC_S_OUTCOMES])
{
	static struct http_hdr hdr[HTTP_CHECK_MAXHDR];
	char *raw = hc_copy(data, size);
	struct http_head h;
	enum http_verdict v;
	const char *broken = hc_head_parse(&h, raw, size, 0, hdr, &v);
	if (broken)
		goto done;
	if (v != HTTP_OK) {
		counts[HC_S_REFUSED]++;
		goto llhttp;
	}
	if ((broken = hc_mark(&h)) != NULL)
		goto done;
	int up = http_find(&h, "Upgrade");
	uint8_t up_drop = up >= 0 ? h.hdr[up].drop : 0;
	h.omit_framing = (int)(hc_hash(data, size) & 1);
	for (int keep = 0; keep <= 1; keep++) {
		h.keep_upgrade = keep;
		if (up >= 0)
			h.hdr[up].drop = keep ? 0 : up_drop;
		for (int mode = HTTP_CONN_AS_IS; mode <= HTTP_CONN_ADD_CLOSE; mode++)
			if ((broken = hc_response_rewrite(&h, (enum http_conn_mode)mode, raw, size, NULL, NULL)) != NULL)
				goto done;
	}
	counts[HC_S_REWRITTEN]++;
llhttp:
	broken = hc_response_llhttp(raw, size, counts);
done:
	free(raw);
	return broken;
}

#endif
