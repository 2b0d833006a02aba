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
#define GATHER_POLL_MS 2	 /* how often a page looks whether every worker answered */
#define GATHER_MAX_MS 500	 /* a worker that has not answered by then is left out
				    (well inside a 1 s scrape timeout) */

enum page { P_METRICS, P_TOP };

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
	int head_only;
	/* a page with the top talkers waits for every worker's snapshot */
	enum page which;
	int busy;			/* waiting for the workers' snapshots */
	struct timer poll;
	uint64_t gather_until;
	unsigned *gens;			/* per worker: the snapshot asked for */
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
	timer_cancel(a->w->loop, &a->poll);
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
	free(a->gens);
	free(a);
}

/* A stop: one whose request has not come closes; an answer being gathered
 * (GATHER_MAX_MS at most) or on its way goes out. */
static void drain_conn(struct worker_conn *c)
{
	struct admin_conn *a = of_link(c);
	if (!a->answered && !a->busy)
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

/* The page for a person at a browser: the same tables as /top, refreshed
 * every 2 s, no asset from anywhere else. */
static const char admin_page[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sluice: top talkers</title>\n"
	"<style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}"
	"table{border-collapse:collapse;margin:0 2em 1.5em 0;display:inline-table;vertical-align:top}"
	"th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child"
	"{text-align:left}caption{text-align:left;font-weight:bold;padding:.3em 0}#state{color:#666}</style>\n"
	"</head><body><h1>sluice: top talkers</h1><p id=\"state\">loading&hellip;</p>\n"
	"<table id=\"names\"><caption>Destinations by bytes</caption><thead><tr><th>name</th><th>bytes</th>"
	"<th>&plusmn;</th><th>requests</th></tr></thead><tbody></tbody></table>\n"
	"<table id=\"clients\"><caption>Clients by bytes</caption><thead><tr><th>client</th><th>bytes</th>"
	"<th>&plusmn;</th><th>requests</th></tr></thead><tbody></tbody></table>\n"
	"<p>Counts since start, per worker in fixed memory (Space-Saving), merged: each figure is at most "
	"&plusmn; more than the truth. Raw: <a href=\"/top\">/top</a>, <a href=\"/metrics\">/metrics</a>, "
	"<a href=\"/healthz\">/healthz</a>.</p>\n<noscript>This page needs JavaScript; /top has the same in "
	"JSON.</noscript>\n<script>\n"
	"function size(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(b>=1024&&i<4){b/=1024;i++}"
	"return(i?b.toFixed(1):b)+' '+u[i]}\n"
	"function fill(id,items){var tb=document.querySelector('#'+id+' tbody');tb.textContent='';"
	"items.forEach(function(it){var tr=document.createElement('tr');"
	"[it.name,size(it.bytes),size(it.bytes_error),it.requests].forEach(function(v){"
	"var td=document.createElement('td');td.textContent=v;tr.appendChild(td)});tb.appendChild(tr)})}\n"
	"function load(){fetch('/top',{cache:'no-store'}).then(function(r){return r.json()}).then(function(t){"
	"fill('names',t.names);fill('clients',t.clients);document.getElementById('state').textContent="
	"t.answered+' of '+t.workers+' workers answered, '+new Date().toLocaleTimeString()}).catch(function(e){"
	"document.getElementById('state').textContent='error: '+e})}\n"
	"load();setInterval(load,2000);\n</script></body></html>\n";

/* --- pages with the top talkers ------------------------------------------------------- */

static void pump(struct admin_conn *a);

/* Every worker answered (or the wait is over): the top talkers merged,
 * the page written. */
static void render(struct admin_conn *a)
{
	int n;
	struct worker *ws = worker_all(&n);
	struct top **tops = calloc((size_t)n, sizeof(*tops));
	size_t want = a->w->cfg->top_talkers, nnames = 0, nclients = 0, answered = 0;
	struct topk_item *items = calloc(2 * want, sizeof(*items));
	if (tops == NULL || items == NULL) {
		free(tops);
		free(items);
		text(a, 503, "out of memory", a->head_only);
		return;
	}
	for (int i = 0; i < n; i++) {
		tops[i] = ws[i].top;
		answered += top_answered(ws[i].top, a->gens[i]);
	}
	if (top_merge(tops, n, want, items, &nnames, items + want, &nclients) == -1) {
		nnames = nclients = 0;
	}
	expo_init(&a->page, METRICS_MAX);
	if (a->which == P_METRICS) {
		scrape_render(&a->page);
		scrape_render_top(&a->page, items, nnames, items + want, nclients);
	} else {
		scrape_top_json(&a->page, items, nnames, items + want, nclients, (int)answered, n);
	}
	free(tops);
	free(items);
	if (a->page.truncated)
		text(a, 500, "page larger than the bound", a->head_only);
	else
		answer(a, 200, a->which == P_METRICS ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
		       a->page.buf, a->page.len, a->head_only);
}

static int all_answered(const struct admin_conn *a)
{
	int n;
	struct worker *ws = worker_all(&n);
	for (int i = 0; i < n; i++)
		if (!top_answered(ws[i].top, a->gens[i]))
			return 0;
	return 1;
}

static void on_poll(struct timer *t)
{
	struct admin_conn *a = (struct admin_conn *)((char *)t - offsetof(struct admin_conn, poll));
	uint64_t now = loop_now(a->w->loop);
	if (!all_answered(a) && now < a->gather_until) {
		timer_set(a->w->loop, &a->poll, now + GATHER_POLL_MS);
		return;
	}
	a->busy = 0;
	render(a);
	pump(a);
}

/* Ask every worker for a snapshot of its top talkers; the page is written
 * when all answered (on_poll).  Without top talkers (no admin listener at
 * start), at once. */
static void gather(struct admin_conn *a, enum page page, int head_only)
{
	int n;
	struct worker *ws = worker_all(&n);
	a->which = page;
	a->head_only = head_only;
	if (a->w->top == NULL || (a->gens = calloc((size_t)n, sizeof(*a->gens))) == NULL) {
		if (page == P_TOP) {
			text(a, 503, "no top talkers: the admin listener came with a reload (restart to count them)",
			     head_only);
			return;
		}
		expo_init(&a->page, METRICS_MAX);
		scrape_render(&a->page);
		answer(a, 200, "text/plain; version=0.0.4; charset=utf-8", a->page.buf, a->page.len, head_only);
		return;
	}
	for (int i = 0; i < n; i++)
		a->gens[i] = top_ask(ws[i].top);
	worker_nudge_all();
	top_serve(a->w->top); /* this worker answers at once */
	a->gather_until = loop_now(a->w->loop) + GATHER_MAX_MS;
	a->poll.cb = on_poll;
	timer_set(a->w->loop, &a->poll, loop_now(a->w->loop) + (all_answered(a) ? 0 : GATHER_POLL_MS));
	a->busy = 1; /* on_poll answers */
}

static void route(struct admin_conn *a, const char *method, const char *path)
{
	int head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		text(a, 405, "only GET and HEAD", 0);
		return;
	}
	if (strcmp(path, "/healthz") == 0)
		healthz(a, head_only);
	else if (strcmp(path, "/metrics") == 0)
		gather(a, P_METRICS, head_only);
	else if (strcmp(path, "/top") == 0)
		gather(a, P_TOP, head_only);
	else if (strcmp(path, "/") == 0)
		answer(a, 200, "text/html; charset=utf-8", admin_page, strlen(admin_page), head_only);
	else
		text(a, 404, "not found: try /, /metrics, /top or /healthz", head_only);
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
	while (!a->answered && !a->busy) {
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
	if (!a->answered)
		return; /* the request, or the workers' snapshots, still to come */
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
