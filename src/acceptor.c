#include "sluice/acceptor.h"

#include <errno.h>
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
#define STOP CONFIG_MAX_LISTEN /* epoll data of the stop eventfd */

struct acceptor {
	const struct config *cfg;
	int fds[CONFIG_MAX_LISTEN];
	int n;
	int epfd, stopfd;
	pthread_t thread;
	int started;
	struct worker *workers;
	int nworkers, next;
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
};

/* A client over max_connections_per_client: closed at once, noted at
 * most every 10 s (a host that keeps trying must not flood the log). */
static void refuse_over_limit(struct acceptor *a, int fd, const union sockaddr_any *peer)
{
	close(fd);
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

/* Where the listeners are bound: written by acceptor_new, before any
 * worker starts, and only read after (the loop guard). */
static union sockaddr_any bound_addrs[CONFIG_MAX_LISTEN];
static int nbound;

int acceptor_bound(const union sockaddr_any **addrs)
{
	*addrs = bound_addrs;
	return nbound;
}

static int open_listener(const struct listen_cfg *l, union sockaddr_any *bound, char *err, size_t errlen)
{
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket() for %s: %s", l->text, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) == -1) {
		snprintf(err, errlen, "bind() to %s: %s", l->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, 4096) == -1) {
		snprintf(err, errlen, "listen() on %s: %s", l->text, strerror(errno));
		close(fd);
		return -1;
	}
	/* Logged with the port the kernel chose, so "listen 127.0.0.1:0" works
	 * for tests that must not guess a free port. */
	socklen_t blen = sizeof(*bound);
	char text[80];
	if (getsockname(fd, &bound->sa, &blen) == -1)
		memcpy(bound, &l->addr, l->addrlen);
	log_info("listening on %s%s%s", log_addr(&bound->sa, text, sizeof(text)), l->kind == LISTEN_FORWARD ? "" : " ",
		 l->kind == LISTEN_FORWARD ? "" : config_listen_kind_name(l->kind));
	return fd;
}

struct acceptor *acceptor_new(const struct config *cfg, char *err, size_t errlen)
{
	struct acceptor *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->cfg = config_ref(cfg);
	a->epfd = a->stopfd = -1;
	nbound = 0;
	for (int i = 0; i < cfg->nlisten; i++) {
		int fd = open_listener(&cfg->listen[i], &bound_addrs[i], err, errlen);
		if (fd == -1)
			goto fail;
		a->fds[a->n++] = fd;
		nbound = a->n;
	}
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->epfd == -1 || a->stopfd == -1) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	/* data: the listener's index, which names its kind; STOP for stopfd */
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = STOP };
	epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->stopfd, &ev);
	for (int i = 0; i < a->n; i++) {
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->fds[i], &ev);
	}
	return a;
fail:
	acceptor_free(a);
	return NULL;
}

static void set_paused(struct acceptor *a, int paused)
{
	if (a->paused == paused)
		return;
	a->paused = paused;
	for (int i = 0; i < a->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(a->epfd, paused ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, a->fds[i], &ev);
	}
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
	int used = worker_fds_in_use();
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

/* Accept until the backlog is empty.  Returns how long to pause, 0 for
 * not at all. */
static int accept_some(struct acceptor *a, uint32_t idx)
{
	int lfd = a->fds[idx];
	enum listen_kind kind = a->cfg->listen[idx].kind;
	for (int i = 0; i < 256; i++) {
		if (worker_connection_count() >= a->max_connections) {
			log_debug("at max_connections (%d): pausing accept", a->max_connections);
			return PAUSE_MS;
		}
		int pause = fd_room(a);
		if (pause)
			return pause;
		union sockaddr_any peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(lfd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* once per episode, not every PAUSE_MS (EMFILE: the
				 * limit was lowered under us, or the count missed some) */
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
		if (!client_limit_take(&peer)) {
			refuse_over_limit(a, fd, &peer);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct worker *w = &a->workers[a->next];
		a->next = (a->next + 1) % a->nworkers;
		if (worker_hand_off(w, fd, &peer, (int)idx, kind) == -1) {
			close(fd);
			client_limit_give(&peer);
		}
	}
	return 0;
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
			if (ev[i].data.u32 == STOP)
				return NULL;
			int p = accept_some(a, ev[i].data.u32);
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
		uint64_t one = 1;
		ssize_t w = write(a->stopfd, &one, sizeof(one));
		(void)w;
		pthread_join(a->thread, NULL);
	}
	for (int i = 0; i < a->n; i++)
		close(a->fds[i]);
	if (a->epfd != -1)
		close(a->epfd);
	if (a->stopfd != -1)
		close(a->stopfd);
	config_unref(a->cfg);
	free(a);
}
