/* dns: name resolution for one worker, c-ares driven by the worker's loop,
 * behind a TTL cache.
 *
 *   dns_resolve ──a cached answer──────────────────────> that answer, at once
 *        │ ──/etc/hosts (c-ares, files only, in the call)──> that answer, at once
 *        │ ──a lookup of the name in flight──> wait on it (one lookup per name)
 *        └──> a new lookup: an A and an AAAA query, each its own ares_getaddrinfo
 *
 *   lookup ──both families done, or the A brought addresses and the AAAA is
 *            DNS_FAMILY_GRACE_MS late, or dns_timeout──> the answer is stored
 *            (when kept), then every waiter is called back; a family still
 *            running then adds its addresses to the stored answer when they
 *            come, and the lookup ends with it
 *
 * (An AAAA answer waits for the A until dns_timeout: IPv4 works nearly
 * everywhere, IPv6 alone may not work from this host.)  Addresses go out
 * interleaved from IPv6 (RFC 8305), or IPv4 first when this host has no
 * route to the IPv6 ones.
 *
 * c-ares 1.18 keeps no answers, so each worker keeps its own cache:
 * positive answers for their TTL (the shortest record of a CNAME chain,
 * capped by dns_cache_max_ttl; RFC 2181 section 8: a TTL of 2^31 or more is
 * 0), NXDOMAIN and no-data answers for dns_negative_ttl (also capped by
 * dns_cache_max_ttl), failures and timeouts not at all.
 *
 * Memory stays bounded whatever clients do.  Answers and lookups in flight
 * are kept apart: at most dns_cache_size answers (0: none) and at most
 * max_connections * 4/3 + DNS_LOOKUPS_MIN lookups.  A lookup never takes
 * an answer's place.  A client waits on one lookup at most and holds a
 * connection meanwhile, so lookups someone waits for fill three quarters
 * of that bound at most; a lookup nobody waits for any more (its client
 * left, or its answer went out while one family still runs) may still
 * store its answer, but only where that evicts nothing, and when the
 * bound is reached those lookups (a quarter of it at least) are cancelled
 * to make room.  c-ares cancels only all queries at once: the ones
 * someone waits for are sent again, at most three for each one cancelled.
 * Should lookups waited for fill the bound all the same, a new name fails
 * at once with DNS_BUSY.
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
#define DNS_LOOKUPS_MIN 256	/* lookups in flight beyond what max_connections implies */
#define DNS_FAMILY_GRACE_MS 50	/* how long an A answer waits for the AAAA (RFC 8305: 50 ms) */

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
	DNS_BUSY,		/* too many lookups in flight for this worker: not tried */
	DNS_PENDING,		/* dns_resolve only: the answer comes by callback */
};

struct dns_waiter;
typedef void (*dns_cb)(void *arg, enum dns_status st, const union sockaddr_any *addrs, int naddrs);

/* One client waiting for a name.  The caller owns it, sets cb and arg, and
 * keeps the rest zeroed before its first use (dns.c's bookkeeping: linked
 * while it waits, lookup set while a lookup holds it). */
struct dns_waiter {
	struct dns_waiter *next, *prev;
	struct dns_lookup *lookup;
	dns_cb cb;
	void *arg;
};

/* --- the cache (pure) --------------------------------------------------------- */

struct dns_cache;
struct dns_entry;	/* an answer: status, addresses, expiry */
struct dns_lookup;	/* a name being resolved, and who waits for it */

/* A cache keeping at most max_entries answers (0: none, lookups are still
 * shared) and at most max_lookups lookups.  NULL when memory is short. */
struct dns_cache *dns_cache_new(uint32_t max_entries, uint32_t max_lookups);
/* Frees every answer and lookup; waiters still on a lookup are detached
 * without a call. */
void dns_cache_free(struct dns_cache *c);

/* The live answer for name (case-insensitive), or NULL when absent or
 * expired (an expired answer is dropped).  A hit makes it the most recent. */
struct dns_entry *dns_cache_get(struct dns_cache *c, const char *name, uint64_t now_ms);

/* Keep an answer for name until expires_ms, replacing the one it has.  A
 * new name in a full cache takes the least recently used answer's place
 * only when waited (clients wait for this answer); otherwise it is kept
 * only if there is room.  Returns the entry, or NULL when not kept (full,
 * dns_cache_size 0, already expired: then any older answer for name goes
 * too, a name too long, or memory short). */
struct dns_entry *dns_cache_put(struct dns_cache *c, const char *name, enum dns_status st,
				const union sockaddr_any *addrs, int naddrs, uint64_t expires_ms,
				uint64_t now_ms, int waited);

enum dns_status dns_entry_status(const struct dns_entry *e);
/* The entry's addresses (borrowed from the entry) and their number. */
int dns_entry_addrs(const struct dns_entry *e, const union sockaddr_any **addrs);
uint32_t dns_cache_count(const struct dns_cache *c);	/* answers */

/* The lookup in flight for name, or NULL. */
struct dns_lookup *dns_cache_lookup(struct dns_cache *c, const char *name);
/* A new lookup for name, started at now_ms; NULL when the name is too
 * long, memory is short, name has a lookup in flight, or max_lookups
 * lookups exist.  It never evicts an answer. */
struct dns_lookup *dns_cache_add_lookup(struct dns_cache *c, const char *name, uint64_t now_ms);
/* w waits on l / stops waiting (nothing when it does not wait). */
void dns_cache_wait(struct dns_cache *c, struct dns_lookup *l, struct dns_waiter *w);
void dns_cache_unwait(struct dns_cache *c, struct dns_waiter *w);
/* l has its answer: it leaves the name's place (a new lookup of the name
 * may start) and its waiters move, still linked, onto the list headed by
 * *list (a head the caller owns; dns_cancel still unlinks them from it).
 * l lives on, nobody's to wait for, until dns_cache_release. */
void dns_cache_retire(struct dns_cache *c, struct dns_lookup *l, struct dns_waiter *list);
/* Free l (retired or not); its waiters, if any, are detached without a call. */
void dns_cache_release(struct dns_cache *c, struct dns_lookup *l);
uint32_t dns_cache_lookups(const struct dns_cache *c);	/* lookups alive */
uint32_t dns_cache_idle(const struct dns_cache *c);	/* of which nobody waits for */

/* An answer's TTL in seconds from what c-ares parsed: the shortest of its
 * address records and of the CNAME records that led to them, a TTL of
 * 2^31 or more (c-ares hands it over as a negative int) counting as 0, and
 * at most max_ttl. */
struct ares_addrinfo;
uint32_t dns_answer_ttl(const struct ares_addrinfo *ai, uint32_t max_ttl);

/* c-ares' timeout per try and tries per server for nservers servers, so
 * that a lookup nobody answers ends within budget_ms: c-ares gives each
 * server *tries tries and doubles the timeout after each round over all
 * servers, nservers * timeout * (2^tries - 1) in all. */
void dns_try_timeouts(uint32_t budget_ms, int nservers, int *tries, int *timeout_ms);

/* --- resolver (c-ares) --------------------------------------------------------- */

struct dns;

/* A resolver for one worker's loop, set up from cfg (which is not kept).
 * Returns NULL with a reason in err. */
struct dns *dns_new(struct loop *l, const struct config *cfg, char *err, size_t errlen);
/* Waiters still waiting are detached without a call. */
void dns_free(struct dns *d);

/* Resolve name.  With a cached answer, or one from /etc/hosts, or a
 * failure known at once (DNS_BUSY, DNS_FAIL), returns that status and
 * fills *addrs / *naddrs (borrowed until the next call into dns);
 * otherwise returns DNS_PENDING and calls w->cb once, later, from the
 * loop (never from inside this call), unless dns_cancel(w) comes first.
 * w->cb and w->arg must be set by the caller.  A callback may call
 * dns_resolve or dns_cancel for any name and waiter, its own included, and
 * close its session. */
enum dns_status dns_resolve(struct dns *d, const char *name, struct dns_waiter *w,
			    const union sockaddr_any **addrs, int *naddrs);

/* Stop waiting (a session closing while its lookup is in flight); nothing
 * when w does not wait. */
void dns_cancel(struct dns *d, struct dns_waiter *w);

/* Counters, for tests and the admin endpoint: written by the worker's
 * thread, readable from any (stats.h). */
struct dns_stats {
	stat_t queries;		/* lookups started (an A and an AAAA query each) */
	stat_t hits;
	stat_t coalesced;
	stat_t busy;		/* new names refused: waited-for lookups filled the bound */
	stat_t cancelled;	/* lookups nobody waited for, cancelled to make room */
	stat_t negative_hits;	/* of hits, the cached "no such name" */
	stat_t answers[4];	/* lookups ended: [DNS_OK], not found, timeout, failed
				   (index: dns_stat_index) */
};
/* The answers[] slot of a lookup that ended with st. */
int dns_stat_index(enum dns_status st);
const struct dns_stats *dns_stats(const struct dns *d);

#endif
