/* session: one client connection and the server connection serving it.
 *
 * This file owns the session's life and its sockets:
 *   - start (session_start), close (session_close), and the free that the
 *     worker runs after the batch of events the close happened in;
 *   - the pump: after any event, move bytes every way that can move until
 *     nothing can, let the exchange settle, then set the one timer;
 *   - socket I/O, the same code for both sides (struct side): reads into a
 *     side's bounded input buffer, writes of a head and framed body bytes
 *     in one writev;
 *   - deadlines: one per state, the nearest one armed;
 *   - the tunnel once its relays run (S_TUNNEL);
 *   - the invariants, checked after every pump.
 * What the bytes mean is exchange.c's; where they go is route.c's; the
 * whole state diagram is in session_int.h.  This file's part of it: every
 * state ends in S_CLOSED through session_close; a finished reply moves to
 * S_LINGER (or straight to S_CLOSED) through session_linger; S_TUNNEL's
 * relays run here once the head that opened the tunnel is out; and each
 * state's deadline, and what happens when it passes, is decided here
 * (deadline, on_timer).
 *
 * Sockets are edge-triggered: side.rd and side.wr remember readiness until
 * a read or write says EAGAIN.  Each buffer is bounded; a full one stops
 * reading its source, so memory stays flat whatever the peers do.  Idle
 * connections hold no buffer at all.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "session_int.h"
#include "sluice/client_limit.h"
#include "sluice/log.h"
#include "sluice/proxy_proto.h"

/* --- buffers ----------------------------------------------------------------------- */

void session_put_buf(struct session *s, struct buf **b)
{
	buf_put(&s->w->bufs, *b);
	*b = NULL;
}

int session_need_buf(struct session *s, struct buf **b)
{
	if (*b != NULL)
		return 0;
	if ((*b = buf_get(&s->w->bufs)) != NULL)
		return 0;
	/* once in a while, not per connection: a flood would fill the log */
	uint64_t now = loop_now(s->w->loop);
	if (now - s->w->bufs_warned >= 10000 || s->w->bufs_warned == 0) {
		s->w->bufs_warned = now;
		log_warn("worker %d: no buffer for a connection (%s): closing it", s->w->id,
			 s->w->bufs.max_used ? "worker_buffers_max reached" : "out of memory");
	}
	return -1;
}

/* Release buffers that hold nothing: idle connections keep none. */
static void trim_bufs(struct session *s)
{
	if (s->client.in && buf_empty(s->client.in))
		session_put_buf(s, &s->client.in);
	if (s->server.in && buf_empty(s->server.in) && (s->x == NULL || s->x->res_head_done))
		session_put_buf(s, &s->server.in);
	if (s->ohead && buf_empty(s->ohead))
		session_put_buf(s, &s->ohead);
}

struct relays *session_relays(struct session *s)
{
	if (s->rel == NULL)
		s->rel = malloc(sizeof(*s->rel)); /* each relay is set up by relay_init */
	return s->rel;
}

void session_relays_done(struct session *s)
{
	if (s->rel && !s->tunnel_live && (s->x == NULL || (!s->x->req_splice && !s->x->res_splice))) {
		free(s->rel);
		s->rel = NULL;
	}
}

/* --- life and death ----------------------------------------------------------------- */

static void side_forget(struct side *sd)
{
	sd->rd = sd->wr = sd->hup = sd->eof = sd->reset = sd->wdone = 0;
}

/* A connection not going back to the pool is let go mid-exchange (or at
 * its end, when it cannot be reused): request bytes still queued for a
 * server that stopped reading them are dropped with a reset rather than
 * left in an orphan socket probing a zero window for minutes. */
void session_drop_upstream(struct session *s)
{
	body_splice_drop(s);
	if (s->up) {
		upstream_cut(s->up);
		s->up = NULL;
	}
	s->server.fd = -1;
	side_forget(&s->server);
}

void session_close(struct session *s)
{
	struct worker *w = s->w;
	if (s->state == S_CLOSED)
		return;
	struct exchange *x = s->x; /* kept until the session is freed */
	if (x)
		record_write(s); /* nothing when the exchange was logged already */
	if (x && (x->abort_after_flush || (x->res_head_done && !x->res_done)) &&
	    (x->dechunk || x->res_body.kind == BODY_UNTIL_CLOSE)) {
		/* A reset, not a FIN: a close-delimited body must not look complete
		 * (cut by the server, a timeout or anything else).
		 * (With a length or chunks the client sees the cut by itself, and
		 * a FIN keeps the bytes still in flight.) */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(s->client.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (x && !x->compact)
		dns_cancel(w->dns, &x->dnsw);
	proxy_auth_cancel(s);
	if (s->tunnel_live) {
		stat_sub(&w->stats.tunnels, 1);
		relay_release(&s->rel->up, w->pipes, &w->bufs);
		relay_release(&s->rel->down, w->pipes, &w->bufs);
	}
	/* A tunnel whose both directions are done closes its server side
	 * gently: its last bytes and FIN may still be on the way.  Anything
	 * else still held here was cut in the middle (session_drop_upstream). */
	if (s->up && s->tunnel_live && s->rel->up.done && s->rel->down.done) {
		upstream_close(s->up);
		s->up = NULL;
	}
	session_drop_upstream(s);
	free(s->rel); /* released above, or by session_drop_upstream */
	s->rel = NULL;
	if (s->pinned) {
		upstream_close(s->pinned);
		s->pinned = NULL;
	}
	timer_cancel(w->loop, &s->timer);
	close(s->client.fd); /* leaves epoll too: the socket is never shared */
	s->io.fd = s->client.fd = -1; /* the loop skips events still queued for it */
	session_put_buf(s, &s->client.in);
	session_put_buf(s, &s->rhead);
	session_put_buf(s, &s->server.in);
	session_put_buf(s, &s->ohead);
	free(s->tunnel_target);
	s->tunnel_target = NULL;
	session_state(s, S_CLOSED);
	if (!s->proxy_pending) /* its slot is taken once the header names the client */
		client_limit_give(&s->peer);
	worker_conn_closed(w, &s->link);
}

static struct session *of_link(struct worker_conn *c)
{
	return (struct session *)((char *)c - offsetof(struct session, link));
}

static void abort_conn(struct worker_conn *c)
{
	session_close(of_link(c));
}

static void free_conn(struct worker_conn *c)
{
	struct session *s = of_link(c);
	exchange_release(s);
	config_unref(s->cfg);
	free(s->tp);
	free(s);
}

/* Bytes of a next request wait in the socket or the buffer? */
static int bytes_waiting(const struct session *s)
{
	char c;
	return (s->client.in && buf_unparsed(s->client.in) > 0) ||
	       recv(s->client.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* A graceful stop.  Every exchange ends after its response (Connection:
 * close).  A kept-alive connection idle between requests, with nothing of
 * a next one arrived, is closed now, gently (a FIN, its input drained for
 * a moment): the keep-alive close every client expects, which it answers
 * by retrying on a new connection (RFC 9112 9.3.1).  A new connection's
 * first request is still to come, and gets its answer: a client does not
 * retry a failure on a fresh connection.  Tunnels run on until the stop's
 * deadline. */
static void drain_conn(struct worker_conn *c)
{
	struct session *s = of_link(c);
	s->keep_alive = 0;
	if (s->state == S_HEAD && s->x == NULL && s->nreq > 0 && !bytes_waiting(s)) {
		session_linger(s);
		session_pump(s);
	}
}

static const struct worker_conn_ops session_ops = { abort_conn, free_conn, drain_conn };

const char *session_state_name(unsigned i)
{
	static const char *const names[] = {
		[S_PEEK] = "peek",	   [S_HEAD] = "head",	  [S_AUTH] = "auth",	   [S_RESOLVE] = "resolve",
		[S_CONNECT] = "connect", [S_FORWARD] = "forward", [S_REPLY] = "reply", [S_TUNNEL] = "tunnel",
		[S_LINGER] = "linger",
	};
	_Static_assert(S_CLOSED <= sizeof(((struct worker_metrics *)0)->states) / sizeof(stat_t), "states[]");
	return i < sizeof(names) / sizeof(names[0]) ? names[i] : NULL;
}

/* The reply is out: shut our side and drain the client's for a moment, so
 * bytes it is still sending cannot turn our close into a reset that
 * destroys the reply.  Unless nothing more can come: the client asked to
 * close, its request was complete, nothing of it is unparsed and its socket
 * read empty with no new edge in this batch.  Then close at once (the reset
 * risk is a client that breaks its own Connection: close). */
void session_linger(struct session *s)
{
	if (!s->keep_alive && s->x && s->x->req_done && !s->client.rd &&
	    (s->client.in == NULL || buf_unparsed(s->client.in) == 0) &&
	    !loop_pending(s->w->loop, &s->io, EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		session_close(s);
		return;
	}
	shutdown(s->client.fd, SHUT_WR);
	session_state(s, S_LINGER);
	s->phase_start = loop_now(s->w->loop);
}

/* --- socket I/O, either side ---------------------------------------------------------- */

/* Read from sd's socket into its buffer.  Returns bytes read, 0 at EOF, -1
 * on EAGAIN (clears sd->rd) or a full buffer, -2 on a hard error (errno
 * set), -3 when no buffer can be had.
 *
 * A read that leaves room in the buffer emptied the socket, so sd->rd is
 * cleared without a second read that would only say EAGAIN: bytes that
 * arrive later raise a new edge.  Not when an event already reported the
 * peer's FIN or an error (hup): that edge has been consumed, so read on
 * until EOF shows. */
static ssize_t side_read(struct session *s, struct side *sd)
{
	if (session_need_buf(s, &sd->in) == -1)
		return -3;
	struct buf *b = sd->in;
	if (buf_room(b) == 0 && b->start > 0)
		buf_compact(b);
	if (buf_room(b) == 0)
		return -1;
	for (;;) {
		ssize_t n = read(sd->fd, b->data + b->end, buf_room(b));
		if (n > 0) {
			if ((size_t)n < buf_room(b) && !sd->hup)
				sd->rd = 0;
			b->end += (uint32_t)n;
			stat_add(sd == &s->client ? &s->w->m.client_in : &s->w->m.origin_in, (uint64_t)n);
			s->last_active = loop_now(s->w->loop);
			return n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			sd->rd = 0;
			return -1;
		}
		return -2;
	}
}

/* writev head [0, hlen) then body [start, parsed) to sd's socket.  Returns
 * bytes written, -1 on EAGAIN (clears sd->wr), -2 on error. */
static ssize_t side_write(struct session *s, struct side *sd, const char *h, size_t hlen, struct buf *body)
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
		ssize_t w = writev(sd->fd, iov, n);
		if (w >= 0) {
			s->last_active = loop_now(s->w->loop);
			stat_add(sd == &s->client ? &s->w->m.client_out : &s->w->m.origin_out, (uint64_t)w);
			return w;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			sd->wr = 0;
			return -1;
		}
		return -2;
	}
}

static int client_read(struct session *s)
{
	if (!s->client.rd || s->client.eof || s->tunnel_live || (s->x && s->x->req_splice))
		return 0;
	if (s->state == S_LINGER && s->client.in)
		s->client.in->start = s->client.in->parsed = s->client.in->end = 0; /* discard */
	ssize_t n = side_read(s, &s->client);
	if (n == -1)
		return 0;
	if (n < -1) {
		if (n == -2 && s->x)
			s->x->rec.reason = s->x->rec.reason ? s->x->rec.reason : "client connection error";
		session_close(s);
		return 0;
	}
	if (n == 0)
		s->client.eof = 1;
	return 1;
}

static int client_write(struct session *s)
{
	if (!s->client.wr)
		return 0;
	struct buf *oh = s->ohead;
	struct buf *body = s->state == S_FORWARD && s->x->res_head_done ? s->server.in : NULL;
	uint32_t hlen = oh ? oh->end - oh->start : 0;
	if (hlen == 0 && (body == NULL || buf_pending(body) == 0))
		return 0;
	ssize_t n = side_write(s, &s->client, oh ? oh->data + oh->start : NULL, hlen, body);
	if (n == -1 || n == 0)
		return 0;
	if (n == -2) {
		s->x->rec.reason = "client went away";
		record_write(s);
		session_close(s);
		return 0;
	}
	uint32_t w = (uint32_t)n;
	uint32_t h = w < hlen ? w : hlen;
	if (oh)
		oh->start += h;
	w -= h;
	if (w)
		body->start += w;
	s->x->rec.bytes += (uint64_t)n;
	if (s->x->res_head_done)
		s->x->res_sent = 1;
	return 1;
}

static int server_write(struct session *s)
{
	if (s->state != S_FORWARD || !s->server.wr || s->up == NULL || s->server.wdone)
		return 0;
	/* a CONNECT to a parent: the client's bytes wait for its answer */
	struct buf *body = s->x->via_connect ? NULL : s->client.in;
	uint32_t hlen = s->rhead->end - s->x->rhead_sent;
	ssize_t n = side_write(s, &s->server, s->rhead->data + s->x->rhead_sent, hlen, body);
	if (n == -1 || n == 0)
		return 0;
	if (n == -2) {
		/* The server stopped reading (a 413 on its way, say): keep
		 * reading its answer; the read side decides what it was. */
		s->server.wdone = 1;
		s->server.rd = 1;
		s->close_after = 1;
		return 1;
	}
	s->x->rec.bytes_up += (uint64_t)n;
	uint32_t w = (uint32_t)n;
	uint32_t h = w < hlen ? w : hlen;
	s->x->rhead_sent += h;
	w -= h;
	if (w) {
		body->start += w;
		s->x->body_sent = 1;
	}
	return 1;
}

static int server_read(struct session *s)
{
	if (s->state != S_FORWARD || !s->server.rd || s->server.eof || s->up == NULL || s->x->res_splice)
		return 0;
	ssize_t n = side_read(s, &s->server);
	if (n == -3) {
		session_close(s);
		return 0;
	}
	if (n == -1)
		return 0;
	if (n <= 0) {
		s->server.eof = 1;
		s->server.reset = n == -2;
	}
	return 1;
}

/* --- the tunnel ------------------------------------------------------------------------ */

/* The relays start once the head that opened the tunnel has gone out, so
 * nothing the server says can overtake it.  Bytes already read on either
 * side go to the relays, which own them from then on.  0, or -1 when
 * memory is out (the session is closed). */
static int tunnel_start(struct session *s)
{
	int copy = !s->cfg->tunnel_splice;
	if (session_relays(s) == NULL) {
		s->x->rec.reason = "out of memory";
		session_close(s);
		return -1;
	}
	if (s->client.in && buf_empty(s->client.in))
		session_put_buf(s, &s->client.in);
	if (s->server.in && buf_empty(s->server.in))
		session_put_buf(s, &s->server.in);
	if (s->x->tunnel == T_UPGRADE && s->rhead && s->x->rec.method)
		/* the log line at the end names the target; rhead goes now */
		s->tunnel_target = strndup(s->rhead->data + s->x->rec.target_off, s->x->rec.target_len);
	session_put_buf(s, &s->rhead);
	session_put_buf(s, &s->ohead); /* flushed: tunnel_step starts only then */
	s->x->req_done = 1;
	s->client.rd = s->server.rd = 1; /* bytes may have arrived while the head went out */
	relay_init(&s->rel->up, s->client.fd, s->server.fd, &s->client.rd, &s->server.wr, s->client.in, copy);
	relay_init(&s->rel->down, s->server.fd, s->client.fd, &s->server.rd, &s->client.wr, s->server.in, copy);
	s->client.in = s->server.in = NULL;
	s->rel->down.bytes = s->x->rec.bytes; /* the head that opened the tunnel counts */
	s->tunnel_live = 1;
	stat_inc(&s->w->stats.tunnels);
	exchange_compact(s); /* a tunnel may idle for hours: keep only its log line's part */
	return 0;
}

/* Move tunnel bytes; close when both directions ended or one failed.  The
 * relays loop by themselves (RELAY_MORE asks for a repump), so the pump
 * need not go round for them. */
static void tunnel_step(struct session *s)
{
	struct worker *w = s->w;
	if (!s->tunnel_live) {
		if (s->ohead && !buf_empty(s->ohead))
			return;
		if (tunnel_start(s) == -1)
			return;
	}
	int moved = 0;
	enum relay_result a = relay_move(&s->rel->up, w->pipes, &w->bufs, &moved);
	enum relay_result b = a == RELAY_ERROR ? RELAY_ERROR : relay_move(&s->rel->down, w->pipes, &w->bufs, &moved);
	s->x->rec.bytes = s->rel->down.bytes;
	if (moved)
		s->last_active = loop_now(w->loop);
	if (a == RELAY_ERROR || b == RELAY_ERROR) {
		s->x->rec.reason = "tunnel connection reset";
		session_close(s);
		return;
	}
	if (s->rel->up.done && s->rel->down.done) {
		session_close(s);
		return;
	}
	if (a == RELAY_MORE || b == RELAY_MORE)
		s->repump = 1;
}

/* --- the PROXY protocol header --------------------------------------------------------- */

/* A proxy-protocol listener's connection: the header that comes first names
 * the client, which from then on is the one the rules, the limits and the
 * log see.  1 when it moved (the header is taken), 0 waiting for more. */
static int proxy_step(struct session *s)
{
	struct buf *b = s->client.in;
	if (b == NULL || buf_unparsed(b) == 0) {
		if (s->client.eof)
			session_close(s);
		return 0;
	}
	struct proxy_hdr h;
	const char *why = NULL;
	int n = proxy_header_parse((const uint8_t *)b->data + b->parsed, buf_unparsed(b), &h, &why);
	if (n == 0 && !s->client.eof && buf_room(b) > 0)
		return 0;
	char a[80], via[80];
	if (n <= 0) {
		log_info("client %s: %s: closed (proxy-protocol listener)", log_addr(&s->peer.sa, a, sizeof(a)),
			 n == 0 ? "PROXY header cut short" : why);
		session_close(s);
		return 0;
	}
	const union sockaddr_any *client = h.local ? &s->peer : &h.src;
	if (!client_limit_take(client)) {
		/* (no slot held: session_close gives none back) */
		log_info("client %s (via %s): over max_connections_per_client: closed",
			 log_addr(&client->sa, a, sizeof(a)), log_addr(&s->peer.sa, via, sizeof(via)));
		session_close(s);
		return 0;
	}
	s->peer = *client;
	s->proxy_pending = 0;
	b->start = b->parsed = b->parsed + (uint32_t)n;
	return 1;
}

/* --- deadlines --------------------------------------------------------------------------- */

static uint64_t deadline(const struct session *s)
{
	const struct config *c = s->cfg;
	switch (s->state) {
	case S_PEEK:
		return s->phase_start + c->header_timeout;
	case S_HEAD:
		if (s->x)
			return s->x->head_start + c->header_timeout;
		return s->last_active + (s->nreq ? c->keepalive_timeout : c->header_timeout);
	case S_AUTH:
		return s->phase_start + (s->x->auth_late ? AUTH_GUARD_DELAY_MS : c->auth_timeout);
	case S_RESOLVE:
		/* c-ares gives up at about dns_timeout; a little slack lets its
		 * answer (an A without its AAAA, say) win the race */
		return s->phase_start + c->dns_timeout + 500;
	case S_CONNECT:
		return s->phase_start + c->connect_timeout;
	case S_FORWARD:
		/* (a CONNECT to a parent is sent while the client's first
		 * bytes wait for its answer) */
		if ((exchange_request_sent(s) || s->x->via_connect) && !s->x->res_head_done)
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

static void on_timer(struct timer *t)
{
	struct session *s = (struct session *)((char *)t - offsetof(struct session, timer));
	uint64_t now = loop_now(s->w->loop);
	if (s->repump) {
		s->repump = 0;
		session_pump(s);
		return;
	}
	uint64_t d = deadline(s);
	if (d > now) {
		timer_set(s->w->loop, &s->timer, d);
		return;
	}
	switch (s->state) {
	case S_PEEK:
		transparent_peek_timeout(s);
		break;
	case S_HEAD:
		if (s->x)
			exchange_error(s, 408, "request head timeout");
		else
			session_close(s);
		break;
	case S_AUTH:
		proxy_auth_timeout(s);
		break;
	case S_RESOLVE:
		route_resolve_timeout(s);
		break;
	case S_CONNECT:
		route_connect_timeout(s);
		break;
	case S_FORWARD:
		if (!s->x->res_head_done && exchange_waiting_for_client(s))
			exchange_error(s, 408, "request body timeout");
		else if (!s->x->res_head_done)
			exchange_error(s, 504, "upstream response timed out");
		else {
			s->x->rec.reason = "transfer timed out";
			session_close(s);
		}
		break;
	case S_REPLY:
		session_close(s); /* the client is not reading its reply */
		break;
	case S_TUNNEL:
		s->x->rec.reason = "tunnel idle timeout";
		session_close(s);
		break;
	case S_LINGER:
	case S_CLOSED:
		session_close(s);
		break;
	}
	session_pump(s);
}

/* --- the pump ------------------------------------------------------------------------------ */

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
	check_buf(s->client.in);
	check_buf(s->rhead);
	check_buf(s->server.in);
	check_buf(s->ohead);
	assert(s->client.fd == s->io.fd);
	assert((s->up == NULL) == (s->server.fd == -1));
	assert(s->state != S_HEAD || s->up == NULL);
	/* between requests (and lingering after a drain there) no exchange */
	assert(s->x != NULL || s->state == S_HEAD || s->state == S_LINGER || s->state == S_CLOSED);
	if (s->x == NULL) {
		assert(s->rhead == NULL && s->server.in == NULL && s->ohead == NULL);
		return;
	}
	assert(s->state != S_AUTH || (s->up == NULL && (s->x->auth_job != NULL || s->x->auth_late)));
	assert(s->state != S_PEEK || (s->up == NULL && s->tp != NULL));
	assert(s->state != S_CONNECT || s->up != NULL);
	assert(s->state != S_FORWARD || s->up != NULL || s->x->abort_after_flush || s->x->res_done);
	assert(s->rhead == NULL || s->x->rhead_sent <= s->rhead->end);
	assert(!s->x->res_done || s->x->res_head_done);
	assert(!s->tunnel_live || (s->client.in == NULL && s->server.in == NULL));
	(void)s;
}

void session_pump(struct session *s)
{
	int rounds;
	for (rounds = 0; s->state != S_CLOSED; rounds++) {
		if (rounds == PUMP_ROUNDS) {
			s->repump = 1;
			break;
		}
		/* Any step may close the session: none after it may run, since
		 * closing gave back its buffers (session_close). */
		int progress = client_read(s);
		if (s->state == S_CLOSED)
			return;
		/* EOF is acted on once every byte before it was parsed; inside
		 * a request body, framing leaves only half a line, which will
		 * never end (exchange_client_eof frames what just came first). */
		if (s->client.eof &&
		    (s->client.in == NULL || buf_unparsed(s->client.in) == 0 || s->state == S_LINGER ||
		     ((s->state == S_RESOLVE || s->state == S_CONNECT || s->state == S_FORWARD) &&
		      !s->x->req_done))) {
			exchange_client_eof(s);
			if (s->state == S_CLOSED)
				return;
		}
		if (s->state == S_PEEK) {
			progress |= transparent_peek(s);
			if (s->state == S_CLOSED)
				return;
		}
		if (s->proxy_pending) {
			progress |= proxy_step(s);
			if (s->proxy_pending || s->state == S_CLOSED)
				break;
		}
		progress |= exchange_parse_request(s);
		if (s->state == S_CLOSED)
			return;
		progress |= server_write(s); /* never closes: a failed write is noted */
		progress |= server_read(s);
		if (s->state == S_CLOSED)
			return;
		progress |= exchange_parse_response(s);
		if (s->state == S_CLOSED)
			return;
		progress |= client_write(s);
		if (s->state == S_CLOSED)
			return;
		progress |= body_splice_step(s);
		if (s->state == S_CLOSED)
			return;
		if (s->state == S_TUNNEL) {
			tunnel_step(s);
			if (s->state == S_CLOSED)
				return;
		}
		exchange_settle(s);
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
	/* An error on the client's socket (a reset) ends the session now:
	 * nothing can reach the client any more, and when sluice is neither
	 * reading from it (its buffer full) nor writing to it, no read or
	 * write would ever find out. */
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(s->client.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) {
			if (s->x && s->x->rec.reason == NULL)
				s->x->rec.reason = "client connection reset";
			session_close(s);
			return;
		}
	}
	side_event(&s->client, events);
	session_pump(s);
}

int session_start(struct worker *w, const struct handoff *h)
{
	/* a reload may have published the snapshot that names h's listener */
	worker_refresh_config(w);
	int fd = h->fd;
	enum listen_kind kind = h->kind;
	const union sockaddr_any *peer = &h->peer;
	if (h->proxy && !addrset_match(w->cfg->proxy_protocol_from, &peer->sa)) {
		char a[80];
		log_info("client %s: not in proxy_protocol_from: closed (proxy-protocol listener)",
			 log_addr(&peer->sa, a, sizeof(a)));
		close(fd);
		return -1;
	}
	struct session *s = calloc(1, sizeof(*s));
	if (s == NULL || (kind != LISTEN_FORWARD && (s->tp = transparent_new(w->cfg, fd)) == NULL))
		goto fail;
	if (kind == LISTEN_TRANSPARENT_TLS && transparent_tls_refused(s->tp, peer))
		goto fail;
	s->state = S_CLOSED; /* not counted until it starts */
	s->io.fd = s->client.fd = fd;
	s->io.cb = on_client;
	s->server.fd = -1;
	s->w = w;
	s->cfg = config_ref(w->cfg);
	s->peer = *peer;
	s->kind = (uint8_t)kind;
	s->listener = h->listener;
	s->proxy_pending = h->proxy;
	s->timer.cb = on_timer;
	s->last_active = loop_now(w->loop);
	exchange_start(s);
	if (kind == LISTEN_TRANSPARENT_TLS) {
		if (exchange_acquire(s) == -1) {
			session_state(s, S_CLOSED);
			config_unref(s->cfg);
			goto fail;
		}
		/* (the connection is the exchange: logged at its end) */
		session_state(s, S_PEEK);
		s->phase_start = s->last_active;
	}
	if (loop_add(w->loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 1) == -1) {
		log_err("epoll_ctl(ADD) for a client: %s", strerror(errno));
		session_state(s, S_CLOSED);
		config_unref(s->cfg);
		goto fail;
	}
	worker_conn_add(w, &s->link, &session_ops);
	/* Readiness arrives as an edge right away if bytes are waiting. */
	arm(s);
	return 0;
fail:
	if (s) {
		exchange_release(s);
		free(s->tp);
	}
	free(s);
	close(fd);
	return -1;
}
