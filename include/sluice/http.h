/* http: the pure half of HTTP handling.
 *
 * llhttp frames messages (src/exchange.c drives it); this module works on a
 * complete head that sits contiguous in a buffer:
 *
 *   http_head_parse()   split it into start line and header lines, and refuse
 *                       what llhttp 8.1 lets through (bare CR, obs-fold,
 *                       whitespace before a colon, a start line with extra
 *                       spaces, a status that is not three digits, control or
 *                       non-ASCII bytes in a request target) and what RFC 9112
 *                       sections 5-6 forbid (duplicate Content-Length,
 *                       Transfer-Encoding with Content-Length, chunked other
 *                       than once and last, a request TE not ending in chunked);
 *   http_body_of()      how the body is framed: the one decision, from the
 *                       values parsed here (body.c then frames it);
 *   http_mark_hop_by_hop()  mark what must not cross the proxy;
 *   http_target_parse() take an absolute-form target apart;
 *   http_write_*()      serialise the rewritten head, with its framing
 *                       headers (Content-Length, Transfer-Encoding) written
 *                       anew in canonical form from the parsed values.
 *
 * Nothing here allocates: header lines are offsets into the caller's bytes,
 * and the header array is the caller's.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/body.h"
#include "sluice/buf.h"

enum http_verdict {
	HTTP_OK = 0,
	HTTP_BAD_HEAD,		/* a line that is not "name: value" */
	HTTP_BARE_CR,
	HTTP_OBS_FOLD,
	HTTP_WS_BEFORE_COLON,
	HTTP_DUP_CONTENT_LENGTH,
	HTTP_BAD_CONTENT_LENGTH,
	HTTP_TE_AND_CL,
	HTTP_BAD_TRANSFER_ENCODING,
	HTTP_TOO_MANY_HEADERS,
	HTTP_BAD_REQUEST_LINE,	/* not "method SP target SP version", one space each */
	HTTP_BAD_TARGET,	/* a control, space or non-ASCII byte in the target */
	HTTP_BAD_STATUS_LINE,	/* not "version SP 3DIGIT [SP reason]", or a bad reason byte */
	HTTP_UNSUPPORTED_CODING,/* a transfer coding sluice does not pass on (501 for requests) */
};

/* RFC 9110 5.6.2 token characters. */
extern const unsigned char http_tchar[256];
static inline int http_is_tchar(unsigned char c)
{
	return http_tchar[c];
}

/* A short human text for a verdict ("bare CR in header block"). */
const char *http_verdict_text(enum http_verdict v);

struct http_span {
	uint32_t off, len;
};

struct http_hdr {
	struct http_span name, value;	/* value without surrounding whitespace */
	uint32_t line_end;		/* offset of the line's CR or LF */
	uint8_t drop;			/* not to be forwarded */
	uint8_t framing;		/* Content-Length or Transfer-Encoding: never
					   copied, written anew by http_write_* */
};

enum {
	HTTP_CONN_CLOSE = 1,
	HTTP_CONN_KEEPALIVE = 2,
	HTTP_CONN_UPGRADE = 4,
};

struct http_head {
	const char *raw;
	uint32_t len;
	int is_request;
	/* request: method, target, version; response: version, status, reason */
	struct http_span part[3];
	int major, minor;
	int status;
	struct http_hdr *hdr;		/* caller's array */
	uint32_t nhdr, maxhdr;
	int content_length_count;
	uint64_t content_length;	/* its value, when there is one */
	int transfer_encoding;		/* has a Transfer-Encoding header */
	int te_chunked;			/* ... whose final coding is chunked */
	int te_codings;			/* ... and how many codings it lists */
	int conn_tokens;		/* HTTP_CONN_* seen in Connection */
	int max_forwards;		/* -1: absent or unparsable */
	int max_forwards_idx;
	int keep_upgrade;		/* set by the caller: an Upgrade goes through
					   (Upgrade kept, "Connection: upgrade" written) */
	int omit_framing;		/* set by the caller: write neither
					   Content-Length nor Transfer-Encoding (1xx,
					   204, a body sent decoded) */
};

/* Split the head raw[0..len) (start line through the empty line) into parts.
 * hdr has room for maxhdr lines.  Returns HTTP_OK or the first reason to
 * refuse the message.  raw and hdr are borrowed by h. */
enum http_verdict http_head_parse(struct http_head *h, const char *raw, uint32_t len,
				  int is_request, struct http_hdr *hdr, uint32_t maxhdr);

/* Case-insensitive compare of a span with a NUL-terminated name. */
int http_span_eq(const struct http_head *h, struct http_span s, const char *name);

/* Index of the first header named name, or -1. */
int http_find(const struct http_head *h, const char *name);

/* Let the Upgrade lines with a value through (hop-by-hop marked them),
 * drop empty ones, and set keep_upgrade when one went through.  Returns
 * whether one did: an empty Upgrade names no protocol, and a next hop that
 * reads only the first line would see none. */
int http_keep_upgrade(struct http_head *h);

/* How the body of the message h heads is delimited (RFC 9112 6.3): for a
 * request from its own head; for a response also from whether it answers
 * a HEAD request.  1xx, 204 and 304 responses have none. */
enum body_kind http_body_of(const struct http_head *h, int answers_head);

/* Whether h authenticates the connection rather than the request: a
 * request with "Authorization: NTLM ..." or "Negotiate ...", a response
 * challenging with either in WWW-Authenticate (IIS's default).  Such a
 * server connection then belongs to its client alone. */
int http_connection_auth(const struct http_head *h);

/* Whether the sender of h lets its connection stay open after this
 * message: HTTP/1.1 without "Connection: close", or HTTP/1.0 with
 * "Connection: keep-alive". */
int http_keeps_alive(const struct http_head *h);

/* Mark hop-by-hop headers (Connection and every token it lists, Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, TE, Trailer, Upgrade) and, for
 * requests, Host (the proxy writes its own).  Content-Length and
 * Transfer-Encoding are never marked: they are always written anew from the
 * parsed values (unless omit_framing), whatever Connection lists. */
void http_mark_hop_by_hop(struct http_head *h);

/* An absolute-form request target, taken apart. */
struct http_target {
	char host[256];		/* without brackets for IPv6 */
	uint16_t port;
	int ipv6;		/* host is an IPv6 literal */
	const char *path;	/* origin-form: "/" when the target had none */
	uint32_t path_len;
	const char *query;	/* "?..." when the target had no path, else NULL */
	uint32_t query_len;
};

/* Parse "http://host[:port][/path][?query]".  Returns 0, or -1 with a short
 * reason in *why. */
int http_target_parse(const char *t, size_t len, struct http_target *out, const char **why);

/* An origin-form target ("/path?query", or "*") with its authority taken
 * from a Host value ("h", "h:port", "[v6]:port"; port 80 when absent), as a
 * transparent listener receives requests.  Returns 0, or -1 with a short
 * reason in *why. */
int http_origin_target_parse(const char *t, size_t len, const char *host, size_t host_len,
			     struct http_target *out, const char **why);

/* Parse a CONNECT target, "host:port" or "[v6]:port" (the port is
 * required).  Returns 0, or -1 with a short reason in *why. */
int http_authority_parse(const char *t, size_t len, struct http_target *out, const char **why);

/* Write the Host value for a target ("h", "h:port", "[v6]:port") into dst
 * (at least 264 bytes).  Returns its length. */
size_t http_host_value(const struct http_target *t, char *dst, size_t room);

/* The request head for the upstream: origin-form request line, Host first,
 * kept headers in their order and bytes, Max-Forwards decremented when
 * max_forwards_dec is set, Via appended.  Returns 0, or -1 when it does not
 * fit in out (out is then as it was). */
int http_write_request(struct buf *out, const struct http_head *h, const struct http_target *t,
		       const char *via_name, int max_forwards_dec);

/* A head http_write_request wrote (alone in b, from b->start) turned into
 * the form a parent proxy takes (RFC 9112 3.2.2): the target in
 * absolute-form, "http://" and authority (NULL: the Host value) before the
 * origin-form target ("*" becomes nothing: 3.2.4), and auth (header lines
 * ending in CRLF; "" for none) last.  *prefix gets the bytes put before the
 * origin-form target ("http://" and the authority).  0, or -1 when it does
 * not fit (b unchanged). */
int http_request_for_parent(struct buf *b, const char *authority, const char *auth, uint32_t *prefix);
/* Undo http_request_for_parent (prefix, and auth's length). */
void http_request_for_origin(struct buf *b, uint32_t prefix, uint32_t auth_len);

/* Client-side connection handling for a response head. */
enum http_conn_mode {
	HTTP_CONN_AS_IS,	/* HTTP/1.1 client staying open: nothing to add */
	HTTP_CONN_ADD_KEEPALIVE,/* HTTP/1.0 client staying open */
	HTTP_CONN_ADD_CLOSE,	/* sluice closes after this response */
};

/* The response head for the client: "HTTP/1.1 status reason", kept headers,
 * Via, and Connection per mode.  Returns 0, or -1 when it does not fit (out
 * is then as it was). */
int http_write_response(struct buf *out, const struct http_head *h, const char *via_name,
			enum http_conn_mode mode);

/* A complete local response (errors, TRACE/OPTIONS answered by the proxy);
 * extra: header lines to add, each ending in CRLF, or NULL.  Returns 0 or
 * -1 when it does not fit. */
int http_write_local(struct buf *out, int status, const char *reason, const char *content_type,
		     const char *extra, const char *body, size_t body_len, int close);

/* The answer to TRACE with Max-Forwards: 0: 200, message/http, the request
 * head echoed without the fields likely to hold secrets (Authorization,
 * Proxy-Authorization, Cookie; RFC 9110 9.3.8).  Returns 0 or -1. */
int http_write_trace(struct buf *out, const struct http_head *h, int close);

/* The reason phrase sluice uses for a status it generates. */
const char *http_status_text(int status);

#endif
