/* dns: name resolution for one worker, c-ares driven by the worker's loop,
 * behind a TTL cache.
 *
 * c-ares 1.18 keeps no answers, so each worker keeps its own cache:
 * positive answers for their TTL (capped by dns_cache_max_ttl), NXDOMAIN and
 * no-data answers for dns_negative_ttl, failures and timeouts not at all.
 * Concurrent lookups of one name wait on one entry: one query goes out.
 *
 * The cache half (dns_cache_*) is pure and takes the clock as an argument,
 * so it can be tested without a network.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/config.h"
#include "sluice/loop.h"
#include "sluice/stats.h"

#define DNS_MAX_ADDRS 8
#define DNS_NAME_MAX 255

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

enum dns_status {
	DNS_OK,
	DNS_NOTFOUND,		/* NXDOMAIN or no address: negative-cached */
	DNS_FAIL,		/* SERVFAIL, refused, malformed: not cached */
	DNS_TIMEOUT,		/* no answer in time: not cached */
	DNS_PENDING,		/* query in flight (cache entries only) */
};

struct dns_entry;

/* --- the cache (pure) --------------------------------------------------------- */

struct dns_cache;

struct dns_cache *dns_cache_new(uint32_t max_entries);
void dns_cache_free(struct dns_cache *c);

/* The live entry for name (case-insensitive), or NULL when absent or expired.
 * A hit moves the entry to the front of the LRU list. */
struct dns_entry *dns_cache_get(struct dns_cache *c, const char *name, uint64_t now_ms);

/* A pending entry for name (the caller then starts the query), or NULL when
 * the cache is full of pending entries or memory is short. */
struct dns_entry *dns_cache_add_pending(struct dns_cache *c, const char *name, uint64_t now_ms);

/* Complete a pending entry.  ttl_s is the answer's TTL (already capped). */
void dns_cache_complete(struct dns_cache *c, struct dns_entry *e, enum dns_status st,
			const union sockaddr_any *addrs, int naddrs, uint32_t ttl_s, uint64_t now_ms);

enum dns_status dns_entry_status(const struct dns_entry *e);
int dns_entry_addrs(const struct dns_entry *e, const union sockaddr_any **addrs);
uint32_t dns_cache_count(const struct dns_cache *c);

/* --- resolver (c-ares) --------------------------------------------------------- */

struct dns;

/* Called once per waiter with the entry's result; addrs are borrowed for the
 * duration of the call.  The waiter is already detached when it runs. */
typedef void (*dns_cb)(void *arg, enum dns_status st, const union sockaddr_any *addrs, int naddrs);

struct dns_waiter {
	struct dns_waiter *next, *prev;
	struct dns_entry *entry;	/* NULL when not waiting */
	dns_cb cb;
	void *arg;
};

/* A resolver for one worker's loop, set up from cfg (which is not kept).
 * Returns NULL with a reason in err. */
struct dns *dns_new(struct loop *l, const struct config *cfg, char *err, size_t errlen);
void dns_free(struct dns *d);

/* Resolve name.  On a cache hit (positive or negative) returns that status and
 * fills *addrs / *naddrs (borrowed until the next call into dns); otherwise
 * returns DNS_PENDING and calls w->cb later, unless dns_cancel(w) comes
 * first.  w->cb and w->arg must be set by the caller. */
enum dns_status dns_resolve(struct dns *d, const char *name, struct dns_waiter *w,
			    const union sockaddr_any **addrs, int *naddrs);

/* Stop waiting (a session closing while its lookup is in flight). */
void dns_cancel(struct dns *d, struct dns_waiter *w);

/* Counters, for tests and the admin endpoint: written by the worker's
 * thread, readable from any (stats.h). */
struct dns_stats {
	stat_t queries;		/* sent to c-ares */
	stat_t hits;
	stat_t coalesced;
};
const struct dns_stats *dns_stats(const struct dns *d);

#endif
