/* dns: c-ares in the worker's loop, and the TTL cache (see dns.h for the
 * flow and the bounds).
 *
 * A lookup asks for each family with its own ares_getaddrinfo: c-ares
 * 1.18's AF_UNSPEC waits for both answers, so a lost AAAA would hold back
 * an A answer that came at once until the last retry.  Each family:
 *
 *   idle ──start──> running ──on_answer──> done (status, addresses, expiry)
 *                      └──ECANCELLED (reclaim)──> idle, sent again while waited for
 *
 * /etc/hosts has a channel of its own ("files" only), which c-ares answers
 * inside ares_getaddrinfo; the DNS channel never reads it.
 *
 * Waiters are called back only from the lookup's own timer
 * (on_lookup_timer), never from inside c-ares: on_answer only records a
 * family's result and sets that timer to now.  Lookups are freed there, by
 * reclaim (from dns_resolve) or by dns_free, never inside c-ares either.
 * So we never re-enter c-ares from its callbacks (ares_cancel there would
 * free the query being answered), and a waiter's callback may call
 * anything here.  Before the first callback runs, the answer is copied,
 * the lookup is retired or freed and the waiters are moved to a list on
 * the stack: nothing a callback does can leave us holding a freed lookup
 * or entry.
 */
#include "dns_int.h"

#include <ares.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/log.h"

/* c-ares reads a record's 32-bit TTL into an int, so one of 2^31 or more
 * arrives negative; RFC 2181 (section 8) says to treat it as 0. */
static uint32_t shorter_ttl(uint32_t ttl, int record_ttl)
{
	uint32_t t = record_ttl < 0 ? 0 : (uint32_t)record_ttl;
	return t < ttl ? t : ttl;
}

uint32_t dns_answer_ttl(const struct ares_addrinfo *ai, uint32_t max_ttl)
{
	uint32_t ttl = max_ttl;
	if (ai == NULL)
		return 0;
	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next)
		ttl = shorter_ttl(ttl, n->ai_ttl);
	/* the chain that led to the addresses expires with its first link */
	for (const struct ares_addrinfo_cname *cn = ai->cnames; cn; cn = cn->next)
		ttl = shorter_ttl(ttl, cn->ttl);
	return ttl;
}

/* Below this, a try is cut short more often than a server is lost. */
#define TRY_MIN_MS 100

void dns_try_timeouts(uint32_t budget_ms, int nservers, int *tries, int *timeout_ms)
{
	if (nservers < 1)
		nservers = 1;
	for (int t = 3; t >= 1; t--) {
		uint64_t per = budget_ms / ((uint64_t)nservers * ((1u << t) - 1));
		if (per >= TRY_MIN_MS || t == 1) {
			*tries = t;
			*timeout_ms = per == 0 ? 1 : per > INT_MAX ? INT_MAX : (int)per;
			return;
		}
	}
}

/* --- c-ares in the worker's loop --------------------------------------------- */

#define MAX_ARES_SOCKS 16	/* a UDP and a TCP socket for each of 8 servers (config.c's limit) */

struct ares_sock {
	struct io io;		/* first: the loop hands us &io */
	struct dns *d;
	int watched;
};

/* How long an /etc/hosts answer is kept. */
#define HOSTS_TTL_MS 5000

/* What the hosts channel found; filled inside ares_getaddrinfo. */
struct hosts_answer {
	int done, status, naddrs;
	union sockaddr_any addrs[DNS_MAX_ADDRS];
};

struct dns {
	struct loop *loop;
	uint32_t max_ttl, negative_ttl;	/* seconds, from the config at start */
	uint32_t timeout_ms;		/* dns_timeout: a lookup's whole budget */
	uint32_t max_lookups;
	ares_channel channel;		/* DNS only, one family per query */
	ares_channel hosts;		/* /etc/hosts only: answers inside the call */
	struct dns_cache *cache;
	struct timer timer;		/* c-ares' own retransmit/timeout clock */
	struct ares_sock socks[MAX_ARES_SOCKS];
	struct dns_stats stats;
	struct hosts_answer hosts_ans;
	uint64_t busy_logged, cancel_logged;	/* ms: one warning a second at most */
};

/* The token of one family's query, for on_answer. */
struct query {
	struct dns *d;
	struct dns_lookup *l;
	int f;
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
			s->io.fd = -1;
			return;
		}
		s->watched = 1;
	} else if (ev == 0) {
		loop_del(d->loop, &s->io);
		s->watched = 0;
		s->io.fd = -1; /* an event still queued for the closed socket is skipped */
	} else {
		loop_mod(d->loop, &s->io, ev, 0);
	}
}

/* The addresses of family (AF_UNSPEC: both) in res, in c-ares' order. */
static int collect(const struct ares_addrinfo *res, int family, union sockaddr_any *out)
{
	int n = 0;
	for (const struct ares_addrinfo_node *ai = res ? res->nodes : NULL; ai && n < DNS_MAX_ADDRS;
	     ai = ai->ai_next) {
		if (family != AF_UNSPEC && ai->ai_family != family)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
			memcpy(&out[n].in, ai->ai_addr, sizeof(struct sockaddr_in));
		else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
			memcpy(&out[n].in6, ai->ai_addr, sizeof(struct sockaddr_in6));
		else
			continue;
		n++;
	}
	return n;
}

/* Whether this host could send to a (RFC 6724's first rule, which c-ares
 * applies inside one family's answer): a UDP connect sends nothing, it
 * only picks a route and a source address. */
static int routable(const union sockaddr_any *a)
{
	union sockaddr_any to = *a;
	int fd = socket(to.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	to.in6.sin6_port = htons(9);
	int r = connect(fd, &to.sa, sizeof(to.in6));
	close(fd);
	return r == 0;
}

/* Settle l at `when` at the latest (never later than already set). */
static void wake(struct dns *d, struct dns_lookup *l, uint64_t when)
{
	if (!timer_armed(&l->timer) || when < l->timer.deadline)
		timer_set(d->loop, &l->timer, when);
}

/* One family's answer.  Called by c-ares: from ares_process_fd, or inside
 * ares_getaddrinfo, ares_cancel (reclaim) or ares_destroy (dns_free). */
static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct query *q = arg;
	struct dns *d = q->d;
	struct dns_lookup *l = q->l;
	struct family *fa = &l->fam[q->f];
	int family = q->f == F_V4 ? AF_INET : AF_INET6;
	free(q);
	fa->running = 0;
	if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
		/* reclaim() sends it again if anyone waits; dns_free() frees all */
		ares_freeaddrinfo(res);
		return;
	}
	uint64_t now = loop_now(d->loop);
	fa->done = 1;
	fa->status = status;
	fa->naddrs = 0;
	if (status == ARES_SUCCESS) {
		fa->naddrs = collect(res, family, fa->addrs);
		if (fa->naddrs == 0) {
			fa->status = ARES_ENODATA;
		} else {
			fa->expires = now + (uint64_t)dns_answer_ttl(res, d->max_ttl) * 1000;
			if (family == AF_INET)
				l->a_at = now;
			else
				fa->usable = routable(&fa->addrs[0]);
		}
	}
	ares_freeaddrinfo(res);
	fa->fresh = l->retired;
	log_debug("dns: %s %s: %s (%d addresses, %d timeouts)", l->name, family == AF_INET ? "A" : "AAAA",
		  fa->status == ARES_SUCCESS ? "ok" : ares_strerror(fa->status), fa->naddrs, timeouts);
	wake(d, l, now); /* settle from the loop, outside c-ares */
}

static void start(struct dns *d, struct dns_lookup *l, int f)
{
	struct family *fa = &l->fam[f];
	struct query *q = malloc(sizeof(*q));
	if (q == NULL) {
		fa->done = 1;
		fa->status = ARES_ENOMEM;
		fa->naddrs = 0;
		wake(d, l, loop_now(d->loop));
		return;
	}
	q->d = d;
	q->l = l;
	q->f = f;
	fa->running = 1;
	struct ares_addrinfo_hints hints = { .ai_family = f == F_V4 ? AF_INET : AF_INET6,
					     .ai_socktype = SOCK_STREAM };
	ares_getaddrinfo(d->channel, l->name, NULL, &hints, on_answer, q);
}

static int running(const struct dns_lookup *l)
{
	return l->fam[F_V6].running || l->fam[F_V4].running;
}

/* Both families' addresses and when the first of them expires.  They are
 * interleaved from IPv6 (RFC 8305, section 4), as c-ares' sort of both
 * families together put IPv6 first; but when this host has no route to
 * IPv6, the IPv6 addresses come after all the IPv4 ones, as it put them. */
static int merge(const struct dns_lookup *l, union sockaddr_any *out, uint64_t *expires)
{
	const struct family *a = &l->fam[F_V6], *b = &l->fam[F_V4];
	int na = a->done && a->status == ARES_SUCCESS ? a->naddrs : 0;
	int nb = b->done && b->status == ARES_SUCCESS ? b->naddrs : 0;
	int n = 0;
	*expires = UINT64_MAX;
	if (na)
		*expires = a->expires;
	if (nb && b->expires < *expires)
		*expires = b->expires;
	if (na && !a->usable) {
		const struct family *t = a;
		int nt = na;
		a = b, na = nb;
		b = t, nb = nt;
		for (int i = 0; i < na && n < DNS_MAX_ADDRS; i++)
			out[n++] = a->addrs[i];
		for (int i = 0; i < nb && n < DNS_MAX_ADDRS; i++)
			out[n++] = b->addrs[i];
		return n;
	}
	for (int i = 0; n < DNS_MAX_ADDRS && (i < na || i < nb); i++) {
		if (i < na)
			out[n++] = a->addrs[i];
		if (i < nb && n < DNS_MAX_ADDRS)
			out[n++] = b->addrs[i];
	}
	return n;
}

/* Whether l has its answer at now: *st then; otherwise *next is when to
 * look again. */
static int decide(const struct dns *d, const struct dns_lookup *l, uint64_t now, enum dns_status *st,
		  uint64_t *next)
{
	int ok = 0, pending = 0, timedout = 0, failed = 0;
	for (int f = 0; f < NFAM; f++) {
		const struct family *fa = &l->fam[f];
		if (!fa->done)
			pending++;
		else if (fa->status == ARES_SUCCESS)
			ok++;
		else if (fa->status == ARES_ETIMEOUT)
			timedout++;
		else if (fa->status != ARES_ENOTFOUND && fa->status != ARES_ENODATA && fa->status != ARES_ENONAME)
			failed++;
	}
	uint64_t deadline = l->started + d->timeout_ms;
	if (ok) {
		/* An A answer waits a little for the AAAA, then goes alone.  An
		 * AAAA answer waits for the A as long as it takes: IPv4 works
		 * nearly everywhere, IPv6 alone may not work from here. */
		uint64_t late = l->a_at ? l->a_at + DNS_FAMILY_GRACE_MS : deadline;
		if (!pending || now >= late || now >= deadline) {
			*st = DNS_OK;
			return 1;
		}
		*next = late < deadline ? late : deadline;
		return 0;
	}
	if (!pending) {
		*st = timedout ? DNS_TIMEOUT : failed ? DNS_FAIL : DNS_NOTFOUND;
		return 1;
	}
	if (now >= deadline) {
		*st = DNS_TIMEOUT;
		return 1;
	}
	*next = deadline;
	return 0;
}

/* A family answered after l's answer went out: the cached answer gets it
 * (only in place of its own or in free room: nobody waits for it). */
static void complete_late(struct dns *d, struct dns_lookup *l, uint64_t now)
{
	int ok = 0;
	for (int f = 0; f < NFAM; f++) {
		ok |= l->fam[f].fresh && l->fam[f].status == ARES_SUCCESS;
		l->fam[f].fresh = 0;
	}
	if (!ok)
		return;
	union sockaddr_any addrs[DNS_MAX_ADDRS];
	uint64_t expires;
	int n = merge(l, addrs, &expires);
	dns_cache_put(d->cache, l->name, DNS_OK, addrs, n, expires, now, 0);
}

static void release(struct dns *d, struct dns_lookup *l)
{
	timer_cancel(d->loop, &l->timer);
	dns_cache_release(d->cache, l);
}

static void on_lookup_timer(struct timer *t)
{
	struct dns_lookup *l = (struct dns_lookup *)((char *)t - offsetof(struct dns_lookup, timer));
	struct dns *d = l->d;
	uint64_t now = loop_now(d->loop);
	if (l->retired) {
		complete_late(d, l, now);
		if (!running(l))
			release(d, l);
		return;
	}
	enum dns_status st;
	uint64_t next;
	if (!decide(d, l, now, &st, &next)) {
		timer_set(d->loop, &l->timer, next);
		return;
	}
	/* The answer, copied: what follows must not depend on l. */
	union sockaddr_any addrs[DNS_MAX_ADDRS];
	int n = 0;
	uint64_t expires = 0;
	if (st == DNS_OK)
		n = merge(l, addrs, &expires);
	else if (st == DNS_NOTFOUND)
		expires = now + (uint64_t)d->negative_ttl * 1000;
	if (st == DNS_OK || st == DNS_NOTFOUND)
		dns_cache_put(d->cache, l->name, st, addrs, n, expires, now, l->nwaiters > 0);
	log_debug("dns: %s -> %s (%d addresses, after %llu ms)", l->name,
		  st == DNS_OK ? "ok" : st == DNS_NOTFOUND ? "not found" : st == DNS_TIMEOUT ? "timeout" : "failed", n,
		  (unsigned long long)(now - l->started));
	stat_inc(&d->stats.answers[dns_stat_index(st)]);
	struct dns_waiter list;
	dns_cache_retire(d->cache, l, &list);
	for (int f = 0; f < NFAM; f++)
		l->fam[f].fresh = 0;
	if (!running(l))
		release(d, l);
	l = NULL;
	/* Each waiter leaves the list before its callback runs; a callback
	 * that cancels another waiter takes it off this list. */
	while (list.next != &list) {
		struct dns_waiter *w = list.next;
		list_del(w);
		w->cb(w->arg, st, addrs, n);
	}
}

/* Cancel the lookups nobody waits for, when they are a quarter of the
 * bound or more.  c-ares cancels only every query at once: the families
 * still wanted are sent again.  Returns whether any room was made.  Never
 * from inside c-ares (dns_resolve is not called from there: see the top). */
static int reclaim(struct dns *d)
{
	struct dns_cache *c = d->cache;
	uint32_t idle = dns_cache_idle(c);
	if (idle == 0 || idle < d->max_lookups / 4)
		return 0;
	ares_cancel(d->channel);
	uint32_t cancelled = 0;
	struct dns_lookup *next;
	for (struct dns_lookup *l = dns_cache_all(c); l; l = next) {
		next = l->next;
		if (l->nwaiters == 0) {
			release(d, l);
			cancelled++;
			continue;
		}
		for (int f = 0; f < NFAM; f++)
			if (!l->fam[f].done && !l->fam[f].running)
				start(d, l, f);
	}
	rearm(d);
	stat_add(&d->stats.cancelled, cancelled);
	uint64_t now = loop_now(d->loop);
	if (now - d->cancel_logged >= 1000) {
		d->cancel_logged = now;
		log_warn("dns: %u lookups in flight (at most %u): cancelled the %u that nobody waits for",
			 cancelled + dns_cache_lookups(c), d->max_lookups, cancelled);
	}
	return 1;
}

static void on_hosts(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct hosts_answer *h = arg;
	h->done = 1;
	h->status = status;
	h->naddrs = status == ARES_SUCCESS ? collect(res, AF_UNSPEC, h->addrs) : 0;
	ares_freeaddrinfo(res);
}

/* name's addresses from /etc/hosts (with "localhost" as RFC 6761 wants),
 * or 0.  c-ares answers a files-only lookup inside the call. */
static int hosts_lookup(struct dns *d, const char *name)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	memset(&d->hosts_ans, 0, sizeof(d->hosts_ans));
	ares_getaddrinfo(d->hosts, name, NULL, &hints, on_hosts, &d->hosts_ans);
	return d->hosts_ans.done ? d->hosts_ans.naddrs : 0;
}

enum dns_status dns_resolve(struct dns *d, const char *name, struct dns_waiter *w,
			    const union sockaddr_any **addrs, int *naddrs)
{
	uint64_t now = loop_clock_ms();
	*addrs = d->hosts_ans.addrs;
	*naddrs = 0;
	dns_cancel(d, w); /* a waiter waits for one name at a time */
	struct dns_entry *e = dns_cache_get(d->cache, name, now);
	if (e) {
		stat_inc(&d->stats.hits);
		enum dns_status st = dns_entry_status(e);
		if (st != DNS_OK)
			stat_inc(&d->stats.negative_hits);
		*naddrs = dns_entry_addrs(e, addrs);
		return st;
	}
	struct dns_lookup *l = dns_cache_lookup(d->cache, name);
	if (l) {
		stat_inc(&d->stats.coalesced);
		dns_cache_wait(d->cache, l, w);
		return DNS_PENDING;
	}
	if (strlen(name) > DNS_NAME_MAX)
		return DNS_FAIL;
	int n = hosts_lookup(d, name);
	if (n > 0) {
		/* kept a few seconds like any answer: a name the file answers is
		 * not read from the file again on every request, and an edit to
		 * the file shows within HOSTS_TTL_MS */
		uint64_t ttl = (uint64_t)d->max_ttl * 1000 < HOSTS_TTL_MS ? (uint64_t)d->max_ttl * 1000 : HOSTS_TTL_MS;
		e = dns_cache_put(d->cache, name, DNS_OK, d->hosts_ans.addrs, n, now + ttl, now, 1);
		if (e)
			n = dns_entry_addrs(e, addrs);
		else
			*addrs = d->hosts_ans.addrs;
		*naddrs = n;
		return DNS_OK;
	}
	l = dns_cache_add_lookup(d->cache, name, now);
	if (l == NULL && dns_cache_lookups(d->cache) >= d->max_lookups && reclaim(d))
		l = dns_cache_add_lookup(d->cache, name, now);
	if (l == NULL) {
		if (dns_cache_lookups(d->cache) < d->max_lookups)
			return DNS_FAIL; /* memory */
		stat_inc(&d->stats.busy);
		uint64_t t = loop_now(d->loop);
		if (t - d->busy_logged >= 1000) {
			d->busy_logged = t;
			log_warn("dns: %u lookups in flight (at most %u), %u of them for clients waiting: "
				 "refusing new names such as %s",
				 dns_cache_lookups(d->cache), d->max_lookups,
				 dns_cache_lookups(d->cache) - dns_cache_idle(d->cache), name);
		}
		return DNS_BUSY;
	}
	l->d = d;
	l->timer.cb = on_lookup_timer;
	dns_cache_wait(d->cache, l, w);
	stat_inc(&d->stats.queries);
	start(d, l, F_V4);
	start(d, l, F_V6);
	rearm(d);
	wake(d, l, now + d->timeout_ms);
	return DNS_PENDING;
}

int dns_stat_index(enum dns_status st)
{
	return st == DNS_OK ? 0 : st == DNS_NOTFOUND ? 1 : st == DNS_TIMEOUT ? 2 : 3;
}

void dns_cancel(struct dns *d, struct dns_waiter *w)
{
	if (w->next == NULL)
		return;
	dns_cache_unwait(d->cache, w);
}

/* The configured list as c-ares 1.18 takes it: it refuses "[IPv6]" without
 * a port, so that gets c-ares' default port, 53.  -1 when out does not
 * hold it. */
static int servers_csv(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (const char *p = in; *p;) {
		size_t len = strcspn(p, ",");
		int bare6 = len >= 2 && p[0] == '[' && p[len - 1] == ']';
		if (o + len + (bare6 ? 3 : 0) + 2 > outlen)
			return -1;
		memcpy(out + o, p, len);
		o += len;
		if (bare6) {
			memcpy(out + o, ":53", 3);
			o += 3;
		}
		p += len;
		if (*p == ',')
			out[o++] = *p++;
	}
	out[o] = '\0';
	return 0;
}

/* The DNS channel, its tries and per-try timeout set for nservers servers
 * (dns_try_timeouts); 0, or -1 with a reason in err. */
static int open_channel(struct dns *d, const struct config *cfg, int nservers, char *err, size_t errlen)
{
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	dns_try_timeouts(cfg->dns_timeout, nservers, &opts.tries, &opts.timeout);
	/* Proxied names are used as given: the box's own search domains
	 * (resolv.conf, LOCALDOMAIN) must not turn "intranet" into
	 * "intranet.corp.example" behind the client's back. */
	opts.flags = ARES_FLAG_NOSEARCH;
	opts.domains = NULL; /* getaddrinfo in 1.18 ignores NOSEARCH: an empty list */
	opts.ndomains = 0;
	opts.lookups = (char *)"b"; /* /etc/hosts is the hosts channel's */
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = d;
	int r = ares_init_options(&d->channel, &opts,
				  ARES_OPT_FLAGS | ARES_OPT_DOMAINS | ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS | ARES_OPT_LOOKUPS |
					  ARES_OPT_SOCK_STATE_CB);
	if (r != ARES_SUCCESS) {
		d->channel = NULL;
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(r));
		return -1;
	}
	if (cfg->resolver[0]) {
		char csv[2 * sizeof(cfg->resolver)];
		r = servers_csv(cfg->resolver, csv, sizeof(csv)) == -1 ? ARES_EBADSTR
									 : ares_set_servers_ports_csv(d->channel, csv);
		if (r != ARES_SUCCESS) {
			snprintf(err, errlen, "resolver %s: %s", cfg->resolver, ares_strerror(r));
			ares_destroy(d->channel);
			d->channel = NULL;
			return -1;
		}
	}
	log_debug("dns: %d server%s, %d tr%s of %d ms each", nservers, nservers == 1 ? "" : "s", opts.tries,
		  opts.tries == 1 ? "y" : "ies", opts.timeout);
	return 0;
}

static int count_servers(ares_channel channel)
{
	struct ares_addr_port_node *list = NULL;
	if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS)
		return 1;
	int n = 0;
	for (struct ares_addr_port_node *s = list; s; s = s->next)
		n++;
	ares_free_data(list);
	return n > 0 ? n : 1;
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
	/* the cap is on every answer kept, negative ones too */
	d->negative_ttl = cfg->dns_negative_ttl < d->max_ttl ? cfg->dns_negative_ttl : d->max_ttl;
	d->timeout_ms = cfg->dns_timeout;
	d->timer.cb = on_timer;
	for (int i = 0; i < MAX_ARES_SOCKS; i++)
		d->socks[i].io.fd = -1;
	/* Waited-for lookups are at most one per connection: with a third
	 * more on top, the ones nobody waits for can always be found, a
	 * quarter of the bound at least, when it is reached (reclaim). */
	uint64_t conns = cfg->max_connections > 0 ? (uint64_t)cfg->max_connections : 1;
	uint64_t max_lookups = conns + conns / 3 + DNS_LOOKUPS_MIN;
	d->max_lookups = max_lookups > UINT32_MAX ? UINT32_MAX : (uint32_t)max_lookups;
	d->cache = dns_cache_new(cfg->dns_cache_size, d->max_lookups);
	if (d->cache == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	opts.lookups = (char *)"f";
	int r = ares_init_options(&d->hosts, &opts, ARES_OPT_LOOKUPS);
	if (r != ARES_SUCCESS) {
		d->hosts = NULL;
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(r));
		goto fail;
	}
	/* The per-try timeout depends on how many servers there are, which
	 * resolv.conf may say: open, count, and open again if need be. */
	if (open_channel(d, cfg, 1, err, errlen) == -1)
		goto fail;
	int n = count_servers(d->channel);
	if (n != 1) {
		ares_destroy(d->channel);
		d->channel = NULL;
		if (open_channel(d, cfg, n, err, errlen) == -1)
			goto fail;
	}
	return d;
fail:
	dns_free(d);
	return NULL;
}

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	/* ares_destroy calls on_answer with ARES_EDESTRUCTION for every query
	 * still out: it only marks the family. */
	if (d->channel)
		ares_destroy(d->channel);
	if (d->hosts)
		ares_destroy(d->hosts);
	timer_cancel(d->loop, &d->timer);
	if (d->cache)
		for (struct dns_lookup *l = dns_cache_all(d->cache); l; l = l->next)
			timer_cancel(d->loop, &l->timer);
	dns_cache_free(d->cache); /* waiters still waiting are detached */
	free(d);
}

const struct dns_stats *dns_stats(const struct dns *d)
{
	return &d->stats;
}
