/* body: message body framing (include/sluice/body.h).
 *
 * Chunked framing works in place over the buffer it arrived in, with two
 * cursors: rd, the next byte to read, and wr, where the next canonical byte
 * goes.  wr never passes rd, because every canonical piece is at most as
 * long as the piece it replaces:
 *
 *   read                           written
 *   "0A;ext=v\r\n"  (size line)    "a\r\n"       (no zeros, no extensions)
 *   data, CRLF                     data, CRLF    (moved only when wr < rd)
 *   "00\r\n"                       "0\r\n"
 *   "X-T: 1\r\n"    (trailer)      "X-T: 1\r\n"  (or nothing: dropped)
 *   "\r\n"                         "\r\n"
 *
 * A line is framed only once all of it is in the buffer, and the last
 * chunk only once its whole trailer section is (a sender that stops inside
 * it leaves nothing of it framed), so nothing is held between calls but
 * the state below and the bytes left in the chunk.
 *
 *   C_SIZE ──"N\r\n", N>0──> C_DATA ──N bytes──> C_DATA_END ──"\r\n"──> C_SIZE
 *     └──"0\r\n", field lines (kept or dropped), "\r\n": all here──> done
 */
#include "sluice/body.h"

#include <string.h>
#include <strings.h>

#include "sluice/http.h"

enum { C_SIZE, C_DATA, C_DATA_END };

void body_init(struct body *b, enum body_kind kind, uint64_t length, int emit, uint32_t trailer_max)
{
	memset(b, 0, sizeof(*b));
	b->kind = (uint8_t)kind;
	b->emit = emit != 0;
	b->left = length;
	b->trailer_max = trailer_max;
	b->state = C_SIZE;
	b->done = kind == BODY_NONE || (kind == BODY_LENGTH && length == 0);
}

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 9110 5.6.4 qdtext, and what may follow a backslash in a quoted-pair. */
static int is_qdtext(unsigned char c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
	       c >= 0x80;
}

static int is_quotable(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A chunk-size line without its CRLF: 1 to 16 hex digits, then chunk
 * extensions (RFC 9112 7.1.1), checked and forgotten.  0, or -1 with why. */
static int parse_size_line(const char *p, const char *end, uint64_t *size, const char **why)
{
	uint64_t v = 0;
	int digits = 0, x;
	while (p < end && (x = hexval((unsigned char)*p)) >= 0) {
		if (++digits > 16) {
			*why = "chunk size too long";
			return -1;
		}
		v = v << 4 | (uint64_t)x;
		p++;
	}
	if (v > BODY_CHUNK_MAX) {
		*why = "chunk size too large";
		return -1;
	}
	if (digits == 0) {
		*why = "invalid chunk size";
		return -1;
	}
	/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ) */
	while (p < end) {
		while (p < end && is_ows(*p))
			p++;
		if (p == end || *p != ';')
			goto bad;
		p++;
		while (p < end && is_ows(*p))
			p++;
		const char *name = p;
		while (p < end && http_is_tchar((unsigned char)*p))
			p++;
		if (p == name)
			goto bad;
		const char *after_name = p;
		while (p < end && is_ows(*p))
			p++;
		if (p == end || *p != '=') {
			p = after_name; /* no value: the whitespace belongs to the next BWS */
			continue;
		}
		p++;
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p == '"') {
			for (p++;; p++) {
				if (p == end)
					goto bad;
				unsigned char c = (unsigned char)*p;
				if (c == '"')
					break;
				if (c == '\\') {
					if (++p == end || !is_quotable((unsigned char)*p))
						goto bad;
				} else if (!is_qdtext(c)) {
					goto bad;
				}
			}
			p++;
		} else {
			const char *val = p;
			while (p < end && http_is_tchar((unsigned char)*p))
				p++;
			if (p == val)
				goto bad;
		}
	}
	*size = v;
	return 0;
bad:
	*why = "invalid chunk extension";
	return -1;
}

/* Trailer fields that say how to frame, route or hold the connection:
 * dropped, like the same fields are from heads. */
static int dropped_trailer(const char *name, size_t len)
{
	static const char *const names[] = {
		"Content-Length", "Transfer-Encoding", "Host", "Connection", "Keep-Alive", "Proxy-Connection",
		"Proxy-Authorization", "Proxy-Authenticate", "TE", "Trailer", "Upgrade",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
			return 1;
	return 0;
}

/* A trailer field line without its CRLF, checked like a header field line
 * (RFC 9110 5.5: no whitespace before the colon, no control bytes but HTAB
 * in the value, no obs-fold).  1: keep, 0: drop, -1: malformed. */
static int check_trailer_line(const char *p, const char *end)
{
	const char *name = p;
	while (p < end && http_is_tchar((unsigned char)*p))
		p++;
	if (p == name || p == end || *p != ':')
		return -1;
	size_t name_len = (size_t)(p - name);
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	return !dropped_trailer(name, name_len);
}

/* Check the trailer section at [p, end) (after the last chunk's line)
 * without framing it.  1: complete and well formed, its length in *len;
 * 0: needs more bytes; -1: malformed, with why. */
static int check_trailer_section(const char *p, const char *end, uint32_t max, uint32_t *len, const char **why)
{
	const char *from = p;
	for (;;) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		if (lf == NULL) {
			/* a CR with anything but LF after it is wrong now: no
			 * need to wait for a line end (lenient parsers took any
			 * byte) */
			const char *cr = memchr(p, '\r', (size_t)(end - p));
			if (cr && cr + 1 < end) {
				*why = "bare CR in chunked framing";
				return -1;
			}
			if ((size_t)(end - from) >= max) {
				*why = "trailer section too large";
				return -1;
			}
			return 0;
		}
		if (lf == p || lf[-1] != '\r') {
			*why = "trailer line not ended by CRLF";
			return -1;
		}
		if (memchr(p, '\r', (size_t)(lf - 1 - p))) {
			*why = "bare CR in chunked framing";
			return -1;
		}
		if ((size_t)(lf + 1 - from) > max) {
			*why = "trailer section too large";
			return -1;
		}
		if (lf == p + 1) {
			*len = (uint32_t)(lf + 1 - from);
			return 1;
		}
		if (check_trailer_line(p, lf - 1) == -1) {
			*why = "malformed trailer field";
			return -1;
		}
		p = lf + 1;
	}
}

/* Write the kept lines of a checked trailer section [rd, rd + len) at wr,
 * with its final CRLF; returns the bytes written. */
static uint32_t put_trailer_section(char *d, uint32_t wr, uint32_t rd, uint32_t len)
{
	uint32_t w = wr, end = rd + len;
	while (rd < end) {
		const char *lf = memchr(d + rd, '\n', end - rd);
		uint32_t line_len = (uint32_t)(lf - (d + rd)) + 1;
		if (line_len == 2 || check_trailer_line(d + rd, lf - 1) == 1) {
			if (w != rd)
				memmove(d + w, d + rd, line_len);
			w += line_len;
		}
		rd += line_len;
	}
	return w - wr;
}

/* The canonical size line for n at dst; returns its length. */
static uint32_t put_size_line(char *dst, uint64_t n)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	uint32_t k = 0;
	do {
		tmp[k++] = hex[n & 15];
		n >>= 4;
	} while (n);
	for (uint32_t i = 0; i < k; i++)
		dst[i] = tmp[k - 1 - i];
	dst[k] = '\r';
	dst[k + 1] = '\n';
	return k + 2;
}

static enum body_result frame_chunked(struct body *b, struct buf *buf, const char **why)
{
	char *d = buf->data;
	uint32_t rd = buf->parsed, wr = buf->parsed, end = buf->end;
	enum body_result res = BODY_MORE;
	while (res == BODY_MORE) {
		if (b->state == C_DATA) {
			uint64_t n = end - rd < b->left ? end - rd : b->left;
			if (n == 0)
				break;
			if (wr != rd)
				memmove(d + wr, d + rd, (size_t)n);
			wr += (uint32_t)n;
			rd += (uint32_t)n;
			b->left -= n;
			if (b->left == 0)
				b->state = C_DATA_END;
			continue;
		}
		if (b->state == C_DATA_END) {
			if (end - rd < 2) {
				if (end > rd && d[rd] != '\r')
					goto no_crlf;
				break;
			}
			if (d[rd] != '\r' || d[rd + 1] != '\n')
				goto no_crlf;
			rd += 2;
			if (b->emit) {
				d[wr++] = '\r';
				d[wr++] = '\n';
			}
			b->state = C_SIZE;
			continue;
		}
		/* C_SIZE: a whole line */
		const char *lf = memchr(d + rd, '\n', end - rd);
		if (lf == NULL) {
			uint32_t have = end - rd;
			/* a CR with anything but LF after it is wrong now: no need
			 * to wait for a line end (lenient parsers took any byte) */
			const char *cr = memchr(d + rd, '\r', have);
			if (cr && cr + 1 < d + end) {
				*why = "bare CR in chunked framing";
				return BODY_ERROR;
			}
			if (have >= BODY_CHUNK_LINE_MAX) {
				*why = "chunk size line too long";
				return BODY_ERROR;
			}
			break;
		}
		uint32_t nl = (uint32_t)(lf - d);
		if (nl == rd || d[nl - 1] != '\r') {
			*why = "chunk size line not ended by CRLF";
			return BODY_ERROR;
		}
		const char *line = d + rd, *line_end = d + nl - 1;
		if (memchr(line, '\r', (size_t)(line_end - line))) {
			*why = "bare CR in chunked framing";
			return BODY_ERROR;
		}
		if (nl + 1 - rd > BODY_CHUNK_LINE_MAX) {
			*why = "chunk size line too long";
			return BODY_ERROR;
		}
		uint64_t size;
		if (parse_size_line(line, line_end, &size, why) == -1)
			return BODY_ERROR;
		if (size > 0) {
			rd = nl + 1;
			if (b->emit)
				wr += put_size_line(d + wr, size);
			b->left = size;
			b->state = C_DATA;
			continue;
		}
		/* The last chunk goes out together with its whole trailer
		 * section, so a sender that stops inside it has nothing of it
		 * framed (and a truncation cannot look like an ending). */
		uint32_t tlen;
		int t = check_trailer_section(d + nl + 1, d + end, b->trailer_max, &tlen, why);
		if (t == -1)
			return BODY_ERROR;
		if (t == 0) {
			if (rd == 0 && end == buf->cap) {
				/* nothing else in a full buffer: it can never end */
				*why = "trailer section too large";
				return BODY_ERROR;
			}
			break;
		}
		rd = nl + 1;
		if (b->emit) {
			wr += put_size_line(d + wr, 0);
			wr += put_trailer_section(d, wr, rd, tlen);
		}
		rd += tlen;
		b->done = 1;
		res = BODY_DONE;
	}
	/* what was read but not written (shrunk framing) leaves the buffer */
	if (wr != rd) {
		memmove(d + wr, d + rd, end - rd);
		end -= rd - wr;
	}
	buf->parsed = wr;
	buf->end = end;
	return res;
no_crlf:
	*why = "chunk data not followed by CRLF";
	return BODY_ERROR;
}

enum body_result body_frame(struct body *b, struct buf *buf, const char **why)
{
	if (b->done)
		return BODY_DONE;
	switch (b->kind) {
	case BODY_NONE:
		b->done = 1;
		return BODY_DONE;
	case BODY_LENGTH: {
		uint32_t have = buf_unparsed(buf);
		uint64_t n = have < b->left ? have : b->left;
		buf->parsed += (uint32_t)n;
		b->left -= n;
		if (b->left > 0)
			return BODY_MORE;
		b->done = 1;
		return BODY_DONE;
	}
	case BODY_UNTIL_CLOSE:
		buf->parsed = buf->end;
		return BODY_MORE;
	case BODY_CHUNKED:
		return frame_chunked(b, buf, why);
	}
	*why = "no framing";
	return BODY_ERROR;
}
