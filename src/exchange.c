/* exchange: one request and its response, on a session.
 *
 *          client                 sluice                      server
 *    read ──> client.in ──(llhttp REQUEST frames it)──┐
 *                 head: checked, rewritten ──> rhead ──┬─ writev ──> server.fd
 *                 body: [start, parsed) as framed ─────┘
 *    write <──┬── ohead <── head rewritten ──(llhttp RESPONSE frames it)── server.in
 *             └── body: server.in [start, parsed) as framed
 *
 * llhttp (built in strict mode) finds where each head ends; the head is
 * then checked again and decided on by http.c, and the body is framed by
 * body.c from that decision: sluice's own framing is the only one, and a
 * chunked body goes on re-framed in canonical form.  Bodies are not copied:
 * framed bytes are written straight from one side's input buffer to the
 * other side's socket, behind the rewritten head (one writev, in
 * session.c).  The llhttp callbacks only note what happened; the code here
 * acts after llhttp_execute returns, where it knows the exact byte
 * position.
 *
 * An exchange begins in S_HEAD (exchange_begin), routes once the request
 * head is complete (route.c), and ends in exchange_settle: the response is
 * out and the request is in, so the server connection goes back to the pool
 * and the client waits in S_HEAD for its next request, or lingers and
 * closes.  Anything sluice answers itself (errors, TRACE and OPTIONS with
 * Max-Forwards: 0) goes out in S_REPLY (reply.c).  CONNECT, a 101 and redirected TLS
 * end the exchange in S_TUNNEL (session.c runs the relays).
 *
 * Part of the session module (see session_int.h).
 */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_int.h"
#include "sluice/log.h"

/* --- llhttp callbacks ------------------------------------------------------------ */

static int req_on_message_begin(llhttp_t *p)
{
	struct session *s = p->data;
	s->x->url_len = 0;
	return 0;
}

static int req_on_url(llhttp_t *p, const char *at, size_t len)
{
	struct session *s = p->data;
	s->x->url_len += (uint32_t)len;
	if (s->x->url_len > s->cfg->url_max) {
		s->x->url_too_long = 1;
		return -1;
	}
	return 0;
}

static int req_on_url_complete(llhttp_t *p)
{
	struct session *s = p->data;
	s->x->url_done = 1;
	return 0;
}

static int req_on_headers_complete(llhttp_t *p)
{
	struct session *s = p->data;
	s->x->req_event = EV_HEAD;
	return HPE_PAUSED;
}

/* The parser stops at the end of the head and is never resumed: the body
 * is body.c's. */
static int res_on_headers_complete(llhttp_t *p)
{
	struct session *s = p->data;
	s->x->res_event = EV_HEAD;
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
	llhttp_settings_init(&res_settings);
	res_settings.on_headers_complete = res_on_headers_complete;
}

void exchange_response_parser_init(struct session *s)
{
	llhttp_init(&s->x->res, HTTP_RESPONSE, &res_settings);
	s->x->res.data = s;
}

/* --- beginning and end ------------------------------------------------------------- */

/* Spares kept per worker: enough for a burst's exchanges in flight to come
 * and go without malloc, few enough to be forgotten memory (1.4 KiB each). */
#define EXCHANGE_SPARE_MAX 128

int exchange_acquire(struct session *s)
{
	struct worker *w = s->w;
	if (s->x)
		return 0;
	struct exchange *x = w->xspare;
	if (x) {
		w->xspare = x->next_free;
		w->nxspare--;
		memset(x, 0, offsetof(struct exchange, req));
	} else if ((x = calloc(1, sizeof(*x))) == NULL) {
		return -1;
	}
	x->host = x->host_buf;
	x->host_buf[0] = '\0';
	llhttp_init(&x->req, HTTP_REQUEST, &req_settings);
	x->req.data = s;
	s->x = x;
	x->head_start = loop_now(w->loop);
	record_start(s);
	return 0;
}

/* x back to w's spares (a full one) or freed. */
static void put_spare(struct worker *w, struct exchange *x)
{
	/* nothing may still point into it: a lookup or a login check */
	assert(x->auth_job == NULL);
	if (x->compact) {
		free(x);
		return;
	}
	dns_cancel(w->dns, &x->dnsw);
	if (w->nxspare < EXCHANGE_SPARE_MAX) {
		x->next_free = w->xspare;
		w->xspare = x;
		w->nxspare++;
	} else {
		free(x);
	}
}

void exchange_release(struct session *s)
{
	if (s->x) {
		put_spare(s->w, s->x);
		s->x = NULL;
	}
}

void exchange_compact(struct session *s)
{
	struct exchange *x = s->x;
	if (x == NULL || x->compact)
		return;
	/* (no lookup runs, and the parsers are done: a tunnel reads neither) */
	size_t keep = offsetof(struct exchange, req);
	size_t hl = strlen(x->host) + 1, ul = x->rec.user ? strlen(x->rec.user) + 1 : 0;
	struct exchange *c = malloc(keep + hl + ul);
	if (c == NULL)
		return;
	memcpy(c, x, keep);
	char *tail = (char *)c + keep;
	memcpy(tail, x->host, hl);
	c->host = tail;
	if (x->dhost == x->host) /* (else a parent's name, in the config) */
		c->dhost = c->host;
	if (ul) {
		memcpy(tail + hl, x->rec.user, ul);
		c->rec.user = tail + hl;
	}
	c->compact = 1;
	s->x = c;
	put_spare(s->w, x);
}

void session_worker_done(struct worker *w)
{
	while (w->xspare) {
		struct exchange *x = w->xspare;
		w->xspare = x->next_free;
		free(x);
	}
	w->nxspare = 0;
}

void exchange_begin(struct session *s)
{
	exchange_release(s);
	session_state(s, S_HEAD);
	if (s->tp)
		s->tp->named[0] = '\0';
}

void exchange_start(struct session *s)
{
	pthread_once(&settings_once, settings_init);
	exchange_begin(s);
}

int exchange_request_sent(const struct session *s)
{
	return s->x->req_done && s->rhead && s->x->rhead_sent == s->rhead->end &&
	       (s->client.in == NULL || buf_pending(s->client.in) == 0);
}

int exchange_waiting_for_client(const struct session *s)
{
	/* (bytes the body relay holds wait for the server, not the client) */
	return !s->x->req_done && s->x->rhead_sent == s->rhead->end &&
	       (s->client.in == NULL || buf_pending(s->client.in) == 0) && !body_splice_holds_request(s);
}

/* The exchange is complete: log it, keep or close both connections. */
static void finish(struct session *s)
{
	record_write(s);
	stat_inc(&s->w->stats.requests);
	s->nreq++;
	if (s->up) {
		int reusable = s->x->res_reuse && exchange_request_sent(s) && !s->server.eof &&
			       (s->server.in == NULL || buf_unparsed(s->server.in) == 0);
		if (reusable)
			route_release(s);
		session_drop_upstream(s);
	}
	session_put_buf(s, &s->rhead);
	session_put_buf(s, &s->server.in);
	if (s->close_after || !s->keep_alive) {
		session_linger(s);
		return;
	}
	exchange_begin(s);
}

static int all_flushed(const struct session *s)
{
	return (s->ohead == NULL || buf_empty(s->ohead)) &&
	       (s->server.in == NULL || buf_pending(s->server.in) == 0);
}

static void server_eof(struct session *s, int err);

void exchange_settle(struct session *s)
{
	switch (s->state) {
	case S_FORWARD:
		/* Past the head, body framing has taken every byte it can:
		 * what is left at EOF is half a line that never ends. */
		if (s->server.eof && !s->x->res_done && s->up &&
		    (s->server.in == NULL || buf_unparsed(s->server.in) == 0 || s->x->abort_after_flush ||
		     s->x->res_head_done)) {
			server_eof(s, s->server.reset);
			if (s->state != S_FORWARD)
				return;
		}
		if (s->x->abort_after_flush && all_flushed(s)) {
			session_close(s);
			return;
		}
		if (s->x->res_done && all_flushed(s)) {
			if (!exchange_request_sent(s)) {
				/* answered before the request ended: the rest of it
				 * cannot be skipped reliably */
				s->close_after = 1;
				session_drop_upstream(s);
			}
			finish(s);
		}
		break;
	case S_REPLY:
		if (all_flushed(s)) {
			record_write(s);
			s->nreq++;
			/* (the request head, kept for the log line, goes with it) */
			session_put_buf(s, &s->rhead);
			session_put_buf(s, &s->server.in);
			if (s->close_after || !s->keep_alive)
				session_linger(s);
			else
				exchange_begin(s);
		}
		break;
	default:
		break;
	}
}

/* --- request side ------------------------------------------------------------------ */

/* x.host from a parsed target (at most 255 bytes, as x.host holds): a copy,
 * not snprintf, which cost 600 instructions a request. */
static void set_host(struct session *s, const char *host)
{
	_Static_assert(sizeof(((struct http_target *)0)->host) <= sizeof(s->x->host_buf), "x.host holds any target host");
	memcpy(s->x->host, host, strlen(host) + 1);
}

/* Answer TRACE / OPTIONS with Max-Forwards: 0 ourselves (RFC 9110 7.6.2). */
static void reply_max_forwards(struct session *s, const struct http_head *h, int trace)
{
	if (session_need_buf(s, &s->ohead) == -1) {
		session_close(s);
		return;
	}
	/* a body after such a request is not worth skipping: close after it */
	if (h->content_length_count || h->transfer_encoding)
		s->close_after = 1;
	int close = s->close_after || !s->keep_alive;
	int r = trace ? http_write_trace(s->ohead, h, close)
		      : http_write_local(s->ohead, 200, NULL, "text/plain", NULL, "", 0, close);
	if (r == -1) {
		exchange_error(s, 431, "request head too large to echo");
		return;
	}
	s->x->rec.status = 200;
	s->x->rec.local = 1;
	session_state(s, S_REPLY);
}

/* "Connection: upgrade" with an Upgrade header: both go through, and a 101
 * turns the connection into a tunnel. */
static void keep_upgrade(struct session *s, struct http_head *h)
{
	/* RFC 9110 7.8: an Upgrade in an HTTP/1.0 request is ignored */
	if (!(h->conn_tokens & HTTP_CONN_UPGRADE) || h->minor == 0)
		return;
	if (http_keep_upgrade(h))
		s->x->tunnel = T_UPGRADE;
}

/* CONNECT host:port: check the port, then connect; "200 Connection
 * established" goes out only once the server has accepted. */
static void on_connect_head(struct session *s, const struct http_head *h)
{
	struct buf *b = s->client.in;
	struct http_target t;
	const char *why;
	if (http_authority_parse(h->raw + h->part[1].off, h->part[1].len, &t, &why) == -1) {
		exchange_error(s, 400, why);
		return;
	}
	set_host(s, t.host);
	s->x->port = t.port;
	s->x->tunnel = T_CONNECT;
	if (!config_connect_port_allowed(s->cfg, t.port)) {
		s->x->rec.denied = 1;
		exchange_error(s, 403, "CONNECT to this port is not allowed");
		return;
	}
	s->x->req_done = 1;	/* llhttp is done with this connection */
	b->start = b->parsed;	/* bytes behind the head (a ClientHello) wait in client.in */
	b->parsed = b->end;
	exchange_response_parser_init(s);
	s->x->allow_pool = 0;	/* a tunnel needs its own connection, never a pooled one */
	if (proxy_auth_check(s, h) != 0)
		return;
	exchange_checks_done(s);
}

/* The request head is complete in client.in [start, parsed). */
static void on_request_head(struct session *s)
{
	const struct config *cfg = s->cfg;
	struct buf *b = s->client.in;
	struct http_head h;
	s->x->method = (uint8_t)s->x->req.method;
	if (b->parsed - b->start > cfg->header_max) {
		exchange_error(s, 431, "request head too large");
		return;
	}
	enum http_verdict v = http_head_parse(&h, b->data + b->start, b->parsed - b->start, 1, s->w->hdrs,
					      cfg->max_headers);
	if (v != HTTP_OK) {
		exchange_error(s, v == HTTP_TOO_MANY_HEADERS ? 431 : v == HTTP_UNSUPPORTED_CODING ? 501 : 400,
			       http_verdict_text(v));
		return;
	}
	s->http10 = h.minor == 0;
	s->keep_alive = http_keeps_alive(&h) && !worker_draining();
	if (h.major != 1) {
		exchange_error(s, 505, "HTTP version not supported");
		return;
	}
	if (h.minor == 0 && h.transfer_encoding) {
		/* RFC 9112 6.1: HTTP/1.0 has no transfer codings; faulty framing */
		exchange_error(s, 400, "Transfer-Encoding in an HTTP/1.0 request");
		return;
	}
	struct http_target t;
	const char *why;
	if (s->x->req.method == HTTP_CONNECT) {
		if (s->tp) {
			/* honouring its target would let a redirected client tunnel
			 * anywhere; tunnelling to where it was going is pointless */
			exchange_error(s, 403, "CONNECT is not accepted on a transparent listener");
			return;
		}
		on_connect_head(s, &h);
		return;
	}
	if (s->tp) {
		if (transparent_target(s, &h, &t) == -1)
			return;
	} else if (http_target_parse(h.raw + h.part[1].off, h.part[1].len, &t, &why) == -1) {
		exchange_error(s, 400, why);
		return;
	} else {
		set_host(s, t.host);
		s->x->port = t.port;
	}
	s->x->head_method = s->x->req.method == HTTP_HEAD;

	int mf_method = s->x->req.method == HTTP_TRACE || s->x->req.method == HTTP_OPTIONS;
	if (mf_method && h.max_forwards == 0) {
		b->start = b->parsed; /* the head is answered; a body would follow it */
		reply_max_forwards(s, &h, s->x->req.method == HTTP_TRACE);
		return;
	}
	http_mark_hop_by_hop(&h);
	keep_upgrade(s, &h);
	s->x->pin = http_connection_auth(&h);
	if (session_need_buf(s, &s->rhead) == -1) {
		session_close(s);
		return;
	}
	if (http_write_request(s->rhead, &h, &t, cfg->via_name, mf_method && h.max_forwards > 0) == -1) {
		exchange_error(s, 431, "request head too large");
		return;
	}
	/* the rewritten request line is "METHOD target HTTP/1.1": the log's
	 * method and URL, without looking at the head again */
	s->x->rec.method = llhttp_method_name((llhttp_method_t)s->x->method);
	s->x->rec.target_off = h.part[0].len + 1;
	s->x->rec.target_len = t.path_len + (t.query ? t.query_len : 0);
	b->start = b->parsed; /* the raw head is spent; the rewritten one goes up */
	body_init(&s->x->req_body, http_body_of(&h, 0), h.content_length, 1, cfg->header_max);
	s->x->req_done = body_done(&s->x->req_body);
	exchange_response_parser_init(s);
	s->x->allow_pool = 1;
	if (proxy_auth_check(s, &h) != 0)
		return;
	exchange_checks_done(s);
}

void exchange_checks_done(struct session *s)
{
	if (access_check_request(s) == -1)
		return;
	route_request(s, s->x->allow_pool);
}

/* Frame the request body bytes that arrived (body.c).  1 on progress. */
static int frame_request_body(struct session *s)
{
	struct buf *b = s->client.in;
	if (buf_unparsed(b) == 0)
		return 0;
	uint32_t parsed = b->parsed, end = b->end;
	const char *why = "malformed request body";
	enum body_result r = body_frame(&s->x->req_body, b, &why);
	if (r == BODY_ERROR) {
		/* the server has part of it: nothing can be resynchronised */
		s->x->rec.reason = why;
		if (!s->x->res_head_done && s->x->rec.status == 0)
			exchange_error(s, 400, why);
		else
			session_close(s);
		return 1;
	}
	if (r == BODY_DONE)
		s->x->req_done = 1;
	return b->parsed != parsed || b->end != end || s->x->req_done;
}

int exchange_parse_request(struct session *s)
{
	struct buf *b = s->client.in;
	if (s->state == S_REPLY || s->state == S_LINGER || s->state == S_TUNNEL || s->state == S_PEEK ||
	    b == NULL || (s->x && s->x->req_done))
		return 0;
	if (s->state != S_HEAD)
		return frame_request_body(s);
	if (buf_unparsed(b) == 0)
		return 0;
	if (s->x == NULL) {
		/* A reload published before this request began: it goes by the
		 * newest rules (the one before finished on the ones it started
		 * with).  One atomic load when nothing changed. */
		worker_refresh_config(s->w);
		if (s->cfg != s->w->cfg) {
			config_unref(s->cfg);
			s->cfg = config_ref(s->w->cfg);
			s->acl_conn_done = 0;
		}
		if (exchange_acquire(s) == -1) {
			log_warn("out of memory for a request: connection closed");
			session_close(s);
			return 1;
		}
	}
	s->x->req_event = EV_NONE;
	llhttp_errno_t rc = llhttp_execute(&s->x->req, b->data + b->parsed, buf_unparsed(b));
	if (rc == HPE_OK) {
		b->parsed = b->end;
	} else if (rc == HPE_PAUSED) {
		b->parsed = (uint32_t)(llhttp_get_error_pos(&s->x->req) - b->data);
	} else {
		if (s->x->url_too_long)
			exchange_error(s, 414, "request target too long");
		else
			exchange_error(s, 400, llhttp_get_error_reason(&s->x->req));
		return 1;
	}
	if (s->x->req_event == EV_HEAD) {
		on_request_head(s);
		/* Frame what follows the head now: a request whose body is
		 * already here is complete at once, before any response can
		 * race it. */
		if (s->state == S_RESOLVE || s->state == S_CONNECT || s->state == S_FORWARD)
			exchange_parse_request(s);
		return 1;
	}
	if (b->parsed - b->start >= s->cfg->header_max) {
		if (!s->x->url_done)
			exchange_error(s, 414, "request target too long");
		else
			exchange_error(s, 431, "request head too large");
	}
	return 1;
}

void exchange_client_eof(struct session *s)
{
	if (s->state == S_PEEK) {
		s->x->rec.reason = "client closed before its ClientHello was complete";
		session_close(s);
		return;
	}
	if (s->state == S_LINGER || s->state == S_HEAD) {
		/* between requests, or half a head and then gone */
		session_close(s);
		return;
	}
	if (s->state == S_REPLY) {
		s->close_after = 1; /* the reply still goes out */
		return;
	}
	if (s->state == S_TUNNEL)
		return; /* the relay sees the same EOF and passes it on */
	if (!s->x->req_done)
		exchange_parse_request(s); /* a body-less request ends without another byte */
	if (s->state == S_CLOSED)
		return;
	if (!s->x->req_done && s->state != S_REPLY) {
		s->x->rec.reason = "client closed during the request";
		record_write(s);
		session_close(s);
		return;
	}
	/* A half-close after a full request: answer it (and any pipelined
	 * after it); the connection ends when S_HEAD finds nothing left. */
}

/* --- response side ------------------------------------------------------------------- */

/* A 101 to an Upgrade: the head goes out, then the tunnel. */
static void on_switching_protocols(struct session *s, struct http_head *h)
{
	struct buf *b = s->server.in;
	if (!exchange_request_sent(s)) {
		/* the rest of the request would go raw into the tunnel, read
		 * as the new protocol's bytes */
		exchange_error(s, 502, "upstream switched protocols before the request was sent");
		return;
	}
	http_keep_upgrade(h);
	h->keep_upgrade = 1; /* Connection: upgrade, with or without the name */
	if (http_write_response(s->ohead, h, s->cfg->via_name, HTTP_CONN_AS_IS) == -1) {
		exchange_error(s, 502, "response head too large");
		return;
	}
	s->x->rec.status = 101;
	s->x->res_head_done = s->x->res_done = 1;
	b->start = b->parsed; /* what follows the 101 is the new protocol's */
	b->parsed = b->end;
	session_state(s, S_TUNNEL);
}

/* A response head is complete in server.in [start, parsed). */
static void on_response_head(struct session *s)
{
	const struct config *cfg = s->cfg;
	struct buf *b = s->server.in;
	struct http_head h;
	if (b->parsed - b->start > cfg->header_max) {
		exchange_error(s, 502, "response head too large");
		return;
	}
	enum http_verdict v = http_head_parse(&h, b->data + b->start, b->parsed - b->start, 0, s->w->hdrs,
					      cfg->max_headers);
	if (v != HTTP_OK) {
		log_info("upstream %s:%u sent a bad response head: %s", s->x->host, s->x->port, http_verdict_text(v));
		exchange_error(s, 502, "malformed response from upstream");
		return;
	}
	if (s->x->via_connect) {
		exchange_parent_answer(s, &h);
		return;
	}
	if (h.status == 407 && s->x->parent) {
		/* the parent's, about sluice's login: the client can do nothing
		 * about it (the header asking for one is hop-by-hop) */
		log_info("parent %s: 407 for %s:%u", s->x->parent->name, s->x->host, s->x->port);
		exchange_error(s, 502, exchange_parent_407(s));
		return;
	}
	if (h.status == 101 && s->x->tunnel != T_UPGRADE) {
		exchange_error(s, 502, "upstream switched protocols unasked");
		return;
	}
	if (session_need_buf(s, &s->ohead) == -1) {
		session_close(s);
		return;
	}
	/* A pipelining client may never leave ohead empty at an idle moment:
	 * make all its room usable before each head. */
	buf_compact(s->ohead);
	http_mark_hop_by_hop(&h);
	if (h.status == 101) {
		h.omit_framing = 1;
		on_switching_protocols(s, &h);
		return;
	}
	if (h.status < 200) {
		/* interim: forward (not to HTTP/1.0 clients, RFC 9110 15.2) and
		 * wait for more; an interim response has no content, so its
		 * Content-Length or Transfer-Encoding would only mislead */
		h.omit_framing = 1;
		if (!s->http10 && http_write_response(s->ohead, &h, cfg->via_name, HTTP_CONN_AS_IS) == -1) {
			exchange_error(s, 502, "response head too large");
			return;
		}
		b->start = b->parsed;
		exchange_response_parser_init(s);
		return;
	}
	if (s->http10 && h.transfer_encoding && !(h.te_chunked && h.te_codings == 1)) {
		/* HTTP/1.0 knows no transfer coding (RFC 9112 6.1): chunked is
		 * undone here, but the rest would reach the client unnamed */
		exchange_error(s, 502, "upstream used a transfer coding an HTTP/1.0 client cannot decode");
		return;
	}
	enum body_kind kind = http_body_of(&h, s->x->head_method);
	if (kind == BODY_UNTIL_CLOSE || !s->keep_alive)
		s->close_after = 1; /* the body ends when the server closes */
	/* the server connection goes back to the pool only if the server
	 * keeps it open and the body ends by itself */
	s->x->res_reuse = http_keeps_alive(&h) && kind != BODY_UNTIL_CLOSE &&
			 /* RFC 9112 6.1: framing faulty, close after it */
			 !(h.minor == 0 && h.transfer_encoding);
	if (http_connection_auth(&h))
		s->x->pin = 1; /* a challenge: the login to come is this connection's */
	if (h.status == 204)
		h.omit_framing = 1; /* RFC 9110 8.6: none in a 204 */
	if (s->http10 && kind == BODY_CHUNKED) {
		/* HTTP/1.0 has no chunked coding: send the body decoded and
		 * delimit it by closing (RFC 9112 7.1 and 6.3). */
		s->x->dechunk = 1;
		s->close_after = 1;
		h.omit_framing = 1;
	}
	enum http_conn_mode mode = s->close_after ? HTTP_CONN_ADD_CLOSE
				 : s->http10	 ? HTTP_CONN_ADD_KEEPALIVE
						 : HTTP_CONN_AS_IS;
	if (http_write_response(s->ohead, &h, cfg->via_name, mode) == -1) {
		exchange_error(s, 502, "response head too large");
		return;
	}
	s->x->rec.status = h.status;
	record_head(s);
	int ct = http_find(&h, "Content-Type");
	if (ct >= 0) {
		char *ctype = s->x->rec.ctype;
		size_t n = h.hdr[ct].value.len < sizeof(s->x->rec.ctype) - 1 ? h.hdr[ct].value.len
									    : sizeof(s->x->rec.ctype) - 1;
		memcpy(ctype, h.raw + h.hdr[ct].value.off, n);
		ctype[n] = '\0';
	}
	b->start = b->parsed;
	s->x->res_head_done = 1;
	body_init(&s->x->res_body, kind, h.content_length, !s->x->dechunk, cfg->header_max);
	s->x->res_done = body_done(&s->x->res_body);
}

/* The response body went wrong: answer 502 if nothing of the response has
 * reached the client yet, else cut it.  Either way both connections end. */
static void bad_response_body(struct session *s, const char *why)
{
	log_info("upstream %s:%u: bad response body: %s", s->x->host, s->x->port, why);
	if (!s->x->res_sent) {
		s->x->rec.status = 0; /* its head never left: answer for it */
		exchange_error(s, 502, why);
		return;
	}
	s->x->rec.reason = why;
	s->x->abort_after_flush = 1;
	session_drop_upstream(s);
}

/* Frame the response body bytes that arrived (body.c).  1 on progress. */
static int frame_response_body(struct session *s)
{
	struct buf *b = s->server.in;
	if (buf_unparsed(b) == 0)
		return 0;
	uint32_t parsed = b->parsed, end = b->end;
	const char *why = "malformed response body from upstream";
	enum body_result r = body_frame(&s->x->res_body, b, &why);
	if (r == BODY_ERROR) {
		bad_response_body(s, why);
		return 1;
	}
	if (r == BODY_DONE)
		s->x->res_done = 1;
	return b->parsed != parsed || b->end != end || s->x->res_done;
}

/* Feed server bytes to the head parser or the body framing.  Returns 1 on
 * progress. */
static int parse_response_step(struct session *s)
{
	struct buf *b = s->server.in;
	if (s->state != S_FORWARD || b == NULL || s->x->res_done || s->x->abort_after_flush)
		return 0;
	if (s->x->res_head_done)
		return frame_response_body(s);
	if (buf_unparsed(b) == 0)
		return 0;
	/* interim heads wait until the ones before them reached the client */
	if (s->ohead && !buf_empty(s->ohead))
		return 0;
	s->x->res_event = EV_NONE;
	llhttp_errno_t rc = llhttp_execute(&s->x->res, b->data + b->parsed, buf_unparsed(b));
	if (rc == HPE_OK) {
		b->parsed = b->end;
	} else if (rc == HPE_PAUSED) {
		b->parsed = (uint32_t)(llhttp_get_error_pos(&s->x->res) - b->data);
	} else {
		log_info("upstream %s:%u: bad response: %s", s->x->host, s->x->port, llhttp_get_error_reason(&s->x->res));
		exchange_error(s, 502, "malformed response from upstream");
		return 1;
	}
	if (s->x->res_event == EV_HEAD)
		on_response_head(s);
	else if (b->parsed - b->start >= s->cfg->header_max)
		exchange_error(s, 502, "response head too large");
	return 1;
}

/* Past a final head, go straight on into the body bytes that came with it,
 * so head and body leave in one writev. */
int exchange_parse_response(struct session *s)
{
	if (!parse_response_step(s))
		return 0;
	if (s->x->res_event == EV_HEAD && s->x->res_head_done && s->state == S_FORWARD && !s->x->res_done)
		parse_response_step(s);
	return 1;
}

static int retry_safe(const struct session *s)
{
	switch (s->x->req.method) {
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
	return s->x->req_done && s->x->req_body.kind != BODY_CHUNKED && !s->x->body_sent &&
	       (s->client.in == NULL || buf_pending(s->client.in) == 0);
}

/* The server closed (or reset) its side, and every byte before that has
 * been parsed. */
static void server_eof(struct session *s, int err)
{
	if (!s->x->res_done && s->x->res_head_done && !err && s->x->res_body.kind == BODY_UNTIL_CLOSE) {
		/* a close-delimited body ends here */
		s->x->res_done = 1;
		s->server.eof = 1;
		return;
	}
	if (s->x->res_done) {
		s->server.eof = 1;
		return;
	}
	int nothing_yet = !s->x->res_head_done && (s->server.in == NULL || buf_empty(s->server.in)) &&
			  s->x->rec.status == 0;
	if (nothing_yet && s->x->reused && !s->x->retried && retry_safe(s)) {
		/* A pooled connection the server had already given up on: try
		 * once more on a fresh one (RFC 9110 9.2.2: idempotent and
		 * body-less). */
		log_debug("upstream %s:%u: pooled connection closed, retrying", s->x->host, s->x->port);
		session_drop_upstream(s);
		s->x->retried = 1;
		stat_inc(&s->w->m.pool_stale_retries);
		s->x->reused = 0;
		s->x->rhead_sent = 0;
		/* a write that failed on the dead connection said "close the
		 * client after this" (the rest of a body could not be skipped);
		 * nothing was sent or answered yet, so the retry is invisible */
		s->close_after = 0;
		if (s->server.in)
			s->server.in->start = s->server.in->parsed = s->server.in->end = 0;
		exchange_response_parser_init(s);
		route_retry(s);
		return;
	}
	if (nothing_yet || !s->x->res_head_done) {
		exchange_error(s, 502, err ? "upstream reset the connection" : "upstream closed the connection");
		return;
	}
	/* Mid-body: the client must see the truncation, never a short body
	 * that looks complete. */
	s->x->rec.reason = "upstream closed mid-response";
	s->x->abort_after_flush = 1;
	session_drop_upstream(s);
}

/* --- the server connection is up ----------------------------------------------------- */

void exchange_connected(struct session *s)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	session_state(s, S_FORWARD);
	if (s->x->parent && (s->x->tunnel == T_CONNECT || s->x->tunnel == T_TLS)) {
		exchange_via_parent(s);
		return;
	}
	if (s->x->tunnel == T_CONNECT) {
		if (session_need_buf(s, &s->ohead) == -1 || buf_append(s->ohead, ok, sizeof(ok) - 1) == -1) {
			session_close(s);
			return;
		}
		s->x->rec.status = 200;
		session_state(s, S_TUNNEL);
	} else if (s->x->tunnel == T_TLS) {
		s->x->rec.status = 200; /* for the log: nothing is said to the client */
		session_state(s, S_TUNNEL);
	}
}
