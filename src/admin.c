/* admin: the admin listener's connections (include/sluice/admin.h). */
#include "sluice/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sluice/acl.h"
#include "sluice/expo.h"
#include "sluice/http.h"
#include "sluice/log.h"
#include "sluice/scrape.h"
#include "sluice/worker.h"

#define ADMIN_HEAD_MAX 4096
#define METRICS_MAX (8u << 20) /* a scrape's text, at most */

struct admin_conn {
	struct io io;			/* first: the loop hands us &io */
	struct worker_conn link;
	struct worker *w;
	struct timer timer;
	size_t inlen;
	char in[ADMIN_HEAD_MAX];
	char head[512];			/* the answer's head */
	size_t headlen, sent;		/* bytes of head + body written */
	const char *body;		/* the answer's body: page.buf or note */
	size_t bodylen;
	struct expo page;		/* a page's text */
	char note[256];			/* a short answer's text */
	int answered;
};

static struct admin_conn *of_link(struct worker_conn *c)
{
	return (struct admin_conn *)((char *)c - offsetof(struct admin_conn, link));
}

static void admin_close(struct admin_conn *a)
{
	if (a->io.fd == -1)
		return;
	timer_cancel(a->w->loop, &a->timer);
	close(a->io.fd);
	a->io.fd = -1;
	worker_conn_closed(a->w, &a->link);
}

static void abort_conn(struct worker_conn *c)
{
	admin_close(of_link(c));
}

static void free_conn(struct worker_conn *c)
{
	struct admin_conn *a = of_link(c);
	expo_free(&a->page);
	free(a);
}

/* A stop: one not answered yet closes; an answer on its way goes out. */
static void drain_conn(struct worker_conn *c)
{
	struct admin_conn *a = of_link(c);
	if (!a->answered)
		admin_close(a);
}

static const struct worker_conn_ops admin_ops = { abort_conn, free_conn, drain_conn };

/* --- answers -------------------------------------------------------------------------- */

static void answer(struct admin_conn *a, int status, const char *type, const char *body, size_t len,
		   int head_only)
{
	int n = snprintf(a->head, sizeof(a->head),
			 "HTTP/1.1 %d %s\r\nServer: sluice\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 status, http_status_text(status), type, len);
	a->headlen = n > 0 && (size_t)n < sizeof(a->head) ? (size_t)n : 0;
	a->body = body;
	a->bodylen = head_only ? 0 : len;
	a->answered = 1;
}

static void text(struct admin_conn *a, int status, const char *msg, int head_only)
{
	int n = snprintf(a->note, sizeof(a->note), "%s\n", msg);
	answer(a, status, "text/plain; charset=utf-8", a->note, n > 0 ? strnlen(a->note, sizeof(a->note)) : 0,
	       head_only);
}

/* Every worker's loop turned lately, and sluice is not stopping? */
static void healthz(struct admin_conn *a, int head_only)
{
	int n;
	struct worker *ws = worker_all(&n);
	uint64_t now = loop_clock_ms(), limit = 2 * (uint64_t)worker_tick() + 1000;
	char why[160];
	if (worker_draining()) {
		text(a, 503, "stopping", head_only);
		return;
	}
	for (int i = 0; i < n; i++) {
		uint64_t t = stat_get(&ws[i].turned);
		if (now > t && now - t > limit) {
			snprintf(why, sizeof(why), "worker %d has not turned for %llu ms", i,
				 (unsigned long long)(now - t));
			text(a, 503, why, head_only);
			return;
		}
	}
	text(a, 200, "ok", head_only);
}

static void route(struct admin_conn *a, const char *method, const char *path)
{
	int head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		text(a, 405, "only GET and HEAD", 0);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		healthz(a, head_only);
	} else if (strcmp(path, "/metrics") == 0) {
		expo_init(&a->page, METRICS_MAX);
		scrape_render(&a->page);
		if (a->page.truncated)
			text(a, 500, "metrics larger than the bound", head_only);
		else
			answer(a, 200, "text/plain; version=0.0.4; charset=utf-8", a->page.buf, a->page.len, head_only);
	} else {
		text(a, 404, "not found: try /metrics or /healthz", head_only);
	}
}

/* The request line, once the head is in: "METHOD SP PATH[?query] SP HTTP/1.x". */
static void parse(struct admin_conn *a)
{
	char *end = memmem(a->in, a->inlen, "\r\n", 2);
	char *sp1 = end ? memchr(a->in, ' ', (size_t)(end - a->in)) : NULL;
	char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (sp2 == NULL || end - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		text(a, 400, "bad request line", 0);
		return;
	}
	*sp1 = *sp2 = '\0';
	char *q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (q)
		*q = '\0';
	route(a, a->in, sp1 + 1);
}

/* --- I/O ------------------------------------------------------------------------------ */

static void pump(struct admin_conn *a)
{
	while (!a->answered) {
		if (a->inlen == sizeof(a->in)) {
			text(a, 431, "request head too large", 0);
			break;
		}
		ssize_t n = read(a->io.fd, a->in + a->inlen, sizeof(a->in) - a->inlen);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			admin_close(a);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* wait for more */
		}
		size_t from = a->inlen > 3 ? a->inlen - 3 : 0;
		a->inlen += (size_t)n;
		if (memmem(a->in + from, a->inlen - from, "\r\n\r\n", 4))
			parse(a);
	}
	size_t total = a->headlen + a->bodylen;
	while (a->sent < total) {
		struct iovec iov[2];
		int k = 0;
		if (a->sent < a->headlen)
			iov[k++] = (struct iovec){ a->head + a->sent, a->headlen - a->sent };
		size_t boff = a->sent > a->headlen ? a->sent - a->headlen : 0;
		if (a->bodylen > boff)
			iov[k++] = (struct iovec){ (char *)a->body + boff, a->bodylen - boff };
		ssize_t n = writev(a->io.fd, iov, k);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			admin_close(a);
			return;
		}
		a->sent += (size_t)n;
	}
	admin_close(a); /* answered: Connection: close */
}

static void on_io(struct io *io, uint32_t events)
{
	(void)events;
	pump((struct admin_conn *)io);
}

static void on_timer(struct timer *t)
{
	admin_close((struct admin_conn *)((char *)t - offsetof(struct admin_conn, timer)));
}

int admin_start(struct worker *w, const struct handoff *h)
{
	worker_refresh_config(w);
	if (!addrset_match(w->cfg->admin_allow, &h->peer.sa)) {
		char a[80];
		log_info("client %s: not in admin_allow: closed (admin listener)", log_addr(&h->peer.sa, a, sizeof(a)));
		close(h->fd);
		return -1;
	}
	struct admin_conn *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		close(h->fd);
		return -1;
	}
	a->w = w;
	a->io.fd = h->fd;
	a->io.cb = on_io;
	a->timer.cb = on_timer;
	if (loop_add(w->loop, &a->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 1) == -1) {
		close(h->fd);
		free(a);
		return -1;
	}
	worker_conn_add(w, &a->link, &admin_ops);
	timer_set(w->loop, &a->timer, loop_now(w->loop) + w->cfg->header_timeout);
	pump(a);
	return 0;
}
