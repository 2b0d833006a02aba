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
	fprintf(stderr, "usage: see the comment at the top of bench/tcpbench.c\n");
	return 2;
}
