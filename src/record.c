/* record: the access-log line of an exchange.
 *
 * The exchange fills in its struct record as it learns things (the method
 * and where the target sits in the rewritten head when that head is made,
 * the status when a response head goes out, the server's address when
 * route connects, the cause when sluice answers itself or cuts a
 * response); record_write() turns it into one line when the exchange ends,
 * or when the connection closes in the middle of one.  Nothing is formatted
 * while the access log is off.
 *
 * Part of the session module (see session_int.h); it changes no state but
 * rec.logged.
 */
#include <stdio.h>
#include <string.h>

#include "session_int.h"
#include "sluice/fmt.h"
#include "sluice/log.h"

void record_start(struct session *s)
{
	struct record *r = &s->x->rec;
	r->start_wall = loop_wall_ms();
	r->start_mono = loop_now(s->w->loop);
	/* the breakdown costs clock reads: only for the log that shows it */
	if (s->w->alog.format == ACCESS_JSON) {
		r->t0_us = loop_clock_us();
		r->dns_us = r->connect_us = r->head_us = -1;
	}
}

void record_phase(struct session *s, enum state from, enum state to)
{
	if (s->x == NULL) /* between requests */
		return;
	struct record *r = &s->x->rec;
	if (r->t0_us == 0 || (from != S_RESOLVE && from != S_CONNECT && to != S_RESOLVE && to != S_CONNECT))
		return;
	uint64_t now = loop_clock_us();
	if (from == S_RESOLVE || from == S_CONNECT) {
		int64_t *t = from == S_RESOLVE ? &r->dns_us : &r->connect_us;
		*t = (*t < 0 ? 0 : *t) + (int64_t)(now - r->phase_us);
	}
	r->phase_us = now;
}

void record_head(struct session *s)
{
	struct record *r = &s->x->rec;
	if (r->t0_us && r->head_us < 0)
		r->head_us = (int64_t)(loop_clock_us() - r->t0_us);
}

/* "http://host[:port]" and the target as sent.  A transparent request is
 * logged with the host it named.  Returns the length. */
static size_t http_url(const struct session *s, const char *target, size_t tlen, char *url, size_t room)
{
	const char *host = s->tp && s->tp->named[0] ? s->tp->named : s->x->host;
	unsigned port = s->tp && s->tp->named[0] ? s->tp->named_port : s->x->port;
	size_t hl = strlen(host), n = 0;
	int v6 = memchr(host, ':', hl) != NULL;
	/* (no printf: once per logged request; room is 4096 + 300, the host at
	 * most 255 and the port 6) */
	memcpy(url, "http://[", 7 + (size_t)v6);
	n = 7 + (size_t)v6;
	memcpy(url + n, host, hl);
	n += hl;
	if (v6)
		url[n++] = ']';
	if (port != 80) {
		url[n++] = ':';
		n += fmt_u64(url + n, port);
	}
	if (tlen == 1 && target[0] == '*')
		tlen = 0; /* OPTIONS *: the server itself */
	if (tlen > room - n)
		tlen = room - n;
	memcpy(url + n, target, tlen);
	return n + tlen;
}

void record_write(struct session *s)
{
	struct worker *w = s->w;
	struct record *r = &s->x->rec;
	if (r->logged)
		return;
	r->logged = 1;
	uint64_t elapsed = loop_now(w->loop) - r->start_mono;
	enum method_class mc = s->x->tunnel == T_CONNECT || s->x->tunnel == T_TLS ? MC_CONNECT
			       : r->method					 ? metrics_method_class((int)s->x->method)
										 : MC_OTHER;
	metrics_request(&w->m, mc, r->status, elapsed);
	if (s->tunnel_live) {
		stat_inc(&w->m.tunnels_done);
		stat_add(&w->m.tunnel_up, s->rel->up.bytes);
		stat_add(&w->m.tunnel_down, s->rel->down.bytes);
	}
	if (w->top) {
		/* the name as the client gave it: SNI, a redirected request's
		 * Host, the target's host */
		const char *name = s->x->tunnel == T_TLS && s->tp->sni[0] ? s->tp->sni
				   : s->tp && s->tp->named[0]		  ? s->tp->named
									  : s->x->host;
		uint64_t moved = s->tunnel_live ? s->rel->up.bytes + s->rel->down.bytes : r->bytes + r->bytes_up;
		if (name[0])
			top_count(w->top, name, strlen(name), &s->peer.sa, moved);
	}
	if (w->alog.fd == -1)
		return;
	char url[DNS_NAME_MAX + 1 + 8192 + 16];
	size_t url_len = 0;
	const char *method = "-";
	/* the target went out in rhead; an upgraded tunnel kept a copy */
	if (r->method && (s->rhead || s->tunnel_target)) {
		method = r->method;
		const char *target = s->rhead ? s->rhead->data + r->target_off : s->tunnel_target;
		size_t tlen = s->rhead ? r->target_len : strlen(s->tunnel_target);
		url_len = http_url(s, target, tlen, url, sizeof(url));
	}
	if (s->x->tunnel == T_CONNECT || s->x->tunnel == T_TLS) {
		/* a redirected TLS connection is logged under its SNI name */
		const char *host = s->x->tunnel == T_TLS && s->tp->sni[0] ? s->tp->sni : s->x->host;
		int n = snprintf(url, sizeof(url), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, s->x->port);
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
	if (s->x->tunnel == T_TLS)
		snprintf(hello, sizeof(hello), s->tp->sni[0] ? " sni=%s" : " %s",
			 s->tp->sni[0] ? s->tp->sni : tls_hello_text((enum tls_hello)s->tp->hello));
	char note[512];
	if (s->tunnel_live) {
		snprintf(note, sizeof(note), "tunnel up=%llu down=%llu%s%s%s", (unsigned long long)s->rel->up.bytes,
			 (unsigned long long)s->rel->down.bytes, hello, r->reason ? ": " : "", r->reason ? r->reason : "");
	} else if (hello[0]) {
		snprintf(note, sizeof(note), "%s%s%s", hello + 1, r->reason ? ": " : "", r->reason ? r->reason : "");
	}
	static const char *const hier_names[] = {
		[HIER_NONE] = "HIER_NONE",
		[HIER_DIRECT] = "HIER_DIRECT",
		[HIER_ORIGINAL_DST] = "ORIGINAL_DST",
		[HIER_FIRSTUP_PARENT] = "FIRSTUP_PARENT",
		[HIER_DEFAULT_PARENT] = "DEFAULT_PARENT",
	};
	char peer[256] = "-";
	if (r->peer_name)
		snprintf(peer, sizeof(peer), "%s", r->peer_name); /* a parent: its host as configured */
	else if (r->hier != HIER_NONE)
		log_host(&r->peer.sa, peer, sizeof(peer));
	struct access_entry e = {
		.end_ms = r->start_wall + elapsed,
		.elapsed_ms = elapsed,
		.client = &s->peer.sa,
		.code = r->denied ? "TCP_DENIED" : r->local ? "TAG_NONE" : s->tunnel_live ? "TCP_TUNNEL" : r->reason ? "TCP_MISS_ABORTED" : "TCP_MISS",
		.status = r->status,
		.bytes = r->bytes,
		.method = method,
		.url = url_len ? url : NULL,
		.url_len = url_len,
		.user = r->user,
		.hier = hier_names[r->hier],
		.peer = peer,
		.type = r->ctype[0] ? r->ctype : NULL,
		.type_len = strlen(r->ctype),
		.reason = s->tunnel_live || hello[0] ? note : r->reason,
	};
	if (w->alog.format == ACCESS_JSON) {
		/* fields of their own rather than the note */
		e.reason = r->reason;
		e.client_port = sockaddr_port(&s->peer);
		e.reused = s->x->reused;
		e.tunnel = s->tunnel_live;
		e.bytes_up = s->tunnel_live ? s->rel->up.bytes : r->bytes_up;
		if (s->tunnel_live)
			e.bytes = s->rel->down.bytes;
		e.sni = s->x->tunnel == T_TLS && s->tp->sni[0] ? s->tp->sni : NULL;
		e.dns_us = r->t0_us ? r->dns_us : -1;
		e.connect_us = r->t0_us ? r->connect_us : -1;
		e.head_us = r->t0_us ? r->head_us : -1;
		e.total_us = r->t0_us ? loop_clock_us() - r->t0_us : elapsed * 1000;
	}
	access_log_write(&w->alog, &e);
}
