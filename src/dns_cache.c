/* dns_cache: the per-worker answers and the lookups in flight (the pure
 * half of the dns module: no I/O, the clock comes in as an argument; see
 * dns.h for the bounds).
 *
 * Answers and lookups live in separate tables, so a lookup never takes the
 * place of an answer: at most max_entries answers, evicted least recently
 * used first; at most max_lookups lookups, each with the waiters (sessions)
 * that wait for it.  A lookup is retired once its answer went out (late
 * answers of the other family may still be stored) and released when its
 * resolver half is done with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns_int.h"
#include "sluice/hash.h"

struct dns_entry {
	struct dns_entry *hnext;		/* hash chain */
	struct dns_entry *lru_prev, *lru_next;	/* most recent at the head */
	uint64_t expires;			/* ms */
	enum dns_status status;
	int naddrs;
	union sockaddr_any addrs[DNS_MAX_ADDRS];
	uint32_t hash;
	char name[DNS_NAME_MAX + 1];
};

struct dns_cache {
	struct dns_entry **table;
	uint32_t mask;
	uint32_t count, max;
	struct dns_entry lru;			/* sentinel */
	struct dns_lookup **ltable;
	uint32_t lmask;
	uint32_t nlookups, max_lookups;
	uint32_t waited;			/* lookups with a waiter */
	struct dns_lookup *all;
};

static uint32_t table_size(uint64_t want, uint32_t cap)
{
	uint32_t size = 16;
	while (size < want && size < cap)
		size <<= 1;
	return size;
}

struct dns_cache *dns_cache_new(uint32_t max_entries, uint32_t max_lookups)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	uint32_t size = table_size((uint64_t)max_entries * 2, 1u << 21);
	uint32_t lsize = table_size(max_lookups, 1u << 16);
	c->table = calloc(size, sizeof(*c->table));
	c->ltable = calloc(lsize, sizeof(*c->ltable));
	if (c->table == NULL || c->ltable == NULL) {
		free(c->table);
		free(c->ltable);
		free(c);
		return NULL;
	}
	c->mask = size - 1;
	c->lmask = lsize - 1;
	c->max = max_entries;
	c->max_lookups = max_lookups;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	return c;
}

static void lru_unlink(struct dns_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push(struct dns_cache *c, struct dns_entry *e)
{
	e->lru_next = c->lru.lru_next;
	e->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

static void entry_remove(struct dns_cache *c, struct dns_entry *e)
{
	struct dns_entry **pp = &c->table[e->hash & c->mask];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	c->count--;
	free(e);
}

static struct dns_entry *find(struct dns_cache *c, const char *name, uint32_t h)
{
	for (struct dns_entry *e = c->table[h & c->mask]; e; e = e->hnext)
		if (e->hash == h && strcasecmp(e->name, name) == 0)
			return e;
	return NULL;
}

struct dns_entry *dns_cache_get(struct dns_cache *c, const char *name, uint64_t now_ms)
{
	struct dns_entry *e = find(c, name, hash_name(name));
	if (e == NULL)
		return NULL;
	if (e->expires <= now_ms) {
		entry_remove(c, e);
		return NULL;
	}
	lru_unlink(e);
	lru_push(c, e);
	return e;
}

struct dns_entry *dns_cache_put(struct dns_cache *c, const char *name, enum dns_status st,
				const union sockaddr_any *addrs, int naddrs, uint64_t expires_ms,
				uint64_t now_ms, int waited)
{
	if (strlen(name) > DNS_NAME_MAX)
		return NULL;
	uint32_t h = hash_name(name);
	struct dns_entry *e = find(c, name, h);
	if (expires_ms <= now_ms) {
		if (e)
			entry_remove(c, e); /* a newer answer says: keep nothing */
		return NULL;
	}
	if (e == NULL) {
		if (c->count >= c->max) {
			/* Only an answer someone asked for pushes another one out. */
			if (!waited || c->max == 0)
				return NULL;
			entry_remove(c, c->lru.lru_prev);
		}
		e = calloc(1, sizeof(*e));
		if (e == NULL)
			return NULL;
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->hash = h;
		e->hnext = c->table[h & c->mask];
		c->table[h & c->mask] = e;
		c->count++;
	} else {
		lru_unlink(e);
	}
	lru_push(c, e);
	e->status = st;
	e->naddrs = naddrs < 0 ? 0 : naddrs > DNS_MAX_ADDRS ? DNS_MAX_ADDRS : naddrs;
	if (e->naddrs > 0)
		memcpy(e->addrs, addrs, sizeof(*addrs) * (size_t)e->naddrs);
	e->expires = expires_ms;
	return e;
}

enum dns_status dns_entry_status(const struct dns_entry *e)
{
	return e->status;
}

int dns_entry_addrs(const struct dns_entry *e, const union sockaddr_any **addrs)
{
	*addrs = e->addrs;
	return e->naddrs;
}

uint32_t dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}

static struct dns_lookup **lookup_slot(struct dns_cache *c, const char *name, uint32_t h)
{
	struct dns_lookup **pp = &c->ltable[h & c->lmask];
	while (*pp && !((*pp)->hash == h && strcasecmp((*pp)->name, name) == 0))
		pp = &(*pp)->hnext;
	return pp;
}

struct dns_lookup *dns_cache_lookup(struct dns_cache *c, const char *name)
{
	return *lookup_slot(c, name, hash_name(name));
}

struct dns_lookup *dns_cache_add_lookup(struct dns_cache *c, const char *name, uint64_t now_ms)
{
	if (strlen(name) > DNS_NAME_MAX || c->nlookups >= c->max_lookups)
		return NULL;
	uint32_t h = hash_name(name);
	struct dns_lookup **slot = lookup_slot(c, name, h);
	if (*slot)
		return NULL;
	struct dns_lookup *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->hash = h;
	l->started = now_ms;
	list_init(&l->waiters);
	*slot = l;
	l->next = c->all;
	if (c->all)
		c->all->prev = l;
	c->all = l;
	c->nlookups++;
	return l;
}

void dns_cache_wait(struct dns_cache *c, struct dns_lookup *l, struct dns_waiter *w)
{
	dns_cache_unwait(c, w);
	w->lookup = l;
	list_add(&l->waiters, w);
	if (l->nwaiters++ == 0)
		c->waited++;
}

void dns_cache_unwait(struct dns_cache *c, struct dns_waiter *w)
{
	if (w->next == NULL)
		return;
	struct dns_lookup *l = w->lookup; /* NULL on a retired lookup's list */
	list_del(w);
	w->lookup = NULL;
	if (l && --l->nwaiters == 0)
		c->waited--;
}

/* Every waiter of l moves to list (NULL: detached). */
static void take_waiters(struct dns_cache *c, struct dns_lookup *l, struct dns_waiter *list)
{
	while (l->waiters.next != &l->waiters) {
		struct dns_waiter *w = l->waiters.next;
		list_del(w);
		w->lookup = NULL;
		if (list)
			list_add(list, w);
	}
	if (l->nwaiters) {
		l->nwaiters = 0;
		c->waited--;
	}
}

void dns_cache_retire(struct dns_cache *c, struct dns_lookup *l, struct dns_waiter *list)
{
	list_init(list);
	if (!l->retired) {
		struct dns_lookup **pp = lookup_slot(c, l->name, l->hash);
		*pp = l->hnext;
		l->hnext = NULL;
		l->retired = 1;
	}
	take_waiters(c, l, list);
}

void dns_cache_release(struct dns_cache *c, struct dns_lookup *l)
{
	struct dns_waiter gone;
	dns_cache_retire(c, l, &gone);
	while (gone.next != &gone)
		list_del(gone.next);
	if (l->prev)
		l->prev->next = l->next;
	else
		c->all = l->next;
	if (l->next)
		l->next->prev = l->prev;
	c->nlookups--;
	free(l);
}

struct dns_lookup *dns_cache_all(const struct dns_cache *c)
{
	return c->all;
}

uint32_t dns_cache_lookups(const struct dns_cache *c)
{
	return c->nlookups;
}

uint32_t dns_cache_idle(const struct dns_cache *c)
{
	return c->nlookups - c->waited;
}

void dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	while (c->all)
		dns_cache_release(c, c->all);
	while (c->lru.lru_next != &c->lru)
		entry_remove(c, c->lru.lru_next);
	free(c->table);
	free(c->ltable);
	free(c);
}
