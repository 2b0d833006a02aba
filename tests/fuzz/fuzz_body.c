/* The fuzz target for sluice's chunked body framing (src/body.c), against
 * a second parser written here from RFC 9112 7.1 alone, whole-input and
 * strict.  For any bytes, fed to body_frame in pieces whose sizes the input
 * chooses:
 *
 *   B1  framing never grows the buffer, and never frames past what it read;
 *   B2  the outcome does not depend on the pieces: fed whole, the same
 *       result, and when done the same output and the same bytes left over;
 *   B3  body.c ends the message exactly where the second parser does, and
 *       fails exactly when it does (a body one accepts and the other refuses
 *       is a desync);
 *   B4  the output is canonical: the second parser reads it as the same
 *       data and the kept trailers, and framing it again changes nothing;
 *   B5  with emit off (an HTTP/1.0 client), the output is the data alone.
 *
 * A broken promise aborts with its name. */
#include <string.h>
#include <strings.h>

#include "sluice/body.h"
#include "target.h"

#define MAXIN 4096
#define TRAILER_MAX 512

/* --- the second parser ------------------------------------------------------------ */

static int tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hexdig(unsigned char c)
{
	return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
					      : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* The index of the CRLF ending the line at p, or -1. */
static long line_end(const uint8_t *in, size_t len, size_t p)
{
	for (size_t i = p; i < len; i++) {
		if (in[i] == '\n')
			return -2; /* a bare LF */
		if (in[i] == '\r') {
			if (i + 1 == len)
				return -1; /* its LF may come */
			return in[i + 1] == '\n' ? (long)i : -2;
		}
	}
	return -1;
}

struct ref {
	int ok;			/* 1: a complete message, 0: needs more, -1: malformed */
	size_t used;		/* bytes of the message */
	uint8_t data[MAXIN];
	size_t ndata;
	uint8_t trailers[MAXIN]; /* kept trailer lines, with CRLF */
	size_t ntrailers;
};

static int dropped(const uint8_t *name, size_t n)
{
	static const char *const names[] = { "Content-Length", "Transfer-Encoding", "Host", "Connection",
					      "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
					      "Proxy-Authenticate", "TE", "Trailer", "Upgrade" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && strncasecmp((const char *)name, names[i], n) == 0)
			return 1;
	return 0;
}

/* chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ), BWS = *(SP/HTAB) */
static int ext_ok(const uint8_t *p, const uint8_t *e)
{
	while (p < e) {
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p == e || *p++ != ';')
			return 0;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		const uint8_t *n = p;
		while (p < e && tchar(*p))
			p++;
		if (p == n)
			return 0;
		const uint8_t *q = p;
		while (q < e && (*q == ' ' || *q == '\t'))
			q++;
		if (q == e || *q != '=')
			continue;
		p = q + 1;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p < e && *p == '"') {
			for (p++;; p++) {
				if (p == e)
					return 0;
				if (*p == '"')
					break;
				if (*p == '\\') {
					if (++p == e || (*p < 0x20 && *p != '\t') || *p == 0x7f)
						return 0;
				} else if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
					return 0;
				}
			}
			p++;
		} else {
			const uint8_t *v = p;
			while (p < e && tchar(*p))
				p++;
			if (p == v)
				return 0;
		}
	}
	return 1;
}

/* RFC 9112 7.1, with sluice's bounds: 16 hex digits, sizes below 2^31, lines of 1024 bytes
 * with their CRLF, TRAILER_MAX bytes of trailer section. */
static void ref_parse(const uint8_t *in, size_t len, struct ref *r)
{
	size_t p = 0, trailer = 0;
	memset(r, 0, sizeof(*r));
	for (;;) { /* chunks */
		long le = line_end(in, len, p);
		if (le == -2 || (le == -1 && len - p >= BODY_CHUNK_LINE_MAX) || (le >= 0 && (size_t)le + 2 - p > BODY_CHUNK_LINE_MAX))
			goto bad;
		if (le == -1)
			return;
		uint64_t size = 0;
		size_t d = p;
		while (d < (size_t)le && hexdig(in[d]) >= 0) {
			if (d - p == 16)
				goto bad;
			size = size << 4 | (uint64_t)hexdig(in[d]);
			d++;
		}
		if (size > BODY_CHUNK_MAX)
			goto bad;
		if (d == p || !ext_ok(in + d, in + le))
			goto bad;
		p = (size_t)le + 2;
		if (size == 0)
			break;
		if (len - p < size)
			return;
		memcpy(r->data + r->ndata, in + p, size);
		r->ndata += size;
		p += size;
		if (len - p < 2) {
			if (len - p == 1 && in[p] != '\r')
				goto bad; /* nothing after it can make a CRLF */
			return;
		}
		if (in[p] != '\r' || in[p + 1] != '\n')
			goto bad;
		p += 2;
	}
	for (;;) { /* trailer section */
		long le = line_end(in, len, p);
		if (le == -2)
			goto bad;
		if (le == -1) {
			if (trailer + (len - p) >= TRAILER_MAX)
				goto bad;
			return;
		}
		trailer += (size_t)le + 2 - p;
		if (trailer > TRAILER_MAX)
			goto bad;
		if ((size_t)le == p) {
			r->used = p + 2;
			r->ok = 1;
			return;
		}
		size_t c = p;
		while (c < (size_t)le && tchar(in[c]))
			c++;
		if (c == p || c == (size_t)le || in[c] != ':')
			goto bad;
		for (size_t i = c + 1; i < (size_t)le; i++)
			if ((in[i] < 0x20 && in[i] != '\t') || in[i] == 0x7f)
				goto bad;
		if (!dropped(in + p, c - p)) {
			memcpy(r->trailers + r->ntrailers, in + p, (size_t)le + 2 - p);
			r->ntrailers += (size_t)le + 2 - p;
		}
		p = (size_t)le + 2;
	}
bad:
	r->ok = -1;
}

/* --- body.c, fed in pieces ------------------------------------------------------------- */

struct run {
	enum body_result res;
	uint8_t out[MAXIN];
	size_t nout;
	uint8_t rest[MAXIN];
	size_t nrest;
};

static uint8_t space[sizeof(struct buf) + MAXIN + 1];

/* Feed in[0..len) in pieces of steps[k % nsteps] bytes, sending what is
 * framed after each call. */
static void run(const uint8_t *in, size_t len, int emit, const uint8_t *steps, size_t nsteps, struct run *o)
{
	struct buf *b = (struct buf *)space;
	struct body bd;
	memset(b, 0, sizeof(*b));
	b->cap = MAXIN;
	body_init(&bd, BODY_CHUNKED, 0, emit, TRAILER_MAX);
	size_t fed = 0, k = 0;
	const char *why = NULL;
	memset(o, 0, sizeof(*o));
	o->res = BODY_MORE;
	while (o->res == BODY_MORE && fed < len) {
		size_t n = nsteps ? (size_t)steps[k++ % nsteps] + 1 : len;
		if (n > len - fed)
			n = len - fed;
		if (n > buf_room(b))
			n = buf_room(b);
		if (n == 0)
			fuzz_fail("body", "B1: a full buffer left unframed", len);
		memcpy(b->data + b->end, in + fed, n);
		b->end += (uint32_t)n;
		fed += n;
		uint32_t end = b->end;
		o->res = body_frame(&bd, b, &why);
		if (b->end > end || b->parsed > b->end || b->start > b->parsed)
			fuzz_fail("body", "B1: framing grew the buffer or framed past it", len);
		if (o->res == BODY_ERROR && why == NULL)
			fuzz_fail("body", "an error without a reason", len);
		memcpy(o->out + o->nout, b->data + b->start, b->parsed - b->start);
		o->nout += b->parsed - b->start;
		b->start = b->parsed;
		buf_compact(b);
	}
	memcpy(o->rest, b->data + b->parsed, b->end - b->parsed);
	memcpy(o->rest + (b->end - b->parsed), in + fed, len - fed);
	o->nrest = b->end - b->parsed + len - fed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3 || size > MAXIN)
		return 0;
	/* two bytes choose the pieces' sizes, the rest is the body */
	const uint8_t steps[2] = { data[0], data[1] };
	const uint8_t *in = data + 2;
	size_t len = size - 2;
	static struct run whole, pieces, again, plain;
	static struct ref ref, ref_out;
	run(in, len, 1, NULL, 0, &whole);
	run(in, len, 1, steps, 2, &pieces);
	if (whole.res != pieces.res)
		fuzz_fail("body", "B2: the outcome depends on how the bytes arrive", size);
	if (whole.res == BODY_DONE && (whole.nout != pieces.nout || memcmp(whole.out, pieces.out, whole.nout) ||
				       whole.nrest != pieces.nrest || memcmp(whole.rest, pieces.rest, whole.nrest)))
		fuzz_fail("body", "B2: the output depends on how the bytes arrive", size);
	ref_parse(in, len, &ref);
	if ((ref.ok == 1) != (whole.res == BODY_DONE) || (ref.ok == -1) != (whole.res == BODY_ERROR))
		fuzz_fail("body", "B3: body.c and the second parser disagree on the message", size);
	if (whole.res != BODY_DONE)
		return 0;
	if (whole.nrest != len - ref.used)
		fuzz_fail("body", "B3: the message ends elsewhere for the second parser", size);
	ref_parse(whole.out, whole.nout, &ref_out);
	if (ref_out.ok != 1 || ref_out.used != whole.nout || ref_out.ndata != ref.ndata ||
	    memcmp(ref_out.data, ref.data, ref.ndata) || ref_out.ntrailers != ref.ntrailers ||
	    memcmp(ref_out.trailers, ref.trailers, ref.ntrailers))
		fuzz_fail("body", "B4: the output reads as other data or trailers", size);
	run(whole.out, whole.nout, 1, steps, 2, &again);
	if (again.res != BODY_DONE || again.nout != whole.nout || memcmp(again.out, whole.out, whole.nout) ||
	    again.nrest != 0)
		fuzz_fail("body", "B4: framing the output again changes it", size);
	run(in, len, 0, steps, 2, &plain);
	if (plain.res != BODY_DONE || plain.nout != ref.ndata || memcmp(plain.out, ref.data, ref.ndata))
		fuzz_fail("body", "B5: emit off does not give the data alone", size);
	return 0;
}

const struct fuzz_target fuzz_target = { "body", MAXIN, NULL, NULL };
