/* mutate: deterministic mutations of the first bytes of a TLS stream.
 *
 * Shared by the gcc fuzz driver (tests/fuzz/driver.c) and the in-process
 * fuzz test in tests/unit/test_tls_hello.c, so that `make fuzz` and
 * `make test` walk the same kinds of inputs.  Header-only, all static
 * inline; nothing allocates.
 *
 * Random byte changes rarely get past the first length check of a
 * ClientHello, so besides bit flips, byte sets, truncations, insertions and
 * deletions there are mutations that know the layout:
 *
 *   - tweak one length field (found by walking the hello) by +-1, or to 0,
 *     its maximum, or anything;
 *   - insert or delete bytes inside one field's contents and fix every
 *     enclosing length, so the hello stays consistent while a host name
 *     changes length or an extension grows to near TLS_HELLO_MAX;
 *   - add a whole extension (a second server_name, padding, anything);
 *   - re-frame the handshake message into records of other sizes, and put
 *     a foreign record (empty, alert, ChangeCipherSpec, data) between two.
 */
#ifndef SLUICE_TEST_COMMON_MUTATE_H
#define SLUICE_TEST_COMMON_MUTATE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/tls_hello.h"

/* xorshift64*: small, fast, and the same sequence everywhere for a seed. */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_seed(struct fuzz_rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 1;	/* never 0, which xorshift keeps */
	if (r->s == 0)
		r->s = 1;
}

static inline uint64_t fuzz_next(struct fuzz_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/* Uniform enough in [0, n); n > 0. */
static inline size_t fuzz_below(struct fuzz_rng *r, size_t n)
{
	return (size_t)((fuzz_next(r) >> 11) % n);
}

/* --- the layout of a ClientHello ------------------------------------------------- */

#define HELLO_FIELDS_MAX 96

/* A length field: width bytes at off, big-endian, counting the bytes
 * [start, start + value).  level is its depth: 0 record, 1 handshake,
 * 2 the body's vectors, 3 an extension's data, 4 the server_name list,
 * 5 a server_name entry.  Fields of one level never overlap. */
struct hello_field {
	size_t off, start, value;
	uint8_t width, level;
};

struct hello_fields {
	struct hello_field f[HELLO_FIELDS_MAX];
	size_t n;
	size_t exts;		/* index of the extensions block's field, or >= n */
};

static inline size_t field_get(const uint8_t *p, size_t off, unsigned width)
{
	size_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[off + i];
	return v;
}

static inline void field_put(uint8_t *p, size_t off, unsigned width, size_t v)
{
	for (unsigned i = width; i-- > 0; v >>= 8)
		p[off + i] = (uint8_t)v;
}

/* Note the field at off if its bytes are there; returns its value, or -1
 * when the field or what it counts runs past end. */
static inline long hello_note(struct hello_fields *hf, const uint8_t *p, size_t end, size_t off,
			      unsigned width, unsigned level)
{
	if (off + width > end)
		return -1;
	size_t v = field_get(p, off, width);
	if (hf->n < HELLO_FIELDS_MAX)
		hf->f[hf->n++] = (struct hello_field){ off, off + width, v, (uint8_t)width, (uint8_t)level };
	return off + width + v > end ? -1 : (long)v;
}

/* Walk the first record of p[0..len) as a ClientHello and list its length
 * fields, as far as they make sense (a mutated hello gives a partial list;
 * a hello cut into several records, the fields of the first). */
static inline void hello_fields(const uint8_t *p, size_t len, struct hello_fields *hf)
{
	static const unsigned width[3] = { 1, 2, 1 };	/* session id, suites, compression */
	hf->n = 0;
	hf->exts = HELLO_FIELDS_MAX;
	long v = hello_note(hf, p, len, 3, 2, 0);	/* record */
	if (v < 0 && hf->n == 0)
		return;
	size_t end = v < 0 ? len : 5 + (size_t)v;
	if ((v = hello_note(hf, p, end, 6, 3, 1)) >= 0)	/* handshake */
		end = 9 + (size_t)v;
	size_t o = 9 + 2 + 32;
	for (unsigned i = 0; i < 3; i++) {
		if ((v = hello_note(hf, p, end, o, width[i], 2)) < 0)
			return;
		o += width[i] + (size_t)v;
	}
	hf->exts = hf->n;
	if ((v = hello_note(hf, p, end, o, 2, 2)) < 0)	/* extensions */
		return;
	size_t xend = o + 2 + (size_t)v;
	for (o += 2; o + 4 <= xend;) {
		unsigned type = (unsigned)field_get(p, o, 2);
		if ((v = hello_note(hf, p, xend, o + 2, 2, 3)) < 0)
			return;
		size_t next = o + 4 + (size_t)v;
		long lv;
		if (type == 0 && (lv = hello_note(hf, p, next, o + 4, 2, 4)) >= 0) {
			size_t lend = o + 6 + (size_t)lv;
			for (size_t e = o + 6; e + 3 <= lend;) {
				long ev = hello_note(hf, p, lend, e + 1, 2, 5);
				if (ev < 0)
					break;
				e += 3 + (size_t)ev;
			}
		}
		o = next;
	}
}

/* Insert (delta > 0: bytes from ins) or delete (delta < 0) at pos, and
 * grow or shrink every field of level <= level whose contents hold pos.
 * Returns the new length, or len unchanged when it would not fit cap or a
 * field. */
static inline size_t hello_resize(uint8_t *p, size_t len, size_t cap, const struct hello_fields *hf,
				  unsigned level, size_t pos, long delta, const uint8_t *ins)
{
	size_t k = (size_t)(delta < 0 ? -delta : delta);
	if (pos > len || (delta > 0 && len + k > cap) || (delta < 0 && pos + k > len))
		return len;
	for (size_t i = 0; i < hf->n; i++) {
		const struct hello_field *f = &hf->f[i];
		if (f->level > level || pos < f->start || pos + (delta < 0 ? k : 0) > f->start + f->value)
			continue;
		size_t nv = delta < 0 ? f->value - k : f->value + k;
		if (f->off + f->width > len || (f->width < sizeof(size_t) && nv >> (8 * f->width) != 0))
			return len;
	}
	for (size_t i = 0; i < hf->n; i++) {
		const struct hello_field *f = &hf->f[i];
		if (f->level > level || pos < f->start || pos + (delta < 0 ? k : 0) > f->start + f->value)
			continue;
		/* fields sit before the contents they count, so before pos */
		field_put(p, f->off, f->width, delta < 0 ? f->value - k : f->value + k);
	}
	if (delta > 0) {
		memmove(p + pos + k, p + pos, len - pos);
		memcpy(p + pos, ins, k);
		return len + k;
	}
	memmove(p + pos, p + pos + k, len - pos - k);
	return len - k;
}

/* --- records -------------------------------------------------------------------- */

/* Frame msg[0..n) as handshake records (version 3.1) of frag bytes each,
 * the last one shorter.  Writes what fits in cap and returns the length the
 * whole would take, like snprintf (out may be NULL when cap is 0). */
static inline size_t tls_frame(const uint8_t *msg, size_t n, size_t frag, uint8_t *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += frag) {
		size_t k = n - i < frag ? n - i : frag;
		uint8_t h[5] = { 22, 3, 1, (uint8_t)(k >> 8), (uint8_t)k };
		for (size_t j = 0; j < 5; j++, o++)
			if (o < cap)
				out[o] = h[j];
		if (o < cap)
			memcpy(out + o, msg + i, cap - o < k ? cap - o : k);
		o += k;
	}
	return o;
}

/* The handshake bytes carried by the leading complete handshake records
 * of p[0..len), up to the end the message header declares once that is
 * known (bytes after a ClientHello are not part of it).  At most cap. */
static inline size_t tls_unframe(const uint8_t *p, size_t len, uint8_t *msg, size_t cap)
{
	size_t n = 0, want = 0;
	for (size_t pos = 0; pos + 5 <= len && p[pos] == 22;) {
		size_t rlen = field_get(p, pos + 3, 2);
		if (pos + 5 + rlen > len)
			break;
		for (size_t i = 0; i < rlen && n < cap && (want == 0 || n < want); i++) {
			msg[n++] = p[pos + 5 + i];
			if (n == 4)
				want = 4 + field_get(msg, 1, 3);
		}
		if (n == cap || (want != 0 && n >= want))
			break;
		pos += 5 + rlen;
	}
	return n;
}

/* --- mutations -------------------------------------------------------------------- */

static inline size_t fuzz_reframe(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static uint8_t msg[2 * TLS_HELLO_MAX];
	size_t n = tls_unframe(buf, len, msg, sizeof(msg));
	if (n == 0)
		return len;
	/* one size for all records, or a new small one for each */
	size_t fixed = fuzz_below(r, 2) ? 1 + fuzz_below(r, fuzz_below(r, 4) ? 600 : 16384) : 0;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		size_t k = fixed ? fixed : 1 + fuzz_below(r, 64);
		if (k > n - i)
			k = n - i;
		if (o + 5 + k > cap)
			break;
		o += tls_frame(msg + i, k, k, buf + o, cap - o);
		i += k;
	}
	return o;
}

/* Put a record that has no place in a ClientHello (empty handshake, alert,
 * ChangeCipherSpec, application data) at a record boundary. */
static inline size_t fuzz_foreign_record(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static const uint8_t recs[][7] = {
		{ 22, 3, 1, 0, 0 },
		{ 21, 3, 3, 0, 2, 2, 40 },
		{ 20, 3, 3, 0, 1, 1 },
		{ 23, 3, 3, 0, 2, 'h', 'i' },
	};
	static const size_t sizes[] = { 5, 7, 6, 7 };
	size_t bounds[16], nb = 0;
	for (size_t pos = 0; nb < 16 && pos <= len;) {
		bounds[nb++] = pos;
		if (pos + 5 > len)
			break;
		pos += 5 + field_get(buf, pos + 3, 2);
	}
	size_t pos = bounds[fuzz_below(r, nb)], which = fuzz_below(r, 4), k = sizes[which];
	if (pos > len || len + k > cap)
		return len;
	memmove(buf + pos + k, buf + pos, len - pos);
	memcpy(buf + pos, recs[which], k);
	return len + k;
}

/* Bytes to insert: host name characters (upper case too) or anything. */
static inline void fuzz_fill(struct fuzz_rng *r, uint8_t *b, size_t k)
{
	static const char host[] = "abcxyzABCXYZ019-._.";
	int any = fuzz_below(r, 4) == 0;
	for (size_t i = 0; i < k; i++)
		b[i] = any ? (uint8_t)fuzz_next(r) : (uint8_t)host[fuzz_below(r, sizeof(host) - 1)];
}

/* How many bytes to insert into an input of len bytes: mostly a few,
 * sometimes enough to reach the size limits: a host name of about 255, an
 * input that ends within 8 bytes of TLS_HELLO_MAX, or anything up to it. */
static inline size_t fuzz_amount(struct fuzz_rng *r, size_t len)
{
	size_t k;
	switch (fuzz_below(r, 8)) {
	case 0: return fuzz_below(r, TLS_HELLO_MAX + 64);
	case 1: return 250 + fuzz_below(r, 10);
	case 2:
		k = TLS_HELLO_MAX + fuzz_below(r, 17);
		return k > len + 8 ? k - len - 8 : 1;
	default: return 1 + fuzz_below(r, 16);
	}
}

static inline size_t fuzz_structured(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static uint8_t ins[TLS_HELLO_MAX + 64];
	struct hello_fields hf;
	hello_fields(buf, len, &hf);
	if (hf.n == 0)
		return len;
	const struct hello_field *f = &hf.f[fuzz_below(r, hf.n)];
	size_t fmax = f->width == 3 ? 0xffffff : f->width == 2 ? 0xffff : 0xff;

	switch (fuzz_below(r, 4)) {
	case 0: { /* tweak the value */
		static const long d[] = { 1, -1, 1, -1, 2, -2, 256, -256 };
		size_t v;
		switch (fuzz_below(r, 4)) {
		case 0: v = 0; break;
		case 1: v = fmax; break;
		case 2: v = fuzz_next(r) & fmax; break;
		default: v = (f->value + (size_t)d[fuzz_below(r, 8)]) & fmax; break;
		}
		if (f->off + f->width <= len)
			field_put(buf, f->off, f->width, v);
		return len;
	}
	case 1: { /* insert into the contents */
		size_t k = fuzz_amount(r, len);
		if (k > sizeof(ins))
			k = sizeof(ins);
		fuzz_fill(r, ins, k);
		size_t pos = f->start + fuzz_below(r, f->value + 1);
		return hello_resize(buf, len, cap, &hf, f->level, pos, (long)k, ins);
	}
	case 2: { /* delete from the contents */
		if (f->value == 0)
			return len;
		size_t k = 1 + fuzz_below(r, fuzz_below(r, 2) ? f->value : (f->value < 4 ? f->value : 4));
		size_t pos = f->start + fuzz_below(r, f->value - k + 1);
		return hello_resize(buf, len, cap, &hf, f->level, pos, -(long)k, NULL);
	}
	default: { /* add an extension at the end of the block */
		if (hf.exts >= hf.n)
			return len;
		const struct hello_field *ext = &hf.f[hf.exts];
		size_t n;
		if (fuzz_below(r, 2)) {	/* server_name with one entry, mostly a host_name */
			size_t name = 1 + fuzz_below(r, fuzz_below(r, 4) ? 20 : 300);
			field_put(ins, 0, 2, 0);
			field_put(ins, 2, 2, name + 5);
			field_put(ins, 4, 2, name + 3);
			ins[6] = (uint8_t)(fuzz_below(r, 4) == 0);
			field_put(ins, 7, 2, name);
			fuzz_fill(r, ins + 9, name);
			n = 9 + name;
		} else {		/* padding (21) or any type */
			size_t k = fuzz_amount(r, len);
			if (k > sizeof(ins) - 4)
				k = sizeof(ins) - 4;
			field_put(ins, 0, 2, fuzz_below(r, 2) ? 21 : fuzz_below(r, 64));
			field_put(ins, 2, 2, k);
			memset(ins + 4, 0, k);
			n = 4 + k;
		}
		return hello_resize(buf, len, cap, &hf, 2, ext->start + ext->value, (long)n, ins);
	}
	}
}

/* One mutation of buf[0..len) (room for cap); returns the new length. */
static inline size_t fuzz_mutate(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static const uint8_t special[] = { 0, 1, 2, 3, 4, 20, 21, 22, 23, 0x7f, 0x80, 0xff, 'A', 'Z', '.', '/' };
	switch (fuzz_below(r, 12)) {
	case 0: /* flip a bit */
		if (len > 0)
			buf[fuzz_below(r, len)] ^= (uint8_t)(1u << fuzz_below(r, 8));
		return len;
	case 1: /* set a byte */
		if (len > 0)
			buf[fuzz_below(r, len)] = fuzz_below(r, 2) ? special[fuzz_below(r, sizeof(special))]
								     : (uint8_t)fuzz_next(r);
		return len;
	case 2: /* truncate */
		return fuzz_below(r, len + 1);
	case 3: { /* insert a few bytes anywhere */
		size_t k = 1 + fuzz_below(r, 16), pos = fuzz_below(r, len + 1);
		if (len + k > cap)
			return len;
		memmove(buf + pos + k, buf + pos, len - pos);
		fuzz_fill(r, buf + pos, k);
		return len + k;
	}
	case 4: { /* delete a few bytes anywhere */
		if (len == 0)
			return len;
		size_t pos = fuzz_below(r, len), k = 1 + fuzz_below(r, 16);
		if (k > len - pos)
			k = len - pos;
		memmove(buf + pos, buf + pos + k, len - pos - k);
		return len - k;
	}
	case 5: { /* copy a stretch over to another place (a second extension, a second record) */
		if (len == 0)
			return len;
		size_t from = fuzz_below(r, len), k = 1 + fuzz_below(r, 64), to = fuzz_below(r, len + 1);
		if (k > len - from)
			k = len - from;
		if (len + k > cap)
			return len;
		uint8_t tmp[64];
		memcpy(tmp, buf + from, k);
		memmove(buf + to + k, buf + to, len - to);
		memcpy(buf + to, tmp, k);
		return len + k;
	}
	case 6:
		return fuzz_reframe(r, buf, len, cap);
	case 7:
		return fuzz_foreign_record(r, buf, len, cap);
	default:
		return fuzz_structured(r, buf, len, cap);
	}
}

struct fuzz_input {
	const uint8_t *p;
	size_t len;
};

/* The next input in buf (room for cap), given the last one in buf[0..len):
 * mostly a fresh copy of a seed, sometimes the last input again, so that
 * mutations stack deeper; then 1..4 mutations. */
static inline size_t fuzz_generate(struct fuzz_rng *r, const struct fuzz_input *seeds, size_t nseeds,
				   uint8_t *buf, size_t len, size_t cap)
{
	if (len == 0 || fuzz_below(r, 4) != 0) {
		const struct fuzz_input *s = &seeds[fuzz_below(r, nseeds)];
		len = s->len < cap ? s->len : cap;
		memcpy(buf, s->p, len);
	}
	for (size_t n = 1 + fuzz_below(r, 4); n > 0; n--)
		len = fuzz_mutate(r, buf, len, cap);
	return len;
}

#endif
