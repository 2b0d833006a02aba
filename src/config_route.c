/* config_route: the parent, route and route_default lines of the config.
 *
 *   parent NAME HOST:PORT [login=USER:PASSWORD] [weight=N]
 *   route NAME[,NAME...] [!]ACL... [sticky] [fallback direct]
 *   route direct [!]ACL...
 *   route_default NAME[,NAME...]|direct [sticky] [fallback direct]
 *
 * A route line's conditions are a rule of the policy's route list (acl.h),
 * over the same ACLs as http_access; its target goes into config.routes at
 * the same index.  Part of the config module (config.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/acl.h"
#include "sluice/config.h"
#include "sluice/hash.h"
#include "sluice/http.h"
#include "sluice/parent.h"

const struct parent_cfg *config_parent(const struct config *c, const char *name)
{
	for (int i = 0; i < c->nparents; i++)
		if (strcmp(c->parents[i].name, name) == 0)
			return &c->parents[i];
	return NULL;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= PARENT_NAME_MAX || strcmp(s, "direct") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || s[i] == '-' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
		      ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
			return 0;
	return 1;
}

static size_t base64(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* login=USER:PASSWORD into the header line sent to the parent (RFC 7617:
 * no colon in the user, no control characters in either). */
static int parse_login(const char *v, char *auth, const char **why)
{
	const char *colon = strchr(v, ':');
	size_t len = strlen(v);
	if (colon == NULL || colon == v) {
		*why = "login wants USER:PASSWORD";
		return -1;
	}
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*why = "login: no control characters";
			return -1;
		}
	if (len > 255) {
		*why = "login: at most 255 characters";
		return -1;
	}
	char b64[348];
	base64((const unsigned char *)v, len, b64);
	snprintf(auth, CONFIG_PARENT_AUTH_MAX, "Proxy-Authorization: Basic %s\r\n", b64);
	return 0;
}

static int parse_parent(struct config *c, char *const *argv, int argc, const char **why)
{
	if (argc < 2 || argc > 4) {
		*why = "parent takes NAME HOST:PORT [login=USER:PASSWORD] [weight=N]";
		return -1;
	}
	if (c->nparents == CONFIG_MAX_PARENTS) {
		*why = "too many parents (16)";
		return -1;
	}
	if (!valid_name(argv[0])) {
		*why = "a parent's name: letters, digits, '_', '-', '.', up to 31, not \"direct\"";
		return -1;
	}
	if (config_parent(c, argv[0])) {
		*why = "a parent of that name exists";
		return -1;
	}
	struct parent_cfg *p = &c->parents[c->nparents];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", argv[0]);
	struct http_target t;
	const char *bad;
	if (http_authority_parse(argv[1], strlen(argv[1]), &t, &bad) == -1 || t.port == 0) {
		*why = "want HOST:PORT or [IPv6]:PORT";
		return -1;
	}
	snprintf(p->host, sizeof(p->host), "%s", t.host);
	p->port = t.port;
	p->weight = 1;
	int weighted = 0;
	for (int i = 2; i < argc; i++) {
		if (strncmp(argv[i], "login=", 6) == 0 && !p->auth[0]) {
			if (parse_login(argv[i] + 6, p->auth, why) == -1)
				return -1;
		} else if (strncmp(argv[i], "weight=", 7) == 0 && !weighted++) {
			char *end;
			unsigned long w = strtoul(argv[i] + 7, &end, 10);
			if (*end || end == argv[i] + 7 || w < 1 || w > 1000) {
				*why = "weight wants a number from 1 to 1000";
				return -1;
			}
			p->weight = (uint32_t)w;
		} else {
			*why = "after HOST:PORT: login=USER:PASSWORD and weight=N, each once";
			return -1;
		}
	}
	char where[300];
	snprintf(where, sizeof(where), "%s:%u", p->host, p->port);
	if ((p->slot = parent_slot(p->name, where)) < 0) {
		*why = "more than 64 parent names since sluice started (restart to forget the old ones)";
		return -1;
	}
	p->name_hash = hash_name(p->name);
	c->nparents++;
	return 0;
}

/* "NAME[,NAME...]|direct", then the options at the end of argv (taken off
 * *argc): where a route line or route_default sends its requests. */
static int parse_target(const struct config *c, char *const *argv, int *argc, struct route_cfg *r,
			const char **why)
{
	memset(r, 0, sizeof(*r));
	int n = *argc;
	for (;;) {
		if (n > 1 && strcmp(argv[n - 1], "sticky") == 0 && !r->sticky) {
			r->sticky = 1;
			n--;
		} else if (n > 2 && strcmp(argv[n - 2], "fallback") == 0 && strcmp(argv[n - 1], "direct") == 0 &&
			   !r->fallback_direct) {
			r->fallback_direct = 1;
			n -= 2;
		} else {
			break;
		}
	}
	*argc = n;
	if (strcmp(argv[0], "direct") == 0) {
		if (r->sticky || r->fallback_direct) {
			*why = "sticky and fallback direct are for routes to parents";
			return -1;
		}
		return 0;
	}
	char names[512];
	size_t len = strlen(argv[0]);
	if (len >= sizeof(names)) {
		*why = "too many parents";
		return -1;
	}
	if (argv[0][0] == ',' || argv[0][len - 1] == ',' || strstr(argv[0], ",,")) {
		*why = "want NAME[,NAME...] or direct";
		return -1;
	}
	snprintf(names, sizeof(names), "%s", argv[0]);
	char *save = NULL;
	for (char *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct parent_cfg *p = config_parent(c, tok);
		if (p == NULL) {
			static _Thread_local char bad[128];
			snprintf(bad, sizeof(bad), "no parent named \"%.40s\" (parents are defined before the routes using them)",
				 tok);
			*why = bad;
			return -1;
		}
		for (int i = 0; i < r->nparents; i++)
			if (r->parent[i] == (uint8_t)(p - c->parents)) {
				*why = "a parent named twice";
				return -1;
			}
		r->parent[r->nparents++] = (uint8_t)(p - c->parents);
	}
	if (r->nparents == 0) {
		*why = "want NAME[,NAME...] or direct";
		return -1;
	}
	return 0;
}

int config_route_directive(struct config *c, char *const *argv, int argc, const char *file, int line, char *err,
			   size_t errlen)
{
	const char *why = NULL;
	if (strcmp(argv[0], "parent") == 0) {
		if (parse_parent(c, argv + 1, argc - 1, &why) == -1) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
		return 0;
	}
	int n = argc - 1;
	struct route_cfg r;
	if (n < 1) {
		snprintf(err, errlen, "%s takes NAME[,NAME...]|direct%s", argv[0],
			 strcmp(argv[0], "route") == 0 ? " [!]ACL... [sticky] [fallback direct]"
						       : " [sticky] [fallback direct]");
		return -1;
	}
	if (parse_target(c, argv + 1, &n, &r, &why) == -1) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (strcmp(argv[0], "route_default") == 0) {
		if (n != 1) {
			snprintf(err, errlen, "route_default takes NAME[,NAME...]|direct [sticky] [fallback direct]");
			return -1;
		}
		if (c->has_route_default) {
			snprintf(err, errlen, "route_default given twice");
			return -1;
		}
		c->route_default = r;
		c->has_route_default = 1;
		return 0;
	}
	if (c->nroutes == CONFIG_MAX_ROUTES) {
		snprintf(err, errlen, "too many route lines (%d)", CONFIG_MAX_ROUTES);
		return -1;
	}
	if (c->policy == NULL && (c->policy = policy_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (policy_route_add(c->policy, argv + 2, n - 1, file, line, err, errlen) == -1)
		return -1;
	c->routes[c->nroutes++] = r;
	return 0;
}
