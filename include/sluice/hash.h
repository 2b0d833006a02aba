/* hash: the one hash sluice uses for its tables, FNV-1a: hash_name over
 * the ASCII-lowercased bytes of a host name (DNS cache, upstream pool),
 * hash_bytes over bytes as they are (name sets, the auth cache, address
 * keys).  Small and inline: they run once per request. */
#ifndef SLUICE_HASH_H
#define SLUICE_HASH_H

#include <stddef.h>
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

/* FNV-1a over len bytes, its high half folded into the low one: tables
 * index by the low bits, and FNV's low bits only see the low bits of each
 * byte (10.0.0.1 and 10.0.0.65 must not share a slot). */
static inline uint32_t hash_bytes(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h ^ (h >> 16);
}

#endif
