/* transparent: connections the firewall redirected to a transparent listener.
 *
 * At accept (transparent_new): where the client was really going
 * (intercept.c asks netfilter), and whether it may go there: a connection
 * that was not redirected at all would loop back into sluice, and one to
 * the gateway's own addresses would reach its services from inside.
 *
 *   transparent HTTP:  S_HEAD ──request head──> transparent_target: the
 *                      original destination, whatever Host says ──> route
 *   transparent TLS:   S_PEEK ──ClientHello read, or header_timeout──>
 *                      tls_decide ──> route (a literal: S_CONNECT at once)
 *                      ──connected──> S_TUNNEL, the hello relayed first
 *
 * Part of the session module (see session_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_int.h"
#include "sluice/intercept.h"
#include "sluice/log.h"

struct transparent *transparent_new(const struct config *cfg, int fd)
{
	struct transparent *tp = calloc(1, sizeof(*tp));
	if (tp == NULL)
		return NULL;
	if (intercept_original_dst(fd, &tp->odst) == -1) {
		tp->not_redirected = "connection was not redirected here (no NAT record of its original destination)";
		return tp;
	}
	log_host(&tp->odst.sa, tp->odst_text, sizeof(tp->odst_text));
	if (intercept_is_self(fd, &tp->odst, cfg))
		tp->not_redirected = "connection was not redirected here (its original destination is sluice itself)";
	else if (intercept_is_local(&tp->odst))
		tp->refused = "original destination is an address of this gateway";
	return tp;
}

/* A connection that was not redirected, or goes to the gateway itself, is
 * marked, not refused, at accept: HTTP gets an answer for its request, TLS
 * has nobody to answer and is closed here. */
int transparent_tls_refused(const struct transparent *tp, const union sockaddr_any *peer)
{
	if (!tp->not_redirected && !tp->refused)
		return 0;
	char a[80];
	log_info("client %s: %s%s%s: closed (transparent-tls listener)", log_addr(&peer->sa, a, sizeof(a)),
		 tp->not_redirected ? tp->not_redirected : tp->refused, tp->odst_text[0] ? " " : "", tp->odst_text);
	return 1;
}

/* A request on a transparent listener goes where the client was going,
 * whatever it names: Host (or an absolute URL, RFC 9112 3.2.2) only names
 * the host for the log, and a literal that disagrees is logged.  Otherwise a
 * client could reach any host by lying in Host. */
int transparent_target(struct session *s, const struct http_head *h, struct http_target *t)
{
	struct transparent *tp = s->tp;
	const char *target = h->raw + h->part[1].off;
	uint32_t tlen = h->part[1].len;
	const char *why = NULL;
	char a[80];
	if (tp->not_redirected) {
		log_info("client %s: %s: answering 508", log_addr(&s->peer.sa, a, sizeof(a)), tp->not_redirected);
		exchange_error(s, 508, tp->not_redirected);
		return -1;
	}
	if (tp->refused) {
		log_info("client %s: %s (%s): answering 403", log_addr(&s->peer.sa, a, sizeof(a)), tp->refused,
			 tp->odst_text);
		exchange_error(s, 403, tp->refused);
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
	else if (tlen == 1 && target[0] == '*' && s->x->req.method != HTTP_OPTIONS)
		why = "asterisk-form target is for OPTIONS only"; /* RFC 9112 3.2.4 */
	else if (tlen > 0 && target[0] != '/' && target[0] != '*') {
		r = http_target_parse(target, tlen, t, &why);
		if (r == -1 && tlen >= 8 && strncasecmp(target, "https://", 8) == 0)
			why = "https URLs are not accepted on a transparent listener";
	} else if (hi >= 0) {
		r = http_origin_target_parse(target, tlen, h->raw + h->hdr[hi].value.off, h->hdr[hi].value.len, t,
					     &why);
	} else {
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
		exchange_error(s, 400, why);
		return -1;
	}
	snprintf(tp->named, sizeof(tp->named), "%s", t->host);
	tp->named_port = t->port;
	snprintf(s->x->host_buf, sizeof(s->x->host_buf), "%s", tp->odst_text);
	s->x->port = sockaddr_port(&tp->odst);
	/* a literal compares in its canonical spelling; a name cannot be
	 * checked without a lookup, and goes unremarked */
	union sockaddr_any lit;
	char canon[INET6_ADDRSTRLEN];
	if (t->port != s->x->port || (route_parse_literal(t->host, t->port, &lit) == 0 &&
				     strcmp(log_host(&lit.sa, canon, sizeof(canon)), s->x->host) != 0))
		log_info("client %s: Host %s:%u does not match the original destination %s:%u; going to the "
			 "original destination", log_addr(&s->peer.sa, a, sizeof(a)), t->host, t->port, s->x->host,
			 s->x->port);
	return 0;
}

/* The ClientHello has been read (or will not be): go to the original
 * destination and relay from the first byte; what was peeked waits in the
 * client's buffer and goes first.  Whatever the hello said, the connection
 * is relayed (the rules decide policy, not the reader); the log line says
 * what was seen. */
static void tls_decide(struct session *s, enum tls_hello r)
{
	struct transparent *tp = s->tp;
	char a[80];
	tp->hello = (uint8_t)r;
	if (r != TLS_HELLO_SNI)
		log_info("client %s: TLS to %s:%u: %s; relaying it anyway", log_addr(&s->peer.sa, a, sizeof(a)),
			 tp->odst_text, sockaddr_port(&tp->odst),
			 r == TLS_HELLO_MORE ? "no complete ClientHello in time" : tls_hello_text(r));
	snprintf(s->x->host_buf, sizeof(s->x->host_buf), "%s", tp->odst_text);
	s->x->port = sockaddr_port(&tp->odst);
	s->x->tunnel = T_TLS;
	s->x->req_done = 1;
	if (s->client.in)
		s->client.in->parsed = s->client.in->end;
	if (access_check_request(s) == -1)
		return;
	route_request(s, 0); /* a literal address: connects at once */
}

int transparent_peek(struct session *s)
{
	struct buf *b = s->client.in;
	if (b == NULL || buf_empty(b))
		return 0;
	uint32_t have = b->end - b->start; /* all unparsed: nothing is consumed */
	enum tls_hello r = tls_hello_parse((const uint8_t *)b->data + b->start, have, s->tp->sni,
					   sizeof(s->tp->sni));
	if (r == TLS_HELLO_MORE && s->client.eof) {
		s->x->rec.reason = "client closed before its ClientHello was complete";
		session_close(s);
		return 0;
	}
	/* The reader decides by TLS_HELLO_MAX bytes, and config_validate makes
	 * the client's buffer hold that many: waiting cannot meet a full one. */
	if (r == TLS_HELLO_MORE)
		return 0; /* wait for more, within header_timeout */
	if (r != TLS_HELLO_SNI)
		s->tp->sni[0] = '\0';
	tls_decide(s, r);
	return 1;
}

void transparent_peek_timeout(struct session *s)
{
	if (s->client.in == NULL || buf_empty(s->client.in)) {
		s->x->rec.reason = "no bytes within header_timeout"; /* nothing to relay */
		session_close(s);
	} else {
		tls_decide(s, TLS_HELLO_MORE); /* relay what came, SNI or not */
	}
}
