#include "sluice/acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/client_limit.h"
#include "sluice/log.h"
#include "sluice/loop.h"

#define PAUSE_MS 100
#define RECLAIM_PAUSE_MS 5 /* the workers are closing idle descriptors: look again soon */
#define CTL CONFIG_MAX_LISTEN /* epoll data of the control eventfd */

/* One listening socket.  Kept across reloads while a listen line names
 * its address; its id tells sessions which line it is. */
struct listener {
	int fd;
	uint16_t id;
	enum listen_kind kind;
	uint8_t proxy;			/* proxy-protocol */
	uint8_t inherited;		/* passed by systemd */
	uint8_t opened;			/* opened by the plan under way */
	struct sockaddr_storage addr;	/* as the listen line says (the key) */
	socklen_t addrlen;
	union sockaddr_any bound;	/* as bound (the port port 0 became) */
};

struct acceptor {
	const struct config *cfg;
	struct listener ls[CONFIG_MAX_LISTEN];	/* the acceptor thread's, once started */
	int n;
	struct listener next[CONFIG_MAX_LISTEN]; /* acceptor_prepare's plan */
	int nnext;
	pthread_mutex_t lock;		/* swap and stop, between main and the thread */
	pthread_cond_t cond;
	int swap, stop;
	int epfd, ctlfd;
	pthread_t thread;
	int started;
	struct worker *workers;
	int nworkers, next_worker;
	int paused, pause_ms;
	int max_connections;	/* worker_limits(): the config's, lowered to fit */
	int fd_budget;		/* worker_limits(): descriptors for clients, servers, pipes */
	long nofile;
	int headroom;		/* room asked for beyond one client, so not every accept asks */
	int fds_short;		/* the workers were asked to close idle descriptors */
	uint64_t last_warn;	/* monotonic ms of the last "out of fds" warning */
	uint64_t last_short;	/* ... and of the last "descriptors short" note */
	uint64_t last_over;	/* ... and of the last "client over its limit" note */
	uint64_t over_refused;	/* connections refused that way since then */
	/* accepted, not handed off yet: each worker is given its share of a
	 * burst under one lock and woken once (flush) */
	struct pending {
		struct handoff h;
		int worker;
	} batch[HANDOFF_BATCH];
	int nbatch;
};

static struct acceptor_stats stats;

const struct acceptor_stats *acceptor_stats(void)
{
	return &stats;
}

static void watch_listeners(struct acceptor *a, int op);
static void swap_listeners(struct acceptor *a);

/* A client over max_connections_per_client: closed at once, noted at
 * most every 10 s (a host that keeps trying must not flood the log). */
static void refuse_over_limit(struct acceptor *a, int fd, const union sockaddr_any *peer)
{
	close(fd);
	stat_inc(&stats.refused_per_client);
	a->over_refused++;
	uint64_t now = loop_clock_ms();
	if (now - a->last_over < 10000)
		return;
	char addr[80];
	log_info("client %s: over max_connections_per_client %u: closed (%llu refused in the last %llu s)",
		 log_addr(&peer->sa, addr, sizeof(addr)), a->cfg->max_connections_per_client,
		 (unsigned long long)a->over_refused,
		 (unsigned long long)(a->last_over ? (now - a->last_over) / 1000 : 0));
	a->last_over = now;
	a->over_refused = 0;
}

/* --- listening sockets -------------------------------------------------------------- */

static int same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
		     socklen_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* A listener's id: unique among those open, never 0, so that a session
 * can find its listen line in whichever snapshot it holds. */
static uint16_t new_id(const struct acceptor *a)
{
	static uint16_t last;
	for (;;) {
		if (++last == 0)
			last = 1;
		int used = 0;
		for (int i = 0; i < a->n && !used; i++)
			used = a->ls[i].id == last;
		if (!used)
			return last;
	}
}

static void log_listening(const struct listener *l, const char *how)
{
	char text[80];
	log_info("listening on %s%s%s%s%s", log_addr(&l->bound.sa, text, sizeof(text)),
		 l->kind == LISTEN_FORWARD ? "" : " ", l->kind == LISTEN_FORWARD ? "" : config_listen_kind_name(l->kind),
		 l->proxy ? " proxy-protocol" : "", how);
}

/* Linux copies a listener's TCP_NODELAY into every socket it accepts
 * (the child is a clone of the listener): set once here, it costs no
 * system call per connection. */
static void no_delay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Every listener's client speaks first (HTTP, a TLS ClientHello, a PROXY
 * header): with TCP_DEFER_ACCEPT the kernel hands a connection over when
 * its first bytes are in, so the worker reads its request at the first
 * wake-up instead of waking again for it.  One that sends nothing is
 * handed over after a second anyway (the kernel's SYN-ACK retry), so
 * header_timeout still applies to it.  Set at every plan: a reload turns
 * it on or off on the listeners it keeps. */
static void defer_accept(int fd, int on)
{
	int secs = on ? 1 : 0;
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

static int open_listener(const struct listen_cfg *lc, struct listener *l, char *err, size_t errlen)
{
	int fd = socket(lc->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket() for %s: %s", lc->text, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	no_delay(fd);
	if (lc->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&lc->addr, lc->addrlen) == -1) {
		snprintf(err, errlen, "bind() to %s: %s", lc->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 4096) == -1) {
		snprintf(err, errlen, "listen() on %s: %s", lc->text, strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	/* Logged with the port the kernel chose, so "listen 127.0.0.1:0" works
	 * for tests that must not guess a free port. */
	socklen_t blen = sizeof(l->bound);
	if (getsockname(fd, &l->bound.sa, &blen) == -1)
		memcpy(&l->bound, &lc->addr, lc->addrlen);
	return 0;
}

/* The listener for line lc: one of have[0..nhave) bound to its address
 * (taken: marked used), else a new socket.  Fills lc's id and bound. */
static int take_listener(struct acceptor *a, struct listen_cfg *lc, struct listener *have, int nhave,
			 uint8_t *used, struct listener *l, char *err, size_t errlen)
{
	int found = -1;
	for (int i = 0; i < nhave && found == -1; i++)
		if (!used[i] && same_addr(&have[i].addr, have[i].addrlen, &lc->addr, lc->addrlen))
			found = i;
	if (found != -1) {
		used[found] = 1;
		*l = have[found];
		l->opened = 0;
	} else {
		memset(l, 0, sizeof(*l));
		if (open_listener(lc, l, err, errlen) == -1)
			return -1;
		l->id = new_id(a);
		l->opened = 1;
	}
	l->addr = lc->addr;
	l->addrlen = lc->addrlen;
	l->kind = lc->kind;
	l->proxy = lc->proxy_protocol;
	lc->id = l->id;
	memset(&lc->bound, 0, sizeof(lc->bound));
	memcpy(&lc->bound, &l->bound, sizeof(l->bound));
	return 0;
}

/* Sockets systemd passed (sd_listen_fds), as listeners keyed by the
 * address each is bound to; -1 naming any that is not a listening TCP
 * socket. */
static int adopt_inherited(const int *fds, int nfds, struct listener *out, char *err, size_t errlen)
{
	for (int i = 0; i < nfds; i++) {
		struct listener *l = &out[i];
		memset(l, 0, sizeof(*l));
		l->fd = fds[i];
		l->inherited = 1;
		int type = 0, acc = 0;
		socklen_t tl = sizeof(type), al = sizeof(acc);
		socklen_t blen = sizeof(l->bound);
		if (getsockopt(l->fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 || type != SOCK_STREAM ||
		    getsockopt(l->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1 || !acc ||
		    getsockname(l->fd, &l->bound.sa, &blen) == -1 ||
		    (l->bound.sa.sa_family != AF_INET && l->bound.sa.sa_family != AF_INET6)) {
			snprintf(err, errlen, "socket passed by systemd (fd %d) is not a listening TCP socket", l->fd);
			return -1;
		}
		memset(&l->addr, 0, sizeof(l->addr));
		memcpy(&l->addr, &l->bound, blen);
		l->addrlen = blen;
		int flags = fcntl(l->fd, F_GETFL);
		fcntl(l->fd, F_SETFL, flags | O_NONBLOCK);
		fcntl(l->fd, F_SETFD, FD_CLOEXEC);
		no_delay(l->fd);
	}
	return 0;
}

/* The listener set for cfg's listen lines, reusing have[] (sockets open
 * now, or passed by systemd) by address.  Sockets of have[] left unused
 * are the caller's.  On failure, what was opened here is closed. */
static int plan(struct acceptor *a, struct config *cfg, struct listener *have, int nhave, uint8_t *used,
		struct listener *out, char *err, size_t errlen)
{
	memset(used, 0, (size_t)nhave);
	for (int i = 0; i < cfg->nlisten; i++) {
		if (take_listener(a, &cfg->listen[i], have, nhave, used, &out[i], err, errlen) == 0) {
			defer_accept(out[i].fd, cfg->defer_accept);
			continue;
		}
		for (int j = 0; j < i; j++)
			if (out[j].opened)
				close(out[j].fd);
		return -1;
	}
	return 0;
}

struct acceptor *acceptor_new(struct config *cfg, const int *inherited, int ninherited, char *err, size_t errlen)
{
	struct acceptor *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->cfg = config_ref(cfg);
	a->epfd = a->ctlfd = -1;
	struct listener have[CONFIG_MAX_LISTEN];
	uint8_t used[CONFIG_MAX_LISTEN];
	if (ninherited > CONFIG_MAX_LISTEN) {
		snprintf(err, errlen, "systemd passed %d sockets: at most %d listeners", ninherited, CONFIG_MAX_LISTEN);
		goto fail;
	}
	if (adopt_inherited(inherited, ninherited, have, err, errlen) == -1)
		goto fail;
	for (int i = 0; i < ninherited; i++)
		have[i].id = new_id(a);
	if (plan(a, cfg, have, ninherited, used, a->ls, err, errlen) == -1)
		goto fail;
	a->n = cfg->nlisten;
	for (int i = 0; i < ninherited; i++) {
		if (used[i])
			continue;
		char text[80];
		snprintf(err, errlen, "socket passed by systemd (fd %d, %s) matches no listen line", have[i].fd,
			 log_addr(&have[i].bound.sa, text, sizeof(text)));
		goto fail;
	}
	for (int i = 0; i < a->n; i++)
		log_listening(&a->ls[i], a->ls[i].inherited ? " (from systemd)" : "");
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->ctlfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->epfd == -1 || a->ctlfd == -1) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	/* data: the listener's slot; CTL for the control eventfd */
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = CTL };
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->ctlfd, &ev);
	watch_listeners(a, EPOLL_CTL_ADD);
	return a;
fail:
	acceptor_free(a);
	return NULL;
}

int acceptor_prepare(struct acceptor *a, struct config *cfg, char *err, size_t errlen)
{
	uint8_t used[CONFIG_MAX_LISTEN];
	if (plan(a, cfg, a->ls, a->n, used, a->next, err, errlen) == -1)
		return -1;
	/* systemd keeps its copy of a socket it passed: closed here, its
	 * clients would queue unanswered, and a later reload naming the
	 * address again could not bind it */
	for (int i = 0; i < a->n; i++) {
		if (used[i] || !a->ls[i].inherited)
			continue;
		char text[80];
		snprintf(err, errlen,
			 "%s was passed by systemd (the socket unit): a reload cannot remove its listen line; change "
			 "the socket unit and restart",
			 log_addr(&a->ls[i].bound.sa, text, sizeof(text)));
		for (int j = 0; j < cfg->nlisten; j++)
			if (a->next[j].opened)
				close(a->next[j].fd);
		return -1;
	}
	a->nnext = cfg->nlisten;
	for (int i = 0; i < a->nnext; i++)
		if (a->next[i].opened)
			log_listening(&a->next[i], " (added by the reload)");
	return 0;
}

/* Raise *flag (swap or stop) for the accept thread and wake it. */
static void tell_thread(struct acceptor *a, int *flag)
{
	pthread_mutex_lock(&a->lock);
	*flag = 1;
	pthread_mutex_unlock(&a->lock);
	uint64_t one = 1;
	ssize_t w = write(a->ctlfd, &one, sizeof(one));
	(void)w;
}

void acceptor_commit(struct acceptor *a)
{
	if (!a->started) {
		swap_listeners(a);
		return;
	}
	tell_thread(a, &a->swap);
	pthread_mutex_lock(&a->lock);
	while (a->swap)
		pthread_cond_wait(&a->cond, &a->lock);
	pthread_mutex_unlock(&a->lock);
}

/* Watch (EPOLL_CTL_ADD) or stop watching (EPOLL_CTL_DEL) the listeners,
 * unless paused: a pause has them out of the epoll already. */
static void watch_listeners(struct acceptor *a, int op)
{
	if (a->paused)
		return;
	for (int i = 0; i < a->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(a->epfd, op, a->ls[i].fd, &ev);
	}
}

static void set_paused(struct acceptor *a, int paused)
{
	if (a->paused == paused)
		return;
	if (paused)
		watch_listeners(a, EPOLL_CTL_DEL);
	a->paused = paused;
	if (!paused)
		watch_listeners(a, EPOLL_CTL_ADD);
}

/* Room in the fd budget for one more client and its server connection?
 * Returns 0 (accept), or how long to pause.  Short of room, the acceptor
 * asks the workers to close idle descriptors (idle pipes, then idle pooled
 * upstream connections, the longest idle first; headroom more than needed,
 * so that not every accept asks) and waits a moment for them, or PAUSE_MS
 * when nothing is idle.  Once there is headroom again, the workers may
 * keep and open pipes again. */
static int fd_room(struct acceptor *a)
{
	int used = worker_fds_in_use() + 2 * a->nbatch;
	if (used + 2 <= a->fd_budget) {
		if (a->fds_short && used + 2 + a->headroom <= a->fd_budget) {
			worker_fds_relax();
			a->fds_short = 0;
		}
		return 0;
	}
	a->fds_short = 1;
	int asked = worker_fds_reclaim(used + 2 + a->headroom - a->fd_budget);
	uint64_t now = loop_clock_ms();
	if (asked == 0 && now - a->last_warn >= 10000) {
		log_warn("out of descriptors: %d of the %d counted in use (RLIMIT_NOFILE %ld): pausing accept for %d "
			 "ms at a time",
			 used, a->fd_budget, a->nofile, PAUSE_MS);
		a->last_warn = now;
	} else if (asked && now - a->last_short >= 10000) {
		log_info("descriptors short (%d of %d in use): closing idle pipes and pooled upstream connections",
			 used, a->fd_budget);
		a->last_short = now;
	}
	return asked ? RECLAIM_PAUSE_MS : PAUSE_MS;
}

/* Hand each worker its share of the batch, at once; what a queue cannot
 * take is closed. */
static void flush(struct acceptor *a)
{
	for (int w = 0; w < a->nworkers && a->nbatch > 0; w++) {
		struct handoff hs[HANDOFF_BATCH];
		int k = 0;
		for (int i = 0; i < a->nbatch; i++)
			if (a->batch[i].worker == w)
				hs[k++] = a->batch[i].h;
		if (k == 0)
			continue;
		for (int i = worker_hand_off(&a->workers[w], hs, k); i < k; i++) {
			close(hs[i].fd);
			if (handoff_holds_slot(&hs[i]))
				client_limit_give(&hs[i].peer);
		}
	}
	a->nbatch = 0;
}

/* An accepted socket for the next worker (closed when over its client's
 * limit), handed off with the rest of its burst. */
static void hand_off(struct acceptor *a, const struct listener *l, int fd, const union sockaddr_any *peer)
{
	struct handoff h = { .fd = fd, .kind = l->kind, .listener = l->id, .proxy = l->proxy, .peer = *peer,
			     .accepted_us = loop_clock_us() };
	if (handoff_holds_slot(&h) && !client_limit_take(peer)) {
		refuse_over_limit(a, fd, peer);
		return;
	}
	a->batch[a->nbatch].h = h;
	a->batch[a->nbatch++].worker = a->next_worker;
	a->next_worker = (a->next_worker + 1) % a->nworkers;
	if (a->nbatch == HANDOFF_BATCH)
		flush(a);
}

/* Accept until the backlog is empty (at most max at a time).  Returns how
 * long to pause, 0 for not at all.  Unlimited: a listener about to close
 * hands off what the kernel completed for it whatever the limits say
 * (closing would reset them); only running out of descriptors stops it. */
static int accept_burst(struct acceptor *a, uint32_t idx, int max, int unlimited)
{
	const struct listener *l = &a->ls[idx];
	for (int i = 0; i < max; i++) {
		int pause;
		if (!unlimited && worker_connection_count() + a->nbatch >= a->max_connections) {
			log_debug("at max_connections (%d): pausing accept", a->max_connections);
			stat_inc(&stats.paused_connections);
			return PAUSE_MS;
		}
		if (!unlimited && (pause = fd_room(a)) != 0) {
			stat_inc(&stats.paused_fds);
			return pause;
		}
		union sockaddr_any peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(l->fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* once per episode, not every PAUSE_MS (EMFILE: the
				 * limit was lowered under us, or the count missed some) */
				stat_inc(&stats.paused_errors);
				uint64_t now = loop_clock_ms();
				if (now - a->last_warn >= 10000) {
					log_warn("accept4(): %s: pausing accept for %d ms at a time", strerror(errno),
						 PAUSE_MS);
					a->last_warn = now;
				}
				return PAUSE_MS;
			}
			log_err("accept4(): %s", strerror(errno));
			return PAUSE_MS;
		}
		hand_off(a, l, fd, &peer);
	}
	return 0;
}

static int accept_some(struct acceptor *a, uint32_t idx, int max, int unlimited)
{
	int pause = accept_burst(a, idx, max, unlimited);
	flush(a);
	return pause;
}

/* On the acceptor thread: put acceptor_prepare's plan in place.  A
 * listener the new lines no longer name is closed, after the connections
 * already in its backlog were accepted and handed off. */
static void swap_listeners(struct acceptor *a)
{
	if (a->started)
		watch_listeners(a, EPOLL_CTL_DEL);
	for (int i = 0; i < a->n; i++) {
		int kept = 0;
		for (int j = 0; j < a->nnext && !kept; j++)
			kept = a->next[j].fd == a->ls[i].fd;
		if (kept)
			continue;
		if (a->started)
			accept_some(a, (uint32_t)i, 4096, 1); /* listen()'s backlog */
		char text[80];
		log_info("closed listener %s (removed by the reload)", log_addr(&a->ls[i].bound.sa, text, sizeof(text)));
		close(a->ls[i].fd);
	}
	memcpy(a->ls, a->next, sizeof(a->ls[0]) * (size_t)a->nnext);
	a->n = a->nnext;
	for (int i = 0; i < a->n; i++)
		a->ls[i].opened = 0;
	a->nnext = 0;
	if (a->started)
		watch_listeners(a, EPOLL_CTL_ADD);
}

/* The control eventfd: 1 to stop the thread. */
static int on_control(struct acceptor *a)
{
	uint64_t v;
	ssize_t r = read(a->ctlfd, &v, sizeof(v));
	(void)r;
	pthread_mutex_lock(&a->lock);
	int stop = a->stop;
	if (a->swap) {
		swap_listeners(a);
		a->swap = 0;
		pthread_cond_broadcast(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	return stop;
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	pthread_setname_np(pthread_self(), "sluice-accept");
	for (;;) {
		struct epoll_event ev[CONFIG_MAX_LISTEN + 1];
		/* while short of descriptors, look now and then even without a
		 * client, so that the workers may keep pipes again once there
		 * is room */
		int timeout = a->paused ? a->pause_ms : a->fds_short ? PAUSE_MS : -1;
		int n = epoll_wait(a->epfd, ev, CONFIG_MAX_LISTEN + 1, timeout);
		if (n == -1 && errno != EINTR) {
			log_err("acceptor: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		if (n <= 0) {
			set_paused(a, 0); /* the pause is over: try again */
			if (a->fds_short)
				fd_room(a);
			continue;
		}
		int pause = 0;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == CTL) {
				if (on_control(a))
					return NULL;
				/* the slots changed: the other events are stale */
				break;
			}
			int p = accept_some(a, ev[i].data.u32, 256, 0);
			if (p && (pause == 0 || p < pause))
				pause = p;
		}
		if (pause) {
			a->pause_ms = pause;
			set_paused(a, 1);
		}
	}
}

int acceptor_start(struct acceptor *a, struct worker *workers, int n)
{
	const struct worker_limits *lim = worker_limits();
	a->workers = workers;
	a->nworkers = n;
	a->max_connections = lim->max_connections < a->cfg->max_connections ? lim->max_connections
									    : a->cfg->max_connections;
	a->fd_budget = lim->fd_budget;
	a->nofile = lim->nofile;
	a->headroom = lim->fd_budget / 32;
	a->headroom = a->headroom < 2 ? 2 : a->headroom > 256 ? 256 : a->headroom;
	int r = pthread_create(&a->thread, NULL, acceptor_main, a);
	if (r != 0) {
		errno = r;
		return -1;
	}
	a->started = 1;
	return 0;
}

void acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		tell_thread(a, &a->stop);
		pthread_join(a->thread, NULL);
	}
	for (int i = 0; i < a->n; i++)
		close(a->ls[i].fd);
	if (a->epfd != -1)
		close(a->epfd);
	if (a->ctlfd != -1)
		close(a->ctlfd);
	config_unref(a->cfg);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}
