/* acl_int: what acl.c (building a policy) and acl_check.c (checking
 * requests against it) share: the policy's types and the address and name
 * forms both sides compare.  Private to those two files.
 */
#ifndef SLUICE_ACL_INT_H
#define SLUICE_ACL_INT_H

#include <llhttp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/acl.h"
#include "sluice/config.h"
#include "sluice/nameset.h"

enum acl_type { A_ALL, A_SRC, A_DST, A_DSTDOMAIN, A_PORT, A_METHOD, A_USER, A_LISTENER, A_NTYPES };

static const char *const type_names[A_NTYPES] = {
	"all", "src", "dst", "dstdomain", "port", "method", "user", "listener",
};

/* llhttp's methods are 0..HTTP_FLUSH; llhttp_method_name aborts past them */
#define METHODS (HTTP_FLUSH + 1)
_Static_assert(METHODS <= 64, "a method ACL keeps one bit per method in 64");
#define ACL_NAME_MAX 64
#define ACL_LISTENERS_MAX CONFIG_MAX_LISTEN

#define SMALL_PREFIXES 8

/* Address prefixes of one family.  A few are compared in turn (cheaper
 * than hashing); more are looked up by length in the set. */
struct prefixes {
	struct nameset *set;	/* keys: length byte, then the masked address */
	uint8_t lens[129];	/* the lengths present, longest first */
	int nlens;
	uint8_t small[SMALL_PREFIXES][17]; /* the first keys, while there are few */
	int nsmall;		/* > SMALL_PREFIXES: use the set */
};

struct cidrs {
	struct prefixes v4, v6;
};

struct acl {
	char name[ACL_NAME_MAX];
	char *where;			/* "file:line" of its definition */
	enum acl_type type;
	struct cidrs addrs;		/* src, dst */
	struct nameset *exact;		/* dstdomain names, users */
	struct nameset *suffix;		/* dstdomain ".suffix" entries */
	uint8_t *ports;			/* port: a bit per port */
	uint64_t methods;		/* method: a bit per llhttp method */
	struct sockaddr_storage listeners[ACL_LISTENERS_MAX];
	int nlisteners;
};

struct term {
	uint32_t acl;
	uint8_t neg;
};

struct rule {
	uint8_t allow;
	uint8_t wide;		/* names an ACL past the 64th: walk its terms */
	uint32_t first, n;	/* its terms */
	uint64_t pos, neg;	/* else: its ACLs that must match, and must not */
	char *where;
};

struct policy {
	struct acl *acls;
	uint32_t nacls, cap_acls;
	struct term *terms;
	uint32_t nterms, cap_terms;
	struct rule *rules;
	uint32_t nrules, cap_rules;
	struct rule *routes;	/* route lines' conditions (policy_route_add) */
	uint32_t nroutes, cap_routes;
	struct cidrs self;	/* this host's interface addresses */
	uint64_t costly;	/* of the first 64 ACLs, those that hash a name */
	uint8_t per_request;	/* a rule looks at more than the connection and
				   the address (policy_per_request) */
};

/* --- forms both sides compare ---------------------------------------------------------- */

/* The bytes an address is matched by: 4 for IPv4 and v4-mapped IPv6, 16 for
 * other IPv6, 0 for anything else. */
static inline int addr_bytes(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			return 4;
		}
		memcpy(out, a->s6_addr, 16);
		return 16;
	}
	return 0;
}

/* key = prefix length, then the n address bytes with the host bits cleared. */
static inline void prefix_key(uint8_t key[17], const uint8_t *a, int n, int len)
{
	key[0] = (uint8_t)len;
	for (int i = 0; i < n; i++) {
		int bits = len - i * 8;
		uint8_t m = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		key[1 + i] = a[i] & m;
	}
}

/* A host name as it is compared: lower case, without a trailing dot.
 * Returns its length, or -1 when it does not fit in out (256 bytes). */
static inline int fold_name(const char *s, size_t len, char out[256])
{
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len > 255)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (char)((unsigned)c - 'A' < 26u ? c | 0x20 : c);
	}
	return (int)len;
}

/* Does the address fall in one of these prefixes? (acl_check.c) */
int acl_cidrs_match(const struct cidrs *c, const struct sockaddr *sa);

#endif
