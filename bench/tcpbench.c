/* tcpbench: raw TCP throughput and idle-tunnel load, through a CONNECT
 * proxy or straight to the sink.
 *
 *   tcpbench sink PORTFILE             listen on 127.0.0.1:0, discard everything
 *   tcpbench send ADDR:PORT BYTES N [PROXY_ADDR:PORT]
 *                                      N streams of BYTES each; with a proxy,
 *                                      each stream first says CONNECT ADDR:PORT
 *                                      and waits for the 200; prints GB/s
 *   tcpbench idle ADDR:PORT N [PROXY_ADDR:PORT]
 *                                      open N tunnels (CONNECT through the
 *                                      proxy, or plain connections to ADDR:PORT
 *                                      without one), print "ready", hold them
 *                                      until stdin closes
 *   tcpbench held ADDR:PORT N TARGET   open N connections to ADDR:PORT, send one
 *                                      GET TARGET (absolute URL for a proxy, a
 *                                      path for a server) on each and read its
 *                                      answer, print "ready kept=K closed=C"
 *                                      (C: the server closed them),
 *                                      hold them until stdin closes
 *   tcpbench paced ADDR:PORT N SECS TARGET
 *                                      open N keep-alive connections, then for
 *                                      SECS seconds each sends GET TARGET once a
 *                                      second (their phases spread evenly over
 *                                      the second) and reads the answer; prints
 *                                      "requests=R errors=E late=L p50=MS p99=MS
 *                                      max=MS first_p99=MS dial_s=S
 *                                      connect_max_ms=MS" (p50..max: the
 *                                      requests after each connection's
 *                                      first, the steady state; first_p99:
 *                                      the first ones, which include the
 *                                      proxy accepting the connection; late:
 *                                      a second went by before the answer to
 *                                      the one before came)
 *
 * Loopback only; every loop is bounded by BYTES, N or stdin.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static void die(const char *what)
{
	fprintf(stderr, "tcpbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "tcpbench: bad address %s\n", s);
		exit(2);
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		fprintf(stderr, "tcpbench: bad address %s\n", s);
		exit(2);
	}
}

static int dial(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket");
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == -1)
		die("connect");
	return fd;
}

/* Say CONNECT and read the proxy's answer head; exits unless it is 200. */
static void tunnel(int fd, const char *target)
{
	char req[256], resp[1024];
	int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target);
	if (write(fd, req, (size_t)n) != n)
		die("write CONNECT");
	size_t got = 0;
	while (got < sizeof(resp) - 1) {
		ssize_t r = read(fd, resp + got, 1); /* byte by byte: never eat tunnel bytes */
		if (r <= 0)
			die("read CONNECT answer");
		got++;
		resp[got] = '\0';
		if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	if (strncmp(resp, "HTTP/1.1 200", 12) != 0 && strncmp(resp, "HTTP/1.0 200", 12) != 0) {
		fprintf(stderr, "tcpbench: proxy answered: %.40s\n", resp);
		exit(1);
	}
}

/* One GET on fd; reads the answer head and its Content-Length body.
 * Exits unless it is a 2xx with a length. */
static void get_once(int fd, const char *target)
{
	char req[512], resp[4096];
	const char *host = "localhost";
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tcpbench\r\n\r\n",
			 target, host);
	if (write(fd, req, (size_t)n) != n)
		die("write GET");
	size_t got = 0;
	char *end = NULL;
	while (end == NULL) {
		if (got >= sizeof(resp) - 1) {
			fprintf(stderr, "tcpbench: answer head too long\n");
			exit(1);
		}
		ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
		if (r <= 0)
			die("read answer");
		got += (size_t)r;
		resp[got] = '\0';
		end = strstr(resp, "\r\n\r\n");
	}
	if (strncmp(resp, "HTTP/1.1 2", 10) != 0 && strncmp(resp, "HTTP/1.0 2", 10) != 0) {
		fprintf(stderr, "tcpbench: server answered: %.60s\n", resp);
		exit(1);
	}
	long long len = -1;
	for (char *line = strstr(resp, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
		char *field = line + 2, *eol = strstr(field, "\r\n");
		*eol = '\0'; /* restored below: the search goes on from this CRLF */
		if (strncasecmp(field, "content-length:", 15) == 0)
			len = atoll(field + 15);
		*eol = '\r';
	}
	if (len < 0) {
		fprintf(stderr, "tcpbench: answer without Content-Length\n");
		exit(1);
	}
	long long left = len - (long long)(got - (size_t)(end + 4 - resp));
	while (left > 0) {
		ssize_t r = read(fd, resp, left < (long long)sizeof(resp) ? (size_t)left : sizeof(resp));
		if (r <= 0)
			die("read body");
		left -= r;
	}
}

static void *sink_conn(void *arg)
{
	int fd = (int)(long)arg;
	char *buf = malloc(CHUNK);
	while (buf && read(fd, buf, CHUNK) > 0)
		;
	free(buf);
	close(fd); /* after EOF: the sender's wait for our close ends the timing */
	return NULL;
}

__attribute__((noreturn)) static void sink(const char *portfile)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(fd, 4096) == -1)
		die("listen");
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	FILE *f = fopen(portfile, "w");
	if (f == NULL)
		die("portfile");
	fprintf(f, "%u\n", ntohs(a.sin_port));
	fclose(f);
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		pthread_t t;
		if (pthread_create(&t, NULL, sink_conn, (void *)(long)c) != 0)
			close(c);
		else
			pthread_detach(t);
	}
}

struct stream {
	struct sockaddr_in target, proxy;
	const char *target_text;
	int via_proxy;
	unsigned long long bytes;
};

static void *send_stream(void *arg)
{
	struct stream *st = arg;
	int fd = dial(st->via_proxy ? &st->proxy : &st->target);
	if (st->via_proxy)
		tunnel(fd, st->target_text);
	char *buf = malloc(CHUNK);
	if (buf == NULL)
		die("malloc");
	memset(buf, 'x', CHUNK);
	unsigned long long left = st->bytes;
	while (left > 0) {
		ssize_t w = write(fd, buf, left < CHUNK ? left : CHUNK);
		if (w <= 0)
			die("write");
		left -= (unsigned long long)w;
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, CHUNK) > 0) /* until the sink has it all and closes */
		;
	free(buf);
	close(fd);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- paced: many keep-alive clients, each asking once a second ----------------- */

struct pconn {
	int fd;
	int busy;		/* a request is out */
	int first;		/* ... and it is the connection's first */
	double sent;		/* when it went */
	size_t got;		/* bytes of its answer read */
	long long need;		/* head + body, once the head is in; -1 before */
	char buf[1024];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Read what fd has of its answer; 1 when complete, 0 for more, -1 on error. */
static int paced_read(struct pconn *c)
{
	for (;;) {
		char tmp[4096];
		char *into = c->need < 0 ? c->buf + c->got : tmp;
		size_t room = c->need < 0 ? sizeof(c->buf) - 1 - c->got : sizeof(tmp);
		if (room == 0)
			return -1;
		ssize_t r = recv(c->fd, into, room, MSG_DONTWAIT);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		c->got += (size_t)r;
		if (c->need < 0) {
			c->buf[c->got] = '\0';
			char *end = strstr(c->buf, "\r\n\r\n");
			if (end == NULL)
				continue;
			if (strncmp(c->buf, "HTTP/1.1 2", 10) != 0)
				return -1;
			char *cl = strcasestr(c->buf, "\r\ncontent-length:");
			if (cl == NULL || cl > end)
				return -1;
			c->need = (long long)(end + 4 - c->buf) + atoll(cl + 17);
		}
		if ((long long)c->got >= c->need)
			return (long long)c->got == c->need ? 1 : -1;
	}
}

static int paced(const char *addr, int n, int secs, const char *target)
{
	struct sockaddr_in to;
	parse_addr(addr, &to);
	struct pconn *cs = calloc((size_t)n, sizeof(*cs));
	size_t cap = (size_t)n * (size_t)(secs + 1);
	double *lat = malloc(cap * sizeof(double)), *flat = malloc((size_t)n * sizeof(double));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (cs == NULL || lat == NULL || flat == NULL || ep == -1)
		die("setup");
	double t0 = now_s(), connect_max = 0;
	for (int i = 0; i < n; i++) {
		double t = now_s();
		cs[i].fd = dial(&to);
		double d = now_s() - t;
		connect_max = d > connect_max ? d : connect_max;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
	double dial_s = now_s() - t0;
	char req[512];
	int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tcpbench\r\n\r\n", target);
	size_t nlat = 0, nflat = 0;
	long errors = 0, late = 0, sent = 0;
	double start = now_s(), end = start + secs;
	long long next = 0; /* the next send: connection next % n, in round next / n */
	for (;;) {
		double now = now_s();
		/* every send that is due: connection i of round k at start + k + i/n */
		while (next < (long long)secs * n) {
			double due = start + (double)(next / n) + (double)(next % n) / n;
			if (due > now)
				break;
			struct pconn *c = &cs[next % n];
			next++;
			if (c->fd < 0)
				continue;
			if (c->busy) {
				late++;
				continue;
			}
			if (send(c->fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
				errors++;
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->busy = 1;
			c->first = next <= n; /* (next was advanced above) */
			c->sent = now;
			c->got = 0;
			c->need = -1;
			sent++;
		}
		if (now >= end + 2 || (next >= (long long)secs * n && nlat + nflat + (size_t)errors >= (size_t)sent))
			break;
		double due = next < (long long)secs * n ? start + (double)(next / n) + (double)(next % n) / n : end + 2;
		int wait_ms = (int)((due - now) * 1000);
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, wait_ms < 0 ? 0 : wait_ms > 100 ? 100 : wait_ms);
		double at = now_s();
		for (int j = 0; j < k; j++) {
			struct pconn *c = &cs[evs[j].data.u32];
			if (c->fd < 0)
				continue;
			int r = paced_read(c);
			if (r == 0)
				continue;
			if (r == 1 && c->busy && c->first && nflat < (size_t)n) {
				flat[nflat++] = (at - c->sent) * 1000;
				c->busy = 0;
				continue;
			}
			if (r == 1 && c->busy && !c->first && nlat < cap) {
				lat[nlat++] = (at - c->sent) * 1000;
				c->busy = 0;
				continue;
			}
			if (errors++ == 0)
				fprintf(stderr, "tcpbench: first error: %s, answer so far: %.80s\n",
					r == 1 ? "an answer nobody asked for" : "a bad or cut answer", c->buf);
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->fd = -1;
		}
	}
	qsort(lat, nlat, sizeof(double), cmp_double);
	qsort(flat, nflat, sizeof(double), cmp_double);
	double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)((double)(nlat - 1) * 0.99)] : 0,
	       mx = nlat ? lat[nlat - 1] : 0, fp99 = nflat ? flat[(size_t)((double)(nflat - 1) * 0.99)] : 0;
	printf("requests=%zu errors=%ld late=%ld p50=%.3f p99=%.3f max=%.3f first_p99=%.3f dial_s=%.2f "
	       "connect_max_ms=%.1f\n",
	       nlat + nflat, errors, late, p50, p99, mx, fp99, dial_s, connect_max * 1000);
	fflush(stdout);
	for (int i = 0; i < n; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	free(cs);
	free(lat);
	free(flat);
	close(ep);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "sink") == 0)
		sink(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "send") == 0) {
		int n = atoi(argv[4]);
		if (n < 1 || n > 256)
			return 2;
		struct stream *st = calloc((size_t)n, sizeof(*st));
		pthread_t *t = calloc((size_t)n, sizeof(*t));
		for (int i = 0; i < n; i++) {
			parse_addr(argv[2], &st[i].target);
			st[i].target_text = argv[2];
			st[i].bytes = strtoull(argv[3], NULL, 10);
			if (argc >= 6) {
				parse_addr(argv[5], &st[i].proxy);
				st[i].via_proxy = 1;
			}
		}
		double t0 = now_s();
		for (int i = 0; i < n; i++)
			pthread_create(&t[i], NULL, send_stream, &st[i]);
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		double secs = now_s() - t0;
		printf("%.3f GB/s (%d x %llu bytes in %.3f s)\n", (double)st[0].bytes * n / secs / 1e9, n,
		       st[0].bytes, secs);
		free(st);
		free(t);
		return 0;
	}
	if (argc >= 4 && (strcmp(argv[1], "idle") == 0 || (argc >= 5 && strcmp(argv[1], "held") == 0))) {
		int n = atoi(argv[3]);
		int held = strcmp(argv[1], "held") == 0, closed = 0;
		struct sockaddr_in to;
		parse_addr(argv[argc >= 5 && !held ? 4 : 2], &to);
		int *fds = calloc((size_t)n, sizeof(int));
		for (int i = 0; i < n; i++) {
			fds[i] = dial(&to);
			if (held)
				get_once(fds[i], argv[4]);
			else if (argc >= 5)
				tunnel(fds[i], argv[2]);
		}
		if (held) { /* which the server closed (some do, without saying so) */
			usleep(200000);
			closed = 0;
			for (int i = 0; i < n; i++) {
				char c;
				closed += recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
			}
		}
		printf("ready kept=%d closed=%d\n", n - closed, closed);
		fflush(stdout);
		char c;
		while (read(0, &c, 1) > 0)
			;
		for (int i = 0; i < n; i++)
			close(fds[i]);
		free(fds);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "paced") == 0)
		return paced(argv[2], atoi(argv[3]), atoi(argv[4]), argv[5]);
	fprintf(stderr, "usage: see the comment at the top of bench/tcpbench.c\n");
	return 2;
}
