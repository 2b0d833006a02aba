/* worker: one reactor thread.
 *
 * A worker owns its loop, its DNS resolver and cache, its upstream pool,
 * its pipe and buffer pools, its access-log buffer, its counters and the
 * connections it was handed; nothing on the request path is shared with
 * other workers, so nothing takes a lock.  The acceptor hands it sockets
 * through a small queue and an eventfd (worker_hand_off), the only thing
 * another thread touches.
 *
 * Connections (struct worker_conn, embedded in a session) are on the
 * worker's live list from start to close, then on its dead list until the
 * current batch of events is over, because a later event of the same batch
 * may still point at them; only this module touches those lists and the
 * connection count.
 *
 * Configuration: the worker holds a reference to a config snapshot and
 * looks for a newer one between events; sessions take their own reference
 * from it when they start (config.h).
 *
 * Descriptors: sluice keeps what it holds below RLIMIT_NOFILE.  A reserve
 * is set aside (worker_fd_reserve: listeners, epolls, eventfds, DNS
 * sockets, logs); the rest, the fd budget, is counted as
 *
 *     2 per client connection (itself, and room for its server connection)
 *   + idle pooled upstream connections      (upstream_pool_idle, per worker)
 *   + pipe descriptors, in use and idle     (pipe_pool_fds, per worker)
 *
 * from the connection count (one atomic) and the pools' counters (stats.h:
 * written by their worker, read by the acceptor).  max_connections is
 * lowered at start to fit; pipes take at most a quarter of the budget.
 * When the acceptor finds too little room for one more client, it asks the
 * workers to close idle pipes and idle pooled connections (the longest idle
 * first) and waits a moment, instead of running into EMFILE.
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
#include "sluice/metrics.h"
#include "sluice/top.h"
#include "sluice/stats.h"
#include "sluice/tunnel.h"
#include "sluice/upstream.h"

/* Written by the worker's thread only; readable from any (stats.h). */
struct worker_stats {
	stat_t accepted;
	stat_t handoffs;	/* sockets taken from the acceptor */
	stat_t handoff_us;	/* summed: accept4() to the session's start here */
	stat_t requests;	/* exchanges completed */
	stat_t errors;		/* local error responses */
	stat_t evicted;		/* idle upstream connections closed for descriptors */
	stat_t tunnels;		/* running now */
};

/* Limits fixed at start from RLIMIT_NOFILE and the config
 * (worker_limits_plan); the same for every worker. */
struct worker_limits {
	long nofile;		/* RLIMIT_NOFILE in force */
	int fd_reserve;		/* set aside: worker_fd_reserve */
	int fd_budget;		/* nofile - fd_reserve: clients, servers, pipes */
	int max_connections;	/* the config's, lowered to fit fd_budget */
	int pipe_fds_max;	/* per worker: a quarter of fd_budget shared out */
	uint64_t pipe_memory;	/* per worker: bytes of pipe capacity (tunnel.h) */
	uint32_t pipe_largest;	/* the largest pipe to ask for; 0: 1 MiB */
};

struct worker_conn;

struct worker_conn_ops {
	/* Close now (the worker is stopping); must end in worker_conn_closed. */
	void (*abort)(struct worker_conn *c);
	/* Free what is left, after the batch it was closed in. */
	void (*free)(struct worker_conn *c);
	/* sluice is stopping gracefully: close if idle, else end after the
	 * exchange in flight (tunnels run on until the stop's deadline). */
	void (*drain)(struct worker_conn *c);
};

/* A connection the worker tracks; embedded in its owner's object. */
struct worker_conn {
	struct worker_conn *next, *prev;
	const struct worker_conn_ops *ops;
};

struct worker;

/* Work another thread finished for this worker (an authentication
 * check): run on the worker's thread, which then owns m. */
struct worker_msg {
	struct worker_msg *next;
	void (*run)(struct worker *w, struct worker_msg *m);
};

/* An accepted connection on its way to a worker. */
struct handoff {
	int fd;
	enum listen_kind kind;
	uint16_t listener;		/* its listener's id (listen_cfg.id) */
	uint8_t proxy;			/* a PROXY protocol header comes first */
	union sockaddr_any peer;
	uint64_t accepted_us;		/* loop_clock_us() at accept4 (hand-off latency) */
};

/* The most sockets the acceptor hands one worker at once (one lock, one
 * wake-up for all of them). */
#define HANDOFF_BATCH 32

/* Does h's connection hold a max_connections_per_client slot from the
 * acceptor?  Not behind a load balancer (the PROXY header names the client:
 * the session takes it then), nor on the admin listener (not a client). */
static inline int handoff_holds_slot(const struct handoff *h)
{
	return !h->proxy && h->kind != LISTEN_ADMIN;
}

struct exchange;

struct worker {
	int id;
	pthread_t thread;
	const struct config *cfg;	/* the worker's reference: new sessions take theirs from it */
	unsigned cfg_gen;		/* config_generation() when cfg was taken */
	struct loop *loop;
	struct dns *dns;
	struct upstream_pool *pool;
	struct pipe_pool *pipes;	/* for tunnels */
	struct buf_pool bufs;
	uint64_t bufs_warned;		/* loop ms of the last "no buffer" warning */
	struct access_log alog;
	struct http_hdr *hdrs;		/* scratch for one head at a time, CONFIG_MAX_HEADERS_LIMIT */
	struct auth_cache *auth_cache;	/* answers to logins (auth_basic only) */
	struct exchange *xspare;	/* the session module's spare exchanges, */
	unsigned nxspare;		/* ... at most EXCHANGE_SPARE_MAX */
	struct top *top;		/* top talkers (with an admin listener only) */
	struct timer tick;		/* once a second: flush the access log */

	struct io wake;			/* eventfd: hand-offs and stop */
	pthread_mutex_t qlock;
	struct handoff *queue;
	uint32_t qhead, qlen, qcap;
	struct worker_msg *msgs, **msgs_tail; /* worker_post, under qlock */
	atomic_int stopping;

	stat_t turned;			/* loop_now() of the loop's last turn (watchdog) */
	int drained;			/* the drain walked the live list */

	struct worker_conn *live;	/* started and not closed */
	struct worker_conn *dead;	/* closed this batch, freed after it */
	stat_t nconns;			/* on the live list (readable from any thread) */
	struct worker_stats stats;
	struct worker_metrics m;		/* for the metrics endpoint (metrics.h) */
	uint64_t lag_window_max;		/* the tick's lateness: the most of this window, */
	unsigned lag_ticks;			/* ... and its ticks so far */

	atomic_int reclaim;		/* descriptors the acceptor asks us to close */
	int fds_short;			/* as last seen: no idle pipe kept, none opened */
};

/* Prepare worker id (loop, resolver, pools) with a reference to cfg, a
 * snapshot (config_new); 0, or -1 with err filled.  The pools and the
 * resolver are set up from cfg once: a newer snapshot picked up later
 * changes what sessions read from their own, not the buffer size, the pool
 * limits or the DNS servers. */
int worker_init(struct worker *w, int id, const struct config *cfg, int access_fd, char *err,
		size_t errlen);
int worker_start(struct worker *w);
/* Ask the worker to stop and wait for its thread; then free its state. */
void worker_stop(struct worker *w);
void worker_destroy(struct worker *w);

/* From any thread: have m->run(w, m) called on w's thread, soon.  Nothing
 * is refused; m belongs to the worker from now on (at a stop, messages not
 * run yet are run while the worker winds down). */
void worker_post(struct worker *w, struct worker_msg *m);

/* From the acceptor thread: give the worker hs[0..n) (n at most
 * HANDOFF_BATCH), waking it once; each counts as a connection from then
 * on.  Returns how many it took: those after (not counted) are the
 * caller's to close, when the queue cannot grow. */
int worker_hand_off(struct worker *w, const struct handoff *hs, int n);

/* Client connections of all workers, queued or started: the acceptor's
 * max_connections.  Any thread. */
int worker_connection_count(void);

/* On w's thread: take the newest config snapshot if one was published
 * (the worker also looks after every batch of events). */
void worker_refresh_config(struct worker *w);
/* From any thread: have every worker look for a newer snapshot now. */
void worker_nudge_all(void);

/* --- stopping gracefully and the watchdog ------------------------------------------- */

/* Main thread, once the acceptor stopped: every worker closes its idle
 * connections and lets the others end after their exchange in flight
 * (Connection: close); notify_fd (an eventfd) is written once when the
 * last connection is gone, at once if there is none. */
void worker_drain_begin(int notify_fd);
/* Is sluice stopping?  (New requests then get Connection: close.) */
int worker_draining(void);

/* Before worker_init: how often an idle worker's loop turns anyway (its
 * tick), so a loop that stopped turning tells a wedged worker (main.c's
 * watchdog reads worker.turned).  Default 1000 ms. */
void worker_set_tick(uint32_t ms);
uint32_t worker_tick(void);

/* Every worker (the metrics and health pages read their counters): the
 * array, and how many in *n. */
struct worker *worker_all(int *n);

/* --- descriptors and pipe memory ---------------------------------------------- */

/* Descriptors sluice holds outside the fd budget, for nlisten listeners,
 * nworkers workers and nresolvers DNS servers (worker.c itemises them). */
int worker_fd_reserve(int nlisten, int nworkers, int nresolvers);

/* The max_connections that fits fd_budget: the configured one, or less
 * (each client may hold a server connection too). */
int worker_max_connections(int configured, int fd_budget);

/* The limits for nworkers workers under cfg (a snapshot) with RLIMIT_NOFILE
 * nofile: the fd budget, max_connections, the pipe memory per worker (the
 * user's pipe quota probed from /proc).  A lowered max_connections or
 * tunnel_pipe_memory is logged as a warning.  0, or -1 with err filled when
 * nofile leaves no room for a connection. */
int worker_limits_plan(const struct config *cfg, int nworkers, long nofile, struct worker_limits *lim,
		       char *err, size_t errlen);

/* Before the first worker_init: lim holds for every worker, and the
 * acceptor counts descriptors over workers[0..n).  Without it, nothing is
 * limited but pipe memory (PIPE_MEMORY_DEFAULT). */
void worker_limits_set(struct worker *workers, int n, const struct worker_limits *lim);
const struct worker_limits *worker_limits(void);

/* Acceptor thread: the descriptors counted against the budget now. */
int worker_fds_in_use(void);

/* Acceptor thread: descriptors are short by want.  Asks the workers to
 * close as many idle ones (idle pipes, then idle pooled connections, the
 * longest idle first), and to keep and open no pipe until
 * worker_fds_relax.  Returns how many they were asked to close: 0 when
 * none are idle. */
int worker_fds_reclaim(int want);
void worker_fds_relax(void);

/* On the worker's thread: a connection started (on the live list) ... */
void worker_conn_add(struct worker *w, struct worker_conn *c, const struct worker_conn_ops *ops);
/* ... and closed: off the live list and the count; c->ops->free(c) runs
 * after the current batch of events. */
void worker_conn_closed(struct worker *w, struct worker_conn *c);

#endif
