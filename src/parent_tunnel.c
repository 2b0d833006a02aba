/* parent_tunnel: a tunnel through a parent proxy: the CONNECT sluice sends
 * it, and its answer (a 2xx opens the relay; anything else is the parent's
 * refusal, never relayed as the origin's).
 *
 * Part of the session module (see session_int.h).
 */
#include <string.h>

#include "session_int.h"
#include "sluice/log.h"

/* A tunnel through a parent: ask it for one (RFC 9110 9.3.6), naming the
 * destination as the client did (a redirected TLS client: its SNI name, or
 * the address it was going to).  Its answer comes back through the
 * response parser (exchange_parent_answer); until then the client's first
 * bytes wait. */
void exchange_via_parent(struct session *s)
{
	const struct parent_cfg *p = s->x->parent;
	/* (a redirected client's SNI only when it leads where the client was
	 * going: route.c verify_name; else x.host, that address) */
	const char *host = s->x->tunnel == T_TLS && s->x->by_name ? s->tp->sni : s->x->host;
	int v6 = strchr(host, ':') != NULL;
	if (session_need_buf(s, &s->rhead) == -1 || session_need_buf(s, &s->ohead) == -1) {
		session_close(s);
		return;
	}
	s->rhead->start = s->rhead->parsed = s->rhead->end = 0;
	if (buf_printf(s->rhead, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n%sVia: 1.1 %s\r\n\r\n",
		       v6 ? "[" : "", host, v6 ? "]" : "", s->x->port, v6 ? "[" : "", host, v6 ? "]" : "", s->x->port,
		       p->auth, s->cfg->via_name) == -1) {
		exchange_error(s, 502, "CONNECT for the parent proxy too large");
		return;
	}
	s->x->rhead_sent = 0;
	s->x->via_connect = 1;
	exchange_response_parser_init(s);
}

/* Why a parent refused a CONNECT, as the client's 502 and the log say it:
 * the common statuses by number, the rest by class (a cause is counted by
 * its text: the metrics' table stays small). */
static const char *connect_refusal(int status)
{
	switch (status) {
	case 400: return "parent proxy answered CONNECT with 400";
	case 403: return "parent proxy answered CONNECT with 403";
	case 404: return "parent proxy answered CONNECT with 404";
	case 405: return "parent proxy answered CONNECT with 405";
	case 429: return "parent proxy answered CONNECT with 429";
	case 500: return "parent proxy answered CONNECT with 500";
	case 502: return "parent proxy answered CONNECT with 502";
	case 503: return "parent proxy answered CONNECT with 503";
	case 504: return "parent proxy answered CONNECT with 504";
	default: break;
	}
	return status >= 500 ? "parent proxy answered CONNECT with another 5xx"
	       : status >= 400 ? "parent proxy answered CONNECT with another 4xx"
	       : status >= 300 ? "parent proxy answered CONNECT with a 3xx"
			       : "parent proxy answered CONNECT with 101";
}

/* A parent's 407 is about sluice's login (or its lack). */
const char *exchange_parent_407(const struct session *s)
{
	return s->x->parent->auth[0] ? "parent proxy refused sluice's login (407)"
				    : "parent proxy wants a login (407): give its parent line login=";
}

/* A parent's answer to the CONNECT sluice sent it: a 2xx opens the tunnel
 * (whatever it sent behind its head goes to the client first; a
 * Content-Length or Transfer-Encoding on it means nothing, RFC 9110 9.3.6,
 * though llhttp refuses the two together); an interim one is skipped
 * (RFC 9110 15.2); anything else is the parent's refusal, never relayed
 * as if the origin said it. */
void exchange_parent_answer(struct session *s, const struct http_head *h)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct buf *b = s->server.in;
	if (h->status >= 100 && h->status < 200 && h->status != 101) {
		b->start = b->parsed;
		exchange_response_parser_init(s);
		return;
	}
	if (h->status >= 200 && h->status < 300) {
		s->x->via_connect = 0;
		b->start = b->parsed; /* the tunnel's first bytes */
		b->parsed = b->end;
		s->x->res_head_done = s->x->res_done = 1;
		if (s->x->tunnel == T_CONNECT && buf_append(s->ohead, ok, sizeof(ok) - 1) == -1) {
			session_close(s);
			return;
		}
		s->x->rec.status = 200;
		session_state(s, S_TUNNEL);
		return;
	}
	log_info("parent %s answered CONNECT %s:%u with %d", s->x->parent->name, s->x->host, s->x->port, h->status);
	exchange_error(s, 502, h->status == 407 ? exchange_parent_407(s) : connect_refusal(h->status));
}
