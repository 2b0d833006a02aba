/* session_int: the session's types, and the functions its files share.
 *
 * Private to the files that make up the session module; every other module
 * sees include/sluice/session.h only.
 *
 *   session.c      lifecycle (start, close, free), the pump, socket I/O,
 *                  deadlines, invariants, the tunnel once it runs
 *   exchange.c     one request/response exchange: llhttp, both heads, the
 *                  stale-pool retry, local replies, finishing
 *   route.c        where a request goes: pool, literal address, DNS, connect
 *                  with fallback to the next address
 *   proxy_auth.c   its login (Proxy-Authorization), checked off the worker
 *   access.c       the access rules applied to it, and the loop guard
 *   transparent.c  redirected connections: original destination, Host rules,
 *                  the TLS peek
 *   record.c       the access-log record of an exchange
 *   reply.c        the answers sluice makes itself
 *   parent_tunnel.c  a tunnel through a parent: its CONNECT and the answer
 *   body_splice.c  long Content-Length bodies moved by splice(), not copied
 *
 * The states, and which file moves the session between them:
 *
 *   session_start ──> S_HEAD <──────────────────────────────────────────┐ keep-alive
 *                       │ request head (exchange.c)                      │ (exchange.c)
 *                       │ ──a login to check──> S_AUTH (proxy_auth.c)    │
 *                       v <──its answer, the access rules (access.c)     │
 *                    route_request (route.c) ──pooled connection──────> S_FORWARD ──> S_LINGER ──> S_CLOSED
 *                       │ a name                  ^                      │   response out,
 *                       v                         │ connected            │   client closes
 *                    S_RESOLVE ──answer──> S_CONNECT ───────────────────┤
 *                                 (a literal address connects at once)   v
 *   transparent-tls: S_PEEK ──ClientHello──> S_CONNECT ──> S_TUNNEL ──both ends done, error, idle──> S_CLOSED
 *                       (transparent.c)      CONNECT 200, 101 (exchange.c) ─┘
 *
 *   Any state before the response head can become S_REPLY (reply.c's
 *   exchange_error, and TRACE/OPTIONS with Max-Forwards: 0), which ends like
 *   S_FORWARD: S_HEAD or S_LINGER.  src/ARCHITECTURE.md has the whole map.
 */
#ifndef SLUICE_SESSION_INT_H
#define SLUICE_SESSION_INT_H

#include <arpa/inet.h>
#include <llhttp.h>
#include <stdint.h>

#include "sluice/acl.h"
#include "sluice/auth.h"
#include "sluice/body.h"
#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/dns.h"
#include "sluice/http.h"
#include "sluice/loop.h"
#include "sluice/parent.h"
#include "sluice/session.h"
#include "sluice/tls_hello.h"
#include "sluice/tunnel.h"
#include "sluice/upstream.h"
#include "sluice/worker.h"

#define LINGER_MS 2000
#define MAX_ADDRS DNS_MAX_ADDRS /* every address the resolver gives is tried */

enum state {
	S_PEEK,		/* transparent-tls listener: reading the ClientHello for its SNI
			   name (header_timeout, TLS_HELLO_MAX bytes), then the original
			   destination is connected and relayed, hello first */
	S_HEAD,		/* waiting for a request head (keep-alive idle or header timeout) */
	S_AUTH,		/* credentials being checked by an auth thread (auth_timeout
			   -> 503), or a slowed-down 407 waiting for its time */
	S_RESOLVE,	/* DNS lookup in flight (dns_timeout -> 504) */
	S_CONNECT,	/* non-blocking connect in flight (connect_timeout -> next
			   address, 504 after the last) */
	S_FORWARD,	/* request going up and response coming down */
	S_REPLY,	/* sending a response sluice made itself (errors, TRACE) */
	S_TUNNEL,	/* after "200 Connection established", a 101, or at once for
			   redirected TLS: the head goes out first, then the relays
			   (tunnel.c) move bytes both ways */
	S_LINGER,	/* reply sent and write side shut: discarding input until the
			   client closes, so unread bytes cannot turn our close into a
			   reset that destroys the reply */
	S_CLOSED,	/* closed; freed by the worker after the current batch */
};

/* What the current request asks to become (T_TLS: a redirected TLS
 * connection, relayed from its first byte). */
enum tunnel_kind { T_NONE, T_CONNECT, T_UPGRADE, T_TLS };

/* What the last llhttp callback told us (read after llhttp_execute). */
enum parse_event { EV_NONE, EV_HEAD };

/* Where the request went, as the access log's hierarchy field says it. */
enum hier { HIER_NONE, HIER_DIRECT, HIER_ORIGINAL_DST, HIER_FIRSTUP_PARENT, HIER_DEFAULT_PARENT };

/* Client -> server and server -> client: a tunnel (S_TUNNEL), or a body's
 * rest (body_splice.c).  Allocated only while one runs: most sessions
 * never need them, and an idle one holds none. */
struct relays {
	struct relay up, down;
};

/* One end of a session: the client, or the server it was routed to.  Both
 * are read, written and woken by the same code. */
struct side {
	int fd;			/* -1: none (no server yet) */
	uint8_t rd, wr;		/* readable / writable as far as we know: set by
				   events, cleared at EAGAIN (edge-triggered) */
	uint8_t hup;		/* an event said the peer closed or failed */
	uint8_t eof;		/* reading found the end, or an error */
	uint8_t reset;		/* ... an error, not a FIN */
	uint8_t wdone;		/* writing failed: send no more */
	struct buf *in;		/* raw bytes read from this end */
};

/* A connection that arrived on a transparent listener: only those pay for it. */
struct transparent {
	union sockaddr_any odst;	/* where the client was going */
	char odst_text[INET6_ADDRSTRLEN];
	const char *not_redirected;	/* why odst is sluice itself, or NULL */
	const char *refused;		/* why odst may not be reached, or NULL */
	char named[DNS_NAME_MAX + 1];	/* HTTP: the host the request named (Host) */
	uint16_t named_port;
	uint8_t hello;			/* TLS: enum tls_hello, once decided */
	char sni[256];			/* TLS: the ClientHello's server name */
};

/* What the access log says of the current exchange, filled in as the
 * exchange learns it; record.c writes the line from it. */
struct record {
	uint64_t start_wall;		/* ms since the epoch */
	uint64_t start_mono;		/* loop ms */
	const char *method;		/* NULL until the request went out ("-") */
	uint32_t target_off, target_len;/* the origin-form target, in rhead */
	int status;			/* sent to the client; 0: none yet */
	uint64_t bytes;			/* sent to the client */
	const char *reason;		/* why sluice answered itself or cut the exchange */
	const char *user;		/* the authenticated user (x.user); NULL ("-") */
	uint8_t hier;			/* enum hier */
	uint8_t local;			/* the response is sluice's own */
	uint8_t denied;			/* ... refusing it by the access rules */
	uint8_t logged;			/* the line was written */
	union sockaddr_any peer;	/* the server's address, unless HIER_NONE */
	const char *peer_name;		/* a parent's host as configured, or NULL */
	char ctype[64];			/* the response's Content-Type */
	uint64_t bytes_up;		/* sent to the server */
	/* the timing breakdown, for the JSON log only (record_phase): us */
	uint64_t t0_us, phase_us;
	int64_t dns_us, connect_us, head_us; /* -1: did not happen */
};

/* One request/response exchange, allocated apart from its session: an idle
 * keep-alive client holds none (exchange_acquire, exchange_begin), and a
 * tunnel holds only the part its log line needs (exchange_compact). */
struct exchange {
	struct exchange *next_free;	/* in the worker's cache of spare ones */
	uint8_t req_done;		/* request fully framed */
	uint8_t res_head_done, res_done;
	uint8_t head_method;		/* the response has no body (HEAD) */
	uint8_t reused;			/* the server connection came from the pool */
	uint8_t retried;
	uint8_t abort_after_flush;	/* the server broke mid-body: flush and close */
	uint8_t url_too_long;
	uint8_t url_done;		/* the request target is complete */
	uint8_t req_event, res_event;	/* enum parse_event */
	uint8_t body_sent;		/* request body bytes went up */
	uint8_t allow_pool;		/* route_request's, once the checks are done */
	uint8_t auth_late;		/* S_AUTH: a 407 held back (brute-force guard) */
	struct auth_job *auth_job;	/* S_AUTH: the check waited for, */
	struct session *auth_next;	/* ... and the next session waiting for it */
	uint8_t acl_ask;		/* the rules' answer depends on the address: */
	struct acl_pending acl_pend;	/* ... what is left to it */
	uint8_t addr_check;		/* check each address (acl_ask, or a port
					   sluice listens on: the loop guard) */
	uint8_t res_sent;		/* bytes of the final response reached the client */
	uint8_t res_reuse;		/* the server may be asked again on this connection */
	uint8_t req_splice, res_splice;	/* the body's rest moves by rel->up, rel->down (body_splice.c) */
	uint8_t dechunk;		/* HTTP/1.0 client, chunked response: decode */
	uint8_t pin;			/* connection-based auth: the server connection is
					   this client's alone (session.pinned) */
	uint8_t tunnel;			/* enum tunnel_kind */
	uint16_t port;
	uint32_t url_len;
	uint32_t rhead_sent;		/* bytes of rhead written to the server */
	uint64_t head_start;		/* loop ms the request head began */
	int naddrs, addr_idx;		/* addrs: in the order tried (route.c) */
	uint8_t pool_ok;		/* route_request may take a pooled connection */
	/* the ways out (route.c): parents and direct, in the order tried */
	uint8_t nhops, hop;		/* nhops 0: direct, no parent configured */
	uint8_t hops[PARENT_HOPS_MAX];	/* config.parents indices, or PARENT_DIRECT */
	uint8_t hier_default;		/* route_default chose them */
	uint8_t hop_check;		/* check each address of this hop (access.c) */
	uint8_t origin_checked;		/* access_check_parent_origin was asked */
	/* a redirected client's name (Host, SNI) is sent to a parent only when
	 * it resolves to the original destination; else that address */
	uint8_t name_checked, by_name, verifying;
	uint8_t rstar;			/* rhead's target was "*" */
	uint8_t via_connect;		/* a CONNECT went to a parent: its answer awaited */
	uint8_t rform_parent;		/* rhead is in a parent's form: */
	uint32_t rprefix, rauth;	/* ... the bytes it grew by (http_request_for_parent) */
	const struct parent_cfg *parent;/* this hop's parent; NULL: direct */
	const char *dhost;		/* where this hop connects: x.host or a parent's */
	uint16_t dport;
	int connect_errno;
	struct body req_body, res_body;	/* how each body is framed (body.c) */
	struct record rec;
	uint8_t compact;		/* a tunnel's copy: nothing from req on */
	uint8_t method;			/* the request's (llhttp_method_t), once its head is in */
	char *host;			/* where the request goes: host_buf, or in the
					   compact copy, behind `method` */

	/* --- only while the exchange is worked out: a tunnel drops the rest
	 * (exchange_compact); acquire zeroes everything above --- */
	llhttp_t req, res;
	union sockaddr_any addrs[MAX_ADDRS];
	struct dns_waiter dnsw;
	char user[HTPASSWD_USER_MAX + 1]; /* the login, once checked (rec.user) */
	char host_buf[DNS_NAME_MAX + 1];
};

struct session {
	struct io io;			/* client socket; first: the loop hands us &io */
	struct worker_conn link;	/* on the worker's lists */
	struct worker *w;
	const struct config *cfg;	/* the session's own reference */
	enum state state;
	uint8_t kind;			/* enum listen_kind of the listener */
	uint16_t listener;		/* its listener's id (config_listener) */
	uint8_t proxy_pending;		/* a PROXY protocol header is still to come */
	uint8_t acl_conn_done;		/* 1: acl_conn is worked out; 2: and the
					   answer before DNS too, the same for
					   every request (policy_per_request) */
	uint8_t acl_verdict;		/* 2: that answer, */
	int acl_rule;			/* its rule, */
	struct acl_pending acl_conn_pend; /* and what it leaves to the address */
	struct acl_conn acl_conn;	/* the connection's src and listener ACLs */
	uint8_t keep_alive;		/* client wants (and may have) another request */
	uint8_t http10;			/* client spoke HTTP/1.0 */
	uint8_t close_after;		/* close the client after this response */
	uint8_t repump;			/* stopped with work left: go again next turn */
	uint8_t tunnel_live;		/* the relays are running */

	struct side client, server;
	struct upstream *up;		/* the server connection (route.c, upstream.c) */
	struct upstream *pinned;	/* between requests: a server connection that
					   carries this client's NTLM/Negotiate login */
	struct buf *rhead;		/* rewritten request head (kept for retry and log) */
	struct buf *ohead;		/* response heads and local replies, to the client */
	struct relays *rel;		/* a tunnel's or a spliced body's relays; NULL while
					   none runs (session_relays) */
	char *tunnel_target;		/* upgraded tunnel: its target, for the log line */
	struct transparent *tp;		/* transparent listeners only */
	union sockaddr_any peer;	/* the client */
	uint32_t nreq;			/* exchanges completed on this connection */

	struct timer timer;
	uint64_t last_active;		/* loop ms of the last byte moved */
	uint64_t phase_start;		/* loop ms S_PEEK, S_RESOLVE, S_CONNECT or S_LINGER began */

	struct exchange *x;		/* from a request's first byte (or a redirected TLS
					   connection's start) to its end: NULL while the
					   client is between requests (exchange_begin) */
};

void record_phase(struct session *s, enum state from, enum state to);

/* Every change of state goes through here, for the per-state gauges
 * (metrics.h).  S_CLOSED, and a session not started yet, count in none. */
static inline void session_state(struct session *s, enum state st)
{
	if (s->w->alog.format == ACCESS_JSON)
		record_phase(s, s->state, st);
	if (s->state != S_CLOSED)
		stat_sub(&s->w->m.states[s->state], 1);
	if (st != S_CLOSED)
		stat_inc(&s->w->m.states[st]);
	s->state = st;
}

/* An epoll event for the socket of sd. */
static inline void side_event(struct side *sd, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		sd->rd = 1;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		sd->hup = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		sd->wr = 1;
}

static inline uint16_t sockaddr_port(const union sockaddr_any *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

/* --- session.c ------------------------------------------------------------------ */

/* Close both connections now; the object is freed after the current batch. */
void session_close(struct session *s);
/* Move bytes every way they can go, then settle and set the timer. */
void session_pump(struct session *s);
/* A buffer for *b if it has none; 0, or -1 when memory is out. */
int session_need_buf(struct session *s, struct buf **b);
/* Give *b (NULL accepted) back to the worker's free-list; *b becomes NULL. */
void session_put_buf(struct session *s, struct buf **b);
/* Close the server connection (if any) and forget its readiness. */
void session_drop_upstream(struct session *s);
/* s->rel, allocated if needed; NULL when memory is out. */
struct relays *session_relays(struct session *s);
/* Free s->rel unless a tunnel or a body relay still runs. */
void session_relays_done(struct session *s);
/* The reply is out: close, or shut and linger (see there). */
void session_linger(struct session *s);

/* --- exchange.c ----------------------------------------------------------------- */

/* The session's first exchange (sets up llhttp once per process). */
void exchange_start(struct session *s);
/* Wait for the next request on this connection: the exchange (s->x) goes
 * back to the worker's spares. */
void exchange_begin(struct session *s);
/* s->x from the worker's spares or malloc, if the session has none (a
 * request's first byte, a redirected TLS connection's start): its fields up
 * to `req` zeroed, host empty, the request parser ready, the log record and
 * head_start begun; 0, or -1 when memory is out. */
int exchange_acquire(struct session *s);
/* s->x back to the spares (or freed); NULL after. */
void exchange_release(struct session *s);
/* A tunnel starts: s->x becomes a copy of what its log line needs (the
 * fields up to `req`, the host and the login), about 1 KiB less, and the
 * full one goes back to the spares.  Kept as it is when memory is short. */
void exchange_compact(struct session *s);
/* Feed the request parser what the client sent; 1 when anything moved. */
int exchange_parse_request(struct session *s);
/* Feed the response parser what the server sent (a final head and the
 * body bytes behind it in one go); 1 when anything moved. */
int exchange_parse_response(struct session *s);
/* The client's EOF, after every byte before it was parsed. */
void exchange_client_eof(struct session *s);
/* Transitions that depend on what was sent and received, after each round. */
void exchange_settle(struct session *s);
/* The server connection is up: forward, or open the tunnel. */
void exchange_connected(struct session *s);
/* A fresh response head parser: for each request, and after an interim head. */
void exchange_response_parser_init(struct session *s);

/* --- body_splice.c -------------------------------------------------------------- */

/* S_FORWARD: a long Content-Length body's rest, either way, by a bounded
 * splice relay once what was read with its head is out; 1 on progress. */
int body_splice_step(struct session *s);
/* The server connection goes: both body relays stop (a pipe holding
 * bytes is closed, never pooled). */
void body_splice_drop(struct session *s);
/* Request body bytes wait in the relay for the server to take them. */
int body_splice_holds_request(const struct session *s);

/* --- parent_tunnel.c ------------------------------------------------------------ */

/* Connected to a parent for a tunnel: send it the CONNECT; the client's
 * bytes wait for its answer (x.via_connect). */
void exchange_via_parent(struct session *s);
/* The parent's answer to that CONNECT (a head parsed by exchange.c). */
void exchange_parent_answer(struct session *s, const struct http_head *h);
/* The 502's reason for a parent's 407 (a literal). */
const char *exchange_parent_407(const struct session *s);
/* (reply.c) Answer with status and a one-line body naming reason, or cut a response
 * already on its way; reason must outlive the exchange (a literal). */
void exchange_error(struct session *s, int status, const char *reason);
/* exchange_error with header lines to add (extra, or NULL), keeping the
 * connection when may_keep and nothing of the request is left unread. */
void exchange_reply(struct session *s, int status, const char *reason, const char *extra, int may_keep);
/* The login (if asked for) is known: the access rules, then the route. */
void exchange_checks_done(struct session *s);
/* The whole request (head and body) reached the server. */
int exchange_request_sent(const struct session *s);
/* The exchange waits on the client (408) rather than on the server (504). */
int exchange_waiting_for_client(const struct session *s);

/* --- route.c -------------------------------------------------------------------- */

/* Find a server for x.host:x.port: the pool (when allow_pool), a literal
 * address, the DNS cache or a lookup; then connect.  Ends in S_FORWARD,
 * S_RESOLVE, S_CONNECT or a local error. */
void route_request(struct session *s, int allow_pool);
/* A stale pooled connection failed the request before any answer: the
 * same way out again, on a new connection. */
void route_retry(struct session *s);
/* S_CONNECT saw the socket writable or failed: go on, or try the next address. */
void route_connect_event(struct session *s);
/* S_RESOLVE's deadline passed: the next way out, or 504. */
void route_resolve_timeout(struct session *s);
/* S_CONNECT's deadline passed: the next address, or 504. */
void route_connect_timeout(struct session *s);
/* An IPv4 or IPv6 literal with port; 0, or -1 when host is a name. */
int route_parse_literal(const char *host, uint16_t port, union sockaddr_any *out);
/* The exchange is complete and the server connection healthy: keep it for
 * this client alone (x.pin) or give it to the pool.  s->up is NULL after. */
void route_release(struct session *s);

/* --- proxy_auth.c --------------------------------------------------------------- */

/* The request's Proxy-Authorization, when auth_basic is on (forward
 * listeners only): 0 to go on (x.user set, or no login asked for), 1 when
 * an auth thread was asked (S_AUTH: exchange_checks_done follows), -1
 * after answering 407. */
int proxy_auth_check(struct session *s, const struct http_head *h);
/* S_AUTH's deadline passed: the check took too long (503), or a held-back
 * 407 is due. */
void proxy_auth_timeout(struct session *s);
/* The session ends or answers otherwise: its check, if any, is dropped. */
void proxy_auth_cancel(struct session *s);

/* --- access.c ------------------------------------------------------------------- */

/* The request's target is known (x.host, x.port; the name a transparent
 * client gave): check the rules before any lookup or connection.  0 to go
 * on (x.acl_ask, x.addr_check set), -1 after answering 403. */
int access_check_request(struct session *s);
/* May route connect to dst (or reuse a connection to it)?  0, or the
 * status refusing it (403, 508) and the deciding rule in *rule.  Only
 * needed when x.addr_check. */
int access_check_addr(struct session *s, const union sockaddr_any *dst, int *rule);
/* The same for an address of the current hop: a parent's is checked only
 * against the loop guard (the rules are about the origin). */
int access_check_hop_addr(struct session *s, const union sockaddr_any *dst, int *rule);
/* A request going to a parent, when the rules' answer depends on the
 * destination's address: a literal target is checked as it is; a name is
 * not looked up (the parent resolves it), so dst ACLs match it never.  0
 * to go on, -1 after answering 403 (or 508). */
int access_check_parent_origin(struct session *s);
/* Must each address of this hop be checked? */
int access_hop_check(const struct session *s);
/* The route line the request matches (config.routes index), or -1. */
int access_route(struct session *s);
/* Answer status (403, 508) for what access_check_* refused, and log why. */
void access_refuse(struct session *s, int status, int rule, const union sockaddr_any *dst);

/* --- transparent.c -------------------------------------------------------------- */

/* Where a connection on a transparent listener was going; NULL when out of
 * memory. */
struct transparent *transparent_new(const struct config *cfg, int fd);
/* A transparent-tls connection that must not be relayed is closed before it
 * starts: 1 (and logged) when so. */
int transparent_tls_refused(const struct transparent *tp, const union sockaddr_any *peer);
/* The request on a transparent listener: fills t and x.host/x.port (the
 * original destination).  0, or -1 after answering with an error. */
int transparent_target(struct session *s, const struct http_head *h, struct http_target *t);
/* S_PEEK: look at what arrived of the ClientHello; 1 on progress. */
int transparent_peek(struct session *s);
/* S_PEEK's deadline: relay what came, or close when nothing did. */
void transparent_peek_timeout(struct session *s);

/* --- record.c ------------------------------------------------------------------- */

/* The exchange's first byte arrived now. */
void record_start(struct session *s);
/* The JSON log's clock: the time spent resolving and connecting (called by
 * session_state when that log is on; declared above it). */
/* The final response head is out: its time, for the JSON log. */
void record_head(struct session *s);
/* Write the exchange's access log line, once (later calls do nothing). */
void record_write(struct session *s);

#endif
