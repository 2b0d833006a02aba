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
 */
#ifndef SLUICE_UPSTREAM_H
#define SLUICE_UPSTREAM_H

#include <stdint.h>

#include "sluice/dns.h"
#include "sluice/loop.h"

#define UPSTREAM_KEY_MAX 272

struct upstream;
struct upstream_pool;
typedef void (*upstream_cb)(void *owner, uint32_t events);

struct upstream_pool *upstream_pool_new(struct loop *l, uint32_t max_idle, uint32_t idle_timeout_ms);
/* Close every idle connection and free the pool (workers call it at exit). */
void upstream_pool_free(struct upstream_pool *p);
/* Idle connections now; any thread (stats.h). */
uint64_t upstream_pool_idle(const struct upstream_pool *p);

/* Start a non-blocking connect to addr, for key.  The connection reports
 * its events to cb(owner, events).  Returns the connection, or NULL with
 * errno set (socket, or connect failing at once). */
struct upstream *upstream_connect(struct upstream_pool *p, const union sockaddr_any *addr,
				  const char *key, upstream_cb cb, void *owner);

/* After EPOLLOUT on a connecting socket: 0 when connected, else -1 with
 * errno set to the connect error. */
int upstream_connect_result(struct upstream *u);

/* The socket, for the owner's reads and writes (never closed by the owner:
 * upstream_close does that), and the address it is connected to. */
int upstream_fd(const struct upstream *u);
const union sockaddr_any *upstream_peer(const struct upstream *u);

/* The most recently pooled idle connection for key, now owned by owner, or
 * NULL. */
struct upstream *upstream_take(struct upstream_pool *p, const char *key, upstream_cb cb, void *owner);

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
 * idle_cb, which should close it on any arrival.  Returns 0, or -1 when
 * bytes were waiting on it (it is closed then).  upstream_unpin takes it up
 * again for a request to key: 0 with cb and owner set; 1 when it serves
 * another key (left as it was); -1 when an event for it is still queued in
 * this batch (stale: the caller closes it). */
int upstream_pin(struct upstream *u, int drained, upstream_cb idle_cb, void *owner);
int upstream_unpin(struct upstream *u, const char *key, upstream_cb cb, void *owner);

/* Close the socket now, free the object at the next upstream_reap(). */
void upstream_close(struct upstream *u);
void upstream_reap(struct upstream_pool *p);

#endif
