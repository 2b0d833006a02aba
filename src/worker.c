/* worker: one reactor thread (include/sluice/worker.h), its connection
 * lists and count, and the hand-off queue from the acceptor. */
#include "sluice/worker.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sluice/admin.h"
#include "sluice/auth.h"
#include "sluice/client_limit.h"
#include "sluice/session.h"

#define PIPES_IDLE_MAX 32 /* per worker: idle pipes count against the user's pipe quota too */

/* Accepted and not yet closed, all workers together: incremented by the
 * acceptor's hand-off, decremented by the worker that closes. */
static atomic_int connections;

/* Set by main before any thread starts (worker_limits_set), then only read. */
static struct worker_limits limits = {
	.nofile = LONG_MAX,
	.fd_budget = INT_MAX,
	.max_connections = INT_MAX,
	.pipe_fds_max = INT_MAX,
	.pipe_memory = PIPE_MEMORY_DEFAULT,
};
static struct worker *all_workers;
static int nall_workers;

/* A graceful stop: set once by main (worker_drain_begin); the worker that
 * closes the last connection then writes drain_fd. */
static atomic_int draining;
static int drain_fd = -1;
static uint32_t tick_ms = 1000;

/* Set by the acceptor while descriptors are short (worker_fds_reclaim),
 * cleared by worker_fds_relax; workers read it between batches. */
static atomic_int fds_short;

int worker_connection_count(void)
{
	return atomic_load_explicit(&connections, memory_order_relaxed);
}

/* One connection fewer (closed, or never started). */
static void connection_gone(void)
{
	if (atomic_fetch_sub(&connections, 1) == 1 && atomic_load(&draining)) {
		uint64_t one = 1;
		ssize_t r = write(drain_fd, &one, sizeof(one));
		(void)r;
	}
}

int worker_draining(void)
{
	return atomic_load_explicit(&draining, memory_order_relaxed);
}

void worker_set_tick(uint32_t ms)
{
	tick_ms = ms;
}

uint32_t worker_tick(void)
{
	return tick_ms;
}

struct worker *worker_all(int *n)
{
	*n = nall_workers;
	return all_workers;
}

void worker_conn_add(struct worker *w, struct worker_conn *c, const struct worker_conn_ops *ops)
{
	c->ops = ops;
	c->prev = NULL;
	c->next = w->live;
	if (w->live)
		w->live->prev = c;
	w->live = c;
	stat_inc(&w->nconns);
	stat_inc(&w->stats.accepted);
}

void worker_conn_closed(struct worker *w, struct worker_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
	stat_sub(&w->nconns, 1);
	connection_gone();
}

/* Free the connections closed during the last batch of events. */
static void reap(struct worker *w)
{
	while (w->dead) {
		struct worker_conn *c = w->dead;
		w->dead = c->next;
		c->ops->free(c);
	}
}

/* A newer snapshot was published: new sessions start on it; sessions
 * running keep the one they hold. */
void worker_refresh_config(struct worker *w)
{
	unsigned gen = config_generation();
	if (gen == w->cfg_gen)
		return;
	const struct config *c = config_acquire();
	if (c == NULL)
		return;
	config_unref(w->cfg);
	w->cfg = c;
	w->cfg_gen = gen;
}

static void on_tick(struct timer *t)
{
	struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, tick));
	access_log_flush(&w->alog);
	/* how late the tick ran: how long the loop was kept from turning */
	uint64_t now = loop_now(w->loop), late = now - t->deadline;
	if (late > w->lag_window_max)
		w->lag_window_max = late;
	if (++w->lag_ticks == 10 || w->lag_window_max > stat_get(&w->m.loop_lag_ms)) {
		stat_set(&w->m.loop_lag_ms, w->lag_window_max);
		if (w->lag_ticks == 10)
			w->lag_window_max = w->lag_ticks = 0;
	}
	timer_set(w->loop, &w->tick, now + tick_ms);
}

/* The stop began: every connection hears of it once; the ones started
 * later see worker_draining() at their request. */
static void drain(struct worker *w)
{
	w->drained = 1;
	struct worker_conn *c = w->live;
	while (c) {
		struct worker_conn *next = c->next; /* drain may close c */
		c->ops->drain(c);
		c = next;
	}
}

/* The acceptor finds descriptors short: close what this worker holds
 * idle, as many as it asked for.  Idle pipes go first (a new one costs two
 * system calls), then pooled upstream connections, the longest idle first
 * (a new one costs a handshake).  While short, no idle pipe is kept.
 * Called between batches and on a wake-up: two relaxed loads when there is
 * nothing to do. */
static void give_back_fds(struct worker *w)
{
	int now_short = atomic_load_explicit(&fds_short, memory_order_relaxed);
	uint32_t freed = 0;
	if (now_short != w->fds_short) {
		w->fds_short = now_short;
		freed = pipe_pool_keep(w->pipes, now_short ? 0 : PIPES_IDLE_MAX);
	}
	if (atomic_load_explicit(&w->reclaim, memory_order_relaxed) == 0)
		return;
	int want = atomic_exchange_explicit(&w->reclaim, 0, memory_order_relaxed);
	if (want <= (int)freed)
		return;
	uint32_t n = upstream_pool_evict(w->pool, (uint32_t)want - freed);
	stat_add(&w->stats.evicted, n);
	log_debug("worker %d: descriptors short: closed %u idle pipe fds and %u idle upstream connections", w->id,
		  freed, n);
}

/* The pipe pool's gate.  Pipes are optional (a burst without one is
 * copied), so a worker opens one only while its pipes stay within their
 * share of the fd budget and the acceptor is not short of descriptors. */
static int may_open_pipe(void *arg, int n)
{
	struct worker *w = arg;
	if (atomic_load_explicit(&fds_short, memory_order_relaxed))
		return 0;
	return pipe_pool_fds(w->pipes) + (uint64_t)n <= (uint64_t)limits.pipe_fds_max;
}

/* Take what the acceptor queued.  The lock is held only to copy the queue. */
static void on_wake(struct io *io, uint32_t events)
{
	struct worker *w = (struct worker *)((char *)io - offsetof(struct worker, wake));
	uint64_t v;
	while (read(w->wake.fd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	give_back_fds(w);
	for (;;) {
		struct handoff batch[64];
		uint32_t n = 0;
		pthread_mutex_lock(&w->qlock);
		while (w->qlen > 0 && n < 64) {
			batch[n++] = w->queue[w->qhead];
			w->qhead = (w->qhead + 1) % w->qcap;
			w->qlen--;
		}
		/* messages from other threads, in the order they were posted */
		struct worker_msg *m = w->msgs;
		w->msgs = NULL;
		w->msgs_tail = &w->msgs;
		pthread_mutex_unlock(&w->qlock);
		while (m) {
			struct worker_msg *next = m->next;
			m->run(w, m);
			m = next;
		}
		uint64_t now = n ? loop_clock_us() : 0, waited = 0;
		for (uint32_t i = 0; i < n; i++)
			waited += now > batch[i].accepted_us ? now - batch[i].accepted_us : 0;
		stat_add(&w->stats.handoffs, n);
		stat_add(&w->stats.handoff_us, waited);
		for (uint32_t i = 0; i < n; i++)
			if ((batch[i].kind == LISTEN_ADMIN ? admin_start(w, &batch[i]) : session_start(w, &batch[i])) == -1) {
				if (handoff_holds_slot(&batch[i]))
					client_limit_give(&batch[i].peer);
				connection_gone();
			}
		if (n < 64)
			break;
	}
}

int worker_init(struct worker *w, int id, const struct config *cfg, int access_fd, char *err,
		size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->cfg_gen = config_generation();
	w->cfg = config_ref(cfg);
	w->wake.fd = -1;
	pthread_mutex_init(&w->qlock, NULL);
	w->msgs_tail = &w->msgs;
	w->loop = loop_new();
	if (w->loop == NULL) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	w->dns = dns_new(w->loop, cfg, err, errlen);
	if (w->dns == NULL)
		goto fail;
	w->pool = upstream_pool_new(w->loop, cfg->upstream_pool_max, cfg->upstream_idle_timeout);
	/* room for any snapshot's max_headers, not only this one's: sessions
	 * started on a newer snapshot parse into the same array (24 KiB) */
	w->hdrs = calloc(CONFIG_MAX_HEADERS_LIMIT, sizeof(*w->hdrs));
	/* Idle pooled pipes still count against an unprivileged user's pipe
	 * quota (fs.pipe-user-pages-soft, 64 MiB by default): keep few. */
	w->pipes = pipe_pool_new(PIPES_IDLE_MAX);
	if (w->pipes) {
		pipe_pool_set_budget(w->pipes, limits.pipe_memory, limits.pipe_largest);
		pipe_pool_set_gate(w->pipes, may_open_pipe, w);
	}
	w->qcap = 1024;
	w->queue = calloc(w->qcap, sizeof(*w->queue));
	int admin = 0;
	for (int i = 0; i < cfg->nlisten; i++)
		admin |= cfg->listen[i].kind == LISTEN_ADMIN;
	/* the top talkers cost memory and a count per exchange: only when a
	 * page can show them (an admin listener added by a reload finds none
	 * until a restart) */
	if (admin && (w->top = top_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (cfg->auth_basic[0] && (w->auth_cache = auth_cache_new(cfg->auth_cache_size)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (w->pool == NULL || w->hdrs == NULL || w->queue == NULL || w->pipes == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	buf_pool_init(&w->bufs, cfg->buffer_size, 4096);
	buf_pool_limit(&w->bufs, cfg->worker_buffers_max);
	access_log_init(&w->alog, access_fd, cfg->access_format);
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->wake.cb = on_wake;
	if (w->wake.fd == -1 || loop_add(w->loop, &w->wake, EPOLLIN, 0) == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	w->tick.cb = on_tick;
	timer_set(w->loop, &w->tick, loop_now(w->loop) + tick_ms);
	stat_set(&w->turned, loop_now(w->loop));
	return 0;
fail:
	worker_destroy(w);
	return -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	snprintf(name, sizeof(name), "sluice-w%d", w->id);
	pthread_setname_np(pthread_self(), name);
	while (!atomic_load_explicit(&w->stopping, memory_order_acquire)) {
		if (loop_run_once(w->loop, -1) == -1) {
			log_err("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		stat_set(&w->turned, loop_now(w->loop));
		reap(w);
		give_back_fds(w);
		upstream_reap(w->pool);
		worker_refresh_config(w);
		if (w->top)
			top_serve(w->top);
		if (!w->drained && atomic_load_explicit(&draining, memory_order_relaxed))
			drain(w);
	}
	while (w->live)
		w->live->ops->abort(w->live);
	reap(w);
	access_log_flush(&w->alog);
	return NULL;
}

int worker_start(struct worker *w)
{
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	if (r != 0) {
		errno = r;
		return -1;
	}
	return 0;
}

static void wake(struct worker *w)
{
	uint64_t one = 1;
	while (write(w->wake.fd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

void worker_stop(struct worker *w)
{
	atomic_store_explicit(&w->stopping, 1, memory_order_release);
	wake(w);
	pthread_join(w->thread, NULL);
}

void worker_destroy(struct worker *w)
{
	/* messages posted after the loop ended: their owners are gone, and
	 * running them frees what they carry */
	while (w->msgs) {
		struct worker_msg *m = w->msgs;
		w->msgs = m->next;
		m->run(w, m);
	}
	w->msgs_tail = &w->msgs;
	/* sockets still queued were never started: close them */
	while (w->qlen > 0) {
		close(w->queue[w->qhead].fd);
		if (handoff_holds_slot(&w->queue[w->qhead]))
			client_limit_give(&w->queue[w->qhead].peer);
		connection_gone();
		w->qhead = (w->qhead + 1) % w->qcap;
		w->qlen--;
	}
	if (w->pool)
		upstream_pool_free(w->pool);
	w->pool = NULL;
	pipe_pool_free(w->pipes);
	w->pipes = NULL;
	if (w->dns)
		dns_free(w->dns);
	w->dns = NULL;
	if (w->wake.fd != -1)
		close(w->wake.fd);
	w->wake.fd = -1;
	buf_pool_drain(&w->bufs);
	session_worker_done(w);
	loop_free(w->loop);
	w->loop = NULL;
	free(w->hdrs);
	w->hdrs = NULL;
	auth_cache_free(w->auth_cache);
	w->auth_cache = NULL;
	top_free(w->top);
	w->top = NULL;
	free(w->queue);
	w->queue = NULL;
	pthread_mutex_destroy(&w->qlock);
	config_unref(w->cfg);
	w->cfg = NULL;
}

void worker_nudge_all(void)
{
	for (int i = 0; i < nall_workers; i++)
		wake(&all_workers[i]);
}

void worker_drain_begin(int notify_fd)
{
	drain_fd = notify_fd;
	atomic_store(&draining, 1);
	worker_nudge_all();
	/* after the flag: a close from now on sees it, one before it left
	 * a count this load sees */
	if (atomic_load(&connections) == 0) {
		uint64_t one = 1;
		ssize_t r = write(drain_fd, &one, sizeof(one));
		(void)r;
	}
}

void worker_post(struct worker *w, struct worker_msg *m)
{
	m->next = NULL;
	pthread_mutex_lock(&w->qlock);
	/* as for hand-offs: a list that was not empty has a wake-up coming */
	int was_empty = w->msgs == NULL && w->qlen == 0;
	*w->msgs_tail = m;
	w->msgs_tail = &m->next;
	pthread_mutex_unlock(&w->qlock);
	if (was_empty)
		wake(w);
}

int worker_hand_off(struct worker *w, const struct handoff *hs, int n)
{
	pthread_mutex_lock(&w->qlock);
	/* The worker drains the whole queue per wake-up, under this lock: a
	 * queue that was not empty has a wake-up coming already. */
	int was_empty = w->qlen == 0, taken = 0;
	for (; taken < n; taken++) {
		if (w->qlen == w->qcap) {
			uint32_t cap = w->qcap * 2;
			struct handoff *q = malloc(cap * sizeof(*q));
			if (q == NULL)
				break;
			for (uint32_t i = 0; i < w->qlen; i++)
				q[i] = w->queue[(w->qhead + i) % w->qcap];
			free(w->queue);
			w->queue = q;
			w->qhead = 0;
			w->qcap = cap;
		}
		w->queue[(w->qhead + w->qlen++) % w->qcap] = hs[taken];
	}
	atomic_fetch_add_explicit(&connections, taken, memory_order_relaxed);
	pthread_mutex_unlock(&w->qlock);
	if (was_empty && taken > 0)
		wake(w);
	return taken;
}

/* --- descriptors and pipe memory ---------------------------------------------- */

/* Descriptors outside the budget:
 *   stdin, stdout, stderr                                          3
 *   the error and access logs, and one each while reopening        4
 *   each listener                                                  nlisten
 *   the acceptor's epoll and stop eventfd                          2
 *   each worker: its epoll and wake eventfd                        2
 *     c-ares: a UDP and a TCP socket per DNS server                2 x nresolvers
 *     dns.c's routability probe, /etc/hosts while c-ares reads it  2
 *   slack: sd_notify's socket, the config file, /proc reads        8
 * A pinned login connection kept while its client asks elsewhere
 * (route.c) is the one case of two server sockets per client: the slack
 * covers a few. */
int worker_fd_reserve(int nlisten, int nworkers, int nresolvers)
{
	return 3 + 4 + nlisten + 2 + nworkers * (2 + 2 * nresolvers + 2) + 8;
}

int worker_max_connections(int configured, int fd_budget)
{
	int fit = fd_budget / 2;
	return configured < fit ? configured : fit;
}

int worker_limits_plan(const struct config *cfg, int nworkers, long nofile, struct worker_limits *lim,
		       char *err, size_t errlen)
{
	memset(lim, 0, sizeof(*lim));
	/* the resolver list, or resolv.conf's (glibc reads at most 3) */
	int nres = 3;
	if (cfg->resolver[0]) {
		nres = 1;
		for (const char *p = cfg->resolver; *p; p++)
			nres += *p == ',';
	}
	lim->nofile = nofile;
	lim->fd_reserve = worker_fd_reserve(cfg->nlisten, nworkers, nres);
	long budget = nofile - lim->fd_reserve;
	if (budget < 2) {
		snprintf(err, errlen,
			 "RLIMIT_NOFILE %ld is too low: %d descriptors are set aside (listeners, logs, and the "
			 "epoll, eventfd and DNS sockets of %d workers) and a connection needs 2 more",
			 nofile, lim->fd_reserve, nworkers);
		return -1;
	}
	lim->fd_budget = budget > INT_MAX ? INT_MAX : (int)budget;
	lim->max_connections = worker_max_connections(cfg->max_connections, lim->fd_budget);
	if (lim->max_connections < cfg->max_connections)
		log_warn("max_connections %d lowered to %d: RLIMIT_NOFILE %ld leaves %d descriptors after %d set "
			 "aside, and each connection may hold a client and a server socket",
			 cfg->max_connections, lim->max_connections, nofile, lim->fd_budget, lim->fd_reserve);
	lim->pipe_fds_max = lim->fd_budget / 4 / nworkers;

	struct pipe_quota q;
	pipe_quota_probe(&q);
	int lowered;
	lim->pipe_memory = pipe_budget_per_worker(cfg->tunnel_pipe_memory, nworkers, &q, &lowered);
	lim->pipe_largest = q.privileged ? 0 : q.max_size;
	if (lowered)
		log_warn("tunnel_pipe_memory %u KiB lowered to %llu KiB per worker: without CAP_SYS_RESOURCE the "
			 "user's pipe quota (fs.pipe-user-pages-soft, %llu pages) is shared by %d workers",
			 cfg->tunnel_pipe_memory >> 10, (unsigned long long)(lim->pipe_memory >> 10),
			 (unsigned long long)q.user_pages, nworkers);
	log_info("descriptors: %d for connections and pipes (RLIMIT_NOFILE %ld, %d set aside); tunnel pipes: "
		 "%llu KiB per worker",
		 lim->fd_budget, nofile, lim->fd_reserve, (unsigned long long)(lim->pipe_memory >> 10));
	return 0;
}

void worker_limits_set(struct worker *workers, int n, const struct worker_limits *lim)
{
	all_workers = workers;
	nall_workers = n;
	limits = *lim;
}

const struct worker_limits *worker_limits(void)
{
	return &limits;
}

int worker_fds_in_use(void)
{
	int64_t used = 2 * (int64_t)worker_connection_count();
	for (int i = 0; i < nall_workers; i++) {
		const struct worker *w = &all_workers[i];
		if (w->pool)
			used += (int64_t)upstream_pool_idle(w->pool);
		if (w->pipes)
			used += (int64_t)pipe_pool_fds(w->pipes);
	}
	return used > INT_MAX ? INT_MAX : (int)used;
}

int worker_fds_reclaim(int want)
{
	atomic_store_explicit(&fds_short, 1, memory_order_relaxed);
	int asked = 0;
	for (int i = 0; i < nall_workers && asked < want; i++) {
		struct worker *w = &all_workers[i];
		if (w->pool == NULL || w->pipes == NULL)
			continue;
		int64_t idle = 2 * (int64_t)pipe_pool_idle(w->pipes) + (int64_t)upstream_pool_idle(w->pool);
		int ask = idle < want - asked ? (int)idle : want - asked;
		if (ask <= 0)
			continue;
		atomic_store_explicit(&w->reclaim, ask, memory_order_relaxed);
		wake(w);
		asked += ask;
	}
	return asked;
}

void worker_fds_relax(void)
{
	atomic_store_explicit(&fds_short, 0, memory_order_relaxed);
}
