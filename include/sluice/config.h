/* config: the directive-per-line config file, built-in defaults, validation,
 * and the immutable snapshot the running proxy reads.
 *
 * A struct config is filled once (defaults, then the file, then command-line
 * overrides), validated, and from then on only read: workers share it
 * without locks.
 *
 * The running configuration is a refcounted snapshot (config_new).  main
 * publishes it (config_publish); each worker holds a reference to the one it
 * serves new connections with and looks for a newer one between events
 * (config_generation, config_acquire); each session holds a reference from
 * its start to its end.  So a reload only has to build and publish a new
 * snapshot: what runs on the old one keeps it until it ends, and the last
 * reference frees it.
 *
 * Grammar: one directive per line, "name value...", '#' starts a comment,
 * blank lines ignored.  Durations take ms, s, m or h ("30s", "500ms"; a bare
 * number is seconds); sizes take k or m ("16k"; a bare number is bytes).
 * systemd/sluice.conf documents every directive.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/log.h"

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_CONNECT_PORTS 32
#define CONFIG_MAX_VALUES 256		/* values on one line (acl lists) */
#define CONFIG_MAX_HEADERS_LIMIT 1000	/* the largest max_headers a config may set */
#define CONFIG_MAX_PARENTS 16
#define CONFIG_MAX_ROUTES 64
#define CONFIG_PARENT_AUTH_MAX 400	/* "Proxy-Authorization: Basic ...\r\n" */

/* What arrives on a listener. */
enum listen_kind {
	LISTEN_FORWARD,		/* clients that know they talk to a proxy */
	LISTEN_TRANSPARENT,	/* redirected plain HTTP: origin-form requests */
	LISTEN_TRANSPARENT_TLS,	/* redirected TLS: relayed, never decrypted */
	LISTEN_ADMIN,		/* the admin pages (admin.h): metrics, health */
};

struct listen_cfg {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum listen_kind kind;
	uint8_t proxy_protocol;	/* "proxy-protocol": a PROXY v1/v2 header comes
				   first, from proxy_protocol_from only */
	uint16_t id;		/* the listening socket's, stable across reloads
				   (acceptor.c numbers them; 0: not yet) */
	char text[80];		/* as written, for logs */
	struct sockaddr_storage bound;	/* as bound (port 0 made a port): the
					   loop guard (acceptor.c fills it) */
};

/* parent NAME HOST:PORT [login=USER:PASSWORD] [weight=N] */
struct parent_cfg {
	char name[32];
	char host[256];		/* a name or a literal (IPv6 without brackets) */
	uint16_t port;
	uint32_t weight;	/* >= 1 */
	int slot;		/* its health and counters (parent.h) */
	uint32_t name_hash;	/* for sticky routes */
	char auth[CONFIG_PARENT_AUTH_MAX]; /* the header line sent to it, or "" */
};

/* route NAME[,NAME...]|direct [!]ACL... [sticky] [fallback direct], and
 * route_default: where the requests a route line matches go. */
struct route_cfg {
	uint8_t nparents;	/* 0: direct */
	uint8_t parent[CONFIG_MAX_PARENTS]; /* indices into config.parents */
	uint8_t sticky;		/* by destination name, not by weight */
	uint8_t fallback_direct;/* direct when no parent could be reached */
};

struct config {
	struct listen_cfg listen[CONFIG_MAX_LISTEN];
	int nlisten;
	int workers;			/* 0: one per CPU the process may run on */
	int max_connections;		/* client connections, all workers together */
	uint32_t max_connections_per_client; /* from one address; 0: no limit */

	uint32_t buffer_size;		/* each direction's buffer */
	uint32_t worker_buffers_max;	/* buffers in use per worker; 0: no limit */
	uint32_t header_max;		/* request or response head, 431 / 502 beyond */
	uint32_t url_max;		/* request target, 414 beyond */
	uint32_t max_headers;		/* header lines in one head */

	/* timeouts, ms */
	uint32_t header_timeout;	/* a request head must arrive within this */
	uint32_t keepalive_timeout;	/* idle client between requests */
	uint32_t dns_timeout;
	uint32_t connect_timeout;
	uint32_t response_timeout;	/* request sent -> response head */
	uint32_t idle_timeout;		/* body inactivity in either direction */
	uint32_t upstream_idle_timeout;	/* pooled upstream connections */
	uint32_t upstream_pool_max;	/* idle upstream connections per worker */

	char resolver[512];		/* "" : /etc/resolv.conf; else c-ares csv */
	uint32_t dns_cache_max_ttl;	/* seconds */
	uint32_t dns_negative_ttl;	/* seconds */
	uint32_t dns_cache_size;	/* names per worker */

	char access_log[4096];		/* path, "stderr" or "off" */
	enum access_format access_format;
	char error_log[4096];		/* path or "stderr" */
	enum log_level log_level;
	char via_name[64];		/* pseudonym in Via */

	/* proxy authentication (auth.h); "" : off */
	char auth_basic[4096];		/* htpasswd file */
	char auth_realm[128];
	uint32_t auth_cache_ttl;	/* ms a verified login is taken without a check */
	uint32_t auth_cache_size;	/* answers kept per worker */
	uint32_t auth_threads;		/* threads checking passwords */
	uint32_t auth_timeout;		/* ms a request waits for its check (503) */

	uint16_t connect_ports[CONFIG_MAX_CONNECT_PORTS];	/* CONNECT may reach these */
	int nconnect_ports;
	uint32_t tunnel_idle_timeout;	/* ms of silence both ways */
	int tunnel_splice;		/* 0: relay with recv/send (tests, odd kernels) */
	int defer_accept;		/* listeners hand over a connection once it sent
					   bytes (TCP_DEFER_ACCEPT, 1 s), or at once */
	uint32_t body_splice_min;	/* bytes: a Content-Length body with this many still
					   to come moves by splice(); 0: never */
	uint32_t tunnel_pipe_memory;	/* splice pipes' capacity per worker, bytes; 0: auto
					   (64 MiB, within an unprivileged user's pipe quota) */
	uint32_t shutdown_timeout;	/* ms a stop waits for tunnels and long exchanges */

	/* who may send a PROXY protocol header (acl.h addrset); NULL: nobody */
	struct addrset *proxy_protocol_from;
	/* who may use the admin listener; after config_complete never NULL
	 * (loopback by default) */
	struct addrset *admin_allow;
	uint32_t top_talkers;		/* names and clients on /top and /metrics */

	/* acl and http_access lines (acl.h); NULL until the first one.  After
	 * config_complete, never NULL: the built-in rules when the file has
	 * no http_access line.  Owned by the config, freed with it. */
	struct policy *policy;

	/* parent proxies and the route lines choosing them (route i is the
	 * policy's route rule i); with no parent line, everything is direct */
	struct parent_cfg parents[CONFIG_MAX_PARENTS];
	int nparents;
	struct route_cfg routes[CONFIG_MAX_ROUTES];
	int nroutes;
	struct route_cfg route_default;	/* what no route line matched */
	uint8_t has_route_default;	/* (given once at most) */
	/* the policy holding the route lines' rules and ACLs: the same as
	 * policy, or (when the file has no http_access line and the built-in
	 * rules replaced its policy) the file's own; NULL without route lines */
	struct policy *route_policy;

	atomic_uint refs;		/* snapshots only: config.c's bookkeeping */
};

struct policy;
struct addrset;

/* Fill in the built-in defaults. */
void config_defaults(struct config *c);
/* Free what a config owns (its policy); a snapshot's last config_unref
 * does this.  For configs on the stack (tests). */
void config_clear(struct config *c);

/* --- snapshots ----------------------------------------------------------------- */

/* A new snapshot holding the built-in defaults, with one reference (the
 * caller's), to be filled and validated before it is published; NULL when
 * out of memory. */
struct config *config_new(void);
/* Another reference to snapshot c; any thread.  Returns c. */
const struct config *config_ref(const struct config *c);
/* Drop a reference; the last one frees the snapshot.  NULL is accepted. */
void config_unref(const struct config *c);

/* Make c the current snapshot, taking over the caller's reference; the
 * previous current snapshot loses the reference the publisher held.  NULL
 * (at exit) leaves none current. */
void config_publish(struct config *c);
/* A new reference to the current snapshot (the caller drops it), or NULL
 * before the first config_publish. */
const struct config *config_acquire(void);
/* Changes with every config_publish: one atomic load, cheap enough to
 * check between events. */
unsigned config_generation(void);
/* Snapshots made and not yet freed (tests, and the metrics to come). */
unsigned config_live(void);

/* Apply the directives in text; name is used in error messages.  Returns 0,
 * or -1 with "name:line: what is wrong" in err. */
int config_parse(struct config *c, const char *text, const char *name, char *err, size_t errlen);

/* Read and apply a file.  Returns 0, or -1 with a message in err. */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* After all sources were applied: put in what the sources left to the
 * defaults and needs building (the built-in access rules).  0, or -1 with
 * err. */
int config_complete(struct config *c, char *err, size_t errlen);

/* Cross-field checks after all sources were applied.  Returns 0 or -1. */
int config_validate(const struct config *c, char *err, size_t errlen);

/* Parse "host:port", "[v6]:port" or ":port" (all addresses) into a listener
 * (of kind LISTEN_FORWARD). */
int config_parse_listen(const char *s, struct listen_cfg *out);

/* "transparent" / "transparent-tls" and back; -1 / NULL when unknown. */
int config_listen_kind(const char *word);
const char *config_listen_kind_name(enum listen_kind k);

/* The listen line whose socket has this id (listen_cfg.id), or NULL when
 * c has none: the line was removed by a reload. */
const struct listen_cfg *config_listener(const struct config *c, unsigned id);

/* Directives a reload cannot apply to what runs (the worker count, buffer
 * and pool sizes, the resolver, ...): copied from old into new, each
 * that differed named in changed ("workers, buffer_size"; "" when none).
 * The rest of new applies as it is. */
void config_keep_restart_only(struct config *nw, const struct config *old, char *changed, size_t len);

/* The i-th directive name the parser accepts, from 0 until NULL (the
 * test that every one is documented). */
const char *config_directive_name(size_t i);

/* --- parent and route lines (config_route.c) ------------------------------------ */

/* Apply a "parent", "route" or "route_default" line (argv[0] is its name)
 * read at file:line.  0, or -1 with the reason in err. */
int config_route_directive(struct config *c, char *const *argv, int argc, const char *file, int line, char *err,
			   size_t errlen);
/* The parent named name, or NULL. */
const struct parent_cfg *config_parent(const struct config *c, const char *name);

/* May CONNECT reach this port? */
int config_connect_port_allowed(const struct config *c, unsigned port);

/* Parse a duration in ms or a size in bytes; 0 or -1. */
int config_parse_duration(const char *s, uint32_t *ms);
int config_parse_size(const char *s, uint32_t *bytes);

#endif
