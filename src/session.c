/* session: one client connection, one request at a time.
 *
 *          client                 sluice                    origin
 *    read ───────> cin ──(llhttp REQUEST frames it)──┐
 *                   head: parsed, rewritten ──> rhead ─┬─ writev ──> upstream
 *                   body: [start,parsed) as framed ────┘
 *    write <─┬─ ohead <── head rewritten ───(llhttp RESPONSE frames it)── uin <── read
 *            └─ body: uin [start,parsed) as framed
 *
 * Bodies are never copied: the bytes the parser has framed are written
 * straight from the input buffer of one side to the socket of the other,
 * behind the rewritten head (one writev).  Each buffer is bounded; a full
 * one stops reading its source, so memory stays flat whatever the peers do.
 *
 * States (one request/response exchange at a time; pipelined requests wait
 * in cin until the exchange before them is complete):
 *
 *   S_PEEK     transparent-tls listener: reading the ClientHello for its SNI
 *              name (header_timeout, TLS_HELLO_MAX bytes), then S_CONNECT to
 *              the original destination and S_TUNNEL, the hello sent first
 *   S_HEAD     waiting for a request head (keep-alive idle or header timeout)
 *   S_RESOLVE  DNS lookup in flight (dns_timeout -> 504)
 *   S_CONNECT  non-blocking connect in flight (connect_timeout -> 504)
 *   S_FORWARD  request going up and response coming down
 *   S_REPLY    sending a response sluice made itself (errors, TRACE)
 *   S_TUNNEL   after "200 Connection established" or a 101: the head goes
 *              out first, then src/tunnel.c relays bytes both ways
 *   S_LINGER   reply sent and write side shut: discarding input until the
 *              client closes, so unread bytes cannot turn our close into a
 *              reset that destroys the reply
 *   S_CLOSED   closed; freed by session_reap() after the current batch
 *
 * Everything happens in pump(): after any event it moves bytes in
 * every direction that can move, until nothing can; then it sets the timer.
 * Sockets are edge-triggered; rd/wr flags remember readiness until EAGAIN.
 */
#include "sluice/session.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sluice/http.h"
#include "sluice/intercept.h"
#include "sluice/log.h"
#include "sluice/tls_hello.h"
#include "sluice/upstream.h"
#include "sluice/worker.h"

#define LINGER_MS 2000
#define MAX_ADDRS 4

enum state { S_PEEK, S_HEAD, S_RESOLVE, S_CONNECT, S_FORWARD, S_REPLY, S_TUNNEL, S_LINGER, S_CLOSED };

/* What the current request asks to become (T_TLS: a redirected TLS
 * connection, relayed from its first byte). */
enum tunnel_kind { T_NONE, T_CONNECT, T_UPGRADE, T_TLS };

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

/* What the last llhttp callback told us (read after llhttp_execute). */
enum parse_event { EV_NONE, EV_HEAD, EV_MESSAGE, EV_HEAD_AND_MESSAGE };

struct session {
	struct io io;			/* client socket; first member */
	struct worker *w;
	struct session *next, *prev;	/* worker's live list; next: dead list */
	enum state state;

	uint8_t c_rd, c_wr, c_eof;	/* client readiness, EOF seen */
	uint8_t u_rd, u_wr, u_eof;	/* the same for the upstream */
	uint8_t c_hup, u_hup;		/* an event said the peer closed or failed */
	uint8_t u_reset;		/* the origin's side ended with an error, not a FIN */
	uint8_t u_wdone;		/* writing to the origin failed: send no more */
	uint8_t req_done;		/* request fully framed */
	uint8_t res_head_done, res_done;
	uint8_t close_after;		/* close the client after this response */
	uint8_t keep_alive;		/* client wants (and may have) another request */
	uint8_t http10;			/* client spoke HTTP/1.0 */
	uint8_t head_method;		/* response has no body */
	uint8_t reused;			/* upstream came from the pool */
	uint8_t retried;
	uint8_t abort_after_flush;	/* upstream broke mid-body: flush and close */
	uint8_t url_too_long;
	uint8_t url_done;		/* the request target is complete */
	uint8_t req_event, res_event;	/* enum parse_event */
	uint8_t body_sent;		/* request body bytes went upstream */
	uint8_t msg_begun;		/* bytes of the current request arrived */
	uint8_t logged;			/* this exchange has its access log line */
	uint8_t repump;			/* stopped with work left: go again next turn */
	uint8_t res_resumed;		/* response parser resumed after a pause */
	uint8_t local_reply;		/* the response is sluice's own */
	uint8_t dechunk;		/* HTTP/1.0 client, chunked response: decode */
	uint8_t has_upeer;
	uint8_t tunnel;			/* enum tunnel_kind */
	uint8_t tunnel_live;		/* the relays are running */
	uint8_t kind;			/* enum listen_kind of the listener */
	struct transparent *tp;		/* transparent listeners only */
	union sockaddr_any upeer;	/* the origin address used, for the log */
	uint32_t nreq;			/* exchanges completed on this connection */

	struct buf *cin;		/* client -> sluice, raw */
	struct buf *rhead;		/* rewritten request head (kept for retry and log) */
	uint32_t rhead_sent;
	struct buf *uin;		/* origin -> sluice, raw */
	struct buf *ohead;		/* response heads and local replies, to client */
	struct upstream *up;
	struct relay r_up, r_down;	/* S_TUNNEL: client -> origin, origin -> client */
	char *tunnel_line;		/* upgraded tunnel: the request line, for its log line */

	llhttp_t req, res;
	uint32_t url_len;

	struct timer timer;
	uint64_t last_active;		/* monotonic ms of the last byte moved */
	uint64_t head_start;		/* monotonic ms the current head began */
	uint64_t phase_start;		/* monotonic ms S_RESOLVE, S_CONNECT or S_LINGER began */

	/* the current request */
	char host[DNS_NAME_MAX + 1];
	uint16_t port;
	uint16_t method_len;
	int status;			/* sent to the client; 0: none yet */
	const char *reason;		/* why sluice answered itself / aborted */
	uint64_t start_wall, start_mono;
	uint64_t bytes_out;
	char ctype[64];
	union sockaddr_any addrs[MAX_ADDRS];
	int naddrs, addr_idx;
	int connect_errno;
	struct dns_waiter dnsw;
	union sockaddr_any peer;	/* the client */
};

static void pump(struct session *s);
static void reply_error(struct session *s, int status, const char *reason);
static void log_request(struct session *s);
static int parse_request(struct session *s);

/* --- llhttp callbacks ---------------------------------------------------------
 * They only record what happened; session code acts after llhttp_execute
 * returns, where it knows the exact byte position.
 */

static int req_on_message_begin(llhttp_t *p)
{
	struct session *s = p->data;
	s->url_len = 0;
	return 0;
}

static int req_on_url(llhttp_t *p, const char *at, size_t len)
{
	struct session *s = p->data;
	s->url_len += (uint32_t)len;
	if (s->url_len > s->w->cfg->url_max) {
		s->url_too_long = 1;
		return -1;
	}
	return 0;
}

static int req_on_url_complete(llhttp_t *p)
{
	struct session *s = p->data;
	s->url_done = 1;
	return 0;
}

static int req_on_headers_complete(llhttp_t *p)
{
	struct session *s = p->data;
	s->req_event = EV_HEAD;
	return HPE_PAUSED;
}

static int req_on_message_complete(llhttp_t *p)
{
	struct session *s = p->data;
	s->req_event = EV_MESSAGE;
	return HPE_PAUSED;
}

static int res_on_headers_complete(llhttp_t *p)
{
	struct session *s = p->data;
	/* A response to HEAD, and a 204 or 304, has no body whatever its
	 * headers say (RFC 9112 6.3); llhttp 8.1 must be told, and that can
	 * only be done by returning 1, which cannot pause, so the pause comes
	 * at message complete and marks head and message at once. */
	if ((s->head_method && p->status_code >= 200) || p->status_code == 204 || p->status_code == 304) {
		s->res_event = EV_HEAD_AND_MESSAGE;
		return 1;
	}
	s->res_event = EV_HEAD;
	return HPE_PAUSED;
}

/* Only for an HTTP/1.0 client getting a chunked response: the decoded
 * body goes to ohead, which parse_response() made room for. */
static int res_on_body(llhttp_t *p, const char *at, size_t len)
{
	struct session *s = p->data;
	if (s->dechunk && buf_append(s->ohead, at, len) == -1)
		return -1;
	return 0;
}

static int res_on_message_complete(llhttp_t *p)
{
	struct session *s = p->data;
	if (s->res_event != EV_HEAD_AND_MESSAGE)
		s->res_event = EV_MESSAGE;
	return HPE_PAUSED;
}

static llhttp_settings_t req_settings, res_settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void settings_init(void)
{
	llhttp_settings_init(&req_settings);
	req_settings.on_message_begin = req_on_message_begin;
	req_settings.on_url = req_on_url;
	req_settings.on_url_complete = req_on_url_complete;
	req_settings.on_headers_complete = req_on_headers_complete;
	req_settings.on_message_complete = req_on_message_complete;
	llhttp_settings_init(&res_settings);
	res_settings.on_headers_complete = res_on_headers_complete;
	res_settings.on_message_complete = res_on_message_complete;
	res_settings.on_body = res_on_body;
}

/* --- helpers ---------------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static struct worker *W(struct session *s)
{
	return s->w;
}

static void put_buf(struct session *s, struct buf **b)
{
	buf_put(&W(s)->bufs, *b);
	*b = NULL;
}

/* Get a buffer if missing; 0 or -1 when memory is out. */
static int need_buf(struct session *s, struct buf **b)
{
	if (*b == NULL && (*b = buf_get(&W(s)->bufs)) == NULL)
		return -1;
	return 0;
}

/* Release buffers that hold nothing: idle connections keep none. */
static void trim_bufs(struct session *s)
{
	if (s->cin && buf_empty(s->cin))
		put_buf(s, &s->cin);
	if (s->uin && buf_empty(s->uin) && s->res_head_done)
		put_buf(s, &s->uin);
	if (s->ohead && buf_empty(s->ohead))
		put_buf(s, &s->ohead);
}

static void unlink_live(struct session *s)
{
	struct worker *w = W(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	w->nsessions--;
}

static void drop_upstream(struct session *s)
{
	if (s->up) {
		upstream_close(s->up);
		s->up = NULL;
	}
	s->u_rd = s->u_wr = s->u_eof = s->u_reset = s->u_wdone = s->u_hup = 0;
}

static void close_session(struct session *s)
{
	struct worker *w = W(s);
	if (s->state == S_CLOSED)
		return;
	if (s->msg_begun)
		log_request(s); /* no-op when the exchange was logged already */
	if (s->abort_after_flush && (s->dechunk || llhttp_message_needs_eof(&s->res))) {
		/* A reset, not a FIN: a close-delimited body must not look complete.
		 * (With a length or chunks the client sees the cut by itself, and
		 * a FIN keeps the bytes still in flight.) */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(s->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	dns_cancel(w->dns, &s->dnsw);
	if (s->tunnel_live) {
		relay_release(&s->r_up, w->pipes);
		relay_release(&s->r_down, w->pipes);
	}
	drop_upstream(s);
	timer_cancel(w->loop, &s->timer);
	close(s->io.fd); /* leaves epoll too: the socket is never shared */
	s->io.fd = -1; /* the loop skips events still queued for it */
	put_buf(s, &s->cin);
	put_buf(s, &s->rhead);
	put_buf(s, &s->uin);
	put_buf(s, &s->ohead);
	free(s->tunnel_line);
	s->tunnel_line = NULL;
	s->state = S_CLOSED;
	unlink_live(s);
	s->next = w->dead;
	w->dead = s;
	atomic_fetch_sub_explicit(&worker_connections, 1, memory_order_relaxed);
}

void session_abort(struct session *s)
{
	close_session(s);
}

void session_reap(struct worker *w)
{
	while (w->dead) {
		struct session *s = w->dead;
		w->dead = s->next;
		free(s->tp);
		free(s);
	}
}

/* --- access log --------------------------------------------------------------------- */

static uint16_t sockaddr_port(const union sockaddr_any *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}


static void log_request(struct session *s)
{
	struct worker *w = W(s);
	if (s->logged)
		return;
	s->logged = 1;
	if (w->alog.fd == -1)
		return;
	char url[DNS_NAME_MAX + 1 + 8192 + 16];
	size_t url_len = 0;
	const char *method = "-";
	char mbuf[32];
	/* the rewritten head (or, in an upgraded tunnel, its saved first line)
	 * starts "METHOD /path HTTP/1.1" */
	const char *h = s->rhead ? s->rhead->data : s->tunnel_line;
	size_t hlen = s->rhead ? s->rhead->end : s->tunnel_line ? strlen(s->tunnel_line) : 0;
	if (h && s->method_len > 0 && s->method_len < sizeof(mbuf) && hlen > s->method_len) {
		memcpy(mbuf, h, s->method_len);
		mbuf[s->method_len] = '\0';
		method = mbuf;
		const char *path = h + s->method_len + 1;
		const char *sp = memchr(path, ' ', hlen - s->method_len - 1);
		size_t plen = sp ? (size_t)(sp - path) : 0;
		/* a transparent request is logged with the host it named */
		const char *host = s->tp && s->tp->named[0] ? s->tp->named : s->host;
		unsigned port = s->tp && s->tp->named[0] ? s->tp->named_port : s->port;
		int n = snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]" : "http://%s", host);
		if (port != 80)
			n += snprintf(url + n, sizeof(url) - (size_t)n, ":%u", port);
		if (plen == 1 && path[0] == '*')
			plen = 0; /* OPTIONS *: the server itself */
		if (plen > sizeof(url) - (size_t)n)
			plen = sizeof(url) - (size_t)n;
		memcpy(url + n, path, plen);
		url_len = (size_t)n + plen;
	}
	if (s->tunnel == T_CONNECT || s->tunnel == T_TLS) {
		/* a redirected TLS connection is logged under its SNI name */
		const char *host = s->tunnel == T_TLS && s->tp->sni[0] ? s->tp->sni : s->host;
		int n = snprintf(url, sizeof(url), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, s->port);
		url_len = n > 0 ? (size_t)n : 0;
		method = "CONNECT";
	}
	if (url_len == 0 && s->tp && s->tp->odst_text[0]) {
		/* refused before any URL: where the connection was going */
		url_len = strlen(log_addr(&s->tp->odst.sa, url, sizeof(url)));
		if (s->kind == LISTEN_TRANSPARENT_TLS)
			method = "CONNECT"; /* a TLS connection closed before its relay began */
	}
	char hello[300] = "";
	if (s->tunnel == T_TLS)
		snprintf(hello, sizeof(hello), s->tp->sni[0] ? " sni=%s" : " %s", s->tp->sni[0] ? s->tp->sni
			 : tls_hello_text((enum tls_hello)s->tp->hello));
	char tunnel_note[512];
	if (s->tunnel_live) {
		snprintf(tunnel_note, sizeof(tunnel_note), "tunnel up=%llu down=%llu%s%s%s",
			 (unsigned long long)s->r_up.bytes, (unsigned long long)s->r_down.bytes, hello,
			 s->reason ? ": " : "", s->reason ? s->reason : "");
	} else if (hello[0]) {
		snprintf(tunnel_note, sizeof(tunnel_note), "%s%s%s", hello + 1, s->reason ? ": " : "",
			 s->reason ? s->reason : "");
	}
	char peer[80] = "-";
	if (s->has_upeer)
		log_host(&s->upeer.sa, peer, sizeof(peer));
	struct access_entry e = {
		.start_ms = s->start_wall,
		.elapsed_ms = loop_now(w->loop) - s->start_mono,
		.client = &s->peer.sa,
		.code = s->local_reply ? "TAG_NONE" : s->tunnel_live ? "TCP_TUNNEL"
			: s->reason ? "TCP_MISS_ABORTED" : "TCP_MISS",
		.status = s->status,
		.bytes = s->bytes_out,
		.method = method,
		.url = url_len ? url : NULL,
		.url_len = url_len,
		.hier = !s->has_upeer ? "HIER_NONE" : s->tp ? "ORIGINAL_DST" : "HIER_DIRECT",
		.peer = peer,
		.type = s->ctype[0] ? s->ctype : NULL,
		.type_len = strlen(s->ctype),
		.reason = s->tunnel_live || hello[0] ? tunnel_note : s->reason,
	};
	access_log_write(&w->alog, &e);
}

/* --- request side ------------------------------------------------------------------- */

/* The reply is out: shut our side and drain the client's for a moment, so
 * bytes it is still sending cannot turn our close into a reset that
 * destroys the reply.  Unless nothing more can come: the client asked to
 * close, its request was complete, nothing of it is unparsed and its socket
 * read empty with no new edge in this batch.  Then close at once (the reset
 * risk is a client that breaks its own Connection: close). */
static void start_linger(struct session *s)
{
	if (!s->keep_alive && s->req_done && !s->c_rd && (s->cin == NULL || buf_unparsed(s->cin) == 0) &&
	    !loop_pending(W(s)->loop, &s->io, EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		close_session(s);
		return;
	}
	shutdown(s->io.fd, SHUT_WR);
	s->state = S_LINGER;
	s->phase_start = loop_now(W(s)->loop);
}

static void begin_request(struct session *s)
{
	llhttp_init(&s->req, HTTP_REQUEST, &req_settings);
	s->req.data = s;
	s->state = S_HEAD;
	s->req_done = s->res_head_done = s->res_done = 0;
	s->head_method = s->reused = s->retried = s->abort_after_flush = 0;
	s->url_too_long = s->url_done = s->body_sent = s->msg_begun = s->logged = 0;
	s->req_event = s->res_event = EV_NONE;
	s->status = 0;
	s->reason = NULL;
	s->local_reply = s->has_upeer = s->dechunk = 0;
	s->tunnel = T_NONE;
	s->bytes_out = 0;
	s->ctype[0] = '\0';
	s->naddrs = s->addr_idx = 0;
	s->host[0] = '\0';
	if (s->tp)
		s->tp->named[0] = '\0';
	s->method_len = 0;
	s->rhead_sent = 0;
	s->head_start = loop_now(W(s)->loop);
}

static int request_sent(const struct session *s);

/* The exchange is complete: log it, keep or close both connections. */
static void finish_exchange(struct session *s)
{
	struct worker *w = W(s);
	log_request(s);
	w->stats.requests++;
	s->nreq++;
	if (s->up) {
		int reusable = llhttp_should_keep_alive(&s->res) && request_sent(s) && !s->u_eof &&
			       (s->uin == NULL || buf_unparsed(s->uin) == 0);
		if (reusable) {
			s->up->requests++;
			upstream_release(s->up, !s->u_rd);
			s->up = NULL;
		}
		drop_upstream(s);
	}
	put_buf(s, &s->rhead);
	put_buf(s, &s->uin);
	if (s->close_after || !s->keep_alive) {
		start_linger(s);
		return;
	}
	begin_request(s);
}

/* Literal addresses skip DNS. */
static int parse_literal(const char *host, uint16_t port, union sockaddr_any *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->in.sin_addr) == 1) {
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

/* "host:port" (no snprintf: once per request) */
static void pool_key(const struct session *s, char *key, size_t len)
{
	size_t hl = strlen(s->host); /* <= DNS_NAME_MAX, and len >= UPSTREAM_KEY_MAX */
	memcpy(key, s->host, hl);
	key[hl++] = ':';
	char digits[6];
	int n = 0;
	unsigned p = s->port;
	do {
		digits[n++] = (char)('0' + p % 10);
		p /= 10;
	} while (p);
	while (n)
		key[hl++] = digits[--n];
	key[hl] = '\0';
}

/* Connect to the next address; 504/502 when none is left. */
static void connect_next(struct session *s)
{
	struct worker *w = W(s);
	char key[UPSTREAM_KEY_MAX];
	pool_key(s, key, sizeof(key));
	while (s->addr_idx < s->naddrs) {
		s->up = upstream_connect(w->pool, &s->addrs[s->addr_idx], key, on_upstream, s);
		if (s->up) {
			s->state = S_CONNECT;
			s->phase_start = loop_now(w->loop);
			return;
		}
		s->connect_errno = errno;
		char a[80];
		log_debug("connect() to %s failed: %s", log_addr(&s->addrs[s->addr_idx].sa, a, sizeof(a)),
			  strerror(errno));
		s->addr_idx++;
	}
	reply_error(s, 502, s->connect_errno == ECONNREFUSED ? "upstream refused the connection"
			    : "cannot connect to upstream");
}

static void use_addresses(struct session *s, const union sockaddr_any *addrs, int n)
{
	s->naddrs = n > MAX_ADDRS ? MAX_ADDRS : n;
	for (int i = 0; i < s->naddrs; i++) {
		s->addrs[i] = addrs[i];
		if (addrs[i].sa.sa_family == AF_INET)
			s->addrs[i].in.sin_port = htons(s->port);
		else
			s->addrs[i].in6.sin6_port = htons(s->port);
	}
	s->addr_idx = 0;
	connect_next(s);
}

static void dns_error(struct session *s, enum dns_status st)
{
	if (st == DNS_TIMEOUT)
		reply_error(s, 504, "DNS lookup timed out");
	else if (st == DNS_NOTFOUND)
		reply_error(s, 502, "DNS name not found");
	else
		reply_error(s, 502, "DNS lookup failed");
}

static void on_dns(void *arg, enum dns_status st, const union sockaddr_any *addrs, int n)
{
	struct session *s = arg;
	if (s->state != S_RESOLVE)
		return;
	if (st == DNS_OK)
		use_addresses(s, addrs, n);
	else
		dns_error(s, st);
	pump(s);
}

/* Find an upstream: the pool, a literal address, the DNS cache or a lookup. */
static void route(struct session *s, int allow_pool)
{
	struct worker *w = W(s);
	char key[UPSTREAM_KEY_MAX];
	pool_key(s, key, sizeof(key));
	if (allow_pool && (s->up = upstream_take(w->pool, key, on_upstream, s)) != NULL) {
		s->reused = 1;
		s->upeer = s->up->addr;
		s->has_upeer = 1;
		s->state = S_FORWARD;
		s->u_wr = 1;
		s->u_rd = 0; /* upstream_take saw its receive queue empty */
		return;
	}
	union sockaddr_any lit;
	if (parse_literal(s->host, s->port, &lit) == 0) {
		use_addresses(s, &lit, 1);
		return;
	}
	const union sockaddr_any *addrs;
	int n;
	s->dnsw.cb = on_dns;
	s->dnsw.arg = s;
	s->state = S_RESOLVE;
	s->phase_start = loop_now(w->loop);
	enum dns_status st = dns_resolve(w->dns, s->host, &s->dnsw, &addrs, &n);
	if (st == DNS_PENDING)
		return;
	if (st == DNS_OK)
		use_addresses(s, addrs, n);
	else
		dns_error(s, st);
}

/* Answer TRACE / OPTIONS with Max-Forwards: 0 ourselves (RFC 9110 7.6.2). */
static void reply_max_forwards(struct session *s, const struct http_head *h, int trace)
{
	if (need_buf(s, &s->ohead) == -1) {
		close_session(s);
		return;
	}
	/* a body after such a request is not worth skipping: close after it */
	if (s->req.flags & (F_CHUNKED | F_CONTENT_LENGTH))
		s->close_after = 1;
	int close = s->close_after || !s->keep_alive;
	int r = trace ? http_write_trace(s->ohead, h, close)
		      : http_write_local(s->ohead, 200, NULL, "text/plain", "", 0, close);
	if (r == -1) {
		reply_error(s, 431, "request head too large to echo");
		return;
	}
	s->status = 200;
	s->local_reply = 1;
	s->state = S_REPLY;
}

/* "Connection: upgrade" with an Upgrade header: both go through, and a 101
 * turns the connection into a tunnel. */
static void keep_upgrade(struct session *s, struct http_head *h)
{
	int up = http_find(h, "Upgrade");
	/* RFC 9110 7.8: an Upgrade in an HTTP/1.0 request is ignored */
	if (up < 0 || !(h->conn_tokens & HTTP_CONN_UPGRADE) || h->minor == 0)
		return;
	h->hdr[up].drop = 0;
	h->keep_upgrade = 1;
	s->tunnel = T_UPGRADE;
}

/* CONNECT host:port: check the port, then connect; "200 Connection
 * established" goes out only once the origin has accepted. */
static void on_connect_head(struct session *s, const struct http_head *h)
{
	struct worker *w = W(s);
	struct buf *b = s->cin;
	struct http_target t;
	const char *why;
	if (http_authority_parse(h->raw + h->part[1].off, h->part[1].len, &t, &why) == -1) {
		reply_error(s, 400, why);
		return;
	}
	snprintf(s->host, sizeof(s->host), "%s", t.host);
	s->port = t.port;
	s->tunnel = T_CONNECT;
	if (!config_connect_port_allowed(w->cfg, t.port)) {
		reply_error(s, 403, "CONNECT to this port is not allowed");
		return;
	}
	s->req_done = 1;	/* llhttp is done with this connection */
	b->start = b->parsed;	/* bytes behind the head (a ClientHello) wait in cin */
	b->parsed = b->end;
	llhttp_init(&s->res, HTTP_RESPONSE, &res_settings);
	s->res.data = s;
	route(s, 0);		/* a tunnel needs its own connection, never a pooled one */
}

/* A request on a transparent listener goes where the client was going,
 * whatever it names: Host (or an absolute URL, RFC 9112 3.2.2) only names
 * the host for the log, and a literal that disagrees is logged.  Otherwise a
 * client could reach any host by lying in Host.  Sets t (the request as
 * forwarded, Host kept) and s->host/port (the original destination).
 * Returns 0, or -1 after answering with an error. */
static int transparent_target(struct session *s, const struct http_head *h, struct http_target *t)
{
	struct transparent *tp = s->tp;
	const char *target = h->raw + h->part[1].off;
	uint32_t tlen = h->part[1].len;
	const char *why = NULL;
	char a[80];
	if (tp->not_redirected) {
		log_info("client %s: %s: answering 508", log_addr(&s->peer.sa, a, sizeof(a)), tp->not_redirected);
		reply_error(s, 508, tp->not_redirected);
		return -1;
	}
	if (tp->refused) {
		log_info("client %s: %s (%s): answering 403", log_addr(&s->peer.sa, a, sizeof(a)), tp->refused,
			 tp->odst_text);
		reply_error(s, 403, tp->refused);
		return -1;
	}
	/* RFC 9112 3.2: one Host, and none only from an HTTP/1.0 client */
	int hi = -1, nhost = 0;
	for (uint32_t i = 0; i < h->nhdr; i++)
		if (http_span_eq(h, h->hdr[i].name, "Host") && nhost++ == 0)
			hi = (int)i;
	int r = -1;
	if (nhost > 1)
		why = "more than one Host";
	else if (nhost == 0 && h->minor != 0)
		why = "no Host in an HTTP/1.1 request";
	else if (tlen == 1 && target[0] == '*' && s->req.method != HTTP_OPTIONS)
		why = "asterisk-form target is for OPTIONS only"; /* RFC 9112 3.2.4 */
	else if (tlen > 0 && target[0] != '/' && target[0] != '*') {
		r = http_target_parse(target, tlen, t, &why);
		if (r == -1 && tlen >= 8 && strncasecmp(target, "https://", 8) == 0)
			why = "https URLs are not accepted on a transparent listener";
	}
	else if (hi >= 0)
		r = http_origin_target_parse(target, tlen, h->raw + h->hdr[hi].value.off, h->hdr[hi].value.len, t,
					     &why);
	else {
		/* an HTTP/1.0 client may send none: name the destination */
		char host[INET6_ADDRSTRLEN + 8];
		uint16_t port = sockaddr_port(&tp->odst);
		int n = snprintf(host, sizeof(host), tp->odst.sa.sa_family == AF_INET6 ? "[%s]" : "%s",
				 tp->odst_text);
		if (port != 80)
			n += snprintf(host + n, sizeof(host) - (size_t)n, ":%u", port);
		r = http_origin_target_parse(target, tlen, host, (size_t)n, t, &why);
	}
	if (r == -1) {
		s->method_len = 0;
		reply_error(s, 400, why);
		return -1;
	}
	snprintf(tp->named, sizeof(tp->named), "%s", t->host);
	tp->named_port = t->port;
	snprintf(s->host, sizeof(s->host), "%s", tp->odst_text);
	s->port = sockaddr_port(&tp->odst);
	/* a literal compares in its canonical spelling; a name cannot be
	 * checked without a lookup, and goes unremarked */
	union sockaddr_any lit;
	char canon[INET6_ADDRSTRLEN];
	if (t->port != s->port ||
	    (parse_literal(t->host, t->port, &lit) == 0 && strcmp(log_host(&lit.sa, canon, sizeof(canon)), s->host) != 0))
		log_info("client %s: Host %s:%u does not match the original destination %s:%u; going to the "
			 "original destination", log_addr(&s->peer.sa, a, sizeof(a)), t->host, t->port, s->host,
			 s->port);
	return 0;
}

/* The request head is complete in cin [start, parsed). */
static void on_request_head(struct session *s)
{
	struct worker *w = W(s);
	const struct config *cfg = w->cfg;
	struct buf *b = s->cin;
	struct http_head h;
	if (b->parsed - b->start > cfg->header_max) {
		reply_error(s, 431, "request head too large");
		return;
	}
	enum http_verdict v = http_head_parse(&h, b->data + b->start, b->parsed - b->start, 1, w->hdrs,
					      cfg->max_headers);
	if (v != HTTP_OK) {
		reply_error(s, v == HTTP_TOO_MANY_HEADERS ? 431 : 400, http_verdict_text(v));
		return;
	}
	s->http10 = h.minor == 0;
	s->keep_alive = llhttp_should_keep_alive(&s->req);
	s->method_len = (uint16_t)h.part[0].len;
	if (h.major != 1) {
		reply_error(s, 505, "HTTP version not supported");
		return;
	}
	if (h.minor == 0 && h.transfer_encoding) {
		/* RFC 9112 6.1: HTTP/1.0 has no transfer codings; faulty framing */
		reply_error(s, 400, "Transfer-Encoding in an HTTP/1.0 request");
		return;
	}
	struct http_target t;
	const char *why;
	if (s->req.method == HTTP_CONNECT) {
		if (s->tp) {
			/* honouring its target would let a redirected client tunnel
			 * anywhere; tunnelling to where it was going is pointless */
			reply_error(s, 403, "CONNECT is not accepted on a transparent listener");
			return;
		}
		on_connect_head(s, &h);
		return;
	}
	if (s->tp) {
		if (transparent_target(s, &h, &t) == -1)
			return;
	} else if (http_target_parse(h.raw + h.part[1].off, h.part[1].len, &t, &why) == -1) {
		s->method_len = 0; /* no URL worth logging */
		reply_error(s, 400, why);
		return;
	} else {
		snprintf(s->host, sizeof(s->host), "%s", t.host);
		s->port = t.port;
	}
	s->head_method = s->req.method == HTTP_HEAD;

	int mf_method = s->req.method == HTTP_TRACE || s->req.method == HTTP_OPTIONS;
	if (mf_method && h.max_forwards == 0) {
		reply_max_forwards(s, &h, s->req.method == HTTP_TRACE);
		b->start = b->parsed;
		llhttp_resume(&s->req);
		return;
	}
	http_mark_hop_by_hop(&h);
	keep_upgrade(s, &h);
	if (need_buf(s, &s->rhead) == -1) {
		close_session(s);
		return;
	}
	if (http_write_request(s->rhead, &h, &t, cfg->via_name, mf_method && h.max_forwards > 0) == -1) {
		reply_error(s, 431, "request head too large");
		return;
	}
	b->start = b->parsed; /* the raw head is spent; the rewritten one goes up */
	llhttp_resume(&s->req);
	llhttp_init(&s->res, HTTP_RESPONSE, &res_settings);
	s->res.data = s;
	route(s, 1);
}

/* Feed client bytes to the request parser.  Returns 1 on progress. */
static int parse_request(struct session *s)
{
	struct buf *b = s->cin;
	if (s->req_done || s->state == S_REPLY || s->state == S_LINGER || s->state == S_TUNNEL ||
	    s->state == S_PEEK || b == NULL)
		return 0;
	/* After the head, llhttp may complete a body-less message without
	 * another byte, so it runs on an empty input then too. */
	if (buf_unparsed(b) == 0 && s->state == S_HEAD)
		return 0;
	uint32_t before = b->parsed;
	if (!s->msg_begun) {
		s->msg_begun = 1;
		s->head_start = loop_now(W(s)->loop);
		s->start_wall = wall_ms();
		s->start_mono = loop_now(W(s)->loop);
	}
	s->req_event = EV_NONE;
	const char *from = b->data + b->parsed;
	llhttp_errno_t rc = llhttp_execute(&s->req, from, buf_unparsed(b));
	if (rc == HPE_OK) {
		b->parsed = b->end;
	} else if (rc == HPE_PAUSED) {
		b->parsed = (uint32_t)(llhttp_get_error_pos(&s->req) - b->data);
	} else {
		if (s->state != S_HEAD) {
			/* a broken body: the upstream has part of it, nothing can be resynchronised */
			s->reason = "malformed request body";
			if (!s->res_head_done && s->status == 0)
				reply_error(s, 400, "malformed request body");
			else
				close_session(s);
			return 1;
		}
		if (s->url_too_long)
			reply_error(s, 414, "request target too long");
		else
			reply_error(s, 400, llhttp_get_error_reason(&s->req));
		return 1;
	}
	if (s->state == S_HEAD) {
		if (s->req_event == EV_HEAD) {
			on_request_head(s);
			/* Frame what follows the head now: a body-less request is
			 * complete at once, before any response can race it. */
			if (s->state == S_RESOLVE || s->state == S_CONNECT || s->state == S_FORWARD)
				parse_request(s);
			return 1;
		}
		if (b->parsed - b->start >= W(s)->cfg->header_max) {
			if (!s->url_done)
				reply_error(s, 414, "request target too long");
			else
				reply_error(s, 431, "request head too large");
		}
		return 1;
	}
	if (s->req_event == EV_MESSAGE)
		s->req_done = 1;
	return b->parsed != before || s->req_done;
}

/* --- response side ------------------------------------------------------------------ */

static void resume_response(struct session *s)
{
	llhttp_resume(&s->res);
	s->res_resumed = 1;
}

/* A response head is complete in uin [start, parsed). */
static void on_response_head(struct session *s, int also_message)
{
	struct worker *w = W(s);
	struct buf *b = s->uin;
	struct http_head h;
	if (b->parsed - b->start > w->cfg->header_max) {
		reply_error(s, 502, "response head too large");
		return;
	}
	enum http_verdict v = http_head_parse(&h, b->data + b->start, b->parsed - b->start, 0, w->hdrs,
					      w->cfg->max_headers);
	if (v != HTTP_OK) {
		log_info("upstream %s:%u sent a bad response head: %s", s->host, s->port, http_verdict_text(v));
		reply_error(s, 502, "malformed response from upstream");
		return;
	}
	if (h.status == 101 && s->tunnel != T_UPGRADE) {
		reply_error(s, 502, "upstream switched protocols unasked");
		return;
	}
	if (need_buf(s, &s->ohead) == -1) {
		close_session(s);
		return;
	}
	/* A pipelining client may never leave ohead empty at an idle moment:
	 * make all its room usable before each head. */
	buf_compact(s->ohead);
	http_mark_hop_by_hop(&h);
	if (h.status == 101) {
		if (s->rhead_sent < s->rhead->end) {
			reply_error(s, 502, "upstream switched protocols before the request was sent");
			return;
		}
		int up = http_find(&h, "Upgrade");
		if (up >= 0)
			h.hdr[up].drop = 0;
		h.keep_upgrade = 1;
		if (http_write_response(s->ohead, &h, w->cfg->via_name, HTTP_CONN_AS_IS) == -1) {
			reply_error(s, 502, "response head too large");
			return;
		}
		s->status = 101;
		s->res_head_done = s->res_done = 1;
		b->start = b->parsed; /* what follows the 101 is the new protocol's */
		b->parsed = b->end;
		s->state = S_TUNNEL;
		return;
	}
	if (h.status < 200) {
		/* interim: forward (not to HTTP/1.0 clients, RFC 9110 15.2) and wait for more */
		if (!s->http10 && http_write_response(s->ohead, &h, w->cfg->via_name, HTTP_CONN_AS_IS) == -1) {
			reply_error(s, 502, "response head too large");
			return;
		}
		/* A fresh parser for the final response: whatever framing headers
		 * the interim one carried must not make llhttp expect a body. */
		b->start = b->parsed;
		llhttp_init(&s->res, HTTP_RESPONSE, &res_settings);
		s->res.data = s;
		return;
	}
	if (llhttp_message_needs_eof(&s->res) && !also_message)
		s->close_after = 1; /* the body ends when the upstream closes */
	if (!s->keep_alive)
		s->close_after = 1;
	if (s->http10 && (s->res.flags & F_CHUNKED) && !also_message) {
		/* HTTP/1.0 has no chunked coding: send the body decoded and
		 * delimit it by closing (RFC 9112 7.1 and 6.3). */
		s->dechunk = 1;
		s->close_after = 1;
		int te = http_find(&h, "Transfer-Encoding");
		if (te >= 0)
			h.hdr[te].drop = 1;
	}
	enum http_conn_mode mode = s->close_after ? HTTP_CONN_ADD_CLOSE
				 : s->http10	 ? HTTP_CONN_ADD_KEEPALIVE
						 : HTTP_CONN_AS_IS;
	if (http_write_response(s->ohead, &h, w->cfg->via_name, mode) == -1) {
		reply_error(s, 502, "response head too large");
		return;
	}
	s->status = h.status;
	int ct = http_find(&h, "Content-Type");
	if (ct >= 0) {
		size_t n = h.hdr[ct].value.len < sizeof(s->ctype) - 1 ? h.hdr[ct].value.len : sizeof(s->ctype) - 1;
		memcpy(s->ctype, h.raw + h.hdr[ct].value.off, n);
		s->ctype[n] = '\0';
	}
	b->start = b->parsed;
	s->res_head_done = 1;
	if (also_message)
		s->res_done = 1;
	resume_response(s);
}

/* Feed origin bytes to the response parser.  Returns 1 on progress. */
static int parse_response_step(struct session *s)
{
	struct buf *b = s->uin;
	if (s->state != S_FORWARD || b == NULL || s->res_done || s->abort_after_flush)
		return 0;
	/* empty input still lets llhttp end a message right after a resume */
	if (buf_unparsed(b) == 0 && !s->res_resumed)
		return 0;
	/* interim heads wait until the ones before them reached the client */
	if (!s->res_head_done && s->ohead && !buf_empty(s->ohead))
		return 0;
	s->res_resumed = 0;
	s->res_event = EV_NONE;
	uint32_t len = buf_unparsed(b);
	if (s->dechunk) {
		/* decoded bytes never outnumber raw ones: feed what ohead can take */
		if (buf_room(s->ohead) == 0 && s->ohead->start > 0)
			buf_compact(s->ohead);
		if (len > buf_room(s->ohead))
			len = buf_room(s->ohead);
		if (len == 0 && buf_unparsed(b) > 0)
			return 0;
	}
	llhttp_errno_t rc = llhttp_execute(&s->res, b->data + b->parsed, len);
	if (rc == HPE_OK) {
		b->parsed += len;
	} else if (rc == HPE_PAUSED) {
		b->parsed = (uint32_t)(llhttp_get_error_pos(&s->res) - b->data);
	} else {
		log_info("upstream %s:%u: bad response: %s", s->host, s->port, llhttp_get_error_reason(&s->res));
		if (!s->res_head_done) {
			reply_error(s, 502, "malformed response from upstream");
		} else {
			s->reason = "malformed response body from upstream";
			s->abort_after_flush = 1;
			drop_upstream(s);
		}
		return 1;
	}
	if (s->dechunk && s->res_head_done)
		b->start = b->parsed; /* raw chunked bytes are spent; ohead has the data */
	switch (s->res_event) {
	case EV_HEAD:
		on_response_head(s, 0);
		break;
	case EV_HEAD_AND_MESSAGE:
		on_response_head(s, 1);
		break;
	case EV_MESSAGE:
		s->res_done = 1;
		break;
	default:
		if (!s->res_head_done && b->parsed - b->start >= W(s)->cfg->header_max)
			reply_error(s, 502, "response head too large");
		break;
	}
	return 1;
}

/* Past a final head, go straight on into the body bytes that came with it,
 * so head and body leave in one writev. */
static int parse_response(struct session *s)
{
	if (!parse_response_step(s))
		return 0;
	if (s->res_event == EV_HEAD && s->res_head_done && s->state == S_FORWARD)
		parse_response_step(s);
	return 1;
}

static int retry_safe(const struct session *s)
{
	switch (s->req.method) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_OPTIONS:
	case HTTP_TRACE:
	case HTTP_PUT:
	case HTTP_DELETE:
		break;
	default:
		return 0;
	}
	return s->req_done && !(s->req.flags & F_CHUNKED) && !s->body_sent &&
	       (s->cin == NULL || buf_pending(s->cin) == 0);
}

/* The origin closed (or reset) its side, and every byte before that has
 * been parsed. */
static void upstream_eof(struct session *s, int err)
{
	if (!s->res_done && s->res_head_done && !err && llhttp_message_needs_eof(&s->res)) {
		/* a close-delimited body ends here */
		s->res_done = 1;
		s->u_eof = 1;
		return;
	}
	if (s->res_done) {
		s->u_eof = 1;
		return;
	}
	int nothing_yet = !s->res_head_done && (s->uin == NULL || buf_empty(s->uin)) && s->status == 0;
	if (nothing_yet && s->reused && !s->retried && retry_safe(s)) {
		/* A pooled connection the origin had already given up on: try once
		 * more on a fresh one (RFC 9110 9.2.2: idempotent and body-less). */
		log_debug("upstream %s:%u: pooled connection closed, retrying", s->host, s->port);
		drop_upstream(s);
		s->retried = 1;
		s->reused = 0;
		s->rhead_sent = 0;
		if (s->uin)
			s->uin->start = s->uin->parsed = s->uin->end = 0;
		llhttp_init(&s->res, HTTP_RESPONSE, &res_settings);
		s->res.data = s;
		route(s, 0);
		return;
	}
	if (nothing_yet || !s->res_head_done) {
		reply_error(s, 502, err ? "upstream reset the connection" : "upstream closed the connection");
		return;
	}
	/* Mid-body: the client must see the truncation, never a short body
	 * that looks complete. */
	s->reason = "upstream closed mid-response";
	s->abort_after_flush = 1;
	drop_upstream(s);
}

/* --- local replies -------------------------------------------------------------------- */

static void reply_error(struct session *s, int status, const char *reason)
{
	struct worker *w = W(s);
	char a[80];
	log_debug("client %s: %d %s", log_addr(&s->peer.sa, a, sizeof(a)), status, reason);
	s->reason = reason;
	w->stats.errors++;
	if (s->tunnel == T_TLS) {
		/* no HTTP to answer in: the status is for the log line */
		s->status = status;
		s->local_reply = 1;
		close_session(s);
		return;
	}
	if (s->status != 0 || (s->ohead && s->ohead->start > 0 && !buf_empty(s->ohead))) {
		/* a response is already on its way: all we can do is cut it */
		s->abort_after_flush = 1;
		drop_upstream(s);
		return;
	}
	drop_upstream(s);
	dns_cancel(w->dns, &s->dnsw);
	if (need_buf(s, &s->ohead) == -1) {
		close_session(s);
		return;
	}
	s->ohead->start = s->ohead->parsed = s->ohead->end = 0;
	if (s->uin)
		s->uin->start = s->uin->parsed = s->uin->end = 0;
	char body[256];
	int n = snprintf(body, sizeof(body), "sluice: %d %s: %s\n", status, http_status_text(status), reason);
	http_write_local(s->ohead, status, NULL, "text/plain", body, (size_t)n, 1);
	s->status = status;
	s->local_reply = 1;
	s->close_after = 1;
	s->res_head_done = 1;
	s->state = S_REPLY;
}

/* --- socket I/O ------------------------------------------------------------------------- */

/* Read from fd into b.  Returns bytes read, 0 at EOF, -1 on EAGAIN (clears
 * *ready), -2 on a hard error (errno set).
 *
 * A read that leaves room in b emptied the socket, so *ready is cleared
 * without a second read that would only say EAGAIN: bytes that arrive later
 * raise a new edge.  Not when an event already reported the peer's FIN or an
 * error (hup): that edge has been consumed, so read on until EOF shows. */
static ssize_t read_into(int fd, struct buf *b, uint8_t *ready, uint8_t hup)
{
	if (buf_room(b) == 0 && b->start > 0)
		buf_compact(b);
	if (buf_room(b) == 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, b->data + b->end, buf_room(b));
		if (n > 0) {
			if ((size_t)n < buf_room(b) && !hup)
				*ready = 0;
			b->end += (uint32_t)n;
			return n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*ready = 0;
			return -1;
		}
		return -2;
	}
}

/* writev head [head_off, end) then body [start, parsed).  Returns bytes
 * written, -1 on EAGAIN (clears *ready), -2 on error. */
static ssize_t write_out(int fd, const char *h, size_t hlen, struct buf *body, uint8_t *ready)
{
	struct iovec iov[2];
	int n = 0;
	if (hlen) {
		iov[n].iov_base = (void *)h;
		iov[n++].iov_len = hlen;
	}
	if (body && buf_pending(body)) {
		iov[n].iov_base = body->data + body->start;
		iov[n++].iov_len = buf_pending(body);
	}
	if (n == 0)
		return 0;
	for (;;) {
		ssize_t w = writev(fd, iov, n);
		if (w >= 0)
			return w;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*ready = 0;
			return -1;
		}
		return -2;
	}
}

static int client_read(struct session *s)
{
	if (!s->c_rd || s->c_eof || s->tunnel_live)
		return 0;
	if (need_buf(s, &s->cin) == -1) {
		close_session(s);
		return 0;
	}
	if (s->state == S_LINGER)
		s->cin->start = s->cin->parsed = s->cin->end = 0; /* discard */
	ssize_t n = read_into(s->io.fd, s->cin, &s->c_rd, s->c_hup);
	if (n == -1)
		return 0;
	if (n == -2) {
		s->reason = s->reason ? s->reason : "client connection error";
		close_session(s);
		return 0;
	}
	if (n == 0) {
		s->c_eof = 1;
		return 1;
	}
	s->last_active = loop_now(W(s)->loop);
	return 1;
}

/* Client EOF: what it means depends on where the exchange is. */
static void client_eof(struct session *s)
{
	if (s->state == S_PEEK) {
		s->reason = "client closed before its ClientHello was complete";
		close_session(s);
		return;
	}
	if (s->state == S_LINGER || (s->state == S_HEAD && (s->cin == NULL || buf_unparsed(s->cin) == 0) &&
				     !s->msg_begun)) {
		close_session(s);
		return;
	}
	if (s->state == S_HEAD) {
		close_session(s); /* half a head, then gone */
		return;
	}
	if (s->state == S_REPLY) {
		s->close_after = 1; /* the reply still goes out */
		return;
	}
	if (s->state == S_TUNNEL)
		return; /* the relay sees the same EOF and passes it on */
	if (!s->req_done)
		parse_request(s); /* a body-less request ends without another byte */
	if (s->state == S_CLOSED)
		return;
	if (!s->req_done && s->state != S_REPLY) {
		s->reason = "client closed during the request";
		log_request(s);
		close_session(s);
		return;
	}
	/* A half-close after a full request: answer it (and any pipelined
	 * after it); the connection ends when S_HEAD finds nothing left. */
}

static int upstream_write(struct session *s)
{
	if (s->state != S_FORWARD || !s->u_wr || s->up == NULL || s->u_wdone)
		return 0;
	struct buf *body = s->cin;
	uint32_t hlen = s->rhead->end - s->rhead_sent;
	ssize_t n = write_out(s->up->io.fd, s->rhead->data + s->rhead_sent, hlen, body, &s->u_wr);
	if (n == -1 || n == 0)
		return 0;
	if (n == -2) {
		/* The origin stopped reading (a 413 on its way, say): keep
		 * reading its answer; the read side decides what it was. */
		s->u_wdone = 1;
		s->u_rd = 1;
		s->close_after = 1;
		return 1;
	}
	uint32_t w = (uint32_t)n;
	uint32_t h = w < hlen ? w : hlen;
	s->rhead_sent += h;
	w -= h;
	if (w) {
		body->start += w;
		s->body_sent = 1;
	}
	s->last_active = loop_now(W(s)->loop);
	return 1;
}

static int upstream_read(struct session *s)
{
	if (s->state != S_FORWARD || !s->u_rd || s->u_eof || s->up == NULL)
		return 0;
	if (need_buf(s, &s->uin) == -1) {
		close_session(s);
		return 0;
	}
	ssize_t n = read_into(s->up->io.fd, s->uin, &s->u_rd, s->u_hup);
	if (n == -1)
		return 0;
	if (n <= 0) {
		s->u_eof = 1;
		s->u_reset = n == -2;
		return 1;
	}
	s->last_active = loop_now(W(s)->loop);
	return 1;
}

static int client_write(struct session *s)
{
	if (!s->c_wr)
		return 0;
	struct buf *oh = s->ohead;
	struct buf *body = s->res_head_done && s->state == S_FORWARD ? s->uin : NULL;
	uint32_t hlen = oh ? oh->end - oh->start : 0;
	if (hlen == 0 && (body == NULL || buf_pending(body) == 0))
		return 0;
	ssize_t n = write_out(s->io.fd, oh ? oh->data + oh->start : NULL, hlen, body, &s->c_wr);
	if (n == -1 || n == 0)
		return 0;
	if (n == -2) {
		s->reason = "client went away";
		log_request(s);
		close_session(s);
		return 0;
	}
	uint32_t w = (uint32_t)n;
	uint32_t h = w < hlen ? w : hlen;
	if (oh)
		oh->start += h;
	w -= h;
	if (w)
		body->start += w;
	s->bytes_out += (uint64_t)n;
	s->last_active = loop_now(W(s)->loop);
	return 1;
}

/* --- the pump ------------------------------------------------------------------------------ */

static int all_flushed(const struct session *s)
{
	return (s->ohead == NULL || buf_empty(s->ohead)) && (s->uin == NULL || buf_pending(s->uin) == 0);
}

static int request_sent(const struct session *s)
{
	return s->req_done && s->rhead && s->rhead_sent == s->rhead->end &&
	       (s->cin == NULL || buf_pending(s->cin) == 0);
}

/* The relays start once the head that opened the tunnel has gone out, so
 * nothing the origin says can overtake it. */
static void tunnel_start(struct session *s)
{
	struct worker *w = W(s);
	int copy = !w->cfg->tunnel_splice;
	if (s->cin && s->cin->start == s->cin->end)
		put_buf(s, &s->cin);
	if (s->uin && s->uin->start == s->uin->end)
		put_buf(s, &s->uin);
	if (s->tunnel == T_UPGRADE && s->rhead) {
		/* keep the request line for the log line at the end, not the buffer */
		const char *eol = memchr(s->rhead->data, '\r', s->rhead->end);
		size_t n = eol ? (size_t)(eol - s->rhead->data) : 0;
		s->tunnel_line = strndup(s->rhead->data, n);
	}
	put_buf(s, &s->rhead);
	put_buf(s, &s->ohead); /* flushed: tunnel_step starts only then */
	s->req_done = 1;
	s->c_rd = s->u_rd = 1; /* bytes may have arrived while the head went out */
	relay_init(&s->r_up, s->io.fd, s->up->io.fd, &s->c_rd, &s->u_wr, &s->cin, copy);
	relay_init(&s->r_down, s->up->io.fd, s->io.fd, &s->u_rd, &s->c_wr, &s->uin, copy);
	s->r_down.bytes = s->bytes_out; /* the head that opened the tunnel counts */
	s->tunnel_live = 1;
}

/* Move tunnel bytes; close when both directions ended or one failed.  The
 * relays loop by themselves (RELAY_MORE asks for a repump), so the pump
 * need not go round for them. */
static void tunnel_step(struct session *s)
{
	struct worker *w = W(s);
	if (!s->tunnel_live) {
		if (s->ohead && !buf_empty(s->ohead))
			return;
		tunnel_start(s);
	}
	int moved = 0;
	enum relay_result a = relay_move(&s->r_up, w->pipes, &w->bufs, &moved);
	enum relay_result b = a == RELAY_ERROR ? RELAY_ERROR : relay_move(&s->r_down, w->pipes, &w->bufs, &moved);
	s->bytes_out = s->r_down.bytes;
	if (moved)
		s->last_active = loop_now(w->loop);
	if (a == RELAY_ERROR || b == RELAY_ERROR) {
		s->reason = "tunnel connection reset";
		close_session(s);
		return;
	}
	if (s->r_up.done && s->r_down.done) {
		close_session(s);
		return;
	}
	if (a == RELAY_MORE || b == RELAY_MORE)
		s->repump = 1;
}

/* Transitions that depend on the byte counts, checked after each round. */
static void settle(struct session *s)
{
	switch (s->state) {
	case S_FORWARD:
		if (s->u_eof && !s->res_done && !s->res_resumed && s->up &&
		    (s->uin == NULL || buf_unparsed(s->uin) == 0 || s->abort_after_flush)) {
			upstream_eof(s, s->u_reset);
			if (s->state != S_FORWARD)
				return;
		}
		if (s->abort_after_flush && all_flushed(s)) {
			close_session(s);
			return;
		}
		if (s->res_done && all_flushed(s)) {
			if (!request_sent(s)) {
				/* answered before the request ended: the rest of it
				 * cannot be skipped reliably */
				s->close_after = 1;
				drop_upstream(s);
			}
			finish_exchange(s);
		}
		break;
	case S_REPLY:
		if (all_flushed(s)) {
			log_request(s);
			s->nreq++;
			if (s->close_after || !s->keep_alive) {
				start_linger(s);
			} else {
				begin_request(s);
			}
		}
		break;
	default:
		break;
	}
}

/* --- transparent TLS ----------------------------------------------------------------- */

/* The ClientHello has been read (or will not be): go to the original
 * destination and relay from the first byte; what was peeked waits in cin
 * and goes first.  Whatever the hello said, the connection is relayed (the
 * rules decide policy, not the reader); the log line says what was seen. */
static void tls_decide(struct session *s, enum tls_hello r)
{
	struct transparent *tp = s->tp;
	char a[80];
	tp->hello = (uint8_t)r;
	if (r != TLS_HELLO_SNI)
		log_info("client %s: TLS to %s:%u: %s; relaying it anyway", log_addr(&s->peer.sa, a, sizeof(a)),
			 tp->odst_text, sockaddr_port(&tp->odst),
			 r == TLS_HELLO_MORE ? "no complete ClientHello in time" : tls_hello_text(r));
	snprintf(s->host, sizeof(s->host), "%s", tp->odst_text);
	s->port = sockaddr_port(&tp->odst);
	s->tunnel = T_TLS;
	s->req_done = 1;
	if (s->cin)
		s->cin->parsed = s->cin->end;
	route(s, 0); /* a literal address: connects at once */
}

/* S_PEEK: look at what the client sent so far.  Returns 1 on progress. */
static int peek_hello(struct session *s)
{
	struct buf *b = s->cin;
	if (b == NULL || buf_empty(b))
		return 0;
	uint32_t have = b->end - b->start; /* all unparsed: nothing is consumed */
	enum tls_hello r = tls_hello_parse((const uint8_t *)b->data + b->start, have, s->tp->sni,
					   sizeof(s->tp->sni));
	if (r == TLS_HELLO_MORE && s->c_eof) {
		s->reason = "client closed before its ClientHello was complete";
		close_session(s);
		return 0;
	}
	/* The reader decides by TLS_HELLO_MAX bytes, and config_validate makes
	 * cin hold that many: waiting cannot meet a full buffer. */
	if (r == TLS_HELLO_MORE)
		return 0; /* wait for more, within header_timeout */
	if (r != TLS_HELLO_SNI)
		s->tp->sni[0] = '\0';
	tls_decide(s, r);
	return 1;
}

static uint64_t deadline(const struct session *s)
{
	const struct config *c = s->w->cfg;
	switch (s->state) {
	case S_PEEK:
		return s->phase_start + c->header_timeout;
	case S_HEAD:
		if (s->msg_begun)
			return s->head_start + c->header_timeout;
		return s->last_active + (s->nreq ? c->keepalive_timeout : c->header_timeout);
	case S_RESOLVE:
		/* c-ares gives up at about dns_timeout; a little slack lets its
		 * answer (an A without its AAAA, say) win the race */
		return s->phase_start + c->dns_timeout + 500;
	case S_CONNECT:
		return s->phase_start + c->connect_timeout;
	case S_FORWARD:
		if (request_sent(s) && !s->res_head_done)
			return s->last_active + c->response_timeout;
		return s->last_active + c->idle_timeout;
	case S_REPLY:
		return s->last_active + c->idle_timeout;
	case S_TUNNEL:
		return s->last_active + c->tunnel_idle_timeout;
	case S_LINGER:
		return s->phase_start + LINGER_MS; /* total: a flooding client cannot stretch it */
	case S_CLOSED:
		break;
	}
	return UINT64_MAX;
}

static void arm(struct session *s)
{
	uint64_t d = s->repump ? loop_now(s->w->loop) : deadline(s);
	/* Lazy: moving later leaves the timer where it is; when it fires,
	 * on_timer looks again.  Only an earlier deadline touches the heap. */
	if (!timer_armed(&s->timer) || d < s->timer.deadline)
		timer_set(s->w->loop, &s->timer, d);
}

/* Is the exchange stuck on the client (408) rather than the origin (504)?
 * Only when everything the client sent is already upstream. */
static int waiting_for_client(const struct session *s)
{
	return !s->req_done && s->rhead_sent == s->rhead->end && (s->cin == NULL || buf_pending(s->cin) == 0);
}

static void on_timer(struct timer *t)
{
	struct session *s = (struct session *)((char *)t - offsetof(struct session, timer));
	uint64_t now = loop_now(s->w->loop);
	if (s->repump) {
		s->repump = 0;
		pump(s);
		return;
	}
	uint64_t d = deadline(s);
	if (d > now) {
		timer_set(s->w->loop, &s->timer, d);
		return;
	}
	switch (s->state) {
	case S_PEEK:
		if (s->cin == NULL || buf_empty(s->cin)) {
			s->reason = "no bytes within header_timeout"; /* nothing to relay */
			close_session(s);
		} else {
			tls_decide(s, TLS_HELLO_MORE); /* relay what came, SNI or not */
		}
		break;
	case S_HEAD:
		if (s->msg_begun)
			reply_error(s, 408, "request head timeout");
		else
			close_session(s);
		break;
	case S_RESOLVE:
		reply_error(s, 504, "DNS lookup timed out");
		break;
	case S_CONNECT:
		/* a silent address: the next one may answer */
		drop_upstream(s);
		s->addr_idx++;
		s->connect_errno = ETIMEDOUT;
		if (s->addr_idx < s->naddrs)
			connect_next(s);
		else
			reply_error(s, 504, "upstream connect timed out");
		break;
	case S_FORWARD:
		if (!s->res_head_done && waiting_for_client(s))
			reply_error(s, 408, "request body timeout");
		else if (!s->res_head_done)
			reply_error(s, 504, "upstream response timed out");
		else {
			s->reason = "transfer timed out";
			close_session(s);
		}
		break;
	case S_REPLY:
		close_session(s); /* the client is not reading its reply */
		break;
	case S_TUNNEL:
		s->reason = "tunnel idle timeout";
		close_session(s);
		break;
	case S_LINGER:
	case S_CLOSED:
		close_session(s);
		break;
	}
	pump(s);
}

/* Rounds before yielding to the other connections of this worker; with
 * edge-triggered sockets a session that stops early must come back by
 * itself (repump), since no new edge may ever arrive. */
#define PUMP_ROUNDS 32

static void check_buf(const struct buf *b)
{
	assert(b == NULL || (b->start <= b->parsed && b->parsed <= b->end && b->end <= b->cap));
}

/* What must hold between events (cheap enough to keep in every build). */
static void check_invariants(const struct session *s)
{
	check_buf(s->cin);
	check_buf(s->rhead);
	check_buf(s->uin);
	check_buf(s->ohead);
	assert(s->state != S_HEAD || s->up == NULL);
	assert(s->state != S_PEEK || (s->up == NULL && s->tp != NULL));
	assert(s->state != S_CONNECT || s->up != NULL);
	assert(s->state != S_FORWARD || s->up != NULL || s->abort_after_flush || s->res_done);
	assert(s->rhead == NULL || s->rhead_sent <= s->rhead->end);
	assert(!s->res_done || s->res_head_done);
	(void)s;
}

static void pump(struct session *s)
{
	int rounds;
	for (rounds = 0; s->state != S_CLOSED; rounds++) {
		if (rounds == PUMP_ROUNDS) {
			s->repump = 1;
			break;
		}
		int progress = 0;
		progress |= client_read(s);
		if (s->state == S_CLOSED)
			return;
		if (s->c_eof && (s->cin == NULL || buf_unparsed(s->cin) == 0 || s->state == S_LINGER)) {
			client_eof(s);
			if (s->state == S_CLOSED)
				return;
		}
		if (s->state == S_PEEK)
			progress |= peek_hello(s);
		progress |= parse_request(s);
		progress |= upstream_write(s);
		progress |= upstream_read(s);
		progress |= parse_response(s);
		progress |= client_write(s);
		if (s->state == S_CLOSED)
			return;
		if (s->state == S_TUNNEL) {
			tunnel_step(s);
			if (s->state == S_CLOSED)
				return;
		}
		settle(s);
		if (!progress)
			break;
	}
	if (s->state == S_CLOSED)
		return;
	if (s->state == S_HEAD || s->state == S_LINGER)
		trim_bufs(s);
	check_invariants(s);
	arm(s);
}

static void on_client(struct io *io, uint32_t events)
{
	struct session *s = (struct session *)io;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->c_rd = 1;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->c_hup = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->c_wr = 1;
	pump(s);
}

static void connect_established(struct session *s)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	if (need_buf(s, &s->ohead) == -1 || buf_append(s->ohead, ok, sizeof(ok) - 1) == -1) {
		close_session(s);
		return;
	}
	s->status = 200;
	s->state = S_TUNNEL;
}

static void on_upstream(void *owner, uint32_t events)
{
	struct session *s = owner;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->u_rd = 1;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->u_hup = 1;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->u_wr = 1;
	if (s->state == S_CONNECT && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		if (upstream_connect_result(s->up) == 0) {
			s->state = S_FORWARD;
			s->upeer = s->up->addr;
			s->has_upeer = 1;
			if (s->tunnel == T_CONNECT)
				connect_established(s);
			else if (s->tunnel == T_TLS) {
				s->status = 200; /* for the log: nothing is said to the client */
				s->state = S_TUNNEL;
			}
		} else {
			s->connect_errno = errno;
			char a[80];
			log_debug("connect() to %s failed: %s", log_addr(&s->up->addr.sa, a, sizeof(a)),
				  strerror(errno));
			drop_upstream(s);
			s->addr_idx++;
			connect_next(s);
		}
	}
	pump(s);
}

/* Where a connection on a transparent listener was going; NULL when out of
 * memory.  A connection that was not redirected is marked, not refused:
 * HTTP gets a 508 for its request, TLS is closed by the caller. */
static struct transparent *transparent_new(struct worker *w, int fd)
{
	struct transparent *tp = calloc(1, sizeof(*tp));
	if (tp == NULL)
		return NULL;
	if (intercept_original_dst(fd, &tp->odst) == -1) {
		tp->not_redirected = "connection was not redirected here (no NAT record of its original destination)";
		return tp;
	}
	log_host(&tp->odst.sa, tp->odst_text, sizeof(tp->odst_text));
	if (intercept_is_self(fd, &tp->odst, w->cfg))
		tp->not_redirected = "connection was not redirected here (its original destination is sluice itself)";
	else if (intercept_is_local(&tp->odst))
		tp->refused = "original destination is an address of this gateway";
	return tp;
}

int session_start(struct worker *w, int fd, const union sockaddr_any *peer, enum listen_kind kind)
{
	pthread_once(&settings_once, settings_init);
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL || (kind != LISTEN_FORWARD && (s->tp = transparent_new(w, fd)) == NULL)) {
		free(s);
		close(fd);
		atomic_fetch_sub_explicit(&worker_connections, 1, memory_order_relaxed);
		return -1;
	}
	if (kind == LISTEN_TRANSPARENT_TLS && (s->tp->not_redirected || s->tp->refused)) {
		char a[80];
		log_info("client %s: %s%s%s: closed (transparent-tls listener)", log_addr(&peer->sa, a, sizeof(a)),
			 s->tp->not_redirected ? s->tp->not_redirected : s->tp->refused,
			 s->tp->odst_text[0] ? " " : "", s->tp->odst_text);
		free(s->tp);
		free(s);
		close(fd);
		atomic_fetch_sub_explicit(&worker_connections, 1, memory_order_relaxed);
		return -1;
	}
	s->io.fd = fd;
	s->io.cb = on_client;
	s->w = w;
	s->peer = *peer;
	s->kind = (uint8_t)kind;
	s->timer.cb = on_timer;
	s->last_active = loop_now(w->loop);
	begin_request(s);
	if (kind == LISTEN_TRANSPARENT_TLS) {
		s->state = S_PEEK;
		s->phase_start = s->last_active;
		s->msg_begun = 1; /* the connection is the exchange: log it at its end */
		s->start_wall = wall_ms();
		s->start_mono = s->last_active;
	}
	if (loop_add(w->loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 1) == -1) {
		log_err("epoll_ctl(ADD) for a client: %s", strerror(errno));
		close(fd);
		free(s->tp);
		free(s);
		atomic_fetch_sub_explicit(&worker_connections, 1, memory_order_relaxed);
		return -1;
	}
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	w->stats.accepted++;
	/* Readiness arrives as an edge right away if bytes are waiting. */
	arm(s);
	return 0;
}
