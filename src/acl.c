/* acl: building a policy from acl and http_access lines
 * (include/sluice/acl.h); acl_check.c checks requests against it.
 *
 * Each ACL keeps its values in the shape its look-up wants:
 *
 *   src, dst    per family, a set of "[prefix length][masked address]"
 *               keys and the prefix lengths present, longest first (a
 *               look-up masks the address once per length in use), and
 *               while there are few, the keys in a small array compared
 *               in turn
 *   dstdomain   two name sets, exact names and suffixes (".a.b" kept as
 *               "a.b"): a look-up tries the name, then each parent name
 *               against the suffixes, one hash per label
 *   user        a name set
 *   port        a 65,536-bit map; method: a bit per llhttp method
 *   listener    the few listen addresses, compared in turn
 *
 * A rule is a run of terms (ACL, negated or not) in one array.
 */
#include "acl_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- addresses ---------------------------------------------------------------------- */

static int prefixes_add(struct prefixes *p, const uint8_t *a, int n, int len)
{
	if (p->set == NULL && (p->set = nameset_new()) == NULL)
		return -1;
	uint8_t key[17];
	prefix_key(key, a, n, len);
	int added = nameset_add(p->set, key, (size_t)n + 1);
	if (added == -1)
		return -1;
	if (added && p->nsmall <= SMALL_PREFIXES) {
		if (p->nsmall < SMALL_PREFIXES)
			memcpy(p->small[p->nsmall], key, sizeof(key));
		p->nsmall++;
	}
	int i = 0;
	while (i < p->nlens && p->lens[i] > len)
		i++;
	if (i < p->nlens && p->lens[i] == len)
		return 0;
	memmove(p->lens + i + 1, p->lens + i, (size_t)(p->nlens - i));
	p->lens[i] = (uint8_t)len;
	p->nlens++;
	return 0;
}

static int cidrs_add(struct cidrs *c, const uint8_t *a, int n, int len)
{
	return prefixes_add(n == 4 ? &c->v4 : &c->v6, a, n, len);
}

static void cidrs_free(struct cidrs *c)
{
	nameset_free(c->v4.set);
	nameset_free(c->v6.set);
}

/* "10.0.0.0/8", "fc00::/7", or one address (a whole-length prefix).  A
 * v4-mapped IPv6 prefix becomes the IPv4 one it covers.  The host bits
 * must be clear: "10.1.0.0/8" is a typo more often than not. */
static int parse_cidr(const char *s, uint8_t a[16], int *n, int *len, const char **why)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	struct in6_addr a6;
	int mapped = 0;
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, a) == 1) {
		*n = 4;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		mapped = IN6_IS_ADDR_V4MAPPED(&a6);
		*n = mapped ? 4 : 16;
		memcpy(a, mapped ? a6.s6_addr + 12 : a6.s6_addr, (size_t)*n);
	} else {
		goto bad;
	}
	int max = mapped ? 128 : *n * 8;
	*len = max;
	if (slash) {
		const char *d = slash + 1;
		int v = 0, digits = 0;
		for (; *d >= '0' && *d <= '9' && digits < 4; d++, digits++)
			v = v * 10 + (*d - '0');
		if (digits == 0 || *d || v > max) {
			*why = "bad prefix length";
			return -1;
		}
		*len = v;
	}
	if (mapped) {
		if (*len < 96) {
			*why = "a v4-mapped prefix shorter than /96";
			return -1;
		}
		*len -= 96;
	}
	uint8_t key[17];
	prefix_key(key, a, *n, *len);
	if (memcmp(key + 1, a, (size_t)*n) != 0) {
		*why = "host bits set: the address is not the start of its prefix";
		return -1;
	}
	return 0;
bad:
	*why = "not an IP address or CIDR";
	return -1;
}

/* This host's interface addresses, and the unspecified ones (connect()
 * takes 0.0.0.0 and :: to this host too). */
static int add_self(struct cidrs *c)
{
	static const uint8_t zero[16];
	if (cidrs_add(c, zero, 4, 32) == -1 || cidrs_add(c, zero, 16, 128) == -1)
		return -1;
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs) == -1)
		return 0; /* the fixed ranges still hold */
	int r = 0;
	for (i = ifs; i && r == 0; i = i->ifa_next) {
		uint8_t a[16];
		int n = i->ifa_addr ? addr_bytes(i->ifa_addr, a) : 0;
		if (n)
			r = cidrs_add(c, a, n, n * 8);
	}
	freeifaddrs(ifs);
	return r;
}

/* --- values ---------------------------------------------------------------------------- */

static int parse_port(const char *s, const char **end)
{
	int v = 0, digits = 0;
	for (; *s >= '0' && *s <= '9' && digits < 6; s++, digits++)
		v = v * 10 + (*s - '0');
	*end = s;
	return digits && v >= 1 && v <= 65535 ? v : -1;
}

/* One value of an ACL, inline or from a file.  0, or -1 with why. */
static int add_value(struct policy *p, struct acl *a, const char *v, const char **why)
{
	switch (a->type) {
	case A_SRC:
	case A_DST: {
		if (a->type == A_DST && strcmp(v, "self") == 0)
			return add_self(&a->addrs) == -1 ? (*why = "out of memory", -1) : 0;
		uint8_t addr[16];
		int n, len;
		if (parse_cidr(v, addr, &n, &len, why) == -1)
			return -1;
		if (cidrs_add(&a->addrs, addr, n, len) == -1) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	}
	case A_DSTDOMAIN: {
		int suffix = v[0] == '.';
		char n[256];
		int len = fold_name(v + suffix, strlen(v + suffix), n);
		if (len <= 0 || memchr(n, '/', (size_t)len) || memchr(n, ':', (size_t)len)) {
			*why = "not a domain name (NAME or .SUFFIX)";
			return -1;
		}
		struct nameset **set = suffix ? &a->suffix : &a->exact;
		if ((*set == NULL && (*set = nameset_new()) == NULL) || nameset_add(*set, n, (size_t)len) == -1) {
			*why = "out of memory";
			return -1;
		}
		return 0;
	}
	case A_USER:
		if ((a->exact == NULL && (a->exact = nameset_new()) == NULL) ||
		    nameset_add(a->exact, v, strlen(v)) == -1) {
			*why = "out of memory or a name too long";
			return -1;
		}
		return 0;
	case A_PORT: {
		const char *e;
		int lo = parse_port(v, &e), hi = lo;
		if (lo != -1 && *e == '-')
			hi = parse_port(e + 1, &e);
		if (lo == -1 || hi == -1 || *e || hi < lo) {
			*why = "a port is 1-65535, a range LOW-HIGH";
			return -1;
		}
		if (a->ports == NULL && (a->ports = calloc(65536 / 8, 1)) == NULL) {
			*why = "out of memory";
			return -1;
		}
		for (int i = lo; i <= hi; i++)
			a->ports[i >> 3] |= (uint8_t)(1u << (i & 7));
		return 0;
	}
	case A_METHOD:
		for (int m = 0; m < METHODS; m++) {
			const char *name = llhttp_method_name((llhttp_method_t)m);
			if (name && strcmp(name, v) == 0) {
				a->methods |= 1ull << m;
				return 0;
			}
		}
		*why = "not a request method sluice knows (upper case: GET, POST, CONNECT ...)";
		return -1;
	case A_LISTENER: {
		struct listen_cfg l;
		if (config_parse_listen(v, &l) == -1) {
			*why = "want a listen line's address: IPv4:PORT, [IPv6]:PORT or *:PORT";
			return -1;
		}
		if (a->nlisteners == ACL_LISTENERS_MAX) {
			*why = "too many listeners";
			return -1;
		}
		a->listeners[a->nlisteners++] = l.addr;
		return 0;
	}
	case A_ALL:
	case A_NTYPES:
		break;
	}
	(void)p;
	*why = "takes no values";
	return -1;
}

#define ACL_FILE_MAX (256u << 20)

/* Values from a file: one per line (several on a line are taken too),
 * '#' starts a comment. */
static int add_file(struct policy *p, struct acl *a, const char *path, char *err, size_t errlen)
{
	/* a list is a regular file: a FIFO or a terminal named by mistake
	 * would block the load (O_NONBLOCK keeps even the open from it) */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read \"%s\": %s", path, fd == -1 ? strerror(errno) : "not a regular file");
		if (fd != -1)
			close(fd);
		return -1;
	}
	FILE *f = fdopen(fd, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read \"%s\": %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* bounded lines: a path to something endless (/dev/zero) is an
	 * error, not all the memory there is */
	char line[4096];
	int lineno = 0, r = 0;
	size_t total = 0;
	while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((total += strlen(line)) > ACL_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %u MiB", path, ACL_FILE_MAX >> 20);
			r = -1;
			break;
		}
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof(line) - 2);
			r = -1;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *save = NULL;
		for (char *v = strtok_r(line, " \t\r\n", &save); v && r == 0; v = strtok_r(NULL, " \t\r\n", &save)) {
			const char *why = NULL;
			if (add_value(p, a, v, &why) == -1) {
				snprintf(err, errlen, "%s:%d: \"%s\": %s", path, lineno, v, why);
				r = -1;
			}
		}
	}
	if (r == 0 && ferror(f)) {
		snprintf(err, errlen, "cannot read \"%s\": %s", path, strerror(errno));
		r = -1;
	}
	fclose(f);
	return r;
}

/* --- the policy ------------------------------------------------------------------------ */

static char *where_of(const char *file, int line)
{
	char buf[4200];
	snprintf(buf, sizeof(buf), "%s:%d", file, line);
	return strdup(buf);
}

/* Room for one more element in *arr (of *cap, each size bytes). */
static int reserve(void **arr, uint32_t n, uint32_t *cap, size_t size)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : 16;
	void *t = realloc(*arr, (size_t)c * size);
	if (t == NULL)
		return -1;
	*arr = t;
	*cap = c;
	return 0;
}

static struct acl *find_acl(const struct policy *p, const char *name)
{
	for (uint32_t i = 0; i < p->nacls; i++)
		if (strcmp(p->acls[i].name, name) == 0)
			return &p->acls[i];
	return NULL;
}

static struct acl *new_acl(struct policy *p, const char *name, enum acl_type type, const char *file, int line)
{
	if (reserve((void **)&p->acls, p->nacls, &p->cap_acls, sizeof(struct acl)) == -1)
		return NULL;
	struct acl *a = &p->acls[p->nacls];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->type = type;
	if ((a->where = where_of(file, line)) == NULL)
		return NULL;
	if (p->nacls < 64 && (type == A_DSTDOMAIN || type == A_USER))
		p->costly |= 1ull << p->nacls;
	p->nacls++;
	return a;
}

struct policy *policy_new(void)
{
	struct policy *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	if (new_acl(p, "all", A_ALL, "built-in", 0) == NULL || add_self(&p->self) == -1) {
		policy_free(p);
		return NULL;
	}
	return p;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < p->nacls; i++) {
		struct acl *a = &p->acls[i];
		cidrs_free(&a->addrs);
		nameset_free(a->exact);
		nameset_free(a->suffix);
		free(a->ports);
		free(a->where);
	}
	for (uint32_t i = 0; i < p->nrules; i++)
		free(p->rules[i].where);
	for (uint32_t i = 0; i < p->nroutes; i++)
		free(p->routes[i].where);
	free(p->routes);
	cidrs_free(&p->self);
	free(p->acls);
	free(p->terms);
	free(p->rules);
	free(p);
}

static int valid_acl_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= ACL_NAME_MAX || s[0] == '!')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || s[i] == '-' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
			return 0;
	return 1;
}

static int acl_directive(struct policy *p, char *const *argv, int argc, const char *file, int line, char *err,
			 size_t errlen)
{
	if (argc < 3) {
		snprintf(err, errlen, "acl takes NAME TYPE VALUE... (values inline or a \"FILE\")");
		return -1;
	}
	if (!valid_acl_name(argv[1])) {
		snprintf(err, errlen, "\"%s\": an ACL name is letters, digits, '_', '-' and '.'", argv[1]);
		return -1;
	}
	const struct acl *dup = find_acl(p, argv[1]);
	if (dup) {
		snprintf(err, errlen, "ACL \"%s\" is already defined (%s)", argv[1], dup->where);
		return -1;
	}
	int type = -1;
	for (int t = 0; t < A_NTYPES; t++)
		if (t != A_ALL && strcmp(argv[2], type_names[t]) == 0)
			type = t;
	if (type == -1) {
		snprintf(err, errlen, "unknown ACL type \"%s\" (src, dst, dstdomain, port, method, user, listener)",
			 argv[2]);
		return -1;
	}
	if (argc < 4) {
		snprintf(err, errlen, "ACL \"%s\" has no values", argv[1]);
		return -1;
	}
	struct acl *a = new_acl(p, argv[1], (enum acl_type)type, file, line);
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 3; i < argc; i++) {
		const char *v = argv[i];
		size_t vl = strlen(v);
		if (v[0] == '"') {
			if (vl < 3 || v[vl - 1] != '"') {
				snprintf(err, errlen, "%s: a file name is quoted at both ends", v);
				return -1;
			}
			char path[4096];
			snprintf(path, sizeof(path), "%.*s", (int)(vl - 2), v + 1);
			if (add_file(p, a, path, err, errlen) == -1)
				return -1;
			continue;
		}
		const char *why = NULL;
		if (add_value(p, a, v, &why) == -1) {
			snprintf(err, errlen, "\"%s\": %s", v, why);
			return -1;
		}
	}
	return 0;
}

/* A rule over the ACLs named in names[0..n) ([!]NAME each), appended to
 * *rules.  route: a route line's, which may not use dst ACLs. */
static int add_rule(struct policy *p, struct rule **rules, uint32_t *nrules, uint32_t *cap, char *const *names,
		    int n, int allow, int route, const char *file, int line, char *err, size_t errlen)
{
	uint32_t first = p->nterms;
	for (int i = 0; i < n; i++) {
		int neg = names[i][0] == '!';
		const struct acl *a = find_acl(p, names[i] + neg);
		if (a == NULL) {
			p->nterms = first;
			snprintf(err, errlen, "unknown ACL \"%s\" (an ACL is defined before the rules that use it)",
				 names[i] + neg);
			return -1;
		}
		if (route && a->type == A_DST) {
			/* routes are chosen before any lookup: a parent resolves
			 * the names it is sent itself */
			p->nterms = first;
			snprintf(err, errlen, "ACL \"%s\" is a dst ACL: a route is chosen before DNS (use dstdomain)",
				 a->name);
			return -1;
		}
		if (reserve((void **)&p->terms, p->nterms, &p->cap_terms, sizeof(struct term)) == -1)
			goto oom;
		if (!route && a->type != A_SRC && a->type != A_LISTENER && a->type != A_ALL && a->type != A_DST)
			p->per_request = 1;
		p->terms[p->nterms++] = (struct term){ (uint32_t)(a - p->acls), (uint8_t)neg };
	}
	if (reserve((void **)rules, *nrules, cap, sizeof(struct rule)) == -1)
		goto oom;
	struct rule *r = &(*rules)[*nrules];
	r->allow = (uint8_t)allow;
	r->first = first;
	r->n = p->nterms - first;
	r->wide = 0;
	r->pos = r->neg = 0;
	for (uint32_t t = first; t < p->nterms; t++) {
		if (p->terms[t].acl >= 64)
			r->wide = 1;
		else if (p->terms[t].neg)
			r->neg |= 1ull << p->terms[t].acl;
		else
			r->pos |= 1ull << p->terms[t].acl;
	}
	if ((r->where = where_of(file, line)) == NULL)
		goto oom;
	(*nrules)++;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int access_directive(struct policy *p, char *const *argv, int argc, const char *file, int line, char *err,
			    size_t errlen)
{
	if (argc < 3 || (strcmp(argv[1], "allow") != 0 && strcmp(argv[1], "deny") != 0)) {
		snprintf(err, errlen, "http_access takes allow|deny [!]ACL...");
		return -1;
	}
	return add_rule(p, &p->rules, &p->nrules, &p->cap_rules, argv + 2, argc - 2, argv[1][0] == 'a', 0, file,
			line, err, errlen);
}

int policy_route_add(struct policy *p, char *const *names, int n, const char *file, int line, char *err,
		     size_t errlen)
{
	return add_rule(p, &p->routes, &p->nroutes, &p->cap_routes, names, n, 1, 1, file, line, err, errlen);
}

uint32_t policy_nroutes(const struct policy *p)
{
	return p ? p->nroutes : 0;
}

int policy_directive(struct policy *p, char *const *argv, int argc, const char *file, int line, char *err,
		     size_t errlen)
{
	if (strcmp(argv[0], "acl") == 0)
		return acl_directive(p, argv, argc, file, line, err, errlen);
	return access_directive(p, argv, argc, file, line, err, errlen);
}

int policy_has_rules(const struct policy *p)
{
	return p && p->nrules > 0;
}

/* The rules without any http_access line: an open proxy is never the
 * default, cloud metadata (link-local) is never a destination, and the
 * gateway's own services are for its own users only. */
const char policy_default_text[] =
	"acl to_linklocal  dst 169.254.0.0/16 fe80::/10\n"
	"acl to_self       dst self 127.0.0.0/8 ::1 0.0.0.0/8\n"
	"acl from_loopback src 127.0.0.0/8 ::1\n"
	"acl from_private  src 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7\n"
	"http_access deny  to_linklocal\n"
	"http_access deny  to_self !from_loopback\n"
	"http_access allow from_loopback\n"
	"http_access allow from_private\n"
	"http_access deny  all\n";

struct policy *policy_defaults(char *err, size_t errlen)
{
	struct policy *p = policy_new();
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char text[sizeof(policy_default_text)];
	memcpy(text, policy_default_text, sizeof(text));
	char *save = NULL;
	int line = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *argv[16], *s2 = NULL;
		int argc = 0;
		line++;
		for (char *t = strtok_r(l, " ", &s2); t && argc < 16; t = strtok_r(NULL, " ", &s2))
			argv[argc++] = t;
		if (policy_directive(p, argv, argc, "built-in", line, err, errlen) == -1) {
			policy_free(p);
			return NULL;
		}
	}
	return p;
}

/* --- address sets ----------------------------------------------------------------- */

struct addrset {
	struct cidrs c;
};

int addrset_add(struct addrset **s, const char *cidr, const char **why)
{
	uint8_t a[16];
	int n, len;
	if (parse_cidr(cidr, a, &n, &len, why) == -1)
		return -1;
	if (*s == NULL && (*s = calloc(1, sizeof(**s))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (cidrs_add(&(*s)->c, a, n, len) == -1) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

int addrset_match(const struct addrset *s, const struct sockaddr *a)
{
	return s != NULL && acl_cidrs_match(&s->c, a);
}

void addrset_free(struct addrset *s)
{
	if (s == NULL)
		return;
	cidrs_free(&s->c);
	free(s);
}
