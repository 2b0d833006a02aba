/* body_splice: long bodies with a Content-Length, socket -> pipe -> socket.
 *
 * A response body (or a request body) that has at least body_splice_min
 * bytes still to come, once its head and the body bytes read with it
 * have gone out, is handed to a bounded relay (tunnel.c relay_bound): the
 * rest moves with splice() through a pooled pipe, exactly the bytes the
 * Content-Length promised and not one more, so the bytes behind it (the
 * next response on a pooled connection, the client's next request) stay
 * in their socket for the parser.  The framing stays exact: when the
 * relay is done the body is done (res_done, req_done) and the exchange
 * ends as a parsed one does; a sender that closes early is a truncation,
 * told the way a parsed body's is (exchange.c server_eof: the client's
 * connection is cut; a request's: the client closed during it).
 *
 * Chunked and close-delimited bodies, and short ones, keep the parsed
 * path: their framing must be read (chunked), or they are not worth a
 * pipe (below body_splice_min, two splices cost more than a copy).
 *
 * The relays are the session's rel->down (response) and rel->up (request),
 * allocated while one runs and otherwise used only by a tunnel; an exchange
 * that may become a tunnel (an Upgrade) never splices its request.  While a relay runs it
 * alone reads its source: session.c's reads stop for that socket.
 */
#include <errno.h>

#include "session_int.h"

static int response_ready(const struct session *s)
{
	const struct exchange *x = s->x;
	return s->cfg->body_splice_min && s->up && x->res_head_done && !x->res_done && !x->abort_after_flush &&
	       x->res_body.kind == BODY_LENGTH && x->res_body.left >= s->cfg->body_splice_min && !s->server.eof &&
	       (s->ohead == NULL || buf_empty(s->ohead)) && (s->server.in == NULL || buf_empty(s->server.in));
}

static int request_ready(const struct session *s)
{
	const struct exchange *x = s->x;
	return s->cfg->body_splice_min && !x->req_done && x->tunnel == T_NONE && !x->via_connect &&
	       x->req_body.kind == BODY_LENGTH && x->req_body.left >= s->cfg->body_splice_min && !s->client.eof &&
	       !s->server.wdone && x->rhead_sent == s->rhead->end && (s->client.in == NULL || buf_empty(s->client.in));
}

/* 0, or -1 when no memory for the relays: the body stays on the parsed path. */
static int start(struct session *s, int up, struct side *from, struct side *to, uint64_t left)
{
	if (session_relays(s) == NULL)
		return -1;
	struct relay *r = up ? &s->rel->up : &s->rel->down;
	session_put_buf(s, &from->in); /* empty: what it held has gone out */
	relay_init(r, from->fd, to->fd, &from->rd, &to->wr, NULL, 0);
	relay_bound(r, left);
	return 0;
}

static void stop(struct session *s, struct relay *r, uint8_t *live)
{
	relay_release(r, s->w->pipes, &s->w->bufs);
	*live = 0;
	session_relays_done(s);
}

/* One relay's move, its bytes counted where the parsed path counts them.
 * 1 when anything moved; *res the relay's answer. */
static int move(struct session *s, struct relay *r, stat_t *in, stat_t *out, stat_t *spliced, uint64_t *rec,
		enum relay_result *res)
{
	struct worker *w = s->w;
	uint64_t left = r->left, bytes = r->bytes, sp = r->spliced;
	int moved = 0;
	*res = relay_move(r, w->pipes, &w->bufs, &moved);
	stat_add(in, left - r->left);
	stat_add(out, r->bytes - bytes);
	stat_add(spliced, r->spliced - sp);
	*rec += r->bytes - bytes;
	if (moved)
		s->last_active = loop_now(w->loop);
	if (*res == RELAY_MORE)
		s->repump = 1;
	return moved;
}

static int response_step(struct session *s)
{
	struct exchange *x = s->x;
	if (!x->res_splice) {
		if (!response_ready(s))
			return 0;
		if (start(s, 0, &s->server, &s->client, x->res_body.left) == -1)
			return 0;
		x->res_splice = 1;
	}
	enum relay_result res;
	struct worker_metrics *m = &s->w->m;
	int moved = move(s, &s->rel->down, &m->origin_in, &m->client_out, &m->body_spliced_down, &x->rec.bytes, &res);
	if (s->rel->down.bytes)
		x->res_sent = 1;
	x->res_body.left = s->rel->down.left;
	if (res == RELAY_ERROR) {
		if (s->rel->down.from_failed) {
			/* the server reset: server_eof tells the client */
			stop(s, &s->rel->down, &x->res_splice);
			s->server.eof = s->server.reset = 1;
			return 1;
		}
		x->rec.reason = errno == ENOMEM ? "out of memory" : "client went away";
		record_write(s);
		session_close(s);
		return 0;
	}
	if (!s->rel->down.done)
		return moved;
	stop(s, &s->rel->down, &x->res_splice);
	if (x->res_body.left == 0)
		x->res_body.done = x->res_done = 1;
	else
		s->server.eof = 1; /* closed short of its length: server_eof */
	return 1;
}

static int request_step(struct session *s)
{
	struct exchange *x = s->x;
	if (!x->req_splice) {
		if (s->state != S_FORWARD || s->up == NULL || !request_ready(s))
			return 0;
		if (start(s, 1, &s->client, &s->server, x->req_body.left) == -1)
			return 0;
		x->req_splice = 1;
	}
	enum relay_result res;
	struct worker_metrics *m = &s->w->m;
	int moved = move(s, &s->rel->up, &m->client_in, &m->origin_out, &m->body_spliced_up, &x->rec.bytes_up, &res);
	if (s->rel->up.bytes)
		x->body_sent = 1;
	x->req_body.left = s->rel->up.left;
	if (res == RELAY_ERROR) {
		int out_of_memory = errno == ENOMEM, from_failed = s->rel->up.from_failed;
		stop(s, &s->rel->up, &x->req_splice); /* (may free s->rel) */
		if (from_failed || out_of_memory) {
			x->rec.reason = from_failed ? "client connection error" : "out of memory";
			record_write(s);
			session_close(s);
			return 0;
		}
		/* The server stopped reading (a 413 on its way): its answer
		 * decides, as server_write's failure does. */
		s->server.wdone = 1;
		s->server.rd = 1;
		s->close_after = 1;
		return 1;
	}
	if (!s->rel->up.done)
		return moved;
	stop(s, &s->rel->up, &x->req_splice);
	if (x->req_body.left == 0)
		x->req_body.done = x->req_done = 1;
	else
		s->client.eof = 1; /* closed during its body: exchange_client_eof */
	return 1;
}

int body_splice_step(struct session *s)
{
	if (s->state != S_FORWARD)
		return 0;
	int progress = request_step(s);
	if (s->state != S_FORWARD)
		return progress;
	return progress | response_step(s);
}

int body_splice_holds_request(const struct session *s)
{
	return s->x->req_splice && (s->rel->up.in_pipe > 0 || (s->rel->up.buf && !buf_empty(s->rel->up.buf)));
}

void body_splice_drop(struct session *s)
{
	if (s->x == NULL) /* between requests: no body */
		return;
	if (s->x->req_splice)
		stop(s, &s->rel->up, &s->x->req_splice);
	if (s->x->res_splice)
		stop(s, &s->rel->down, &s->x->res_splice);
}
