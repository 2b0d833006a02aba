/* acl: named access lists and the ordered http_access rules, in the form
 * squid admins know:
 *
 *   acl NAME TYPE VALUE... | "FILE"...
 *   http_access allow|deny [!]NAME...
 *
 * Types and their values (a quoted FILE holds one value per line, '#'
 * starts a comment):
 *
 *   src        client address: CIDRs (10.0.0.0/8, fc00::/7) or addresses;
 *              a v4-mapped IPv6 client is matched as IPv4
 *   dst        destination address, the same way, checked on every
 *              address a name resolves to; "self" adds every address of
 *              this host (read when the config loads), 0.0.0.0 and ::
 *   dstdomain  a name exactly, or ".example.com": that name and every name
 *              under it; no case, trailing dots ignored; a literal address
 *              target never matches (dst does)
 *   port       destination ports and ranges (80 443 1024-65535)
 *   method     request methods (GET POST CONNECT ...)
 *   user       the authenticated user
 *   listener   the listen line's address (as written there)
 *   all        (predefined as the ACL named "all")
 *
 * A rule matches when every ACL on it does (! negates one); the first rule
 * that matches decides; when none does, the request is denied.  Without
 * any http_access line, the built-in rules (policy_defaults) apply.
 *
 * Rules are checked before DNS with the destination address unknown: a
 * rule whose dst ACL cannot be known yet makes the answer ACL_ASK_ADDR,
 * and the caller asks again for each address before connecting to it.
 *
 * A policy is built while the config loads and then only read: any number
 * of threads check requests against it without locks.  Look-ups cost a
 * hash per name suffix or per address prefix length, whatever the size of
 * the lists.
 */
#ifndef SLUICE_ACL_H
#define SLUICE_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct policy;

/* The answers of the ACLs that depend on the connection alone (src,
 * listener, all), worked out once per client connection (policy_conn):
 * bit i for the ACL defined i-th, the first 64. */
struct acl_conn {
	uint64_t known, yes;
};

/* What a request is known by when the rules are checked. */
struct acl_request {
	const struct sockaddr *client;		/* the client's address */
	const struct sockaddr *listener;	/* the listen line's address */
	const char *host;			/* name or literal address (matched by
						   dst only); NULL: none */
	unsigned port;				/* destination port */
	int method;				/* llhttp method; -1: none (TLS) */
	const char *user;			/* NULL: nobody authenticated */
	const struct acl_conn *conn;		/* NULL: work those out each time */
};

enum acl_verdict {
	ACL_ALLOW,
	ACL_DENY,
	ACL_ASK_ADDR,	/* depends on the destination address: ask per address */
};

/* What an ACL_ASK_ADDR answer leaves to the address: the rules that may
 * match (all their other ACLs do) ahead of the first that surely does.
 * Kept by the caller and handed to policy_check_addr. */
struct acl_pending {
	uint32_t first;		/* the first rule that may match */
	uint32_t sure;		/* the rule that surely matches; nrules: none */
	uint64_t maybes;	/* bit i: rule first + i may match */
	uint8_t all;		/* over 64 rules apart: check them all again */
};

/* An empty policy (only "all" defined, no rules); NULL when out of memory.
 * policy_free(NULL) is a no-op. */
struct policy *policy_new(void);
void policy_free(struct policy *p);

/* Apply one "acl" or "http_access" directive (argv[0] is its name) read at
 * file:line.  0, or -1 with the reason in err (file and line are the
 * caller's to add). */
int policy_directive(struct policy *p, char *const *argv, int argc, const char *file, int line, char *err,
		     size_t errlen);

/* Does the policy have any http_access rule? */
int policy_has_rules(const struct policy *p);

/* A policy holding the built-in rules (the text in policy_default_text);
 * NULL with err when it cannot be built. */
struct policy *policy_defaults(char *err, size_t errlen);
extern const char policy_default_text[];

/* Check a request.  dst: the address about to be connected to (a literal
 * target's own, or one a name resolved to): the answer is ACL_ALLOW or
 * ACL_DENY.  dst NULL: not known yet (before DNS): ACL_ASK_ADDR when the
 * answer depends on it, with *pend filled (pend may be NULL when dst is
 * not).  *rule: the deciding rule's index, -1 for none. */
enum acl_verdict policy_check(const struct policy *p, const struct acl_request *r, const struct sockaddr *dst,
			      int *rule, struct acl_pending *pend);

/* After ACL_ASK_ADDR for request r: the answer for address dst (ACL_ALLOW
 * or ACL_DENY).  Only the dst ACLs of the pending rules are looked at,
 * unless pend->all: only then is r read (NULL accepted otherwise). */
enum acl_verdict policy_check_addr(const struct policy *p, const struct acl_pending *pend,
				   const struct acl_request *r, const struct sockaddr *dst, int *rule);

/* Do the rules look at anything of a request but its connection (client,
 * listener) and the destination address?  If not, the answer before DNS
 * is the same for every request of a connection. */
int policy_per_request(const struct policy *p);

/* Work out r's connection ACLs (r->client, r->listener) into *c, for
 * r->conn of this connection's requests. */
void policy_conn(const struct policy *p, const struct acl_request *r, struct acl_conn *c);

/* "file:line" of a rule, for logs; "no rule matched" for -1. */
const char *policy_rule_where(const struct policy *p, int rule);

/* Is this address one of this host's own (loopback, unspecified, or an
 * interface's as of when the policy was built)? */
int policy_addr_is_self(const struct policy *p, const struct sockaddr *a);

/* --- route lines ------------------------------------------------------------------ */

/* Route rules: the conditions of "route WHERE [!]ACL..." lines, over the
 * same ACLs, in their own list; what each leads to is the caller's
 * (config.c).  Add one over names[0..n) ([!]NAME each; none: every
 * request) read at file:line.  A dst ACL is refused: routes are chosen
 * before DNS.  0, or -1 with the reason in err. */
int policy_route_add(struct policy *p, char *const *names, int n, const char *file, int line, char *err,
		     size_t errlen);
uint32_t policy_nroutes(const struct policy *p);
/* The index of the first route rule r matches, or -1 (r->conn may be NULL;
 * if not, worked out against this policy). */
int policy_route(const struct policy *p, const struct acl_request *r);

/* --- address sets ----------------------------------------------------------------- */

/* A set of CIDRs, matched like a src ACL (one hash per prefix length), for
 * directives that name trusted peers (proxy_protocol_from).  Built while
 * the config loads, then only read. */
struct addrset;

/* Add "10.0.0.0/8", "fc00::/7" or one address to *s (created on the first
 * add).  0, or -1 with *why. */
int addrset_add(struct addrset **s, const char *cidr, const char **why);
/* Is a in s?  A NULL set holds nothing. */
int addrset_match(const struct addrset *s, const struct sockaddr *a);
void addrset_free(struct addrset *s);

#endif
