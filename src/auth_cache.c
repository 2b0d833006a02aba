/* auth_cache: a worker's answers to Proxy-Authorization values
 * (include/sluice/auth.h).
 *
 * A fixed table of slots, each holding one answer or none: a value hashes
 * to a run of PROBE slots; it is found in one of them, or goes to a free
 * one, or replaces the one that expires first.  So the memory is bounded
 * by the table, and a flood of bad values pushes out old answers, never
 * grows anything.  The whole value is kept and compared: a hash collision
 * can never hand one client another's login.
 */
#include "sluice/auth.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/hash.h"

#define PROBE 4

struct answer {
	uint64_t expires;	/* ms */
	unsigned gen;
	uint8_t ok;
	struct auth_job *pending;	/* a check in flight; NULL: ok is the answer */
	uint16_t len;		/* of the value */
	char user[HTPASSWD_USER_MAX + 1];
	char value[];		/* len bytes */
};

struct auth_cache {
	uint32_t mask;
	struct answer **slots;
};

struct auth_cache *auth_cache_new(uint32_t size)
{
	struct auth_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	uint32_t n = PROBE;
	while (n < size && n < (1u << 24))
		n *= 2;
	c->mask = n - 1;
	c->slots = calloc(n, sizeof(*c->slots));
	if (c->slots == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void auth_cache_free(struct auth_cache *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i <= c->mask; i++)
		free(c->slots[i]);
	free(c->slots);
	free(c);
}

static int same(const struct answer *a, const char *value, size_t len)
{
	return a && a->len == len && memcmp(a->value, value, len) == 0;
}

int auth_cache_find(struct auth_cache *c, const char *value, size_t len, uint64_t now_ms, unsigned gen,
		    const char **user, struct auth_job **job)
{
	uint32_t h = hash_bytes(value, len);
	for (uint32_t k = 0; k < PROBE; k++) {
		struct answer *a = c->slots[(h + k) & c->mask];
		if (!same(a, value, len))
			continue;
		if (a->expires <= now_ms)
			return -1;
		if (a->pending) {
			*job = a->pending;
			return AUTH_PENDING;
		}
		if (a->gen != gen)
			return -1;
		*user = a->user;
		return a->ok;
	}
	return -1;
}

/* The slot for value: its own (a value is never in two slots, so a
 * check in flight is never shadowed and forgotten), else a free or
 * expired one, else the one that expires first; NULL when no memory. */
static struct answer *slot_for(struct auth_cache *c, const char *value, size_t len, uint64_t now_ms)
{
	uint32_t h = hash_bytes(value, len), pick = UINT32_MAX;
	for (uint32_t k = 0; k < PROBE && pick == UINT32_MAX; k++)
		if (same(c->slots[(h + k) & c->mask], value, len))
			pick = (h + k) & c->mask;
	for (uint32_t k = 0; k < PROBE && pick == UINT32_MAX; k++) {
		struct answer *a = c->slots[(h + k) & c->mask];
		if (a == NULL || a->expires <= now_ms)
			pick = (h + k) & c->mask;
	}
	if (pick == UINT32_MAX) {
		pick = h & c->mask;
		for (uint32_t k = 1; k < PROBE; k++)
			if (c->slots[(h + k) & c->mask]->expires < c->slots[pick]->expires)
				pick = (h + k) & c->mask;
	}
	struct answer *a = c->slots[pick];
	if (a == NULL || a->len < len) {
		struct answer *n = realloc(a, sizeof(*a) + len);
		if (n == NULL)
			return NULL; /* not remembered: asked again next time */
		a = c->slots[pick] = n;
	}
	a->len = (uint16_t)len;
	memcpy(a->value, value, len);
	a->pending = NULL;
	return a;
}

void auth_cache_forget(struct auth_cache *c, const char *value, size_t len)
{
	uint32_t h = hash_bytes(value, len);
	for (uint32_t k = 0; k < PROBE; k++) {
		struct answer *a = c->slots[(h + k) & c->mask];
		if (same(a, value, len)) {
			a->expires = 0;
			a->pending = NULL;
		}
	}
}

void auth_cache_pending(struct auth_cache *c, const char *value, size_t len, struct auth_job *job, uint64_t now_ms,
			uint32_t ttl_ms)
{
	if (len > AUTH_VALUE_MAX)
		return;
	struct answer *a = slot_for(c, value, len, now_ms);
	if (a == NULL)
		return;
	a->expires = now_ms + ttl_ms;
	a->gen = 0;
	a->ok = 0;
	a->user[0] = '\0';
	a->pending = job;
}

void auth_cache_put(struct auth_cache *c, const char *value, size_t len, const char *user, int ok, uint64_t now_ms,
		    uint32_t ttl_ms, unsigned gen)
{
	if (len > AUTH_VALUE_MAX)
		return;
	struct answer *a = slot_for(c, value, len, now_ms);
	if (a == NULL)
		return;
	a->expires = now_ms + ttl_ms;
	a->gen = gen;
	a->ok = ok != 0;
	size_t ul = strlen(user);
	if (ul > HTPASSWD_USER_MAX)
		ul = HTPASSWD_USER_MAX;
	memcpy(a->user, user, ul);
	a->user[ul] = '\0';
}
