/* reply: the answers sluice makes itself (errors, refusals), and the cut of
 * a response already on its way when something breaks after its head.
 *
 * Part of the session module (see session_int.h).
 */
#include <stdio.h>

#include "session_int.h"
#include "sluice/log.h"

void exchange_error(struct session *s, int status, const char *reason)
{
	exchange_reply(s, status, reason, NULL, 0);
}

void exchange_reply(struct session *s, int status, const char *reason, const char *extra, int may_keep)
{
	char a[80];
	log_debug("client %s: %d %s", log_addr(&s->peer.sa, a, sizeof(a)), status, reason);
	/* the exchange ends here: a login check still running for it (a
	 * broken body refused in S_AUTH) must not route it when it answers */
	proxy_auth_cancel(s);
	s->x->rec.reason = reason;
	stat_inc(&s->w->stats.errors);
	metrics_cause(&s->w->m, status, reason);
	if (s->x->tunnel == T_TLS) {
		/* no HTTP to answer in: the status is for the log line */
		s->x->rec.status = status;
		s->x->rec.local = 1;
		session_close(s);
		return;
	}
	if (s->x->rec.status != 0 || (s->ohead && s->ohead->start > 0 && !buf_empty(s->ohead))) {
		/* a response is already on its way: all we can do is cut it */
		s->x->abort_after_flush = 1;
		session_drop_upstream(s);
		return;
	}
	session_drop_upstream(s);
	if (!s->x->compact)
		dns_cancel(s->w->dns, &s->x->dnsw);
	if (session_need_buf(s, &s->ohead) == -1) {
		session_close(s);
		return;
	}
	s->ohead->start = s->ohead->parsed = s->ohead->end = 0;
	if (s->server.in)
		s->server.in->start = s->server.in->parsed = s->server.in->end = 0;
	char body[256];
	int n = snprintf(body, sizeof(body), "sluice: %d %s: %s\n", status, http_status_text(status), reason);
	/* the connection can go on only when nothing of the request is left
	 * to skip: a body-less request, wholly read, and no byte behind it
	 * taken as its own (the start of a tunnel after a CONNECT) */
	int keep = may_keep && s->x->req_done && s->x->req_body.kind == BODY_NONE && s->keep_alive && !s->http10 &&
		   (s->client.in == NULL || buf_pending(s->client.in) == 0);
	http_write_local(s->ohead, status, NULL, "text/plain", extra, body, (size_t)n, !keep);
	s->x->rec.status = status;
	s->x->rec.local = 1;
	s->close_after = !keep;
	s->x->res_head_done = 1;
	session_state(s, S_REPLY);
}
