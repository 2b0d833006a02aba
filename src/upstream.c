#include "sluice/upstream.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/hash.h"
#include "sluice/log.h"
#include "sluice/stats.h"

#define POOL_BUCKETS 1024 /* power of two */

struct upstream {
	struct io io;			/* first: the loop hands us &io */
	struct upstream_pool *pool;
	struct upstream *next, *prev;	/* key chain or LRU while pooled; dead list when closed */
	struct upstream *lru_next, *lru_prev;
	struct timer idle;		/* pooled: drop after upstream_idle_timeout */
	void *owner;			/* the session using it; NULL when pooled */
	upstream_cb cb;
	union sockaddr_any addr;
	uint32_t hash;
	uint32_t requests;		/* requests carried so far */
	char key[UPSTREAM_KEY_MAX];
};

struct upstream_pool {
	struct loop *loop;
	uint32_t max_idle, idle_timeout;
	stat_t nidle;
	struct upstream *bucket[POOL_BUCKETS];	/* idle, per key, newest first */
	struct upstream lru;			/* sentinel: idle, newest first */
	struct upstream *dead;			/* closed, waiting for reap */
};

struct upstream_pool *upstream_pool_new(struct loop *l, uint32_t max_idle, uint32_t idle_timeout_ms)
{
	struct upstream_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->loop = l;
	p->max_idle = max_idle;
	p->idle_timeout = idle_timeout_ms;
	p->lru.lru_next = p->lru.lru_prev = &p->lru;
	return p;
}

uint64_t upstream_pool_idle(const struct upstream_pool *p)
{
	return stat_get(&p->nidle);
}

int upstream_fd(const struct upstream *u)
{
	return u->io.fd;
}

const union sockaddr_any *upstream_peer(const struct upstream *u)
{
	return &u->addr;
}

/* Take u out of the idle structures (it must be idle). */
static void unpool(struct upstream *u)
{
	struct upstream_pool *p = u->pool;
	if (u->prev)
		u->prev->next = u->next;
	else
		p->bucket[u->hash & (POOL_BUCKETS - 1)] = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->next = u->prev = NULL;
	u->lru_prev->lru_next = u->lru_next;
	u->lru_next->lru_prev = u->lru_prev;
	u->lru_next = u->lru_prev = NULL;
	timer_cancel(p->loop, &u->idle);
	stat_sub(&p->nidle, 1);
}

void upstream_close(struct upstream *u)
{
	struct upstream_pool *p = u->pool;
	if (u->io.fd < 0)
		return;
	if (u->owner == NULL && u->lru_next)
		unpool(u);
	loop_del(p->loop, &u->io);
	close(u->io.fd);
	u->io.fd = -1; /* the loop skips events still queued for it */
	u->owner = NULL;
	u->next = p->dead;
	p->dead = u;
}

void upstream_reap(struct upstream_pool *p)
{
	while (p->dead) {
		struct upstream *u = p->dead;
		p->dead = u->next;
		free(u);
	}
}

void upstream_pool_free(struct upstream_pool *p)
{
	if (p == NULL)
		return;
	while (p->lru.lru_next != &p->lru)
		upstream_close(p->lru.lru_next);
	upstream_reap(p);
	free(p);
}

static void on_event(struct io *io, uint32_t events)
{
	struct upstream *u = (struct upstream *)io;
	if (u->owner) {
		u->cb(u->owner, events);
		return;
	}
	/* Idle: any byte or EOF means the origin is done with this connection;
	 * a late "writable" edge means nothing. */
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	log_debug("upstream %s: idle connection closed by origin", u->key);
	upstream_close(u);
}

static void on_idle_timeout(struct timer *t)
{
	struct upstream *u = (struct upstream *)((char *)t - offsetof(struct upstream, idle));
	upstream_close(u);
}

struct upstream *upstream_connect(struct upstream_pool *p, const union sockaddr_any *addr,
				  const char *key, upstream_cb cb, void *owner)
{
	int fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd == -1)
		return NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	socklen_t len = addr->sa.sa_family == AF_INET6 ? sizeof(addr->in6) : sizeof(addr->in);
	if (connect(fd, &addr->sa, len) == -1 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	struct upstream *u = calloc(1, sizeof(*u));
	if (u == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	u->io.fd = fd;
	u->io.cb = on_event;
	u->pool = p;
	u->idle.cb = on_idle_timeout;
	u->owner = owner;
	u->cb = cb;
	u->addr = *addr;
	size_t klen = strlen(key);
	if (klen >= sizeof(u->key))
		klen = sizeof(u->key) - 1;
	for (size_t i = 0; i < klen; i++)
		u->key[i] = (char)tolower((unsigned char)key[i]);
	u->hash = hash_name(u->key);
	if (loop_add(p->loop, &u->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 1) == -1) {
		int e = errno;
		close(fd);
		free(u);
		errno = e;
		return NULL;
	}
	return u;
}

int upstream_connect_result(struct upstream *u)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(u->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

struct upstream *upstream_take(struct upstream_pool *p, const char *key, upstream_cb cb, void *owner)
{
	uint32_t h = hash_name(key);
	struct upstream *u = p->bucket[h & (POOL_BUCKETS - 1)];
	while (u) {
		struct upstream *next = u->next;
		if (u->hash == h && strcasecmp(u->key, key) == 0) {
			/* Bytes or a FIN on an idle connection (an origin's late
			 * 408, say) would be taken for the next response.  Each
			 * arrival raises an edge, and on_event closes the connection
			 * for it; upstream_release made sure nothing was left unread
			 * before.  So only an edge still queued in this very batch
			 * can hide one, and that costs no system call to see. */
			if (!loop_pending(p->loop, &u->io, EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				unpool(u);
				u->owner = owner;
				u->cb = cb;
				return u;
			}
			upstream_close(u);
		}
		u = next;
	}
	return NULL;
}

/* After a complete response: nothing may wait on the socket, or it would
 * be read as the next response.  drained: the owner's last read found it
 * empty; else one recv(MSG_PEEK) asks.  0, or -1 with u closed. */
static int idle_ok(struct upstream *u, int drained)
{
	u->requests++;
	if (!drained) {
		char c;
		ssize_t n = recv(u->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n != -1 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			upstream_close(u);
			return -1;
		}
	}
	return 0;
}

int upstream_pin(struct upstream *u, int drained, upstream_cb idle_cb, void *owner)
{
	if (idle_ok(u, drained) == -1)
		return -1;
	u->cb = idle_cb;
	u->owner = owner;
	return 0;
}

int upstream_unpin(struct upstream *u, const char *key, upstream_cb cb, void *owner)
{
	if (strcasecmp(u->key, key) != 0)
		return 1;
	if (u->io.fd < 0 || loop_pending(u->pool->loop, &u->io, EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		return -1;
	u->cb = cb;
	u->owner = owner;
	return 0;
}

void upstream_release(struct upstream *u, int drained)
{
	struct upstream_pool *p = u->pool;
	if (idle_ok(u, drained) == -1)
		return;
	if (p->max_idle == 0) {
		upstream_close(u);
		return;
	}
	if (stat_get(&p->nidle) >= p->max_idle)
		upstream_close(p->lru.lru_prev); /* the oldest idle one makes room */
	u->owner = NULL;
	struct upstream **head = &p->bucket[u->hash & (POOL_BUCKETS - 1)];
	u->prev = NULL;
	u->next = *head;
	if (*head)
		(*head)->prev = u;
	*head = u;
	u->lru_next = p->lru.lru_next;
	u->lru_prev = &p->lru;
	p->lru.lru_next->lru_prev = u;
	p->lru.lru_next = u;
	stat_inc(&p->nidle);
	timer_set(p->loop, &u->idle, loop_now(p->loop) + p->idle_timeout);
}
