/* acl_check: requests checked against a policy (include/sluice/acl.h).
 *
 * A rule's answer is three-valued before DNS: it matches, it does not, or
 * it may (every ACL on it matches but a dst one, which needs the address).
 * policy_check walks the rules once; policy_check_addr looks at the dst
 * ACLs of the rules that may match, and nothing else, for each address.
 */
#include "acl_int.h"

#include <arpa/inet.h>

/* Does a fall in the prefix whose key is k?  (A byte loop: at most 16,
 * and usually one or two, cheaper than a call to memcmp.) */
static int in_prefix(const uint8_t *k, const uint8_t *a)
{
	int len = k[0], full = len >> 3, rest = len & 7;
	for (int i = 0; i < full; i++)
		if (k[1 + i] != a[i])
			return 0;
	return rest == 0 || (a[full] & (uint8_t)(0xff << (8 - rest))) == k[1 + full];
}

static int prefixes_match(const struct prefixes *p, const uint8_t *a, int n)
{
	if (p->nsmall <= SMALL_PREFIXES) {
		for (int i = 0; i < p->nsmall; i++)
			if (in_prefix(p->small[i], a))
				return 1;
		return 0;
	}
	uint8_t key[17];
	for (int i = 0; i < p->nlens; i++) {
		prefix_key(key, a, n, p->lens[i]);
		if (nameset_has(p->set, key, (size_t)n + 1))
			return 1;
	}
	return 0;
}

int acl_cidrs_match(const struct cidrs *c, const struct sockaddr *sa)
{
	uint8_t a[16];
	int n = addr_bytes(sa, a);
	return n && prefixes_match(n == 4 ? &c->v4 : &c->v6, a, n);
}

int policy_addr_is_self(const struct policy *p, const struct sockaddr *sa)
{
	uint8_t a[16];
	int n = addr_bytes(sa, a);
	if (n == 4 && a[0] == 127)
		return 1;
	static const uint8_t loop6[16] = { [15] = 1 };
	if (n == 16 && memcmp(a, loop6, 16) == 0)
		return 1;
	return n && prefixes_match(n == 4 ? &p->self.v4 : &p->self.v6, a, n);
}

static int same_sockaddr(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

/* --- checking ----------------------------------------------------------------------- */

/* One check: the request, and the answers found so far for the first 64
 * ACLs, a bit each (an ACL on several rules is looked up once), starting
 * from the connection's (src, listener, all).  The target's name is
 * folded once, when a dstdomain ACL first needs it. */
struct eval {
	const struct policy *p;
	const struct acl_request *r;
	const struct sockaddr *dst;
	uint64_t known, yes, unknown;
	int name_len;		/* -2: not folded yet; -1: no name (none, or a literal) */
	char name[256];
};

/* A literal address target (IPv6 ones come without brackets): such a
 * target names no domain. */
static int is_literal(const char *host)
{
	struct in_addr a4;
	return strchr(host, ':') || ((unsigned)(host[0] - '0') < 10 && inet_pton(AF_INET, host, &a4) == 1);
}

static int match_domain(const struct acl *a, struct eval *e)
{
	if (e->name_len == -2) {
		const char *h = e->r->host;
		e->name_len = h && !is_literal(h) ? fold_name(h, strlen(h), e->name) : -1;
	}
	int len = e->name_len;
	const char *n = e->name;
	if (len <= 0)
		return 0;
	if (nameset_has(a->exact, n, (size_t)len) || nameset_has(a->suffix, n, (size_t)len))
		return 1;
	for (int i = 0; i < len; i++)
		if (n[i] == '.' && nameset_has(a->suffix, n + i + 1, (size_t)(len - i - 1)))
			return 1;
	return 0;
}

/* 1: matches, 0: does not, -1: cannot know yet (dst before DNS). */
static int match_acl(const struct acl *a, struct eval *e)
{
	const struct acl_request *r = e->r;
	switch (a->type) {
	case A_ALL:
		return 1;
	case A_SRC:
		return r->client && acl_cidrs_match(&a->addrs, r->client);
	case A_DST:
		return e->dst ? acl_cidrs_match(&a->addrs, e->dst) : -1;
	case A_DSTDOMAIN:
		return match_domain(a, e);
	case A_PORT:
		return a->ports && r->port >= 1 && r->port <= 65535 && (a->ports[r->port >> 3] >> (r->port & 7) & 1);
	case A_METHOD:
		return r->method >= 0 && r->method < METHODS && (a->methods >> r->method & 1);
	case A_USER:
		return r->user && nameset_has(a->exact, r->user, strlen(r->user));
	case A_LISTENER:
		for (int i = 0; r->listener && i < a->nlisteners; i++)
			if (same_sockaddr((const struct sockaddr *)&a->listeners[i], r->listener))
				return 1;
		return 0;
	case A_NTYPES:
		break;
	}
	return 0;
}

static void eval_init(struct eval *e, const struct policy *p, const struct acl_request *r,
		      const struct sockaddr *dst)
{
	e->p = p;
	e->r = r;
	e->dst = dst;
	e->known = r && r->conn ? r->conn->known : 0;
	e->yes = r && r->conn ? r->conn->yes : 0;
	e->unknown = 0;
	e->name_len = -2;
}

static int acl_answer(struct eval *e, uint32_t idx)
{
	if (idx >= 64)
		return match_acl(&e->p->acls[idx], e);
	uint64_t bit = 1ull << idx;
	if (!(e->known & bit)) {
		int m = match_acl(&e->p->acls[idx], e);
		e->known |= bit;
		e->yes |= m == 1 ? bit : 0;
		e->unknown |= m == -1 ? bit : 0;
	}
	return e->unknown & bit ? -1 : (e->yes & bit) != 0;
}

/* A rule over the first 64 ACLs is its ACLs as two bit sets: those that
 * must match (pos) and must not (neg); the rest are walked term by term. */
static int match_rule(struct eval *e, const struct rule *ru)
{
	if (!ru->wide) {
		/* an answer known already may rule it out; else the cheap
		 * ACLs first (a name look-up only when nothing else decides),
		 * stopping at the first that rules it out */
		uint64_t all = ru->pos | ru->neg;
		for (int pass = 0; pass < 2; pass++) {
			if ((ru->pos & e->known & ~e->yes & ~e->unknown) | (ru->neg & e->yes))
				return 0;
			uint64_t need = all & ~e->known & (pass ? e->p->costly : ~e->p->costly);
			for (; need; need &= need - 1) {
				uint32_t idx = (uint32_t)__builtin_ctzll(need);
				int m = acl_answer(e, idx);
				if (m == ((ru->neg >> idx & 1) ? 1 : 0))
					return 0;
			}
		}
		return all & e->unknown ? -1 : 1;
	}
	int unknown = 0;
	for (uint32_t i = 0; i < ru->n; i++) {
		const struct term *t = &e->p->terms[ru->first + i];
		int m = acl_answer(e, t->acl);
		if (m == -1) {
			unknown = 1;
			continue;
		}
		if (m == t->neg)
			return 0;
	}
	return unknown ? -1 : 1;
}

/* The first rule that matches decides.  Before DNS, rules that might
 * match (they need the address) ahead of the first sure match leave the
 * answer to the address (ACL_ASK_ADDR: the caller asks per address),
 * unless they all answer as that match would: then the address cannot
 * change the answer, and a client every rule denies is denied before any
 * lookup is made for it. */
enum acl_verdict policy_check(const struct policy *p, const struct acl_request *r, const struct sockaddr *dst,
			      int *rule, struct acl_pending *pend)
{
	int maybe = -1, maybe_allow = 0, maybe_deny = 0;
	uint64_t maybes = 0;
	uint8_t all = 0;
	uint32_t i;
	struct eval e;
	eval_init(&e, p, r, dst);
	for (i = 0; i < p->nrules; i++) {
		int m = match_rule(&e, &p->rules[i]);
		if (m == 0)
			continue;
		if (m == 1)
			break;
		if (maybe == -1)
			maybe = (int)i;
		if (i - (uint32_t)maybe < 64)
			maybes |= 1ull << (i - (uint32_t)maybe);
		else
			all = 1;
		maybe_allow |= p->rules[i].allow;
		maybe_deny |= !p->rules[i].allow;
	}
	int allow = i < p->nrules && p->rules[i].allow; /* no sure match: denied */
	if (maybe != -1 && (allow ? maybe_deny : maybe_allow)) {
		*rule = maybe;
		if (pend)
			*pend = (struct acl_pending){ (uint32_t)maybe, i, maybes, all };
		return ACL_ASK_ADDR;
	}
	/* a deny rule that may have matched, when none surely did: denied
	 * either way, and that rule is the likelier reason */
	*rule = i < p->nrules ? (int)i : maybe;
	return allow ? ACL_ALLOW : ACL_DENY;
}

enum acl_verdict policy_check_addr(const struct policy *p, const struct acl_pending *pend,
				   const struct acl_request *r, const struct sockaddr *dst, int *rule)
{
	if (pend->all)
		return policy_check(p, r, dst, rule, NULL);
	/* the pending rules' other ACLs all matched: only their dst ones are
	 * left to look at */
	for (uint64_t m = pend->maybes; m; m &= m - 1) {
		uint32_t i = pend->first + (uint32_t)__builtin_ctzll(m);
		const struct rule *ru = &p->rules[i];
		int ok = 1;
		for (uint32_t t = 0; t < ru->n && ok; t++) {
			const struct term *te = &p->terms[ru->first + t];
			const struct acl *a = &p->acls[te->acl];
			if (a->type == A_DST && acl_cidrs_match(&a->addrs, dst) == te->neg)
				ok = 0;
		}
		if (ok) {
			*rule = (int)i;
			return ru->allow ? ACL_ALLOW : ACL_DENY;
		}
	}
	if (pend->sure < p->nrules) {
		*rule = (int)pend->sure;
		return p->rules[pend->sure].allow ? ACL_ALLOW : ACL_DENY;
	}
	*rule = -1;
	return ACL_DENY;
}

int policy_route(const struct policy *p, const struct acl_request *r)
{
	struct eval e;
	eval_init(&e, p, r, NULL);
	for (uint32_t i = 0; i < p->nroutes; i++)
		if (match_rule(&e, &p->routes[i]) == 1) /* no dst ACL: never -1 */
			return (int)i;
	return -1;
}

int policy_per_request(const struct policy *p)
{
	return p->per_request;
}

void policy_conn(const struct policy *p, const struct acl_request *r, struct acl_conn *c)
{
	c->known = c->yes = 0;
	for (uint32_t i = 0; i < p->nacls && i < 64; i++) {
		enum acl_type t = p->acls[i].type;
		if (t != A_SRC && t != A_LISTENER && t != A_ALL)
			continue;
		c->known |= 1ull << i;
		struct eval e;
		eval_init(&e, p, r, NULL);
		e.known = e.yes = 0;
		if (match_acl(&p->acls[i], &e) == 1)
			c->yes |= 1ull << i;
	}
}

const char *policy_rule_where(const struct policy *p, int rule)
{
	if (rule < 0 || (uint32_t)rule >= p->nrules)
		return "no rule matched";
	return p->rules[rule].where;
}
