#include "sluice/upstream.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
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
	uint8_t literal;		/* key's host is an address literal (addr itself) */
	char key[UPSTREAM_KEY_MAX];
};

/* An address as the failure table keys it: IPv4 in the first 4 bytes of
 * ip.  No padding: keys compare with memcmp. */
struct fail_key {
	uint8_t ip[16];
	uint16_t port;			/* network order, as in the sockaddr */
	uint16_t family;
};

struct fail_slot {
	struct fail_key key;
	uint32_t hold;			/* ms the latest mark lasts; 0: a free slot */
	uint64_t last;			/* ms of the latest failure */
	uint64_t until;			/* marked (tried last) until then */
};

/* Set-associative: an address can only sit in the set its hash picks, so
 * finding it is a few compares, and the table never grows. */
struct upstream_fails {
	uint32_t count;			/* slots in use */
	struct fail_slot set[UPSTREAM_FAILS_SETS][UPSTREAM_FAILS_WAYS];
};

#define TURNS 256 /* power of two */

struct upstream_pool {
	struct loop *loop;
	uint32_t max_idle, idle_timeout;
	stat_t nidle;
	struct upstream *bucket[POOL_BUCKETS];	/* idle, per key, newest first */
	struct upstream lru;			/* sentinel: idle, newest first */
	struct upstream *dead;			/* closed, waiting for reap */
	struct upstream_fails fails;		/* addresses that failed lately */
	/* upstream_order's round-robin: a counter per destination, picked by
	 * the hash of its first address (a name's answer keeps its order
	 * while cached), so that two names asked for in turn do not each
	 * always land on the same address; names sharing a counter only
	 * make it turn faster */
	uint32_t turn[TURNS];
};

/* --- addresses that failed lately ---------------------------------------------- */

static void fail_key_of(const union sockaddr_any *a, struct fail_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = a->sa.sa_family;
	if (a->sa.sa_family == AF_INET6) {
		memcpy(k->ip, &a->in6.sin6_addr, sizeof(a->in6.sin6_addr));
		k->port = a->in6.sin6_port;
	} else {
		memcpy(k->ip, &a->in.sin_addr, sizeof(a->in.sin_addr));
		k->port = a->in.sin_port;
	}
}

static struct fail_slot *fail_set(const struct upstream_fails *f, const struct fail_key *k)
{
	return (struct fail_slot *)f->set[hash_bytes(k, sizeof(*k)) & (UPSTREAM_FAILS_SETS - 1)];
}

static struct fail_slot *fail_find(const struct upstream_fails *f, const struct fail_key *k)
{
	struct fail_slot *set = fail_set(f, k);
	for (int i = 0; i < UPSTREAM_FAILS_WAYS; i++)
		if (set[i].hold && memcmp(&set[i].key, k, sizeof(*k)) == 0)
			return &set[i];
	return NULL;
}

struct upstream_fails *upstream_fails_new(void)
{
	return calloc(1, sizeof(struct upstream_fails));
}

void upstream_fails_free(struct upstream_fails *f)
{
	free(f);
}

void upstream_fails_add(struct upstream_fails *f, const union sockaddr_any *a, uint64_t now)
{
	struct fail_key k;
	fail_key_of(a, &k);
	struct fail_slot *e = fail_find(f, &k);
	if (e == NULL) {
		/* a free slot, else the one that failed longest ago */
		struct fail_slot *set = fail_set(f, &k);
		e = &set[0];
		for (int i = 0; i < UPSTREAM_FAILS_WAYS; i++) {
			if (set[i].hold == 0) {
				e = &set[i];
				break;
			}
			if (set[i].last < e->last)
				e = &set[i];
		}
		if (e->hold == 0)
			f->count++;
		e->key = k;
		e->hold = UPSTREAM_FAIL_HOLD_MS;
	} else if (now >= e->until) {
		/* Its mark had ended.  Failing again soon after (the first
		 * tries once it ended) means it is still down: hold it longer.
		 * Long after, it is a new outage.  A failure while still marked
		 * changes nothing but the mark's end: the connects of one outage
		 * that were already under way, or every address was marked. */
		if (now - e->until < e->hold)
			e->hold = e->hold >= UPSTREAM_FAIL_HOLD_MAX_MS / 2 ? UPSTREAM_FAIL_HOLD_MAX_MS : e->hold * 2;
		else
			e->hold = UPSTREAM_FAIL_HOLD_MS;
	}
	e->last = now;
	e->until = now + e->hold;
}

void upstream_fails_clear(struct upstream_fails *f, const union sockaddr_any *a)
{
	if (f->count == 0)
		return;
	struct fail_key k;
	fail_key_of(a, &k);
	struct fail_slot *e = fail_find(f, &k);
	if (e == NULL)
		return;
	memset(e, 0, sizeof(*e));
	f->count--;
}

int upstream_fails_marked(const struct upstream_fails *f, const union sockaddr_any *a, uint64_t now,
			  uint64_t *last)
{
	if (f->count == 0)
		return 0;
	struct fail_key k;
	fail_key_of(a, &k);
	const struct fail_slot *e = fail_find(f, &k);
	if (e == NULL || now >= e->until)
		return 0;
	if (last)
		*last = e->last;
	return 1;
}

uint32_t upstream_fails_count(const struct upstream_fails *f)
{
	return f->count;
}

void upstream_fails_order(const struct upstream_fails *f, union sockaddr_any *addrs, int n, uint32_t turn,
			  uint64_t now)
{
	union sockaddr_any fam[2][DNS_MAX_ADDRS], bad[DNS_MAX_ADDRS];
	uint64_t bad_last[DNS_MAX_ADDRS];
	uint8_t pattern[DNS_MAX_ADDRS]; /* the family of each healthy place, as the resolver had it */
	uint32_t nfam[2] = { 0, 0 }, used[2] = { 0, 0 };
	int healthy = 0, nbad = 0;
	if (n > DNS_MAX_ADDRS)
		n = DNS_MAX_ADDRS;
	for (int i = 0; i < n; i++) {
		uint64_t last;
		if (upstream_fails_marked(f, &addrs[i], now, &last)) {
			/* oldest failure first (the likeliest to be back), ties in
			 * the resolver's order */
			int j = nbad++;
			for (; j > 0 && bad_last[j - 1] > last; j--) {
				bad[j] = bad[j - 1];
				bad_last[j] = bad_last[j - 1];
			}
			bad[j] = addrs[i];
			bad_last[j] = last;
			continue;
		}
		int k = addrs[i].sa.sa_family == AF_INET6;
		pattern[healthy++] = (uint8_t)k;
		fam[k][nfam[k]++] = addrs[i];
	}
	for (int i = 0; i < healthy; i++) {
		int k = pattern[i];
		addrs[i] = fam[k][(turn + used[k]++) % nfam[k]];
	}
	memcpy(addrs + healthy, bad, sizeof(*bad) * (size_t)nbad);
}

/* Whether a connect error says something of the address, so that later
 * requests should try others first, rather than of this host (out of
 * descriptors, memory or local ports). */
static int address_fault(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
	case ECONNRESET:
	case ECONNABORTED:
	case EACCES: /* a firewall rule for this destination */
	case EPERM:
		return 1;
	default:
		return 0;
	}
}

static void note_failure(struct upstream_pool *p, const union sockaddr_any *addr, int err)
{
	if (address_fault(err))
		upstream_fails_add(&p->fails, addr, loop_now(p->loop));
}

void upstream_order(struct upstream_pool *p, union sockaddr_any *addrs, int n)
{
	if (n < 2)
		return;
	struct fail_key k;
	fail_key_of(&addrs[0], &k);
	uint32_t turn = p->turn[hash_bytes(&k, sizeof(k)) & (TURNS - 1)]++;
	upstream_fails_order(&p->fails, addrs, n, turn, loop_now(p->loop));
}

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

void upstream_cut(struct upstream *u)
{
	int queued = 0;
	if (u->io.fd >= 0 && ioctl(u->io.fd, SIOCOUTQ, &queued) == 0 && queued > 0) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(u->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	upstream_close(u);
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

uint32_t upstream_pool_evict(struct upstream_pool *p, uint32_t n)
{
	uint32_t closed = 0;
	while (closed < n && p->lru.lru_prev != &p->lru) {
		upstream_close(p->lru.lru_prev); /* the oldest idle one */
		closed++;
	}
	return closed;
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

/* Whether "host:port" names an address literal (IPv6 without brackets). */
static int key_is_literal(const char *key)
{
	const char *colon = strrchr(key, ':');
	size_t len = colon ? (size_t)(colon - key) : strlen(key);
	char host[INET6_ADDRSTRLEN];
	struct in6_addr a;
	if (len == 0 || len >= sizeof(host))
		return 0;
	memcpy(host, key, len);
	host[len] = '\0';
	return inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
}

/* The key as the pool keeps it: lower case, cut to fit. */
static void set_key(struct upstream *u, const char *key)
{
	size_t klen = strlen(key);
	if (klen >= sizeof(u->key))
		klen = sizeof(u->key) - 1;
	for (size_t i = 0; i < klen; i++)
		u->key[i] = (char)tolower((unsigned char)key[i]);
	u->key[klen] = '\0';
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
		note_failure(p, addr, e);
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
	set_key(u, key);
	u->hash = hash_name(u->key);
	u->literal = key_is_literal(u->key);
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
		note_failure(u->pool, &u->addr, err);
		errno = err;
		return -1;
	}
	upstream_fails_clear(&u->pool->fails, &u->addr);
	return 0;
}

void upstream_connect_timed_out(struct upstream *u)
{
	note_failure(u->pool, &u->addr, ETIMEDOUT);
}

/* Whether a's address (not its port) is one of addrs.  Out of line: a
 * literal's requests (no addrs) should not pay for setting its loop up. */
__attribute__((noinline)) static int among(const union sockaddr_any *a, const union sockaddr_any *addrs, int n)
{
	for (int i = 0; i < n; i++) {
		if (addrs[i].sa.sa_family != a->sa.sa_family)
			continue;
		if (a->sa.sa_family == AF_INET ? addrs[i].in.sin_addr.s_addr == a->in.sin_addr.s_addr
					       : memcmp(&addrs[i].in6.sin6_addr, &a->in6.sin6_addr,
							sizeof(a->in6.sin6_addr)) == 0)
			return 1;
	}
	return 0;
}

struct upstream *upstream_take(struct upstream_pool *p, const char *key, const union sockaddr_any *addrs, int n,
			       upstream_cb cb, void *owner)
{
	uint32_t h = hash_name(key);
	struct upstream *u = p->bucket[h & (POOL_BUCKETS - 1)];
	while (u) {
		struct upstream *next = u->next;
		if (u->hash == h && strcasecmp(u->key, key) == 0) {
			if (addrs == NULL && !u->literal)
				return NULL; /* a name's: the caller asks again with its answer */
			if (addrs && !among(&u->addr, addrs, n)) {
				/* DNS moved the name away from this address (a
				 * server being drained, say): nothing more for it */
				log_debug("upstream %s: idle connection to an address the name no longer has, closed",
					  u->key);
				upstream_close(u);
				u = next;
				continue;
			}
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

int upstream_pin(struct upstream *u, const char *key, int drained, upstream_cb idle_cb, void *owner)
{
	if (idle_ok(u, drained) == -1)
		return -1;
	if (key) { /* (not in the pool: no chain to move it in) */
		set_key(u, key);
		u->hash = hash_name(u->key);
		u->literal = key_is_literal(u->key);
	}
	u->cb = idle_cb;
	u->owner = owner;
	return 0;
}

int upstream_key_is(const struct upstream *u, const char *key)
{
	return strcasecmp(u->key, key) == 0;
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
