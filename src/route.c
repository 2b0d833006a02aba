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
 * used, for new and pooled connections alike.  Parent proxies will decide
 * here too; the pool key is what a connection may be reused for.
 *
 * Part of the session module (see session_int.h).
 */
#include <errno.h>
#include <string.h>

#include "session_int.h"
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

/* "host:port" into key (UPSTREAM_KEY_MAX bytes; the host is at most
 * DNS_NAME_MAX).  No snprintf: once per request; the port's digits go
 * straight to their places, last first. */
static void pool_key(const struct session *s, char *key)
{
	size_t hl = strlen(s->x.host);
	memcpy(key, s->x.host, hl);
	key[hl++] = ':';
	unsigned p = s->x.port;
	int nd = p >= 10000 ? 5 : p >= 1000 ? 4 : p >= 100 ? 3 : p >= 10 ? 2 : 1;
	char *d = key + hl + nd;
	*d = '\0';
	do {
		*--d = (char)('0' + p % 10);
		p /= 10;
	} while (p);
}

/* The sides' code reads and writes server.fd and never s->up: keep the two
 * in step (session_drop_upstream undoes it). */
static void attach(struct session *s)
{
	s->server.fd = upstream_fd(s->up);
}

/* Connect to the next address; 502 when none is left. */
static void connect_next(struct session *s)
{
	struct worker *w = s->w;
	char key[UPSTREAM_KEY_MAX];
	pool_key(s, key);
	while (s->x.addr_idx < s->x.naddrs) {
		s->up = upstream_connect(w->pool, &s->x.addrs[s->x.addr_idx], key, on_upstream, s);
		stat_inc(&w->m.pool_misses);
		if (s->up) {
			attach(s);
			session_state(s, S_CONNECT);
			s->phase_start = loop_now(w->loop);
			return;
		}
		s->x.connect_errno = errno;
		char a[80];
		log_debug("connect() to %s failed: %s", log_addr(&s->x.addrs[s->x.addr_idx].sa, a, sizeof(a)),
			  strerror(errno));
		s->x.addr_idx++;
	}
	exchange_error(s, 502, s->x.connect_errno == ECONNREFUSED ? "upstream refused the connection"
				 : "cannot connect to upstream");
}

/* An answer's address (it carries no port) with the request's port. */
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
	s->x.naddrs = n > MAX_ADDRS ? MAX_ADDRS : n;
	for (int i = 0; i < s->x.naddrs; i++)
		s->x.addrs[i] = with_port(&addrs[i], s->x.port);
	upstream_order(s->w->pool, s->x.addrs, s->x.naddrs);
	s->x.addr_idx = 0;
	connect_next(s);
}

static void reuse(struct session *s);

/* Keep the addresses the access rules let this request reach (access.c);
 * returns how many, or 0 after answering for the refusal.  (An answer's
 * addresses carry no port; the loop guard needs the request's.) */
static int allowed_addresses(struct session *s, const union sockaddr_any *addrs, int n, union sockaddr_any *out)
{
	int k = 0, status = 0, rule = -1;
	union sockaddr_any refused;
	for (int i = 0; i < n; i++) {
		union sockaddr_any a = with_port(&addrs[i], s->x.port);
		int st = access_check_addr(s, &a, &rule);
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
	if (s->x.addr_check) {
		if (n > DNS_MAX_ADDRS)
			n = DNS_MAX_ADDRS;
		if ((n = allowed_addresses(s, addrs, n, allowed)) == 0)
			return;
		addrs = allowed;
	}
	if (s->x.pool_ok) {
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
	if (st == DNS_TIMEOUT)
		exchange_error(s, 504, "DNS lookup timed out");
	else if (st == DNS_NOTFOUND)
		exchange_error(s, 502, "DNS name not found");
	else if (st == DNS_BUSY)
		exchange_error(s, 503, "too many DNS lookups in flight"); /* ours, not the name's */
	else
		exchange_error(s, 502, "DNS lookup failed");
}

static void on_dns(void *arg, enum dns_status st, const union sockaddr_any *addrs, int n)
{
	struct session *s = arg;
	if (s->state != S_RESOLVE)
		return;
	if (st == DNS_OK)
		route_to(s, addrs, n);
	else
		dns_error(s, st);
	session_pump(s);
}

/* The connection is to the server, not through a parent: the log says so. */
static void record_peer(struct session *s)
{
	s->x.rec.peer = *upstream_peer(s->up);
	s->x.rec.hier = s->tp ? HIER_ORIGINAL_DST : HIER_DIRECT;
}

/* A connection taken up again (pooled or pinned) is ready to write to, and
 * was seen empty when it went idle. */
static void reuse(struct session *s)
{
	stat_inc(&s->w->m.pool_hits);
	attach(s);
	s->x.reused = 1;
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
	log_debug("upstream %s:%u: pinned connection closed by origin", s->x.host, s->x.port);
	upstream_close(s->pinned);
	s->pinned = NULL;
}

void route_release(struct session *s)
{
	if (!s->x.pin) {
		upstream_release(s->up, !s->server.rd);
		s->up = NULL;
		return;
	}
	/* this client's login lives on this connection: nobody else may use
	 * it (another client would be served as this user), so it waits here,
	 * not in the pool; one per client, the newest */
	if (s->pinned)
		upstream_close(s->pinned);
	s->pinned = upstream_pin(s->up, !s->server.rd, on_pinned, s) == 0 ? s->up : NULL;
	s->up = NULL;
}

void route_request(struct session *s, int allow_pool)
{
	struct worker *w = s->w;
	if (s->pinned && allow_pool) {
		char key[UPSTREAM_KEY_MAX];
		pool_key(s, key);
		int r = upstream_unpin(s->pinned, key, on_upstream, s);
		if (r == 0) {
			s->up = s->pinned;
			s->pinned = NULL;
			s->x.pin = 1; /* it stays this client's */
			int rule, st = s->x.addr_check ? access_check_addr(s, upstream_peer(s->up), &rule) : 0;
			if (st) {
				union sockaddr_any peer = *upstream_peer(s->up);
				session_drop_upstream(s);
				access_refuse(s, st, rule, &peer);
				return;
			}
			reuse(s);
			return;
		}
		if (r == -1) { /* it said something while idle */
			upstream_close(s->pinned);
			s->pinned = NULL;
		} /* else a request elsewhere: the login waits for the return */
	}
	/* A request carrying a connection login never takes a pooled
	 * connection: the login is for the connection it started on. */
	s->x.pool_ok = allow_pool && !s->x.pin;
	/* An IPv4 literal starts with a digit, an IPv6 one has a colon; a
	 * name may start with a digit too, never has a colon. */
	if ((unsigned)(s->x.host[0] - '0') < 10 || strchr(s->x.host, ':')) {
		/* A literal names the only address its connections can have:
		 * the pool hands them out with no answer to check, before the
		 * literal is even parsed (for a name, it finds nothing); the
		 * access rules look at the address the connection has. */
		union sockaddr_any lit;
		int rule, st;
		if (s->x.pool_ok) {
			char key[UPSTREAM_KEY_MAX];
			pool_key(s, key);
			if ((s->up = upstream_take(w->pool, key, NULL, 0, on_upstream, s)) != NULL) {
				if (s->x.addr_check && (st = access_check_addr(s, upstream_peer(s->up), &rule)) != 0) {
					lit = *upstream_peer(s->up);
					session_drop_upstream(s);
					access_refuse(s, st, rule, &lit);
					return;
				}
				reuse(s);
				return;
			}
		}
		if (route_parse_literal(s->x.host, s->x.port, &lit) == 0) {
			if (s->x.addr_check && (st = access_check_addr(s, &lit, &rule)) != 0) {
				access_refuse(s, st, rule, &lit);
				return;
			}
			use_addresses(s, &lit, 1);
			return;
		}
	}
	const union sockaddr_any *addrs;
	int n;
	s->x.dnsw.cb = on_dns;
	s->x.dnsw.arg = s;
	session_state(s, S_RESOLVE);
	s->phase_start = loop_now(w->loop);
	enum dns_status st = dns_resolve(w->dns, s->x.host, &s->x.dnsw, &addrs, &n);
	if (st == DNS_PENDING)
		return;
	if (st == DNS_OK)
		route_to(s, addrs, n);
	else
		dns_error(s, st);
}

void route_connect_event(struct session *s)
{
	if (upstream_connect_result(s->up) == 0) {
		record_peer(s);
		exchange_connected(s);
		return;
	}
	s->x.connect_errno = errno;
	char a[80];
	log_debug("connect() to %s failed: %s", log_addr(&upstream_peer(s->up)->sa, a, sizeof(a)), strerror(errno));
	session_drop_upstream(s);
	s->x.addr_idx++;
	connect_next(s);
}

void route_connect_timeout(struct session *s)
{
	/* a silent address: the next one may answer */
	if (s->up)
		upstream_connect_timed_out(s->up);
	session_drop_upstream(s);
	s->x.addr_idx++;
	s->x.connect_errno = ETIMEDOUT;
	if (s->x.addr_idx < s->x.naddrs)
		connect_next(s);
	else
		exchange_error(s, 504, "upstream connect timed out");
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
