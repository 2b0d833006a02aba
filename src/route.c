/* route: where a request goes, and the connection that takes it there.
 *
 *   route_request ──a literal's pooled connection──────────────────> S_FORWARD
 *        │ a literal ──> connect_next ──> S_CONNECT
 *        │ a cached name ──> route_to
 *        └ a name to look up ──> S_RESOLVE ──on_dns──> route_to
 *   route_to ──a pooled connection to an address of the answer────> S_FORWARD
 *            └──> upstream_order, connect_next ──> S_CONNECT
 *   S_CONNECT ──writable, connected──> exchange_connected (S_FORWARD or S_TUNNEL)
 *             ──refused, failed or connect_timeout──> the next address;
 *               after the last: 502 (refused, failed) or 504 (timed out)
 *
 * A pooled connection is taken only for an address the host has now: a
 * literal's own, or one in the name's current answer (the cached one, or
 * the lookup this request waited for), so that once DNS moves a name away
 * from an address, connections kept to it serve it no more.  A cached
 * name costs a cache look-up before the pool, and no system call; a
 * literal costs what it did before (the pool first, no parsing).
 *
 * Every address the resolver gives is tried (up to DNS_MAX_ADDRS), in the
 * order upstream_order picks: those that did not fail lately first, the
 * start among them moving on from one request to the next (so load
 * spreads), then those that did (the pool remembers, per worker).  When
 * the access rules' answer depends on the address, or the port is one
 * sluice listens on (x.addr_check), only the addresses access.c allows are
 * used, for new and pooled connections alike.
 *
 * With parent proxies (config_route.c, parent.c), a request first gets its
 * ways out (plan): the route line it matches names parents, tried in the
 * order parent_order gives, and maybe direct; each way out is a hop, found
 * as above (a parent's name is resolved like an origin's), and a hop that
 * cannot be reached (refused, failed, timed out) marks its parent down and
 * moves on to the next, nothing having been sent.  A parent's connections
 * are pooled under the parent's name: they serve every origin.
 *
 * Part of the session module (see session_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "session_int.h"
#include "sluice/fmt.h"
#include "sluice/hash.h"
#include "sluice/log.h"

/* Dotted-decimal IPv4 exactly as inet_pton takes it (four parts of 0-255,
 * no leading zeros, nothing else), in a fraction of its cost: literal
 * targets are parsed once per request. */
static int parse_v4(const char *s, struct in_addr *out)
{
	uint32_t addr = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0 && *s++ != '.')
			return -1;
		if ((unsigned)(*s - '0') >= 10 || (s[0] == '0' && (unsigned)(s[1] - '0') < 10))
			return -1;
		unsigned v = 0;
		int digits = 0;
		for (; (unsigned)(*s - '0') < 10 && digits < 3; s++, digits++)
			v = v * 10 + (unsigned)(*s - '0');
		if (v > 255 || (unsigned)(*s - '0') < 10)
			return -1;
		addr = addr << 8 | v;
	}
	if (*s)
		return -1;
	out->s_addr = htonl(addr);
	return 0;
}

int route_parse_literal(const char *host, uint16_t port, union sockaddr_any *out)
{
	memset(out, 0, sizeof(*out));
	if (parse_v4(host, &out->in.sin_addr) == 0) {
		out->in.sin_family = AF_INET;
		out->in.sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		return 0;
	}
	return -1;
}

static void on_upstream(void *owner, uint32_t events);
static void start_hop(struct session *s);

/* A port's digits at d, NUL after them (no snprintf: once per request). */
static void put_port(char *d, unsigned p)
{
	d[fmt_u64(d, p)] = '\0';
}

/* A parent's: its name and port (a reload may move it; its addresses are
 * checked as a name's are). */
static void parent_key(const struct parent_cfg *p, char *key)
{
	size_t nl = strlen(p->name);
	key[0] = '\x01';
	memcpy(key + 1, p->name, nl);
	key[1 + nl] = ':';
	put_port(key + 2 + nl, p->port);
}

/* The pool key of this hop's connections (UPSTREAM_KEY_MAX bytes): the
 * origin's "host:port", or the parent's key behind a byte no host has (a
 * parent's connections serve every origin; an origin's, only it). */
static void pool_key(const struct session *s, char *key)
{
	if (s->x->parent) {
		parent_key(s->x->parent, key);
		return;
	}
	size_t hl = strlen(s->x->host);
	memcpy(key, s->x->host, hl);
	key[hl++] = ':';
	put_port(key + hl, s->x->port);
}

/* What a pinned connection serves: as pool_key, but through parent p only
 * this origin too (the parent ties its own server connection to ours: the
 * login there is for this origin alone). */
static void pin_key(const struct session *s, const struct parent_cfg *p, char *key)
{
	if (p == NULL) {
		pool_key(s, key);
		return;
	}
	parent_key(p, key);
	size_t n = strlen(key), hl = strlen(s->x->host);
	key[n++] = '\x01';
	memcpy(key + n, s->x->host, hl);
	n += hl;
	key[n++] = ':';
	put_port(key + n, s->x->port);
}

/* The sides' code reads and writes server.fd and never s->up: keep the two
 * in step (session_drop_upstream undoes it). */
static void attach(struct session *s)
{
	s->server.fd = upstream_fd(s->up);
}

/* This hop could not be used: a parent that refused, could not be reached
 * or did not answer (blame) is noted down, and the next way out is tried
 * (nothing was sent yet); after the last, the client gets status and
 * reason, the last cause.  (sluice's own shortages, descriptors say, are
 * not the parent's fault: it stays up.) */
static void hop_failed(struct session *s, int status, const char *reason, int blame)
{
	const struct parent_cfg *p = s->x->parent;
	if (p && blame) {
		stat_inc(&s->w->m.parent_failures[p->slot]);
		if (parent_failed(p->slot, loop_now(s->w->loop)))
			log_warn("parent %s (%s:%u) is down: %s; the others go first for a while", p->name, p->host,
				 p->port, reason);
	}
	if (s->x->hop + 1 < s->x->nhops) {
		s->x->hop++;
		s->x->naddrs = s->x->addr_idx = 0;
		start_hop(s);
		return;
	}
	exchange_error(s, status, reason);
}

/* Connect to the next address; when none is left, the hop failed. */
static void connect_next(struct session *s)
{
	struct worker *w = s->w;
	char key[UPSTREAM_KEY_MAX];
	pool_key(s, key);
	while (s->x->addr_idx < s->x->naddrs) {
		s->up = upstream_connect(w->pool, &s->x->addrs[s->x->addr_idx], key, on_upstream, s);
		stat_inc(&w->m.pool_misses);
		if (s->up) {
			attach(s);
			session_state(s, S_CONNECT);
			s->phase_start = loop_now(w->loop);
			return;
		}
		s->x->connect_errno = errno;
		char a[80];
		log_debug("connect() to %s failed: %s", log_addr(&s->x->addrs[s->x->addr_idx].sa, a, sizeof(a)),
			  strerror(errno));
		s->x->addr_idx++;
	}
	int e = s->x->connect_errno, refused = e == ECONNREFUSED;
	int blame = refused || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN || e == ETIMEDOUT ||
		    e == ECONNRESET || e == ECONNABORTED;
	if (s->x->parent)
		hop_failed(s, 502, refused ? "parent proxy refused the connection" : "cannot connect to the parent proxy",
			   blame);
	else
		hop_failed(s, 502, refused ? "upstream refused the connection" : "cannot connect to upstream", blame);
}

/* An answer's address (it carries no port) with the hop's port. */
static union sockaddr_any with_port(const union sockaddr_any *a, uint16_t port)
{
	union sockaddr_any r = *a;
	if (r.sa.sa_family == AF_INET)
		r.in.sin_port = htons(port);
	else
		r.in6.sin6_port = htons(port);
	return r;
}

static void use_addresses(struct session *s, const union sockaddr_any *addrs, int n)
{
	s->x->naddrs = n > MAX_ADDRS ? MAX_ADDRS : n;
	for (int i = 0; i < s->x->naddrs; i++)
		s->x->addrs[i] = with_port(&addrs[i], s->x->dport);
	upstream_order(s->w->pool, s->x->addrs, s->x->naddrs);
	s->x->addr_idx = 0;
	connect_next(s);
}

static void reuse(struct session *s);

/* Keep the addresses the access rules let this hop reach (access.c);
 * returns how many, or 0 after answering for the refusal.  (An answer's
 * addresses carry no port; the loop guard needs the hop's.) */
static int allowed_addresses(struct session *s, const union sockaddr_any *addrs, int n, union sockaddr_any *out)
{
	int k = 0, status = 0, rule = -1;
	union sockaddr_any refused;
	for (int i = 0; i < n; i++) {
		union sockaddr_any a = with_port(&addrs[i], s->x->dport);
		int st = access_check_hop_addr(s, &a, &rule);
		if (st == 0) {
			out[k++] = addrs[i];
		} else if (status != 508) { /* a loop is the cause to name */
			status = st;
			refused = a;
		}
	}
	if (k == 0)
		access_refuse(s, status, rule, &refused);
	return k;
}

/* A name's addresses are known (from the cache or the lookup): a pooled
 * connection to one of them, else a new one. */
static void route_to(struct session *s, const union sockaddr_any *addrs, int n)
{
	union sockaddr_any allowed[DNS_MAX_ADDRS];
	if (s->x->hop_check) {
		if (n > DNS_MAX_ADDRS)
			n = DNS_MAX_ADDRS;
		if ((n = allowed_addresses(s, addrs, n, allowed)) == 0)
			return;
		addrs = allowed;
	}
	if (s->x->pool_ok) {
		char key[UPSTREAM_KEY_MAX];
		pool_key(s, key);
		s->up = upstream_take(s->w->pool, key, addrs, n, on_upstream, s);
		if (s->up) {
			reuse(s);
			return;
		}
	}
	use_addresses(s, addrs, n);
}

static void dns_error(struct session *s, enum dns_status st)
{
	if (st == DNS_BUSY) {
		exchange_error(s, 503, "too many DNS lookups in flight"); /* ours, not the name's */
		return;
	}
	int status = st == DNS_TIMEOUT ? 504 : 502;
	int blame = st == DNS_TIMEOUT || st == DNS_NOTFOUND;
	if (s->x->parent)
		hop_failed(s, status,
			   st == DNS_TIMEOUT	  ? "DNS lookup of the parent proxy timed out"
			   : st == DNS_NOTFOUND ? "parent proxy's DNS name not found"
						: "DNS lookup of the parent proxy failed",
			   blame);
	else
		hop_failed(s, status,
			   st == DNS_TIMEOUT ? "DNS lookup timed out" : st == DNS_NOTFOUND ? "DNS name not found" : "DNS lookup failed",
			   blame);
}

static void verified(struct session *s, enum dns_status st, const union sockaddr_any *addrs, int n);

static void on_dns(void *arg, enum dns_status st, const union sockaddr_any *addrs, int n)
{
	struct session *s = arg;
	if (s->state != S_RESOLVE)
		return;
	if (s->x->verifying)
		verified(s, st, addrs, n);
	else if (st == DNS_OK)
		route_to(s, addrs, n);
	else
		dns_error(s, st);
	session_pump(s);
}

/* The connection is up (or taken up again): what the log and the
 * counters say of it. */
static void record_parent(struct session *s)
{
	const struct parent_cfg *p = s->x->parent;
	s->x->rec.hier = s->x->hier_default ? HIER_DEFAULT_PARENT : HIER_FIRSTUP_PARENT;
	s->x->rec.peer_name = p->host;
	stat_inc(&s->w->m.parent_requests[p->slot]);
}

static inline void record_peer(struct session *s)
{
	s->x->rec.peer = *upstream_peer(s->up);
	if (s->x->parent)
		record_parent(s);
	else {
		s->x->rec.hier = s->tp ? HIER_ORIGINAL_DST : HIER_DIRECT;
		s->x->rec.peer_name = NULL;
	}
}

/* A connection taken up again (pooled or pinned) is ready to write to, and
 * was seen empty when it went idle. */
static void reuse(struct session *s)
{
	stat_inc(&s->w->m.pool_hits);
	attach(s);
	s->x->reused = 1;
	record_peer(s);
	session_state(s, S_FORWARD);
	s->server.wr = 1;
	s->server.rd = 0;
}

/* A pinned connection between requests: anything it says (an EOF, a late
 * 401) ends it, as the pool does for its own. */
static void on_pinned(void *owner, uint32_t events)
{
	struct session *s = owner;
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	char a[80]; /* (between requests: no exchange names the origin) */
	log_debug("upstream %s: pinned connection closed by origin",
		  log_addr(&upstream_peer(s->pinned)->sa, a, sizeof(a)));
	upstream_close(s->pinned);
	s->pinned = NULL;
}

void route_release(struct session *s)
{
	if (!s->x->pin) {
		upstream_release(s->up, !s->server.rd);
		s->up = NULL;
		return;
	}
	/* this client's login lives on this connection: nobody else may use
	 * it (another client would be served as this user), so it waits here,
	 * not in the pool; one per client, the newest */
	if (s->pinned)
		upstream_close(s->pinned);
	char key[UPSTREAM_KEY_MAX];
	pin_key(s, s->x->parent, key);
	s->pinned = upstream_pin(s->up, key, !s->server.rd, on_pinned, s) == 0 ? s->up : NULL;
	s->up = NULL;
}

/* The client's pinned connection, when it serves this hop: 1 when the
 * request goes on it (or was refused), 0 to find another. */
static int take_pinned(struct session *s)
{
	char key[UPSTREAM_KEY_MAX];
	pin_key(s, s->x->parent, key);
	int r = upstream_unpin(s->pinned, key, on_upstream, s);
	if (r == 1)
		return 0; /* a request elsewhere: the login waits for the return */
	if (r == -1) { /* it said something while idle */
		upstream_close(s->pinned);
		s->pinned = NULL;
		return 0;
	}
	s->up = s->pinned;
	s->pinned = NULL;
	s->x->pin = 1; /* it stays this client's */
	int rule, st = s->x->hop_check ? access_check_hop_addr(s, upstream_peer(s->up), &rule) : 0;
	if (st) {
		union sockaddr_any peer = *upstream_peer(s->up);
		session_drop_upstream(s);
		access_refuse(s, st, rule, &peer);
		return 1;
	}
	reuse(s);
	return 1;
}

/* The destination's name as the rules and a parent know it: on a
 * transparent listener, the one the client gave (Host, SNI), else the
 * original destination's address. */
static const char *dest_name(const struct session *s)
{
	const char *n = s->tp ? (s->x->tunnel == T_TLS ? s->tp->sni : s->tp->named) : s->x->host;
	return n[0] ? n : s->x->host;
}

/* A client whose login (NTLM, Negotiate) lives on a connection through
 * one of these parents, for this origin: that parent goes first, whatever
 * the weights say, or the login would be lost. */
static void pinned_first(struct session *s)
{
	char key[UPSTREAM_KEY_MAX];
	for (int k = 0; k < s->x->nhops; k++) {
		if (s->x->hops[k] == PARENT_DIRECT)
			continue;
		pin_key(s, &s->cfg->parents[s->x->hops[k]], key);
		if (upstream_key_is(s->pinned, key)) {
			uint8_t h = s->x->hops[k];
			memmove(s->x->hops + 1, s->x->hops, (size_t)k);
			s->x->hops[0] = h;
			return;
		}
	}
}

/* The ways out of this request: with parents configured, those of the
 * route line it matches (or route_default), in the order to try them. */
static void plan(struct session *s)
{
	const struct config *c = s->cfg;
	static _Thread_local uint32_t turn; /* this worker's: spreads by weight */
	s->x->nhops = s->x->hop = 0;
	if (c->nparents == 0)
		return;
	int i = access_route(s);
	const struct route_cfg *r = i >= 0 ? &c->routes[i] : &c->route_default;
	s->x->hier_default = i < 0;
	if (r->nparents == 0)
		return;
	struct parent_pick pk[CONFIG_MAX_PARENTS];
	for (int k = 0; k < r->nparents; k++) {
		const struct parent_cfg *p = &c->parents[r->parent[k]];
		pk[k] = (struct parent_pick){ p->slot, p->weight, p->name_hash };
	}
	uint32_t key = r->sticky ? hash_name(dest_name(s)) : 0;
	int n = parent_order(pk, r->nparents, r->sticky, key, turn++, r->fallback_direct, loop_now(s->w->loop),
			     s->x->hops);
	for (int k = 0; k < n; k++)
		if (s->x->hops[k] != PARENT_DIRECT)
			s->x->hops[k] = r->parent[s->x->hops[k]];
	s->x->nhops = (uint8_t)n;
	if (s->pinned)
		pinned_first(s);
}

/* The authority a redirected request is sent to a parent with: the name
 * the client gave when it leads to where the client was going, else that
 * address; always the original destination's port.  (Host is the
 * client's to write: "evil:22" must not send the parent elsewhere.) */
static void transparent_authority(const struct session *s, char *out, size_t len)
{
	const struct transparent *tp = s->tp;
	int v6 = !s->x->by_name && tp->odst.sa.sa_family == AF_INET6;
	int n = snprintf(out, len, "%s%s%s", v6 ? "[" : "", s->x->by_name ? tp->named : tp->odst_text, v6 ? "]" : "");
	if (s->x->port != 80 && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, ":%u", s->x->port);
}

/* rhead in the form this hop takes: origin-form for an origin,
 * absolute-form with the parent's login for a parent.  0, or -1 after
 * answering (no room). */
static int shape_request(struct session *s)
{
	const struct parent_cfg *p = s->x->parent;
	if (s->rhead == NULL || s->x->tunnel == T_CONNECT || s->x->tunnel == T_TLS)
		return 0; /* a tunnel's CONNECT is written once connected (exchange.c) */
	if (s->x->rform_parent) {
		http_request_for_origin(s->rhead, s->x->rprefix, s->x->rauth);
		s->x->rec.target_off -= s->x->rprefix;
		s->x->rec.target_len += s->x->rstar;
		s->x->rform_parent = 0;
	}
	if (p == NULL)
		return 0;
	char authority[DNS_NAME_MAX + 8];
	if (s->tp)
		transparent_authority(s, authority, sizeof(authority));
	s->x->rstar = s->rhead->data[s->x->rec.target_off] == '*' && s->x->rec.target_len == 1;
	if (http_request_for_parent(s->rhead, s->tp ? authority : NULL, p->auth, &s->x->rprefix) == -1) {
		exchange_error(s, 431, "request head too large");
		return -1;
	}
	s->x->rauth = (uint32_t)strlen(p->auth);
	/* the log's target: the origin-form part ("*" went; none is left) */
	s->x->rec.target_off += s->x->rprefix;
	s->x->rec.target_len -= s->x->rstar;
	s->x->rform_parent = 1;
	return 0;
}

/* Does a lead to the original destination (ports aside)? */
static int is_odst(const struct session *s, const union sockaddr_any *a)
{
	const union sockaddr_any *o = &s->tp->odst;
	if (a->sa.sa_family != o->sa.sa_family)
		return 0;
	return a->sa.sa_family == AF_INET ? a->in.sin_addr.s_addr == o->in.sin_addr.s_addr
					  : memcmp(&a->in6.sin6_addr, &o->in6.sin6_addr, 16) == 0;
}

/* The name a redirected client gave was looked up: sent to the parent only
 * if one of its addresses is where the client was going (squid's host
 * verification), so that a client cannot steer the parent elsewhere by
 * writing another name; then on with the hop. */
static void verified(struct session *s, enum dns_status st, const union sockaddr_any *addrs, int n)
{
	s->x->verifying = 0;
	s->x->name_checked = 1;
	for (int i = 0; st == DNS_OK && i < n && !s->x->by_name; i++)
		s->x->by_name = (uint8_t)is_odst(s, &addrs[i]);
	if (!s->x->by_name) {
		char a[80];
		log_info("client %s: %s does not resolve to the original destination %s: the parent is given the address",
			 log_addr(&s->peer.sa, a, sizeof(a)), dest_name(s), s->tp->odst_text);
	}
	start_hop(s);
}

/* A redirected connection going to a parent: does the name it gave lead
 * where it was going?  0 when known (x.by_name), 1 while looking it up. */
static int verify_name(struct session *s)
{
	const char *name = s->x->tunnel == T_TLS ? s->tp->sni : s->tp->named;
	union sockaddr_any lit;
	s->x->name_checked = 1;
	if (name[0] == '\0')
		return 0;
	if (route_parse_literal(name, s->x->port, &lit) == 0) {
		s->x->by_name = (uint8_t)is_odst(s, &lit);
		return 0;
	}
	const union sockaddr_any *addrs;
	int n;
	s->x->dnsw.cb = on_dns;
	s->x->dnsw.arg = s;
	enum dns_status st = dns_resolve(s->w->dns, name, &s->x->dnsw, &addrs, &n);
	if (st == DNS_PENDING) {
		s->x->verifying = 1;
		session_state(s, S_RESOLVE);
		s->phase_start = loop_now(s->w->loop);
		return 1;
	}
	s->x->name_checked = 0; /* verified() says it, and goes on */
	verified(s, st, addrs, n);
	return 1;
}

/* Find a connection for this hop: the pinned one, the pool, a literal
 * address, the DNS cache or a lookup; then connect. */
static void start_hop(struct session *s)
{
	struct worker *w = s->w;
	uint8_t h = s->x->nhops ? s->x->hops[s->x->hop] : PARENT_DIRECT;
	const struct parent_cfg *p = h == PARENT_DIRECT ? NULL : &s->cfg->parents[h];
	s->x->parent = p;
	if (p == NULL) { /* the common case: no parent at all */
		s->x->dhost = s->x->host;
		s->x->dport = s->x->port;
		s->x->hop_check = s->x->addr_check;
		if (s->x->rform_parent && shape_request(s) == -1)
			return;
	} else {
		if (s->x->acl_ask && !s->x->origin_checked && access_check_parent_origin(s) == -1)
			return;
		if (s->tp && !s->x->name_checked && verify_name(s))
			return;
		s->x->dhost = p->host;
		s->x->dport = p->port;
		s->x->hop_check = (uint8_t)access_hop_check(s);
		if (shape_request(s) == -1)
			return;
	}
	if (s->pinned && s->x->allow_pool && take_pinned(s))
		return;
	/* A request carrying a connection login never takes a pooled
	 * connection: the login is for the connection it started on. */
	s->x->pool_ok = s->x->allow_pool && !s->x->pin;
	const char *host = s->x->dhost;
	/* An IPv4 literal starts with a digit, an IPv6 one has a colon; a
	 * name may start with a digit too, never has a colon. */
	if ((unsigned)(host[0] - '0') < 10 || strchr(host, ':')) {
		union sockaddr_any lit;
		int rule, st;
		char key[UPSTREAM_KEY_MAX];
		if (s->x->pool_ok && !s->x->parent) {
			/* A literal names the only address its connections can
			 * have: the pool hands them out with no answer to check,
			 * before the literal is even parsed (for a name, it finds
			 * nothing); the access rules look at the address the
			 * connection has. */
			pool_key(s, key);
			if ((s->up = upstream_take(w->pool, key, NULL, 0, on_upstream, s)) != NULL) {
				if (s->x->hop_check && (st = access_check_hop_addr(s, upstream_peer(s->up), &rule)) != 0) {
					lit = *upstream_peer(s->up);
					session_drop_upstream(s);
					access_refuse(s, st, rule, &lit);
					return;
				}
				reuse(s);
				return;
			}
		}
		if (route_parse_literal(host, s->x->dport, &lit) == 0) {
			if (s->x->hop_check && (st = access_check_hop_addr(s, &lit, &rule)) != 0) {
				access_refuse(s, st, rule, &lit);
				return;
			}
			if (s->x->pool_ok && s->x->parent) {
				/* (a parent's key names no address: give it) */
				pool_key(s, key);
				if ((s->up = upstream_take(w->pool, key, &lit, 1, on_upstream, s)) != NULL) {
					reuse(s);
					return;
				}
			}
			use_addresses(s, &lit, 1);
			return;
		}
	}
	const union sockaddr_any *addrs;
	int n;
	s->x->dnsw.cb = on_dns;
	s->x->dnsw.arg = s;
	session_state(s, S_RESOLVE);
	s->phase_start = loop_now(w->loop);
	enum dns_status st = dns_resolve(w->dns, host, &s->x->dnsw, &addrs, &n);
	if (st == DNS_PENDING)
		return;
	if (st == DNS_OK)
		route_to(s, addrs, n);
	else
		dns_error(s, st);
}

void route_request(struct session *s, int allow_pool)
{
	s->x->allow_pool = (uint8_t)allow_pool;
	plan(s);
	start_hop(s);
}

void route_retry(struct session *s)
{
	s->x->allow_pool = 0;
	start_hop(s);
}

void route_resolve_timeout(struct session *s)
{
	/* c-ares gives up first, as a rule: this is the slack running out */
	dns_cancel(s->w->dns, &s->x->dnsw);
	if (s->x->verifying)
		verified(s, DNS_TIMEOUT, NULL, 0);
	else
		dns_error(s, DNS_TIMEOUT);
}

void route_connect_event(struct session *s)
{
	if (upstream_connect_result(s->up) == 0) {
		const struct parent_cfg *p = s->x->parent;
		if (p && parent_ok(p->slot))
			log_warn("parent %s (%s:%u) is up again", p->name, p->host, p->port);
		record_peer(s);
		exchange_connected(s);
		return;
	}
	s->x->connect_errno = errno;
	char a[80];
	log_debug("connect() to %s failed: %s", log_addr(&upstream_peer(s->up)->sa, a, sizeof(a)), strerror(errno));
	session_drop_upstream(s);
	s->x->addr_idx++;
	connect_next(s);
}

void route_connect_timeout(struct session *s)
{
	/* a silent address: the next one may answer */
	if (s->up)
		upstream_connect_timed_out(s->up);
	session_drop_upstream(s);
	s->x->addr_idx++;
	s->x->connect_errno = ETIMEDOUT;
	if (s->x->addr_idx < s->x->naddrs)
		connect_next(s);
	else
		hop_failed(s, 504, s->x->parent ? "parent proxy connect timed out" : "upstream connect timed out", 1);
}

/* The server connection's events: readiness for the pump, and in
 * S_CONNECT the connect's outcome. */
static void on_upstream(void *owner, uint32_t events)
{
	struct session *s = owner;
	side_event(&s->server, events);
	if (s->state == S_CONNECT && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
		route_connect_event(s);
	session_pump(s);
}
