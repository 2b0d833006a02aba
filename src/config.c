#include "sluice/config.h"

#include "sluice/acl.h"
#include "sluice/htpasswd.h"
#include "sluice/textfile.h"
#include "sluice/tls_hello.h"
#include "sluice/top.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	config_parse_listen("127.0.0.1:3128", &c->listen[0]);
	c->nlisten = 0; /* the default listener applies only if none is configured */
	c->workers = 0;
	c->max_connections = 10000;
	c->buffer_size = 16384;
	c->header_max = 16384;
	c->url_max = 8192;
	c->max_headers = 100;
	c->header_timeout = 30000;
	c->keepalive_timeout = 60000;
	c->dns_timeout = 5000;
	c->connect_timeout = 10000;
	c->response_timeout = 60000;
	c->idle_timeout = 120000;
	c->upstream_idle_timeout = 30000;
	c->upstream_pool_max = 1024;
	c->dns_cache_max_ttl = 3600;
	c->dns_negative_ttl = 10;
	c->dns_cache_size = 4096;
	snprintf(c->access_log, sizeof(c->access_log), "stderr");
	c->access_format = ACCESS_SQUID;
	snprintf(c->error_log, sizeof(c->error_log), "stderr");
	c->log_level = LOG_INFO;
	snprintf(c->via_name, sizeof(c->via_name), "sluice");
	snprintf(c->auth_realm, sizeof(c->auth_realm), "sluice");
	c->auth_cache_ttl = 300000;
	c->auth_cache_size = 4096;
	c->auth_threads = 2;
	c->auth_timeout = 10000;
	/* 80: browsers send ws:// WebSockets through a proxy as CONNECT to
	 * port 80 (README, Access control) */
	c->connect_ports[0] = 443;
	c->connect_ports[1] = 80;
	c->nconnect_ports = 2;
	c->tunnel_idle_timeout = 600000;
	c->tunnel_splice = 1;
	c->body_splice_min = 64 * 1024;
	c->defer_accept = 1;
	c->shutdown_timeout = 30000;
	c->top_talkers = 20;
}

void config_clear(struct config *c)
{
	if (c->route_policy != c->policy)
		policy_free(c->route_policy);
	c->route_policy = NULL;
	policy_free(c->policy);
	c->policy = NULL;
	addrset_free(c->proxy_protocol_from);
	c->proxy_protocol_from = NULL;
	addrset_free(c->admin_allow);
	c->admin_allow = NULL;
}

int config_complete(struct config *c, char *err, size_t errlen)
{
	if (c->auth_basic[0]) {
		/* -t names a bad line of the users' file too */
		struct htpasswd *h = htpasswd_load(c->auth_basic, err, errlen);
		if (h == NULL)
			return -1;
		htpasswd_free(h);
	}
	const char *why = NULL;
	if (c->admin_allow == NULL &&
	    (addrset_add(&c->admin_allow, "127.0.0.0/8", &why) == -1 || addrset_add(&c->admin_allow, "::1", &why) == -1)) {
		snprintf(err, errlen, "admin_allow: %s", why);
		return -1;
	}
	int routes = policy_nroutes(c->policy) > 0;
	if (policy_has_rules(c->policy)) {
		c->route_policy = routes ? c->policy : NULL;
		return 0;
	}
	/* ACLs without a rule using them change nothing: the built-in rules
	 * apply, as with no acl line at all; route lines keep the file's ACLs */
	if (routes)
		c->route_policy = c->policy;
	else
		policy_free(c->policy);
	c->policy = policy_defaults(err, errlen);
	return c->policy ? 0 : -1;
}

int config_connect_port_allowed(const struct config *c, unsigned port)
{
	for (int i = 0; i < c->nconnect_ports; i++)
		if (c->connect_ports[i] == port)
			return 1;
	return 0;
}

/* "443 8443" or "443,8443" (spread over argv) into the port list. */
static int parse_connect_ports(struct config *c, char *const *argv, int argc, const char **why)
{
	c->nconnect_ports = 0;
	for (int i = 0; i < argc; i++) {
		char *save = NULL; /* argv points into the caller's line copy: split in place */
		for (char *tok = strtok_r(argv[i], ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *endp;
			errno = 0;
			long p = strtol(tok, &endp, 10);
			if (*endp != '\0' || errno || p < 1 || p > 65535) {
				*why = "connect_ports wants port numbers (1-65535)";
				return -1;
			}
			if (c->nconnect_ports == CONFIG_MAX_CONNECT_PORTS) {
				*why = "too many connect_ports";
				return -1;
			}
			c->connect_ports[c->nconnect_ports++] = (uint16_t)p;
		}
	}
	if (c->nconnect_ports == 0) {
		*why = "connect_ports wants at least one port";
		return -1;
	}
	return 0;
}

int config_parse_listen(const char *s, struct listen_cfg *out)
{
	char host[64];
	const char *port;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	char *endp;
	errno = 0;
	long p = strtol(port, &endp, 10);
	if (*port == '\0' || *endp != '\0' || errno || p < 0 || p > 65535)
		return -1;
	struct sockaddr_in *in = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->addr;
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons((uint16_t)p);
		out->addrlen = sizeof(*in);
	} else if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		out->addrlen = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		out->addrlen = sizeof(*in6);
	} else {
		return -1;
	}
	snprintf(out->text, sizeof(out->text), "%s", s);
	return 0;
}

int config_listen_kind(const char *word)
{
	if (strcmp(word, "transparent") == 0)
		return LISTEN_TRANSPARENT;
	if (strcmp(word, "transparent-tls") == 0)
		return LISTEN_TRANSPARENT_TLS;
	return -1;
}

const char *config_listen_kind_name(enum listen_kind k)
{
	switch (k) {
	case LISTEN_FORWARD:
		return "forward";
	case LISTEN_TRANSPARENT:
		return "transparent";
	case LISTEN_TRANSPARENT_TLS:
		return "transparent-tls";
	case LISTEN_ADMIN:
		return "admin";
	}
	return "?";
}

static int parse_number(const char *s, const char **suffix, unsigned long long *v)
{
	char *endp;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*v = strtoull(s, &endp, 10);
	if (errno)
		return -1;
	*suffix = endp;
	return 0;
}

int config_parse_duration(const char *s, uint32_t *ms)
{
	const char *suf;
	unsigned long long v, mult;
	if (parse_number(s, &suf, &v) == -1)
		return -1;
	if (strcmp(suf, "ms") == 0)
		mult = 1;
	else if (*suf == '\0' || strcmp(suf, "s") == 0)
		mult = 1000;
	else if (strcmp(suf, "m") == 0)
		mult = 60000;
	else if (strcmp(suf, "h") == 0)
		mult = 3600000;
	else
		return -1;
	if (v > UINT32_MAX / mult)
		return -1;
	*ms = (uint32_t)(v * mult);
	return 0;
}

int config_parse_size(const char *s, uint32_t *bytes)
{
	const char *suf;
	unsigned long long v, mult;
	if (parse_number(s, &suf, &v) == -1)
		return -1;
	if (*suf == '\0')
		mult = 1;
	else if (strcasecmp(suf, "k") == 0)
		mult = 1024;
	else if (strcasecmp(suf, "m") == 0)
		mult = 1024 * 1024;
	else
		return -1;
	if (v > UINT32_MAX / mult)
		return -1;
	*bytes = (uint32_t)(v * mult);
	return 0;
}

static int parse_uint(const char *s, uint32_t max, uint32_t *out)
{
	const char *suf;
	unsigned long long v;
	if (parse_number(s, &suf, &v) == -1 || *suf != '\0' || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* The resolver list (the directive, or -r) in the forms c-ares 1.18's
 * ares_set_servers_ports_csv reads the same way (dns.c gives a bare [IPv6]
 * the port 53, which c-ares needs): IPv4, IPv4:PORT, IPv6, [IPv6],
 * [IPv6]:PORT, comma-separated, no spaces; at most 8 servers (dns.c
 * watches a UDP and a TCP socket for each, 16 in all).  0, or -1 with err
 * filled.  "" (the system's) is fine. */
static int check_resolver(const char *list, char *err, size_t errlen)
{
	int nservers = 0;
	for (const char *p = list; *list;) {
		size_t len = strcspn(p, ",");
		char item[INET6_ADDRSTRLEN + sizeof("[]:65535")];
		unsigned char bin[sizeof(struct in6_addr)];
		char *host = item, *port = NULL;
		const char *why = NULL;
		if (len == 0 || len >= sizeof(item)) {
			why = len ? "not an address" : "an empty entry";
		} else {
			memcpy(item, p, len);
			item[len] = '\0';
			char *colon = strchr(item, ':');
			if (item[0] == '[') {
				char *close = strchr(item, ']');
				if (close == NULL) {
					why = "'[' without ']'";
				} else {
					*close = '\0';
					host = item + 1;
					if (close[1] == ':')
						port = close + 2;
					else if (close[1] != '\0')
						why = "':PORT' or nothing may follow ']'";
					if (why == NULL && inet_pton(AF_INET6, host, bin) != 1)
						why = "not an IPv6 address inside [ ]";
				}
			} else if (colon && strchr(colon + 1, ':') == NULL) {
				*colon = '\0'; /* one colon: IPv4:PORT (an IPv6 address has two or more) */
				port = colon + 1;
				if (inet_pton(AF_INET, host, bin) != 1)
					why = "not IPv4:PORT";
			} else if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1) {
				why = "not an IPv4 or IPv6 address";
			}
			uint32_t v;
			if (why == NULL && port && (parse_uint(port, 65535, &v) == -1 || v == 0))
				why = "the port must be 1 to 65535";
		}
		if (why) {
			snprintf(err, errlen,
				 "resolver %s: \"%.*s\": %s (want IPv4, IPv4:PORT, IPv6, [IPv6] or [IPv6]:PORT, "
				 "comma-separated)",
				 list, (int)(len < 64 ? len : 64), p, why);
			return -1;
		}
		if (++nservers > 8) {
			snprintf(err, errlen, "resolver %s: at most 8 servers", list);
			return -1;
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	return 0;
}

/* How a directive's value is read and in which unit it is kept. */
enum kind {
	K_MS,		/* a duration ("30s", "500ms"), kept in milliseconds */
	K_SECONDS,	/* a duration, kept in whole seconds (TTLs) */
	K_SIZE,		/* "16k", kept in bytes */
	K_COUNT,	/* a plain number */
	K_STRING,
};

struct directive {
	const char *name;
	enum kind kind;
	size_t offset;
	size_t size;		/* K_STRING: field size */
	const char *help;	/* what a bad value should look like */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const struct directive directives[] = {
	{ "max_connections", K_COUNT, FIELD(max_connections), "a number" },
	{ "max_connections_per_client", K_COUNT, FIELD(max_connections_per_client), "a number (0: no limit)" },
	{ "buffer_size", K_SIZE, FIELD(buffer_size), "a size such as 16k" },
	{ "worker_buffers_max", K_COUNT, FIELD(worker_buffers_max), "a number (0: no limit)" },
	{ "header_max", K_SIZE, FIELD(header_max), "a size such as 16k" },
	{ "url_max", K_SIZE, FIELD(url_max), "a size such as 8k" },
	{ "max_headers", K_COUNT, FIELD(max_headers), "a number" },
	{ "header_timeout", K_MS, FIELD(header_timeout), "a duration such as 30s" },
	{ "keepalive_timeout", K_MS, FIELD(keepalive_timeout), "a duration such as 60s" },
	{ "dns_timeout", K_MS, FIELD(dns_timeout), "a duration such as 5s" },
	{ "connect_timeout", K_MS, FIELD(connect_timeout), "a duration such as 10s" },
	{ "response_timeout", K_MS, FIELD(response_timeout), "a duration such as 60s" },
	{ "idle_timeout", K_MS, FIELD(idle_timeout), "a duration such as 120s" },
	{ "tunnel_idle_timeout", K_MS, FIELD(tunnel_idle_timeout), "a duration such as 10m" },
	{ "body_splice_min", K_SIZE, FIELD(body_splice_min), "a size such as 64k (0: off)" },
	{ "tunnel_pipe_memory", K_SIZE, FIELD(tunnel_pipe_memory), "a size such as 64m (0: auto)" },
	{ "upstream_idle_timeout", K_MS, FIELD(upstream_idle_timeout), "a duration such as 30s" },
	{ "upstream_pool_max", K_COUNT, FIELD(upstream_pool_max), "a number" },
	{ "dns_cache_max_ttl", K_SECONDS, FIELD(dns_cache_max_ttl), "a duration such as 1h" },
	{ "dns_negative_ttl", K_SECONDS, FIELD(dns_negative_ttl), "a duration such as 10s" },
	{ "dns_cache_size", K_COUNT, FIELD(dns_cache_size), "a number" },
	{ "access_log", K_STRING, FIELD(access_log), "a path, stderr or off" },
	{ "error_log", K_STRING, FIELD(error_log), "a path or stderr" },
	{ "via_name", K_STRING, FIELD(via_name), "a token" },
	{ "auth_basic", K_STRING, FIELD(auth_basic), "an htpasswd file" },
	{ "auth_realm", K_STRING, FIELD(auth_realm), "one word, up to 127 characters" },
	{ "auth_cache_ttl", K_MS, FIELD(auth_cache_ttl), "a duration such as 5m" },
	{ "auth_cache_size", K_COUNT, FIELD(auth_cache_size), "a number" },
	{ "auth_threads", K_COUNT, FIELD(auth_threads), "a number (1-64)" },
	{ "auth_timeout", K_MS, FIELD(auth_timeout), "a duration such as 10s" },
	{ "shutdown_timeout", K_MS, FIELD(shutdown_timeout), "a duration such as 30s" },
	{ "top_talkers", K_COUNT, FIELD(top_talkers), "a number from 1 to 256" },
};

/* Directives that take on or off, kept as 1 or 0 in an int. */
static const struct {
	const char *name;
	size_t offset;
	const char *why;
} on_off[] = {
	{ "tunnel_splice", offsetof(struct config, tunnel_splice), "tunnel_splice wants on or off" },
	{ "defer_accept", offsetof(struct config, defer_accept), "defer_accept wants on or off" },
};

/* listen ADDRESS:PORT [transparent|transparent-tls] [proxy-protocol] */
static int parse_listen_line(struct config *c, char *const *argv, int argc, const char **why)
{
	if (argc < 1 || argc > 3) {
		*why = "listen takes ADDRESS:PORT [transparent|transparent-tls] [proxy-protocol]";
		return -1;
	}
	if (c->nlisten == CONFIG_MAX_LISTEN) {
		*why = "too many listen directives";
		return -1;
	}
	struct listen_cfg l;
	if (config_parse_listen(argv[0], &l) == -1) {
		*why = "want IPv4:PORT, [IPv6]:PORT or *:PORT";
		return -1;
	}
	int kinds = 0;
	for (int i = 1; i < argc; i++) {
		int kind = config_listen_kind(argv[i]);
		if (strcmp(argv[i], "proxy-protocol") == 0 && !l.proxy_protocol) {
			l.proxy_protocol = 1;
		} else if (kind != -1 && kinds++ == 0) {
			l.kind = (enum listen_kind)kind;
		} else {
			*why = "after the address: transparent or transparent-tls, and proxy-protocol, each once";
			return -1;
		}
	}
	c->listen[c->nlisten++] = l;
	return 0;
}

/* Directives parsed by code of their own, not the table (the docs test
 * lists them through config_directive_name). */
static const char *const special_names[] = { "listen", "proxy_protocol_from", "admin", "admin_allow",
					     "connect_ports", "workers",
					     "resolver", "access_log_format", "log_level", "tunnel_splice",
					     "defer_accept", "acl", "http_access", "parent", "route", "route_default" };

const char *config_directive_name(size_t i)
{
	size_t nspecial = sizeof(special_names) / sizeof(special_names[0]);
	if (i < nspecial)
		return special_names[i];
	i -= nspecial;
	return i < sizeof(directives) / sizeof(directives[0]) ? directives[i].name : NULL;
}

/* Directives whose value needs more than a table entry. */
static int apply_special(struct config *c, const char *name, char *const *argv, int argc,
			 const char **why)
{
	if (strcmp(name, "listen") == 0)
		return parse_listen_line(c, argv, argc, why);
	if (strcmp(name, "proxy_protocol_from") == 0 || strcmp(name, "admin_allow") == 0) {
		int admin = strcmp(name, "admin_allow") == 0;
		struct addrset **set = admin ? &c->admin_allow : &c->proxy_protocol_from;
		if (argc == 0) {
			*why = admin ? "admin_allow takes addresses or CIDRs" : "proxy_protocol_from takes addresses or CIDRs";
			return -1;
		}
		for (int i = 0; i < argc; i++)
			if (addrset_add(set, argv[i], why) == -1)
				return -1;
		return 0;
	}
	if (strcmp(name, "admin") == 0) {
		if (argc != 1) {
			*why = "admin takes ADDRESS:PORT";
			return -1;
		}
		char *one[1] = { argv[0] };
		if (parse_listen_line(c, one, 1, why) == -1)
			return -1;
		c->listen[c->nlisten - 1].kind = LISTEN_ADMIN;
		return 0;
	}
	if (strcmp(name, "connect_ports") == 0)
		return parse_connect_ports(c, argv, argc, why);
	static const char *const one_value[] = { "workers", "resolver", "access_log_format", "log_level",
						 "tunnel_splice", "defer_accept" };
	int special = 0;
	for (size_t i = 0; i < sizeof(one_value) / sizeof(one_value[0]); i++)
		special |= strcmp(name, one_value[i]) == 0;
	if (!special) {
		*why = NULL;
		return 1; /* not special */
	}
	if (argc != 1) {
		*why = "expects exactly one value";
		return -1;
	}
	if (strcmp(name, "workers") == 0) {
		uint32_t v;
		if (strcmp(argv[0], "auto") == 0) {
			c->workers = 0;
			return 0;
		}
		if (parse_uint(argv[0], 1024, &v) == -1 || v == 0) {
			*why = "workers wants auto or a number from 1 to 1024";
			return -1;
		}
		c->workers = (int)v;
		return 0;
	}
	if (strcmp(name, "resolver") == 0) {
		/* checked here too, not only in config_validate: the error then
		 * names the line */
		static _Thread_local char bad[600];
		if (strlen(argv[0]) >= sizeof(c->resolver)) {
			*why = "resolver list too long";
			return -1;
		}
		if (check_resolver(argv[0], bad, sizeof(bad)) == -1) {
			*why = bad;
			return -1;
		}
		snprintf(c->resolver, sizeof(c->resolver), "%s", argv[0]);
		return 0;
	}
	if (strcmp(name, "access_log_format") == 0) {
		if (strcmp(argv[0], "squid") == 0)
			c->access_format = ACCESS_SQUID;
		else if (strcmp(argv[0], "combined") == 0)
			c->access_format = ACCESS_COMBINED;
		else if (strcmp(argv[0], "json") == 0)
			c->access_format = ACCESS_JSON;
		else {
			*why = "access_log_format wants squid, combined or json";
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof(on_off) / sizeof(on_off[0]); i++) {
		if (strcmp(name, on_off[i].name) != 0)
			continue;
		if (strcmp(argv[0], "on") != 0 && strcmp(argv[0], "off") != 0) {
			*why = on_off[i].why;
			return -1;
		}
		*(int *)((char *)c + on_off[i].offset) = strcmp(argv[0], "on") == 0;
		return 0;
	}
	if (strcmp(name, "log_level") == 0) {
		if (log_level_parse(argv[0], &c->log_level) == -1) {
			*why = "log_level wants error, warn, info or debug";
			return -1;
		}
		return 0;
	}
	*why = NULL;
	return 1; /* not special */
}

static int apply(struct config *c, char *const *argv, int argc, const char **why)
{
	const char *name = argv[0];
	int r = apply_special(c, name, argv + 1, argc - 1, why);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++) {
		const struct directive *d = &directives[i];
		if (strcmp(d->name, name) != 0)
			continue;
		void *field = (char *)c + d->offset;
		if (argc != 2) {
			*why = "expects exactly one value";
			return -1;
		}
		uint32_t v = 0;
		int bad = 0;
		switch (d->kind) {
		case K_MS:
			bad = config_parse_duration(argv[1], &v);
			break;
		case K_SECONDS:
			bad = config_parse_duration(argv[1], &v);
			v /= 1000;
			break;
		case K_SIZE:
			bad = config_parse_size(argv[1], &v);
			break;
		case K_COUNT:
			bad = parse_uint(argv[1], INT32_MAX, &v);
			break;
		case K_STRING:
			if (strlen(argv[1]) >= d->size)
				bad = -1;
			else
				snprintf(field, d->size, "%s", argv[1]);
			break;
		}
		if (bad) {
			*why = d->help;
			return -1;
		}
		if (d->kind != K_STRING)
			memcpy(field, &v, sizeof(v)); /* every numeric field is 32 bits */
		return 0;
	}
	*why = "unknown directive";
	return -1;
}

int config_parse(struct config *c, const char *text, const char *name, char *err, size_t errlen)
{
	int lineno = 0;
	const char *p = text;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		lineno++;
		char line[4352];
		if (len >= sizeof(line)) {
			snprintf(err, errlen, "%s:%d: line too long", name, lineno);
			return -1;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol ? 1 : 0);

		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *argv[CONFIG_MAX_VALUES + 1];
		int argc = 0;
		char *save = NULL;
		for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
			if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
				snprintf(err, errlen, "%s:%d: too many values", name, lineno);
				return -1;
			}
			argv[argc++] = tok;
		}
		if (argc == 0)
			continue;
		if (strcmp(argv[0], "acl") == 0 || strcmp(argv[0], "http_access") == 0) {
			char why[4200];
			if ((c->policy == NULL && (c->policy = policy_new()) == NULL) ||
			    policy_directive(c->policy, argv, argc, name, lineno, why, sizeof(why)) == -1) {
				snprintf(err, errlen, "%s:%d: %s: %s", name, lineno, argv[0],
					 c->policy ? why : "out of memory");
				return -1;
			}
			continue;
		}
		if (strcmp(argv[0], "parent") == 0 || strcmp(argv[0], "route") == 0 ||
		    strcmp(argv[0], "route_default") == 0) {
			char why[4200];
			if (config_route_directive(c, argv, argc, name, lineno, why, sizeof(why)) == -1) {
				snprintf(err, errlen, "%s:%d: %s: %s", name, lineno, argv[0], why);
				return -1;
			}
			continue;
		}
		const char *why = NULL;
		if (apply(c, argv, argc, &why) == -1) {
			snprintf(err, errlen, "%s:%d: %s: %s", name, lineno, argv[0], why);
			return -1;
		}
	}
	return 0;
}

int config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	char *text = textfile_read(path, 1 << 24, err, errlen);
	if (text == NULL)
		return -1;
	int r = config_parse(c, text, path, err, errlen);
	free(text);
	return r;
}

static unsigned listen_port(const struct listen_cfg *l)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;
	return ntohs(l->addr.ss_family == AF_INET6 ? in6->sin6_port : in->sin_port);
}

const struct listen_cfg *config_listener(const struct config *c, unsigned id)
{
	for (int i = 0; i < c->nlisten; i++)
		if (c->listen[i].id == id)
			return &c->listen[i];
	return NULL;
}

int config_validate(const struct config *c, char *err, size_t errlen)
{
	/* Via's received-by (RFC 9110 7.6.3): a pseudonym (token) or
	 * host[:port]; nothing that could end or split a header line */
	for (const char *p = c->via_name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == ',' || ch == '(' || ch == ')' || ch == ';' ||
		    ch == '\\') {
			snprintf(err, errlen, "via_name %s: a token or host[:port] (visible ASCII, no \" , ; ( ) \\)",
				 c->via_name);
			return -1;
		}
	}
	if (c->via_name[0] == '\0') {
		snprintf(err, errlen, "via_name: empty");
		return -1;
	}
	/* the realm goes into a quoted-string (Proxy-Authenticate) */
	for (const char *p = c->auth_realm; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			snprintf(err, errlen, "auth_realm %s: visible ASCII without \" or \\", c->auth_realm);
			return -1;
		}
	}
	if (c->auth_threads < 1 || c->auth_threads > 64) {
		snprintf(err, errlen, "auth_threads %u: 1 to 64", c->auth_threads);
		return -1;
	}
	if (c->auth_cache_size < 1 || c->auth_cache_size > (1u << 24)) {
		snprintf(err, errlen, "auth_cache_size %u: 1 to 16777216", c->auth_cache_size);
		return -1;
	}
	if (c->buffer_size < 1024 || c->buffer_size > 16 * 1024 * 1024) {
		snprintf(err, errlen, "buffer_size must be between 1k and 16m");
		return -1;
	}
	if (c->header_max < 256 || c->header_max > c->buffer_size) {
		snprintf(err, errlen, "header_max must be at least 256 and at most buffer_size (%u)",
			 c->buffer_size);
		return -1;
	}
	if (c->url_max < 16 || c->url_max > c->header_max) {
		snprintf(err, errlen, "url_max must be at least 16 and at most header_max (%u)",
			 c->header_max);
		return -1;
	}
	if (c->max_headers < 8 || c->max_headers > CONFIG_MAX_HEADERS_LIMIT) {
		snprintf(err, errlen, "max_headers must be between 8 and %d", CONFIG_MAX_HEADERS_LIMIT);
		return -1;
	}
	if (c->top_talkers < 1 || c->top_talkers > TOP_SNAPSHOT) {
		snprintf(err, errlen, "top_talkers %u: 1 to %d", c->top_talkers, TOP_SNAPSHOT);
		return -1;
	}
	if (c->max_connections < 1) {
		snprintf(err, errlen, "max_connections must be at least 1");
		return -1;
	}
	for (int i = 0; i < c->nlisten; i++) {
		const struct listen_cfg *l = &c->listen[i];
		/* (port 0 asks the kernel for a port each time: tests) */
		for (int j = 0; j < i && listen_port(l) != 0; j++)
			if (c->listen[j].addrlen == l->addrlen && memcmp(&c->listen[j].addr, &l->addr, l->addrlen) == 0) {
				snprintf(err, errlen, "listen %s: the same address twice", l->text);
				return -1;
			}
		/* A transparent listener's destination is the socket's own
		 * (SO_ORIGINAL_DST), which a PROXY header would contradict. */
		if (l->proxy_protocol && l->kind != LISTEN_FORWARD) {
			snprintf(err, errlen, "listen %s: proxy-protocol is for forward listeners only", l->text);
			return -1;
		}
		if (l->proxy_protocol && c->proxy_protocol_from == NULL) {
			snprintf(err, errlen,
				 "listen %s proxy-protocol: proxy_protocol_from must name the load balancers "
				 "allowed to send the header",
				 l->text);
			return -1;
		}
		/* the ClientHello is read into one buffer, up to TLS_HELLO_MAX */
		if (c->listen[i].kind == LISTEN_TRANSPARENT_TLS && c->buffer_size < TLS_HELLO_MAX) {
			snprintf(err, errlen, "a transparent-tls listener needs buffer_size %uk or more",
				 TLS_HELLO_MAX / 1024);
			return -1;
		}
	}
	const uint32_t *t[] = { &c->header_timeout, &c->keepalive_timeout, &c->dns_timeout,
				&c->connect_timeout, &c->response_timeout, &c->idle_timeout,
				&c->tunnel_idle_timeout };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (*t[i] == 0) {
			snprintf(err, errlen, "timeouts must be greater than zero");
			return -1;
		}
	}
	/* Each worker keeps up to dns_cache_size answers (its lookups in
	 * flight follow max_connections): a bound on what a config can make
	 * it hold. */
	if (c->dns_cache_size > 1048576) {
		snprintf(err, errlen, "dns_cache_size %u: at most 1048576 names per worker", c->dns_cache_size);
		return -1;
	}
	/* Below 64 KiB every pipe would be one page: 0 (auto) says what is meant. */
	if (c->tunnel_pipe_memory != 0 && c->tunnel_pipe_memory < 64 * 1024) {
		snprintf(err, errlen, "tunnel_pipe_memory %u: 0 (auto) or at least 64k", c->tunnel_pipe_memory);
		return -1;
	}
	/* RFC 2308 (section 5): one to three hours of negative caching work
	 * well; more keeps a name away long after it was added. */
	if (c->dns_negative_ttl > 3 * 3600) {
		snprintf(err, errlen, "dns_negative_ttl %us: at most 3h", c->dns_negative_ttl);
		return -1;
	}
	return check_resolver(c->resolver, err, errlen);
}
