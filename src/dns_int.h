/* dns_int: what the two halves of the dns module share (dns_cache.c, the
 * cache and the lookups in flight; dns.c, c-ares in the worker's loop).
 * Private to them; everyone else sees include/sluice/dns.h. */
#ifndef SLUICE_DNS_INT_H
#define SLUICE_DNS_INT_H

#include "sluice/dns.h"
#include "sluice/loop.h"

/* --- waiter lists (circular, with a head) ------------------------------------------- */

static inline void list_init(struct dns_waiter *head)
{
	head->next = head->prev = head;
}

static inline void list_add(struct dns_waiter *head, struct dns_waiter *w)
{
	w->next = head;
	w->prev = head->prev;
	head->prev->next = w;
	head->prev = w;
}

static inline void list_del(struct dns_waiter *w)
{
	w->next->prev = w->prev;
	w->prev->next = w->next;
	w->next = w->prev = NULL;
}

/* --- a lookup in flight, per family -------------------------------------------------- */

enum { F_V6, F_V4, NFAM };	/* IPv6 first: the order answers are interleaved in */

struct family {
	uint8_t running;	/* a c-ares query is out for it */
	uint8_t done;		/* status and addresses hold its result */
	uint8_t fresh;		/* done after the lookup's answer went out: still to store */
	uint8_t usable;		/* IPv6: this host has a route to the first address */
	int status;		/* ARES_SUCCESS, ARES_ENODATA, ... */
	int naddrs;
	union sockaddr_any addrs[DNS_MAX_ADDRS];
	uint64_t expires;	/* ms; positive answers */
};

struct dns_lookup {
	struct dns_lookup *hnext;		/* the name table, until retired */
	struct dns_lookup *prev, *next;		/* every lookup alive */
	struct dns_waiter waiters;		/* list head */
	uint32_t nwaiters;
	uint8_t retired;			/* its answer went out */
	uint64_t started;			/* ms */
	uint64_t a_at;				/* ms the A answer brought addresses; 0: not yet */
	struct family fam[NFAM];
	struct timer timer;			/* resolver half: settle (on_lookup_timer) */
	struct dns *d;
	uint32_t hash;
	char name[DNS_NAME_MAX + 1];
};

/* Every lookup alive, to walk with ->next (the resolver's reclaim and
 * free). */
struct dns_lookup *dns_cache_all(const struct dns_cache *c);

#endif
