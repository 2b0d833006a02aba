/* worker: one reactor thread.
 *
 * A worker owns its loop, its DNS resolver and cache, its upstream pool,
 * its buffer free-list, its access-log buffer and its counters; nothing on
 * the request path is shared with other workers, so nothing takes a lock.
 * The acceptor hands it sockets through a small queue and an eventfd
 * (worker_hand_off), the only thing another thread touches.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/dns.h"
#include "sluice/http.h"
#include "sluice/log.h"
#include "sluice/loop.h"
#include "sluice/tunnel.h"
#include "sluice/upstream.h"

struct session;

struct worker_stats {
	uint64_t accepted;
	uint64_t requests;
	uint64_t errors;	/* local error responses */
};

struct handoff {
	int fd;
	enum listen_kind kind;
	union sockaddr_any peer;
};

struct worker {
	int id;
	pthread_t thread;
	const struct config *cfg;
	struct loop *loop;
	struct dns *dns;
	struct upstream_pool *pool;
	struct pipe_pool *pipes;	/* for tunnels */
	struct buf_pool bufs;
	struct access_log alog;
	struct http_hdr *hdrs;		/* scratch for one head at a time */
	struct timer tick;		/* once a second: flush the access log */

	struct io wake;			/* eventfd: hand-offs and stop */
	pthread_mutex_t qlock;
	struct handoff *queue;
	uint32_t qhead, qlen, qcap;
	atomic_int stopping;

	struct session *sessions;	/* live, for shutdown */
	struct session *dead;		/* closed this batch, freed after it */
	uint32_t nsessions;
	struct worker_stats stats;
};

/* Prepare worker id (loop, resolver, pools); 0, or -1 with err filled. */
int worker_init(struct worker *w, int id, const struct config *cfg, int access_fd, char *err,
		size_t errlen);
int worker_start(struct worker *w);
/* Ask the worker to stop and wait for its thread; then free its state. */
void worker_stop(struct worker *w);
void worker_destroy(struct worker *w);

/* From the acceptor thread: give fd to the worker.  Returns 0, or -1 (the
 * caller closes fd) when the queue cannot grow. */
int worker_hand_off(struct worker *w, int fd, const union sockaddr_any *peer, enum listen_kind kind);

/* All client connections of all workers (the acceptor's limit). */
extern atomic_int worker_connections;

#endif
