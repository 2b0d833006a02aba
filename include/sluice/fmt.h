/* fmt: numbers written without printf, for the per-request paths (request
 * heads, pool keys, access-log lines): no locale, no format parsing. */
#ifndef SLUICE_FMT_H
#define SLUICE_FMT_H

#include <stddef.h>
#include <stdint.h>

/* The decimal digits of v at d (at most 20, no NUL); returns how many.
 * The count first (compares), then the digits straight to their places,
 * last first, in 32 bits when they fit (a cheaper multiply than 64). */
static inline size_t fmt_u64(char *d, uint64_t v)
{
	size_t n = 1;
	for (uint64_t p = 10; n < 20 && v >= p; p *= 10)
		n++;
	char *e = d + n;
	for (; v > UINT32_MAX; v /= 10)
		*--e = (char)('0' + v % 10);
	uint32_t w = (uint32_t)v;
	do {
		*--e = (char)('0' + w % 10);
		w /= 10;
	} while (w);
	return n;
}

#endif
