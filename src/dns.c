#include "sluice/dns.h"

#include <ares.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/hash.h"
#include "sluice/log.h"

/* --- the cache ------------------------------------------------------------------- */

struct dns_entry {
	struct dns_entry *hnext;		/* hash chain */
	struct dns_entry *lru_prev, *lru_next;	/* most recent at the head */
	uint64_t expires;			/* ms; pending entries: 0 */
	enum dns_status status;
	int naddrs;
	union sockaddr_any addrs[DNS_MAX_ADDRS];
	struct dns_waiter waiters;		/* list head; pending entries only */
	uint32_t hash;
	char name[DNS_NAME_MAX + 1];
};

struct dns_cache {
	struct dns_entry **table;
	uint32_t mask;
	uint32_t count, max;
	struct dns_entry lru;			/* sentinel */
};

struct dns_cache *dns_cache_new(uint32_t max_entries)
{
	struct dns_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	uint32_t size = 16;
	while (size < max_entries * 2 && size < (1u << 24))
		size <<= 1;
	c->table = calloc(size, sizeof(*c->table));
	if (c->table == NULL) {
		free(c);
		return NULL;
	}
	c->mask = size - 1;
	c->max = max_entries ? max_entries : 1;
	c->lru.lru_next = c->lru.lru_prev = &c->lru;
	return c;
}

static void lru_unlink(struct dns_entry *e)
{
	e->lru_prev->lru_next = e->lru_next;
	e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push(struct dns_cache *c, struct dns_entry *e)
{
	e->lru_next = c->lru.lru_next;
	e->lru_prev = &c->lru;
	c->lru.lru_next->lru_prev = e;
	c->lru.lru_next = e;
}

static void entry_remove(struct dns_cache *c, struct dns_entry *e)
{
	struct dns_entry **pp = &c->table[e->hash & c->mask];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	c->count--;
	free(e);
}

void dns_cache_free(struct dns_cache *c)
{
	if (c == NULL)
		return;
	while (c->lru.lru_next != &c->lru)
		entry_remove(c, c->lru.lru_next);
	free(c->table);
	free(c);
}

static struct dns_entry *find(struct dns_cache *c, const char *name, uint32_t h)
{
	for (struct dns_entry *e = c->table[h & c->mask]; e; e = e->hnext)
		if (e->hash == h && strcasecmp(e->name, name) == 0)
			return e;
	return NULL;
}

struct dns_entry *dns_cache_get(struct dns_cache *c, const char *name, uint64_t now_ms)
{
	struct dns_entry *e = find(c, name, hash_name(name));
	if (e == NULL)
		return NULL;
	if (e->status != DNS_PENDING && e->expires <= now_ms) {
		entry_remove(c, e);
		return NULL;
	}
	lru_unlink(e);
	lru_push(c, e);
	return e;
}

struct dns_entry *dns_cache_add_pending(struct dns_cache *c, const char *name, uint64_t now_ms)
{
	if (strlen(name) > DNS_NAME_MAX)
		return NULL;
	uint32_t h = hash_name(name);
	struct dns_entry *old = find(c, name, h);
	if (old) {
		if (old->status == DNS_PENDING)
			return NULL;
		entry_remove(c, old);
	}
	/* Make room: drop the least recently used finished entry. */
	if (c->count >= c->max) {
		struct dns_entry *victim = c->lru.lru_prev;
		while (victim != &c->lru && victim->status == DNS_PENDING)
			victim = victim->lru_prev;
		if (victim == &c->lru)
			return NULL;
		entry_remove(c, victim);
	}
	struct dns_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->hash = h;
	e->status = DNS_PENDING;
	e->waiters.next = e->waiters.prev = &e->waiters;
	e->hnext = c->table[h & c->mask];
	c->table[h & c->mask] = e;
	lru_push(c, e);
	c->count++;
	(void)now_ms;
	return e;
}

void dns_cache_complete(struct dns_cache *c, struct dns_entry *e, enum dns_status st,
			const union sockaddr_any *addrs, int naddrs, uint32_t ttl_s, uint64_t now_ms)
{
	(void)c;
	e->status = st;
	e->naddrs = naddrs > DNS_MAX_ADDRS ? DNS_MAX_ADDRS : naddrs;
	if (e->naddrs > 0)
		memcpy(e->addrs, addrs, sizeof(*addrs) * (size_t)e->naddrs);
	e->expires = now_ms + (uint64_t)ttl_s * 1000;
}

enum dns_status dns_entry_status(const struct dns_entry *e)
{
	return e->status;
}

int dns_entry_addrs(const struct dns_entry *e, const union sockaddr_any **addrs)
{
	*addrs = e->addrs;
	return e->naddrs;
}

uint32_t dns_cache_count(const struct dns_cache *c)
{
	return c->count;
}

/* --- c-ares in the worker's loop --------------------------------------------- */

#define MAX_ARES_SOCKS 16

struct ares_sock {
	struct io io;		/* first: the loop hands us &io */
	struct dns *d;
	int watched;
};

struct dns {
	struct loop *loop;
	uint32_t max_ttl, negative_ttl;	/* seconds, from the config at start */
	ares_channel channel;
	struct dns_cache *cache;
	struct timer timer;	/* c-ares' own retransmit/timeout clock */
	struct ares_sock socks[MAX_ARES_SOCKS];
	struct dns_stats stats;
	int in_resolve;		/* inside ares_getaddrinfo(): answers are returned, not called back */
};

static void rearm(struct dns *d)
{
	struct timeval tv;
	if (ares_timeout(d->channel, NULL, &tv) == NULL) {
		timer_cancel(d->loop, &d->timer);
		return;
	}
	uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)(tv.tv_usec + 999) / 1000;
	timer_set(d->loop, &d->timer, loop_clock_ms() + ms);
}

static void on_sock(struct io *io, uint32_t events)
{
	struct ares_sock *s = (struct ares_sock *)io;
	struct dns *d = s->d;
	int fd = io->fd;
	ares_process_fd(d->channel, (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? fd : ARES_SOCKET_BAD,
			(events & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
	rearm(d);
}

static void on_timer(struct timer *t)
{
	struct dns *d = (struct dns *)((char *)t - offsetof(struct dns, timer));
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(d);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct ares_sock *s = NULL, *free_slot = NULL;
	for (int i = 0; i < MAX_ARES_SOCKS; i++) {
		if (d->socks[i].watched && d->socks[i].io.fd == fd)
			s = &d->socks[i];
		else if (!d->socks[i].watched && free_slot == NULL)
			free_slot = &d->socks[i];
	}
	uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	if (s == NULL && ev == 0)
		return;
	if (s == NULL) {
		if (free_slot == NULL) {
			log_err("dns: more than %d resolver sockets", MAX_ARES_SOCKS);
			return;
		}
		s = free_slot;
		s->io.fd = fd;
		s->io.cb = on_sock;
		s->d = d;
		if (loop_add(d->loop, &s->io, ev, 0) == -1) {
			log_err("dns: epoll_ctl(ADD) of resolver socket: %s", strerror(errno));
			return;
		}
		s->watched = 1;
	} else if (ev == 0) {
		loop_del(d->loop, &s->io);
		s->watched = 0;
	} else {
		loop_mod(d->loop, &s->io, ev, 0);
	}
}

struct dns *dns_new(struct loop *l, const struct config *cfg, char *err, size_t errlen)
{
	struct dns *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = l;
	d->max_ttl = cfg->dns_cache_max_ttl;
	d->negative_ttl = cfg->dns_negative_ttl;
	d->timer.cb = on_timer;
	d->cache = dns_cache_new(cfg->dns_cache_size);
	if (d->cache == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	/* c-ares doubles its per-try timeout on each retry: three tries of
	 * t, 2t and 4t end a silent lookup at 7t = dns_timeout. */
	opts.tries = 3;
	opts.timeout = (int)(cfg->dns_timeout / 7 > 50 ? cfg->dns_timeout / 7 : 50);
	/* Proxied names are used as given: the box's own search domains
	 * (resolv.conf, LOCALDOMAIN) must not turn "intranet" into
	 * "intranet.corp.example" behind the client's back. */
	opts.flags = ARES_FLAG_NOSEARCH;
	opts.domains = NULL; /* getaddrinfo in 1.18 ignores NOSEARCH: an empty list */
	opts.ndomains = 0;
	opts.lookups = (char *)"fb"; /* /etc/hosts first, then DNS */
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = d;
	int r = ares_init_options(&d->channel, &opts,
				  ARES_OPT_FLAGS | ARES_OPT_DOMAINS | ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS | ARES_OPT_LOOKUPS |
					  ARES_OPT_SOCK_STATE_CB);
	if (r != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(r));
		goto fail;
	}
	if (cfg->resolver[0]) {
		r = ares_set_servers_ports_csv(d->channel, cfg->resolver);
		if (r != ARES_SUCCESS) {
			snprintf(err, errlen, "resolver %s: %s", cfg->resolver, ares_strerror(r));
			ares_destroy(d->channel);
			goto fail;
		}
	}
	return d;
fail:
	dns_cache_free(d->cache);
	free(d);
	return NULL;
}

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	/* ares_destroy runs pending callbacks with ARES_EDESTRUCTION: make sure
	 * they find no waiters to call. */
	ares_destroy(d->channel);
	timer_cancel(d->loop, &d->timer);
	dns_cache_free(d->cache);
	free(d);
}

struct query {
	struct dns *d;
	struct dns_entry *entry;
};

static enum dns_status status_of(int ares_status)
{
	switch (ares_status) {
	case ARES_SUCCESS: return DNS_OK;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME: return DNS_NOTFOUND;
	case ARES_ETIMEOUT: return DNS_TIMEOUT;
	default: return DNS_FAIL;
	}
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct query *q = arg;
	struct dns *d = q->d;
	struct dns_entry *e = q->entry;
	free(q);
	if (status == ARES_EDESTRUCTION) {
		ares_freeaddrinfo(res);
		return;
	}
	union sockaddr_any addrs[DNS_MAX_ADDRS];
	int n = 0;
	uint32_t ttl = d->max_ttl;
	enum dns_status st = status_of(status);
	if (st == DNS_OK && res) {
		for (struct ares_addrinfo_node *ai = res->nodes; ai && n < DNS_MAX_ADDRS; ai = ai->ai_next) {
			if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
				memcpy(&addrs[n].in, ai->ai_addr, sizeof(struct sockaddr_in));
			else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
				memcpy(&addrs[n].in6, ai->ai_addr, sizeof(struct sockaddr_in6));
			else
				continue;
			if (ai->ai_ttl >= 0 && (uint32_t)ai->ai_ttl < ttl)
				ttl = (uint32_t)ai->ai_ttl;
			n++;
		}
		if (n == 0)
			st = DNS_NOTFOUND;
	}
	ares_freeaddrinfo(res);
	if (st == DNS_NOTFOUND)
		ttl = d->negative_ttl;
	else if (st != DNS_OK)
		ttl = 0;
	log_debug("dns: %s -> %s (%d addresses, ttl %us, %d timeouts)", e->name,
		  st == DNS_OK ? "ok" : ares_strerror(status), n, ttl, timeouts);
	dns_cache_complete(d->cache, e, st, addrs, n, ttl, loop_clock_ms());
	if (d->in_resolve)
		return; /* answered from /etc/hosts inside dns_resolve(), which returns it */

	/* Each waiter is detached before its callback runs, so a callback may
	 * cancel or free anything, including other waiters. */
	while (e->waiters.next != &e->waiters) {
		struct dns_waiter *w = e->waiters.next;
		w->next->prev = w->prev;
		w->prev->next = w->next;
		w->next = w->prev = NULL;
		w->entry = NULL;
		w->cb(w->arg, st, e->addrs, e->naddrs);
	}
}

static void wait_on(struct dns_entry *e, struct dns_waiter *w)
{
	w->entry = e;
	w->next = &e->waiters;
	w->prev = e->waiters.prev;
	e->waiters.prev->next = w;
	e->waiters.prev = w;
}

enum dns_status dns_resolve(struct dns *d, const char *name, struct dns_waiter *w,
			    const union sockaddr_any **addrs, int *naddrs)
{
	uint64_t now = loop_clock_ms();
	struct dns_entry *e = dns_cache_get(d->cache, name, now);
	if (e && e->status != DNS_PENDING) {
		stat_inc(&d->stats.hits);
		*addrs = e->addrs;
		*naddrs = e->naddrs;
		return e->status;
	}
	if (e) {
		stat_inc(&d->stats.coalesced);
		wait_on(e, w);
		return DNS_PENDING;
	}
	e = dns_cache_add_pending(d->cache, name, now);
	if (e == NULL)
		return DNS_FAIL;
	struct query *q = malloc(sizeof(*q));
	if (q == NULL) {
		entry_remove(d->cache, e);
		return DNS_FAIL;
	}
	q->d = d;
	q->entry = e;
	wait_on(e, w);
	stat_inc(&d->stats.queries);
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	/* c-ares answers from /etc/hosts (or refuses a bad name) inside this
	 * call; such an answer is returned here rather than called back, so
	 * callers never see their callback run underneath them. */
	d->in_resolve = 1;
	ares_getaddrinfo(d->channel, name, NULL, &hints, on_answer, q);
	d->in_resolve = 0;
	rearm(d);
	if (e->status == DNS_PENDING)
		return DNS_PENDING;
	dns_cancel(d, w);
	*addrs = e->addrs;
	*naddrs = e->naddrs;
	return e->status;
}

void dns_cancel(struct dns *d, struct dns_waiter *w)
{
	(void)d;
	if (w->entry == NULL)
		return;
	w->next->prev = w->prev;
	w->prev->next = w->next;
	w->next = w->prev = NULL;
	w->entry = NULL;
}

const struct dns_stats *dns_stats(const struct dns *d)
{
	return &d->stats;
}
