/* access: the access rules (include/sluice/acl.h) applied to an exchange.
 *
 *   target known ──access_check_request──> denied: 403, nothing resolved or connected
 *        │                                  allowed: route_request
 *        └ the answer needs the destination address, or the port is one
 *          sluice listens on (x.addr_check) ──> route.c asks access_check_addr
 *          for each address before connecting to it or reusing a pooled
 *          connection to it; when none is left: 403, or 508 for a loop
 *
 * The loop guard is here too: a request for an address and port sluice
 * listens on would come back to it (and again, until descriptors run
 * out), whatever the rules say and however the target is spelled.
 *
 * Part of the session module (see session_int.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "session_int.h"
#include "sluice/acl.h"
#include "sluice/log.h"

static void fill_request(struct session *s, struct acl_request *r)
{
	const struct config *cfg = s->cfg;
	memset(r, 0, sizeof(*r));
	r->client = &s->peer.sa;
	const struct listen_cfg *l = config_listener(cfg, s->listener);
	if (l)
		r->listener = (const struct sockaddr *)&l->addr;
	/* the client's address and listener stay for the connection: their
	 * ACLs are worked out once */
	if (!s->acl_conn_done) {
		policy_conn(cfg->policy, r, &s->acl_conn);
		s->acl_conn_done = 1;
	}
	r->conn = &s->acl_conn;
	r->port = s->x->port;
	r->method = s->x->tunnel == T_TLS ? -1 : (int)s->x->req.method;
	r->user = s->x->rec.user;
	/* on a transparent listener the name is what the client said (Host,
	 * SNI); the destination is where it was going */
	const char *name = s->tp ? (s->x->tunnel == T_TLS ? s->tp->sni : s->tp->named) : s->x->host;
	if (name[0])
		r->host = name;
}

/* An IP address as connect() takes it: IPv4 (also v4-mapped) in 4 bytes
 * or IPv6 in 16; the unspecified address is this host's loopback. */
struct ip {
	int v4;
	uint8_t b[16];
};

static void ip_of(const union sockaddr_any *a, struct ip *ip)
{
	static const uint8_t zero[16];
	memset(ip, 0, sizeof(*ip));
	if (a->sa.sa_family == AF_INET) {
		ip->v4 = 1;
		memcpy(ip->b, &a->in.sin_addr, 4);
	} else if (IN6_IS_ADDR_V4MAPPED(&a->in6.sin6_addr)) {
		ip->v4 = 1;
		memcpy(ip->b, a->in6.sin6_addr.s6_addr + 12, 4);
	} else {
		memcpy(ip->b, &a->in6.sin6_addr, 16);
	}
	if (memcmp(ip->b, zero, ip->v4 ? 4 : 16) == 0) {
		if (ip->v4)
			ip->b[0] = 127, ip->b[3] = 1;
		else
			ip->b[15] = 1;
	}
}

/* The listeners as bound, from the session's snapshot (acceptor.c wrote
 * them there before publishing it). */
static const union sockaddr_any *bound(const struct config *cfg, int i)
{
	return (const union sockaddr_any *)&cfg->listen[i].bound;
}

static int port_is_listened(const struct config *cfg, unsigned port)
{
	for (int i = 0; i < cfg->nlisten; i++)
		if (sockaddr_port(bound(cfg, i)) == port)
			return 1;
	return 0;
}

/* Would connecting to dst reach one of sluice's own listeners?  Each is
 * bound to one family (IPv6 ones are V6ONLY): a wildcard one takes every
 * address of this host in its family, another its own address only. */
static inline __attribute__((always_inline)) int is_loop(const struct session *s, const union sockaddr_any *dst)
{
	const struct config *cfg = s->cfg;
	uint16_t port = sockaddr_port(dst);
	struct ip d, li;
	ip_of(dst, &d);
	for (int i = 0; i < cfg->nlisten; i++) {
		const union sockaddr_any *l = bound(cfg, i);
		if (sockaddr_port(l) != port || (l->sa.sa_family == AF_INET) != d.v4)
			continue;
		int wildcard = l->sa.sa_family == AF_INET ? l->in.sin_addr.s_addr == htonl(INADDR_ANY)
							  : IN6_IS_ADDR_UNSPECIFIED(&l->in6.sin6_addr);
		if (wildcard) {
			union sockaddr_any as = { 0 };
			if (d.v4) {
				as.in.sin_family = AF_INET;
				memcpy(&as.in.sin_addr, d.b, 4);
			} else {
				as.in6.sin6_family = AF_INET6;
				memcpy(&as.in6.sin6_addr, d.b, 16);
			}
			if (policy_addr_is_self(s->cfg->policy, &as.sa))
				return 1;
			continue;
		}
		ip_of(l, &li);
		if (memcmp(li.b, d.b, d.v4 ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}

void access_refuse(struct session *s, int status, int rule, const union sockaddr_any *dst)
{
	char a[80], d[80];
	const char *method = s->x->tunnel == T_TLS	 ? "TLS"
			     : s->x->tunnel == T_CONNECT ? "CONNECT"
							: llhttp_method_name((llhttp_method_t)s->x->req.method);
	char target[DNS_NAME_MAX + 16];
	int v6 = strchr(s->x->host, ':') != NULL;
	snprintf(target, sizeof(target), "%s%s%s:%u", v6 ? "[" : "", s->x->host, v6 ? "]" : "", s->x->port);
	if (status == 508)
		log_info("client %s: %s %s: %s is sluice itself: answering 508", log_addr(&s->peer.sa, a, sizeof(a)),
			 method, target, log_addr(&dst->sa, d, sizeof(d)));
	else
		log_info("client %s: %s %s%s%s denied by %s", log_addr(&s->peer.sa, a, sizeof(a)), method, target,
			 dst ? " at " : "", dst ? log_addr(&dst->sa, d, sizeof(d)) : "",
			 policy_rule_where(s->cfg->policy, rule));
	s->x->rec.denied = 1;
	metrics_denial(&s->w->m, status, status == 508 ? "loop guard" : policy_rule_where(s->cfg->policy, rule));
	if (s->x->tunnel == T_TLS) {
		/* a redirected TLS client cannot be answered in HTTP: a fatal
		 * access_denied alert (RFC 8446 6) lets its browser say why.
		 * Its ClientHello was read, so the close that follows is a FIN
		 * and the alert arrives. */
		static const unsigned char alert[] = { 21, 3, 3, 0, 2, 2, 49 };
		ssize_t n = send(s->client.fd, alert, sizeof(alert), MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)n; /* a client gone or not reading gets the close alone */
	}
	exchange_error(s, status, status == 508 ? "the request loops back to sluice" : "access denied by sluice policy");
}

int access_check_request(struct session *s)
{
	struct acl_request r;
	int rule;
	enum acl_verdict v;
	if (s->acl_conn_done == 2) {
		/* rules that look at the connection only: its first request's
		 * answer holds for every one of them */
		v = (enum acl_verdict)s->acl_verdict;
		rule = s->acl_rule;
		s->x->acl_pend = s->acl_conn_pend;
	} else {
		fill_request(s, &r);
		v = policy_check(s->cfg->policy, &r, NULL, &rule, &s->x->acl_pend);
		if (!policy_per_request(s->cfg->policy)) {
			s->acl_conn_done = 2;
			s->acl_verdict = (uint8_t)v;
			s->acl_rule = rule;
			s->acl_conn_pend = s->x->acl_pend;
		}
	}
	if (v == ACL_DENY) {
		access_refuse(s, 403, rule, NULL);
		return -1;
	}
	s->x->acl_ask = v == ACL_ASK_ADDR;
	s->x->addr_check = s->x->acl_ask || port_is_listened(s->cfg, s->x->port);
	return 0;
}

int access_check_hop_addr(struct session *s, const union sockaddr_any *dst, int *rule)
{
	if (s->x->parent) {
		*rule = -1;
		return is_loop(s, dst) ? 508 : 0;
	}
	return access_check_addr(s, dst, rule);
}

int access_check_parent_origin(struct session *s)
{
	union sockaddr_any a;
	int rule, st;
	s->x->origin_checked = 1;
	if (route_parse_literal(s->x->host, s->x->port, &a) == 0) {
		st = access_check_addr(s, &a, &rule);
	} else {
		/* no address (AF_UNSPEC): every dst ACL answers no */
		memset(&a, 0, sizeof(a));
		st = access_check_addr(s, &a, &rule);
	}
	if (st == 0)
		return 0;
	access_refuse(s, st, rule, a.sa.sa_family == AF_UNSPEC ? NULL : &a);
	return -1;
}

int access_hop_check(const struct session *s)
{
	return s->x->parent ? port_is_listened(s->cfg, s->x->parent->port) : s->x->addr_check;
}

int access_route(struct session *s)
{
	const struct config *c = s->cfg;
	if (c->route_policy == NULL)
		return -1;
	struct acl_request r;
	fill_request(s, &r);
	if (c->route_policy != c->policy)
		r.conn = NULL; /* worked out against the access policy's ACLs */
	return policy_route(c->route_policy, &r);
}

int access_check_addr(struct session *s, const union sockaddr_any *dst, int *rule)
{
	*rule = -1;
	if (is_loop(s, dst))
		return 508;
	if (!s->x->acl_ask)
		return 0;
	/* only the pending rules' dst ACLs are read, unless there were too
	 * many of them to note */
	struct acl_request r;
	const struct acl_request *rp = NULL;
	if (s->x->acl_pend.all) {
		fill_request(s, &r);
		rp = &r;
	}
	enum acl_verdict v = policy_check_addr(s->cfg->policy, &s->x->acl_pend, rp, &dst->sa, rule);
	return v == ACL_ALLOW ? 0 : 403;
}
