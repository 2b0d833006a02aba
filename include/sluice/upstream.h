/* upstream: outgoing connections and each worker's pool of idle ones.
 *
 * An upstream connection is owned by one session while a request uses it,
 * or by the pool while idle.  Idle connections are kept per "host:port" key
 * (the target as the client named it), most recently used first, up to
 * upstream_pool_max per worker and upstream_idle_timeout each; a pooled
 * connection the origin closes is dropped at once.
 *
 * Freeing is deferred: upstream_close() closes the socket at once but the
 * object lives until upstream_reap(), which the worker calls after each
 * batch of events, because a later event in the same batch may still point
 * at it.
 *
 * The pool also remembers, per worker and without locks, the addresses
 * whose connects failed lately (refused, unreachable, timed out), so that
 * upstream_order puts them last for a while:
 *
 *   connect fails ──> marked for UPSTREAM_FAIL_HOLD_MS ──expires──> tried in
 *   turn again; failing once more within a hold of that doubles the hold
 *   (up to UPSTREAM_FAIL_HOLD_MAX_MS); a connect that succeeds clears it
 *
 * The table is small and fixed (UPSTREAM_FAILS_SETS x UPSTREAM_FAILS_WAYS
 * addresses, the oldest failure of a set making room), so what clients
 * make us connect to cannot grow it; forgetting an address only costs the
 * connect_timeout the table would have saved.
 */
#ifndef SLUICE_UPSTREAM_H
#define SLUICE_UPSTREAM_H

#include <stdint.h>

#include "sluice/dns.h"
#include "sluice/loop.h"

#define UPSTREAM_KEY_MAX 304 /* a parent's pinned key: 1, name:port, 1, host:port */

struct upstream;
struct upstream_pool;
typedef void (*upstream_cb)(void *owner, uint32_t events);

struct upstream_pool *upstream_pool_new(struct loop *l, uint32_t max_idle, uint32_t idle_timeout_ms);
/* Close every idle connection and free the pool (workers call it at exit). */
void upstream_pool_free(struct upstream_pool *p);
/* Idle connections now; any thread (stats.h). */
uint64_t upstream_pool_idle(const struct upstream_pool *p);
/* Descriptors are short: close up to n idle connections, the longest idle
 * first (freed at the next upstream_reap).  Returns how many were closed. */
uint32_t upstream_pool_evict(struct upstream_pool *p, uint32_t n);

/* Start a non-blocking connect to addr, for key.  The connection reports
 * its events to cb(owner, events).  Returns the connection, or NULL with
 * errno set (socket, or connect failing at once). */
struct upstream *upstream_connect(struct upstream_pool *p, const union sockaddr_any *addr,
				  const char *key, upstream_cb cb, void *owner);

/* After EPOLLOUT on a connecting socket: 0 when connected, else -1 with
 * errno set to the connect error.  Either way the pool notes how its
 * address fared (as upstream_connect does for a connect failing at once). */
int upstream_connect_result(struct upstream *u);

/* The connect on u did not complete within the caller's deadline: its
 * address is noted as failing.  The caller still closes u. */
void upstream_connect_timed_out(struct upstream *u);

/* Put addrs (n of them, at most DNS_MAX_ADDRS, in the resolver's order,
 * ports set) in the order to try them: the addresses not marked as failing
 * first, the start among them moving on by one from call to call (so load
 * spreads; a counter per destination, picked by the first address), in
 * the resolver's pattern of families (IPv6 and IPv4
 * interleaved, or IPv4 first: dns.c decides, the order within each family
 * turns); then the marked ones, the oldest failure first (all of them are
 * still tried). */
void upstream_order(struct upstream_pool *p, union sockaddr_any *addrs, int n);

/* The socket, for the owner's reads and writes (never closed by the owner:
 * upstream_close does that), and the address it is connected to. */
int upstream_fd(const struct upstream *u);
const union sockaddr_any *upstream_peer(const struct upstream *u);

/* The most recently pooled idle connection for key ("host:port"), now
 * owned by owner, or NULL.  With addrs (the host's current addresses, n of
 * them; ports are not compared, key has the port), only a connection to
 * one of them: the key's idle connections to other addresses are closed on
 * the way, the name no longer leads there.  Without (NULL), only when the
 * key's host is an address literal, which is the only address its
 * connections can have; for a name, NULL at once, the key's connections
 * left as they are (ask again with the name's answer). */
struct upstream *upstream_take(struct upstream_pool *p, const char *key, const union sockaddr_any *addrs, int n,
			       upstream_cb cb, void *owner);

/* The owner's request and its response are complete: give the healthy
 * connection back to the pool (closed instead when the pool is full).
 * drained: the owner's last read found the socket empty; if not,
 * the socket is checked, and closed when anything waits on it (the pool
 * relies on every later arrival raising an edge). */
void upstream_release(struct upstream *u, int drained);

/* Pinning: a connection that carries a client's connection-based
 * authentication (NTLM, Negotiate) serves that client alone and never
 * enters the pool.  upstream_pin keeps a healthy connection for owner
 * between requests (drained as for upstream_release); its events go to
 * idle_cb, which should close it on any arrival; key (NULL: the one it
 * has) is what it serves from then on.  Returns 0, or -1 when
 * bytes were waiting on it (it is closed then).  upstream_unpin takes it up
 * again for a request to key: 0 with cb and owner set; 1 when it serves
 * another key (left as it was); -1 when an event for it is still queued in
 * this batch (stale: the caller closes it). */
int upstream_pin(struct upstream *u, const char *key, int drained, upstream_cb idle_cb, void *owner);
int upstream_unpin(struct upstream *u, const char *key, upstream_cb cb, void *owner);
/* Does u serve key? */
int upstream_key_is(const struct upstream *u, const char *key);

/* Close the socket now, free the object at the next upstream_reap(). */
void upstream_close(struct upstream *u);
/* The same for a connection cut in the middle of an exchange or a tunnel:
 * when bytes are still queued for the server, with a reset (SO_LINGER 0)
 * instead of a FIN, or the kernel would keep trying to deliver them to a
 * server that stopped reading, in FIN-WAIT-1, for minutes; with nothing
 * queued the server sees a plain end. */
void upstream_cut(struct upstream *u);
void upstream_reap(struct upstream_pool *p);

/* --- addresses that failed lately (pure; the pool keeps one table) ---------------- */

#define UPSTREAM_FAIL_HOLD_MS 30000	 /* a failed address is tried last this long ... */
#define UPSTREAM_FAIL_HOLD_MAX_MS 300000 /* ... doubling while it keeps failing, to this */
#define UPSTREAM_FAILS_SETS 64		 /* power of two */
#define UPSTREAM_FAILS_WAYS 4		 /* addresses per set */

struct upstream_fails;

/* An empty table, or NULL when memory is short; _free accepts NULL. */
struct upstream_fails *upstream_fails_new(void);
void upstream_fails_free(struct upstream_fails *f);
/* A connect to a (address and port) failed at now (ms): it is marked
 * until now + its hold.  The hold is UPSTREAM_FAIL_HOLD_MS, or double the
 * last one when a had been marked and failed again within a hold after its
 * mark ended; a failure while marked (connects that were already under way,
 * or every address was marked) renews the mark with the same hold. */
void upstream_fails_add(struct upstream_fails *f, const union sockaddr_any *a, uint64_t now);
/* A connect to a succeeded: forget a. */
void upstream_fails_clear(struct upstream_fails *f, const union sockaddr_any *a);
/* Whether a is marked at now; if so *last (may be NULL) is its latest
 * failure. */
int upstream_fails_marked(const struct upstream_fails *f, const union sockaddr_any *a, uint64_t now,
			  uint64_t *last);
/* Addresses remembered (marked, or kept to double a repeated hold). */
uint32_t upstream_fails_count(const struct upstream_fails *f);
/* upstream_order's work on f at now, turn being the call's number. */
void upstream_fails_order(const struct upstream_fails *f, union sockaddr_any *addrs, int n, uint32_t turn,
			  uint64_t now);

#endif
