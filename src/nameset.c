/* nameset: a read-mostly set of short byte strings (include/sluice/nameset.h).
 *
 *   slots[]:  { hash, offset } ...   (a power of two, at most half full)
 *   arena:    [len lo][len hi][bytes...] [len lo][len hi][bytes...] ...
 *
 * A slot with offset EMPTY is free; probing is linear, so a look-up walks
 * neighbouring slots of one cache line or two.  The table doubles when it
 * would pass half full, rehashing from the stored hashes (no string is
 * read again).
 */
#include "sluice/nameset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/hash.h"

#define EMPTY UINT32_MAX

struct slot {
	uint32_t hash;
	uint32_t off;	/* into arena; EMPTY: a free slot */
};

struct nameset {
	struct slot *slots;
	uint32_t mask;	/* slots - 1 */
	uint32_t count;
	char *arena;
	size_t used, cap;
};

static struct slot *new_slots(uint32_t n)
{
	struct slot *t = malloc((size_t)n * sizeof(*t));
	if (t)
		for (uint32_t i = 0; i < n; i++)
			t[i].off = EMPTY;
	return t;
}

struct nameset *nameset_new(void)
{
	struct nameset *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->mask = 15;
	s->slots = new_slots(s->mask + 1);
	if (s->slots == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void nameset_free(struct nameset *s)
{
	if (s == NULL)
		return;
	free(s->slots);
	free(s->arena);
	free(s);
}

static int same(const struct nameset *s, uint32_t off, const void *key, size_t len)
{
	const unsigned char *a = (const unsigned char *)s->arena + off;
	return (size_t)(a[0] | a[1] << 8) == len && memcmp(a + 2, key, len) == 0;
}

/* The slot holding key, or the free slot where it would go. */
static struct slot *find(const struct nameset *s, uint32_t h, const void *key, size_t len)
{
	for (uint32_t i = h & s->mask;; i = (i + 1) & s->mask) {
		struct slot *x = &s->slots[i];
		if (x->off == EMPTY || (x->hash == h && same(s, x->off, key, len)))
			return x;
	}
}

static int grow(struct nameset *s)
{
	uint32_t n = (s->mask + 1) * 2;
	if (n == 0)
		return -1;
	struct slot *t = new_slots(n);
	if (t == NULL)
		return -1;
	for (uint32_t i = 0; i <= s->mask; i++) {
		struct slot x = s->slots[i];
		if (x.off == EMPTY)
			continue;
		uint32_t j = x.hash & (n - 1);
		while (t[j].off != EMPTY)
			j = (j + 1) & (n - 1);
		t[j] = x;
	}
	free(s->slots);
	s->slots = t;
	s->mask = n - 1;
	return 0;
}

int nameset_add(struct nameset *s, const void *key, size_t len)
{
	if (len > NAMESET_KEY_MAX)
		return -1;
	uint32_t h = hash_bytes(key, len);
	struct slot *x = find(s, h, key, len);
	if (x->off != EMPTY)
		return 0;
	if (s->used + len + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		while (cap < s->used + len + 2)
			cap *= 2;
		if (cap >= EMPTY)
			return -1;
		char *a = realloc(s->arena, cap);
		if (a == NULL)
			return -1;
		s->arena = a;
		s->cap = cap;
	}
	if ((s->count + 1) * 2 > s->mask + 1) {
		if (grow(s) == -1)
			return -1;
		x = find(s, h, key, len);
	}
	unsigned char *a = (unsigned char *)s->arena + s->used;
	a[0] = (unsigned char)(len & 0xff);
	a[1] = (unsigned char)(len >> 8);
	memcpy(a + 2, key, len);
	x->hash = h;
	x->off = (uint32_t)s->used;
	s->used += len + 2;
	s->count++;
	return 1;
}

int nameset_has(const struct nameset *s, const void *key, size_t len)
{
	if (s == NULL || s->count == 0 || len > NAMESET_KEY_MAX)
		return 0;
	return find(s, hash_bytes(key, len), key, len)->off != EMPTY;
}

size_t nameset_count(const struct nameset *s)
{
	return s ? s->count : 0;
}
