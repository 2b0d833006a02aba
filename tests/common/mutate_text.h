/* mutate_text: deterministic mutations of line-based text (HTTP heads,
 * config files, URLs).
 *
 * The gcc fuzz driver (tests/fuzz/driver.c) uses these for every target
 * that does not bring its own (the ClientHello target uses mutate.h).
 * Header-only, all static inline; nothing allocates.  The random numbers
 * come from mutate.h's xorshift, so the same seed gives the same inputs.
 *
 * Byte flips and random insertions seldom make a header line a parser has
 * to think about, so most mutations work on what text is made of:
 *
 *   - a token from the target's dictionary (the same file libFuzzer gets
 *     with -dict), inserted or written over a stretch;
 *   - whole lines: duplicated, deleted, swapped, or taken from another seed;
 *   - line ends: CRLF to LF, LF to CRLF, a lone CR, LF, NUL or HTAB;
 *   - numbers: a run of digits replaced by a boundary value (0, 65535,
 *     65536, 2^32, a 19-digit one, a leading zero);
 *   - one byte repeated until a line reaches a size limit (a 255-byte host,
 *     a 4352-byte config line, a 16k head).
 */
#ifndef SLUICE_TEST_COMMON_MUTATE_TEXT_H
#define SLUICE_TEST_COMMON_MUTATE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mutate.h"

#define FUZZ_DICT_MAX 512
#define FUZZ_TOKEN_MAX 64

/* Tokens worth inserting, from a libFuzzer-style dictionary file. */
struct fuzz_dict {
	uint8_t tok[FUZZ_DICT_MAX][FUZZ_TOKEN_MAX];
	uint8_t len[FUZZ_DICT_MAX];
	size_t n;
};

/* Insert k bytes from src at pos; returns the new length, or len when
 * they do not fit in cap. */
static inline size_t text_insert(uint8_t *buf, size_t len, size_t cap, size_t pos, const uint8_t *src,
				 size_t k)
{
	if (pos > len || len + k > cap)
		return len;
	memmove(buf + pos + k, buf + pos, len - pos);
	memcpy(buf + pos, src, k);
	return len + k;
}

static inline size_t text_delete(uint8_t *buf, size_t len, size_t pos, size_t k)
{
	if (pos > len)
		return len;
	if (k > len - pos)
		k = len - pos;
	memmove(buf + pos, buf + pos + k, len - pos - k);
	return len - k;
}

/* Start of the line that holds pos, and the end of it (past its LF, or len). */
static inline size_t text_line_start(const uint8_t *buf, size_t pos)
{
	while (pos > 0 && buf[pos - 1] != '\n')
		pos--;
	return pos;
}

static inline size_t text_line_end(const uint8_t *buf, size_t len, size_t pos)
{
	const uint8_t *lf = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
	return lf ? (size_t)(lf - buf) + 1 : len;
}

static inline size_t text_dict_token(struct fuzz_rng *r, const struct fuzz_dict *d, uint8_t *buf, size_t len,
				     size_t cap, int overwrite)
{
	if (d == NULL || d->n == 0)
		return len;
	size_t i = fuzz_below(r, d->n), pos = fuzz_below(r, len + 1);
	/* a token at a line start or after ": " is where it means most */
	if (fuzz_below(r, 2) && len > 0)
		pos = text_line_start(buf, pos < len ? pos : len - 1);
	if (overwrite)
		len = text_delete(buf, len, pos, d->len[i]);
	return text_insert(buf, len, cap, pos, d->tok[i], d->len[i]);
}

/* A line of another seed (or of this input) put in at a line boundary. */
static inline size_t text_splice_line(struct fuzz_rng *r, const struct fuzz_input *seeds, size_t nseeds,
				      uint8_t *buf, size_t len, size_t cap)
{
	static uint8_t line[4096];
	const uint8_t *src = buf;
	size_t slen = len;
	if (nseeds > 0 && fuzz_below(r, 2)) {
		const struct fuzz_input *s = &seeds[fuzz_below(r, nseeds)];
		src = s->p;
		slen = s->len;
	}
	if (slen == 0)
		return len;
	size_t s = text_line_start(src, fuzz_below(r, slen));
	size_t e = text_line_end(src, slen, s);
	size_t k = e - s < sizeof(line) ? e - s : sizeof(line);
	memcpy(line, src + s, k);
	size_t at = len > 0 ? text_line_start(buf, fuzz_below(r, len)) : 0;
	if (fuzz_below(r, 4) == 0)
		at = len;
	return text_insert(buf, len, cap, at, line, k);
}

/* Replace a run of digits (or insert a number) with a boundary value. */
static inline size_t text_number(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static const char *const nums[] = {
		"0", "1", "00", "08", "255", "256", "443", "0443", "65535", "65536", "99999", "2147483647",
		"4294967295", "4294967296", "999999999999999999", "9999999999999999999",
		"18446744073709551616", "-1", "1k", "16m", "4095m", "30s", "500ms", "1h", "0x10", "1e3",
	};
	const char *n = nums[fuzz_below(r, sizeof(nums) / sizeof(nums[0]))];
	size_t nl = strlen(n), pos = fuzz_below(r, len + 1), end = pos;
	for (size_t i = 0; i < len; i++) {	/* the first digit run from pos on, wrapping */
		size_t j = (pos + i) % len;
		if (buf[j] >= '0' && buf[j] <= '9') {
			pos = j;
			end = j;
			while (end < len && buf[end] >= '0' && buf[end] <= '9')
				end++;
			break;
		}
	}
	len = text_delete(buf, len, pos, end - pos);
	return text_insert(buf, len, cap, pos, (const uint8_t *)n, nl);
}

/* One byte repeated so that its line grows to about a limit. */
static inline size_t text_grow(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static const size_t limits[] = { 64, 254, 255, 256, 1023, 4351, 4352, 8192, 16383, 16384 };
	static uint8_t fill[16384 + 8];
	size_t want = limits[fuzz_below(r, sizeof(limits) / sizeof(limits[0]))] + fuzz_below(r, 3);
	size_t pos = fuzz_below(r, len + 1);
	size_t s = len > 0 ? text_line_start(buf, pos < len ? pos : len - 1) : 0;
	size_t e = text_line_end(buf, len, s);
	size_t have = e - s;
	if (want <= have || want - have > sizeof(fill))
		return len;
	uint8_t c = len > 0 && fuzz_below(r, 2) ? buf[pos < len ? pos : len - 1] : (uint8_t)"a0.:-/ "[fuzz_below(r, 7)];
	if (c == '\n' || c == '\r')
		c = 'a';
	memset(fill, c, want - have);
	return text_insert(buf, len, cap, pos < e ? pos : (e > s ? e - 1 : s), fill, want - have);
}

/* One mutation of buf[0..len) (room for cap); returns the new length. */
static inline size_t text_mutate(struct fuzz_rng *r, const struct fuzz_dict *d, const struct fuzz_input *seeds,
				 size_t nseeds, uint8_t *buf, size_t len, size_t cap)
{
	static const uint8_t special[] = { 0,   '\r', '\n', ' ', '\t', ':', ',', ';', '"', '[', ']', '/', '?', '#',
					   '@', '%',  '*',  '=', '0',  '9', 'A', 'z', '-', '.', 0x7f, 0x80, 0xff, 0x0b };
	size_t pos, k;
	switch (fuzz_below(r, 16)) {
	case 0: /* flip a bit */
		if (len > 0)
			buf[fuzz_below(r, len)] ^= (uint8_t)(1u << fuzz_below(r, 8));
		return len;
	case 1: /* set a byte to one that means something in text */
		if (len > 0)
			buf[fuzz_below(r, len)] = special[fuzz_below(r, sizeof(special))];
		return len;
	case 2: { /* insert one such byte */
		uint8_t c = special[fuzz_below(r, sizeof(special))];
		return text_insert(buf, len, cap, fuzz_below(r, len + 1), &c, 1);
	}
	case 3: /* truncate, mostly at a line end */
		pos = fuzz_below(r, len + 1);
		return fuzz_below(r, 2) ? text_line_end(buf, len, pos) : pos;
	case 4: /* delete a few bytes */
		if (len == 0)
			return len;
		return text_delete(buf, len, fuzz_below(r, len), 1 + fuzz_below(r, 8));
	case 5: { /* copy a stretch to another place */
		uint8_t tmp[64];
		if (len == 0)
			return len;
		size_t from = fuzz_below(r, len);
		k = 1 + fuzz_below(r, sizeof(tmp));
		if (k > len - from)
			k = len - from;
		memcpy(tmp, buf + from, k);
		return text_insert(buf, len, cap, fuzz_below(r, len + 1), tmp, k);
	}
	case 6:
	case 7:
		return text_dict_token(r, d, buf, len, cap, 0);
	case 8:
		return text_dict_token(r, d, buf, len, cap, 1);
	case 9: { /* duplicate a line */
		static uint8_t line[4096];
		if (len == 0)
			return len;
		size_t s = text_line_start(buf, fuzz_below(r, len)), e = text_line_end(buf, len, s);
		k = e - s < sizeof(line) ? e - s : sizeof(line);
		memcpy(line, buf + s, k);
		return text_insert(buf, len, cap, e, line, k);
	}
	case 10: { /* delete a line */
		if (len == 0)
			return len;
		size_t s = text_line_start(buf, fuzz_below(r, len));
		return text_delete(buf, len, s, text_line_end(buf, len, s) - s);
	}
	case 11:
		return text_splice_line(r, seeds, nseeds, buf, len, cap);
	case 12: { /* line ends: CRLF <-> LF, or a lone CR, LF, NUL, HTAB */
		if (len == 0)
			return len;
		pos = text_line_end(buf, len, fuzz_below(r, len));
		if (pos == 0 || buf[pos - 1] != '\n')
			return len;
		pos--;
		switch (fuzz_below(r, 4)) {
		case 0:
			if (pos > 0 && buf[pos - 1] == '\r')
				return text_delete(buf, len, pos - 1, 1);
			return text_insert(buf, len, cap, pos, (const uint8_t *)"\r", 1);
		case 1:
			buf[pos] = "\r\0\t "[fuzz_below(r, 4)];
			return len;
		case 2:
			return text_insert(buf, len, cap, pos + 1, (const uint8_t *)(fuzz_below(r, 2) ? " " : "\t"), 1);
		default:
			return text_insert(buf, len, cap, fuzz_below(r, len + 1),
					   (const uint8_t *)(fuzz_below(r, 2) ? "\r\n" : "\n"), fuzz_below(r, 2) + 1);
		}
	}
	case 13:
		return text_number(r, buf, len, cap);
	case 14:
		return text_grow(r, buf, len, cap);
	default: { /* swap two lines */
		static uint8_t tmp[8192];
		if (len == 0)
			return len;
		size_t a = text_line_start(buf, fuzz_below(r, len)), ae = text_line_end(buf, len, a);
		size_t b = text_line_start(buf, fuzz_below(r, len)), be = text_line_end(buf, len, b);
		if (a == b)
			return len;
		if (b < a) {
			size_t t = a, te = ae;
			a = b, ae = be, b = t, be = te;
		}
		if (be - a > sizeof(tmp))
			return len;
		/* a..ae, ae..b, b..be  ->  b..be, ae..b, a..ae */
		size_t o = 0;
		memcpy(tmp + o, buf + b, be - b), o += be - b;
		memcpy(tmp + o, buf + ae, b - ae), o += b - ae;
		memcpy(tmp + o, buf + a, ae - a), o += ae - a;
		memcpy(buf + a, tmp, o);
		return len;
	}
	}
}

#endif
