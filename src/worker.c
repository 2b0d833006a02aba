/* worker: one reactor thread (include/sluice/worker.h), its connection
 * lists and count, and the hand-off queue from the acceptor. */
#include "sluice/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sluice/session.h"

/* Accepted and not yet closed, all workers together: incremented by the
 * acceptor's hand-off, decremented by the worker that closes. */
static atomic_int connections;

int worker_connection_count(void)
{
	return atomic_load_explicit(&connections, memory_order_relaxed);
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
	atomic_fetch_sub_explicit(&connections, 1, memory_order_relaxed);
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
static void refresh_config(struct worker *w)
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
	timer_set(w->loop, &w->tick, loop_now(w->loop) + 1000);
}

/* Take what the acceptor queued.  The lock is held only to copy the queue. */
static void on_wake(struct io *io, uint32_t events)
{
	struct worker *w = (struct worker *)((char *)io - offsetof(struct worker, wake));
	uint64_t v;
	while (read(w->wake.fd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	for (;;) {
		struct handoff batch[64];
		uint32_t n = 0;
		pthread_mutex_lock(&w->qlock);
		while (w->qlen > 0 && n < 64) {
			batch[n++] = w->queue[w->qhead];
			w->qhead = (w->qhead + 1) % w->qcap;
			w->qlen--;
		}
		pthread_mutex_unlock(&w->qlock);
		for (uint32_t i = 0; i < n; i++)
			if (session_start(w, batch[i].fd, &batch[i].peer, batch[i].kind) == -1)
				atomic_fetch_sub_explicit(&connections, 1, memory_order_relaxed);
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
	w->pipes = pipe_pool_new(32);
	w->qcap = 1024;
	w->queue = calloc(w->qcap, sizeof(*w->queue));
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
	timer_set(w->loop, &w->tick, loop_now(w->loop) + 1000);
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
		reap(w);
		upstream_reap(w->pool);
		refresh_config(w);
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
	/* sockets still queued were never started: close them */
	while (w->qlen > 0) {
		close(w->queue[w->qhead].fd);
		atomic_fetch_sub_explicit(&connections, 1, memory_order_relaxed);
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
	loop_free(w->loop);
	w->loop = NULL;
	free(w->hdrs);
	w->hdrs = NULL;
	free(w->queue);
	w->queue = NULL;
	pthread_mutex_destroy(&w->qlock);
	config_unref(w->cfg);
	w->cfg = NULL;
}

int worker_hand_off(struct worker *w, int fd, const union sockaddr_any *peer, enum listen_kind kind)
{
	pthread_mutex_lock(&w->qlock);
	if (w->qlen == w->qcap) {
		uint32_t cap = w->qcap * 2;
		struct handoff *q = malloc(cap * sizeof(*q));
		if (q == NULL) {
			pthread_mutex_unlock(&w->qlock);
			return -1;
		}
		for (uint32_t i = 0; i < w->qlen; i++)
			q[i] = w->queue[(w->qhead + i) % w->qcap];
		free(w->queue);
		w->queue = q;
		w->qhead = 0;
		w->qcap = cap;
	}
	struct handoff *h = &w->queue[(w->qhead + w->qlen) % w->qcap];
	h->fd = fd;
	h->kind = kind;
	h->peer = *peer;
	/* The worker drains the whole queue per wake-up, under this lock: a
	 * queue that was not empty has a wake-up coming already. */
	int was_empty = w->qlen++ == 0;
	atomic_fetch_add_explicit(&connections, 1, memory_order_relaxed);
	pthread_mutex_unlock(&w->qlock);
	if (was_empty)
		wake(w);
	return 0;
}
