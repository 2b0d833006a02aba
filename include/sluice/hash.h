/* hash: the one string hash sluice uses for its tables (DNS cache, upstream
 * pool), FNV-1a over the ASCII-lowercased bytes, since host names compare
 * without case.  Small and inline: it runs once per request. */
#ifndef SLUICE_HASH_H
#define SLUICE_HASH_H

#include <stdint.h>

static inline uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		uint32_t c = (unsigned char)*s;
		/* 'A'..'Z' to lower case; no branch (it runs per byte of every
		 * pooled key) and no locale (host names are ASCII) */
		c |= (uint32_t)(c - 'A' < 26u) << 5;
		h = (h ^ c) * 16777619u;
	}
	return h;
}

#endif
