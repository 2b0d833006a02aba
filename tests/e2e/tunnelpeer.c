/*
 * tunnelpeer.c - both ends of a tunnel for sluice's CONNECT/Upgrade tests.
 *
 *   tunnelpeer serve  -f PORTFILE [-l ADDR] [-R REPORT] [-H] [-G N] [-e]
 *                     [-K N] [-o ORDER] [-s N] [-r N] [-d MS] [-T SECS]
 *   tunnelpeer client -p PROXYPORT -t HOST:PORT [-a PROXYADDR] [-u] [-E N] [-X]
 *                     [-o ORDER] [-s N] [-r N] [-S STATUS] [-P N:MS] [-I MS]
 *                     [-T SECS]
 *
 * After the handshake (the client's CONNECT or Upgrade request, the proxy's
 * 200 or the server's 101) each end sends a deterministic stream and checks
 * the one it receives byte for byte: client -> server is stream 1, server ->
 * client is stream 2.  Byte k of a stream is a function of (stream, k), so a
 * lost, duplicated, reordered or altered byte shows at its offset.  An end
 * that has sent everything shuts its write side; it is done when it has also
 * read EOF.  Sizes take K, M or G (powers of 1024).
 *
 *   -o both      send and receive at the same time (default)
 *   -o send      send everything, shut the write side, then read until EOF
 *   -o recv      read until EOF, wait -d MS, then send everything and shut
 *   -s N / -r N  bytes to send / bytes that must arrive before EOF (-1: any)
 *
 * client only:
 *   -u           an Upgrade request ("GET http://HOST:PORT/ HTTP/1.1",
 *                "Upgrade: sluicetest", "Connection: Upgrade"), wants 101
 *   -E N         the first N bytes of stream 1 go in the same write() as the
 *                request head (a ClientHello behind CONNECT)
 *   -X           shut the write side right after that write, before any
 *                answer (wants -E equal to -s)
 *   -S STATUS    the status expected (200 for CONNECT, 101 for -u); a
 *                different one prints the whole response and exits 2
 *   -P N:MS      ping: N times send one byte, wait for it to come back
 *                (server -e), then pause MS; the exchange is skipped
 *   -I MS        idle: send nothing and wait (at most MS) for the proxy to
 *                close; prints "closed after N ms" (after the pings, if any)
 * server only:
 *   -H           read an HTTP request head first and answer 101, with the
 *                first -G N bytes of stream 2 in the same write()
 *   -e           echo everything until EOF instead of the exchange
 *   -K N         read N bytes, then close with a reset instead
 *   -R FILE      append lines per connection: "conn conn=N" on accept,
 *                "head conn=N ..." (-H), "eof conn=N recv=B" when the peer's
 *                EOF arrives, and "done conn=N ... OK|FAILED" at the end
 *
 * The client prints "status: ..." and "done recv=N ok sent=M" and exits 0
 * when every check passed, 1 otherwise.  Everything is bounded by -T (default
 * 60 s).  Loopback only by intent; libc + pthread, Linux.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256u * 1024u)
#define HEAD_MAX (64u * 1024u)

enum order { O_BOTH, O_SEND, O_RECV };

struct opts {
	int server;
	const char *portfile, *listen_addr, *report, *target, *proxy_addr;
	int proxy_port;
	int upgrade, http101, echo;
	uint64_t early, greet;	/* -E, -G */
	enum order order;
	uint64_t send_n;
	int64_t recv_n;		/* -1: any */
	int status;		/* -S; 0: by mode */
	int delay_ms;
	int shut_early;		/* -X */
	int64_t reset_after;	/* -K; -1: never */
	int ping_n, ping_ms;
	int idle_ms;		/* -1: not idle mode */
	int timeout_s;
};

static struct opts O = {
	.listen_addr = "127.0.0.1",
	.proxy_addr = "127.0.0.1",
	.order = O_BOTH,
	.recv_n = -1,
	.idle_ms = -1,
	.reset_after = -1,
	.timeout_s = 60,
};

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tunnelpeer: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- the streams -------------------------------------------------------------- */

/* Word i of stream `seed`: splitmix64 of (seed, i). */
static inline uint64_t pat_word(uint64_t seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xD1B54A32D192ED03ull;
	x ^= x >> 30;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 27;
	x *= 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* Bytes [off, off + len) of stream seed into p (little-endian words). */
static void pat_fill(uint64_t seed, uint64_t off, uint8_t *p, size_t len)
{
	while (len > 0 && (off & 7)) {
		*p++ = (uint8_t)(pat_word(seed, off >> 3) >> (8 * (off & 7)));
		off++;
		len--;
	}
	while (len >= 8) {
		uint64_t w = htole64(pat_word(seed, off >> 3));
		memcpy(p, &w, 8);
		p += 8;
		off += 8;
		len -= 8;
	}
	while (len > 0) {
		*p++ = (uint8_t)(pat_word(seed, off >> 3) >> (8 * (off & 7)));
		off++;
		len--;
	}
}

/* The receiving end of a stream. */
struct checker {
	uint64_t seed, got;
	int64_t bad_at;		/* first wrong offset, -1: none */
	uint8_t first[32];
	size_t nfirst;
	uint8_t *expect;
};

static void check_init(struct checker *c, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->seed = seed;
	c->bad_at = -1;
	c->expect = malloc(CHUNK);
	if (c->expect == NULL)
		die("out of memory");
}

static void check_feed(struct checker *c, const uint8_t *p, size_t n)
{
	size_t done = 0;
	while (done < n && c->bad_at < 0) {
		size_t k = n - done < CHUNK ? n - done : CHUNK;
		pat_fill(c->seed, c->got + done, c->expect, k);
		if (memcmp(c->expect, p + done, k) != 0) {
			size_t i = 0;
			while (c->expect[i] == p[done + i])
				i++;
			c->bad_at = (int64_t)(c->got + done + i);
		}
		done += k;
	}
	for (size_t i = 0; c->nfirst < sizeof(c->first) && i < n; i++)
		c->first[c->nfirst++] = p[i];
	c->got += n;
}

/* "ok" when every byte matched and exactly want arrived. */
static int check_ok(const struct checker *c, int64_t want)
{
	return c->bad_at < 0 && (want < 0 || c->got == (uint64_t)want);
}

static void check_describe(const struct checker *c, int64_t want, char *out, size_t len)
{
	char hex[2 * sizeof(c->first) + 1];
	for (size_t i = 0; i < c->nfirst; i++)
		snprintf(hex + 2 * i, 3, "%02x", c->first[i]);
	hex[2 * c->nfirst] = '\0';
	if (c->bad_at >= 0)
		snprintf(out, len, "recv=%" PRIu64 " bad@%" PRId64 " first=%s", c->got, c->bad_at, hex);
	else if (want >= 0 && c->got != (uint64_t)want)
		snprintf(out, len, "recv=%" PRIu64 " short(want %" PRId64 ") first=%s", c->got, want, hex);
	else
		snprintf(out, len, "recv=%" PRIu64 " ok first=%s", c->got, hex);
}

/* --- socket helpers -------------------------------------------------------------- */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		die("fcntl: %s", strerror(errno));
}

/* Wait for events on fd until the deadline; 0 on timeout. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)(deadline - now));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("poll: %s", strerror(errno));
		if (n == 0)
			return 0;
		return p.revents;
	}
}

/* Send all of p (non-blocking fd); -1 on error or deadline. */
static int send_all(int fd, const void *p, size_t n, uint64_t deadline)
{
	const uint8_t *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w > 0) {
			c += w;
			n -= (size_t)w;
		} else if (w == -1 && errno == EINTR) {
			continue;
		} else if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(fd, POLLOUT, deadline))
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Read an HTTP head (through CRLFCRLF) into buf; *extra: bytes behind it.
 * Returns the head's length, 0 at EOF before a full head, -1 on error. */
static ssize_t read_head(int fd, char *buf, size_t cap, size_t *total, uint64_t deadline)
{
	size_t n = 0;
	for (;;) {
		char *e = n >= 4 ? memmem(buf, n, "\r\n\r\n", 4) : NULL;
		if (e) {
			*total = n;
			return e + 4 - buf;
		}
		if (n == cap)
			return -1;
		ssize_t r = recv(fd, buf + n, cap - n, 0);
		if (r > 0) {
			n += (size_t)r;
		} else if (r == 0) {
			*total = n;
			return 0;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!wait_fd(fd, POLLIN, deadline)) {
				*total = n;
				return -1;
			}
		} else {
			*total = n;
			return -1;
		}
	}
}

/* --- the exchange ------------------------------------------------------------------ */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct side {
	int fd;
	uint64_t send_seed;
	uint64_t sent, send_n;
	uint8_t *sbuf;
	uint64_t sbuf_off;	/* stream offset of sbuf[0] */
	size_t sbuf_len;
	int shut, eof, err;
	unsigned long id;	/* server: the connection's number, for report() */
	struct checker in;
	uint8_t *rbuf;
};

static void side_init(struct side *s, int fd, uint64_t send_seed, uint64_t recv_seed, uint64_t send_n)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->send_seed = send_seed;
	s->send_n = send_n;
	s->sbuf = malloc(CHUNK);
	s->rbuf = malloc(CHUNK);
	if (s->sbuf == NULL || s->rbuf == NULL)
		die("out of memory");
	check_init(&s->in, recv_seed);
}

static void side_free(struct side *s)
{
	free(s->sbuf);
	free(s->rbuf);
	free(s->in.expect);
	s->sbuf = s->rbuf = s->in.expect = NULL;
}

/* Send what the socket takes now; shut the write side when all is out.
 * Returns 1 when something happened. */
static int side_send(struct side *s)
{
	int did = 0;
	for (int round = 0; s->sent < s->send_n; round++) {
		if (round == 16)
			return 1; /* let the receiving side run */
		if (s->sent >= s->sbuf_off + s->sbuf_len) {
			uint64_t left = s->send_n - s->sent;
			s->sbuf_off = s->sent;
			s->sbuf_len = left < CHUNK ? (size_t)left : CHUNK;
			pat_fill(s->send_seed, s->sbuf_off, s->sbuf, s->sbuf_len);
		}
		size_t at = (size_t)(s->sent - s->sbuf_off);
		ssize_t w = send(s->fd, s->sbuf + at, s->sbuf_len - at, MSG_NOSIGNAL);
		if (w > 0) {
			s->sent += (uint64_t)w;
			did = 1;
		} else if (w == -1 && errno == EINTR) {
			continue;
		} else if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return did;
		} else {
			fprintf(stderr, "tunnelpeer: send: %s\n", strerror(errno));
			s->err = 1;
			return 1;
		}
	}
	if (!s->shut) {
		shutdown(s->fd, SHUT_WR);
		s->shut = 1;
		did = 1;
	}
	return did;
}

/* Read what is there into the checker.  Returns 1 when something happened. */
static int side_recv(struct side *s)
{
	int did = 0;
	/* bounded, so that a busy direction cannot starve our sending */
	for (int round = 0; round < 16 && !s->eof; round++) {
		ssize_t r = recv(s->fd, s->rbuf, CHUNK, 0);
		if (r > 0) {
			check_feed(&s->in, s->rbuf, (size_t)r);
			did = 1;
		} else if (r == 0) {
			s->eof = 1;
			if (s->id)
				report("eof conn=%lu recv=%" PRIu64, s->id, s->in.got);
			return 1;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return did;
		} else {
			fprintf(stderr, "tunnelpeer: recv: %s\n", strerror(errno));
			s->err = 1;
			s->eof = 1;
			return 1;
		}
	}
	return did;
}

/* Run the exchange in the given order.  0 when both directions ended in
 * time, -1 on timeout or a socket error. */
static int side_run(struct side *s, enum order order, int delay_ms, uint64_t deadline)
{
	for (;;) {
		if (s->err)
			return -1;
		int send_now = order != O_RECV || s->eof;
		int recv_now = order != O_SEND || s->shut;
		if (order == O_RECV && s->eof && delay_ms > 0) {
			uint64_t until = now_ms() + (uint64_t)delay_ms;
			while (now_ms() < until)
				poll(NULL, 0, (int)(until - now_ms()));
			delay_ms = 0;
		}
		int did = 0;
		if (send_now && !s->shut)
			did |= side_send(s);
		if (recv_now && !s->eof)
			did |= side_recv(s);
		if (s->err)
			return -1;
		if (s->shut && s->eof)
			return 0;
		if (did)
			continue;
		short ev = 0;
		if (send_now && !s->shut)
			ev |= POLLOUT;
		if (recv_now && !s->eof)
			ev |= POLLIN;
		if (!wait_fd(s->fd, ev, deadline)) {
			fprintf(stderr, "tunnelpeer: timed out (sent %" PRIu64 "/%" PRIu64 ", received %" PRIu64
					", eof %d)\n", s->sent, s->send_n, s->in.got, s->eof);
			return -1;
		}
	}
}

/* --- server ------------------------------------------------------------------------- */

static void report(const char *fmt, ...)
{
	if (O.report == NULL)
		return;
	pthread_mutex_lock(&report_lock);
	FILE *f = fopen(O.report, "a");
	if (f) {
		va_list ap;
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fputc('\n', f);
		fclose(f);
	}
	pthread_mutex_unlock(&report_lock);
}

/* The value of header name in a head, or "-" (into out). */
static void header_value(const char *head, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = head, *end = head + len;
	snprintf(out, outlen, "-");
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			snprintf(out, outlen, "%.*s", (int)(eol - v), v);
			return;
		}
		p = eol + 2;
	}
}

static void echo_conn(int fd, unsigned long id, uint64_t deadline)
{
	char buf[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r > 0) {
			if (send_all(fd, buf, (size_t)r, deadline) == -1)
				break;
			total += (uint64_t)r;
		} else if (r == 0) {
			shutdown(fd, SHUT_WR);
			report("done conn=%lu echo=%" PRIu64 " eof", id, total);
			return;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (!wait_fd(fd, POLLIN, deadline))
				break;
		} else {
			break;
		}
	}
	report("done conn=%lu echo=%" PRIu64 " error", id, total);
}

/* Read until at least n bytes came, then close with a reset (SO_LINGER 0).
 * One recv() at a time: reading on while the peer keeps sending could take
 * its whole stream first. */
static void reset_conn(struct side *s, uint64_t n, uint64_t deadline)
{
	while (s->in.got < n) {
		ssize_t r = recv(s->fd, s->rbuf, CHUNK, 0);
		if (r > 0)
			check_feed(&s->in, s->rbuf, (size_t)r);
		else if (r == -1 && errno == EINTR)
			continue;
		else if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(s->fd, POLLIN, deadline))
			continue;
		else
			break;
	}
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	report("done conn=%lu reset after recv=%" PRIu64 "%s", s->id, s->in.got, s->in.got >= n ? " OK" : " FAILED");
}

struct conn_arg {
	int fd;
	unsigned long id;
};

static void *serve_conn(void *arg)
{
	struct conn_arg *ca = arg;
	int fd = ca->fd;
	unsigned long id = ca->id;
	free(ca);
	uint64_t deadline = now_ms() + (uint64_t)O.timeout_s * 1000;
	set_nonblock(fd);
	report("conn conn=%lu", id);
	struct side s;
	side_init(&s, fd, 2, 1, O.send_n);
	s.id = id;
	if (O.http101) {
		char *head = malloc(HEAD_MAX);
		size_t total = 0;
		if (head == NULL)
			die("out of memory");
		ssize_t hl = read_head(fd, head, HEAD_MAX, &total, deadline);
		if (hl <= 0) {
			report("done conn=%lu no request head", id);
			goto out;
		}
		char upg[128], conn[128];
		header_value(head, (size_t)hl, "Upgrade", upg, sizeof(upg));
		header_value(head, (size_t)hl, "Connection", conn, sizeof(conn));
		const char *eol = memmem(head, (size_t)hl, "\r\n", 2);
		report("head conn=%lu line=\"%.*s\" upgrade=\"%s\" connection=\"%s\"", id, (int)(eol - head), head,
		       upg, conn);
		static const char h101[] =
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: sluicetest\r\nConnection: Upgrade\r\n\r\n";
		uint64_t g = O.greet < O.send_n ? O.greet : O.send_n;
		char *w = malloc(sizeof(h101) + g);
		if (w == NULL)
			die("out of memory");
		memcpy(w, h101, sizeof(h101) - 1);
		pat_fill(2, 0, (uint8_t *)w + sizeof(h101) - 1, (size_t)g);
		if (send_all(fd, w, sizeof(h101) - 1 + g, deadline) == -1) {
			report("done conn=%lu cannot send 101", id);
			free(w);
			goto out;
		}
		free(w);
		s.sent = g;
		if ((size_t)hl < total)
			check_feed(&s.in, (uint8_t *)head + hl, total - (size_t)hl);
		free(head);
	}
	if (O.echo) {
		echo_conn(fd, id, deadline);
		goto out;
	}
	if (O.reset_after >= 0) {
		reset_conn(&s, (uint64_t)O.reset_after, deadline);
		goto out;
	}
	int rc = side_run(&s, O.order, O.delay_ms, deadline);
	char desc[256];
	check_describe(&s.in, O.recv_n, desc, sizeof(desc));
	report("done conn=%lu %s sent=%" PRIu64 " eof=%d%s%s", id, desc, s.sent, s.eof,
	       check_ok(&s.in, O.recv_n) && rc == 0 ? " OK" : " FAILED", s.err ? " error" : "");
out:
	close(fd);
	side_free(&s);
	return NULL;
}

static int run_server(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, O.listen_addr, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		sl = sizeof(*a4);
	} else if (inet_pton(AF_INET6, O.listen_addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		sl = sizeof(*a6);
	} else {
		die("bad listen address %s", O.listen_addr);
	}
	int ls = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (ls == -1 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(ls, (struct sockaddr *)&ss, sl) == -1 || listen(ls, 64) == -1)
		die("listen on %s: %s", O.listen_addr, strerror(errno));
	sl = sizeof(ss);
	if (getsockname(ls, (struct sockaddr *)&ss, &sl) == -1)
		die("getsockname: %s", strerror(errno));
	int port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", O.portfile);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 || rename(tmp, O.portfile) == -1)
		die("cannot write %s", O.portfile);
	unsigned long next_id = 1;
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		struct conn_arg *ca = malloc(sizeof(*ca));
		if (ca == NULL)
			die("out of memory");
		ca->fd = fd;
		ca->id = next_id++;
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &at, serve_conn, ca) != 0)
			die("pthread_create failed");
		pthread_attr_destroy(&at);
	}
}

/* --- client ------------------------------------------------------------------------- */

/* Wait (at most ms) for the proxy to end the connection: EOF or a reset.
 * Returns the time it took, or -1 when it stayed open. */
static int64_t wait_close(int fd, int ms)
{
	uint64_t start = now_ms(), deadline = start + (uint64_t)ms;
	char buf[4096];
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return (int64_t)(now_ms() - start);
		if (r > 0) {
			fprintf(stderr, "tunnelpeer: %zd unexpected bytes while idle\n", r);
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (!wait_fd(fd, POLLIN, deadline))
			return -1;
	}
}

static int client_exchange(struct side *s, uint64_t deadline);

static int run_client(void)
{
	uint64_t deadline = now_ms() + (uint64_t)O.timeout_s * 1000;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)O.proxy_port) };
	if (inet_pton(AF_INET, O.proxy_addr, &sa.sin_addr) != 1)
		die("bad proxy address %s", O.proxy_addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("connect to the proxy: %s", strerror(errno));

	/* The head and the early bytes in one write(). */
	char head[1024];
	int hl = O.upgrade ? snprintf(head, sizeof(head),
				      "GET http://%s/ HTTP/1.1\r\nHost: %s\r\nUpgrade: sluicetest\r\n"
				      "Connection: Upgrade\r\n\r\n", O.target, O.target)
			   : snprintf(head, sizeof(head), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", O.target,
				      O.target);
	uint64_t early = O.early < O.send_n ? O.early : O.send_n;
	char *w = malloc((size_t)hl + early);
	if (w == NULL)
		die("out of memory");
	memcpy(w, head, (size_t)hl);
	pat_fill(1, 0, (uint8_t *)w + hl, (size_t)early);
	ssize_t n = send(fd, w, (size_t)hl + early, MSG_NOSIGNAL);
	if (n != (ssize_t)((size_t)hl + early))
		die("the head and %" PRIu64 " early bytes did not go in one write (%zd)", early, n);
	free(w);
	if (O.shut_early) {
		if (early != O.send_n)
			die("-X wants -E equal to -s");
		shutdown(fd, SHUT_WR);
	}
	set_nonblock(fd);

	char *resp = malloc(HEAD_MAX);
	size_t total = 0;
	if (resp == NULL)
		die("out of memory");
	ssize_t rl = read_head(fd, resp, HEAD_MAX, &total, deadline);
	int want = O.status ? O.status : O.upgrade ? 101 : 200;
	int status = 0;
	if (rl > 0)
		sscanf(resp, "HTTP/1.%*d %d", &status);
	char *eol = rl > 0 ? memmem(resp, (size_t)rl, "\r\n", 2) : NULL;
	printf("status: %.*s\n", eol ? (int)(eol - resp) : 0, resp);
	if (status != want) {
		/* show the whole answer */
		for (;;) {
			if (total == HEAD_MAX)
				break;
			ssize_t r = recv(fd, resp + total, HEAD_MAX - total, 0);
			if (r > 0)
				total += (size_t)r;
			else if (r == -1 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline))
				continue;
			else
				break;
		}
		printf("unexpected answer (want %d):\n", want);
		fwrite(resp, 1, total, stdout);
		free(resp);
		close(fd);
		return 2;
	}
	fflush(stdout);

	struct side s;
	side_init(&s, fd, 1, 2, O.send_n);
	s.sent = early;
	s.shut = O.shut_early;
	if ((size_t)rl < total)
		check_feed(&s.in, (uint8_t *)resp + rl, total - (size_t)rl);
	free(resp);
	int rc = client_exchange(&s, deadline);
	side_free(&s);
	close(fd);
	return rc;
}

/* After the handshake: pings, idle wait, or the exchange.  0: all good. */
static int client_exchange(struct side *s, uint64_t deadline)
{
	int fd = s->fd;
	if (O.ping_n > 0 || O.idle_ms >= 0) {
		if (s->in.got > 0) {
			printf("unexpected bytes behind the head\n");
			return 1;
		}
		for (int i = 0; i < O.ping_n; i++) {
			char c = 'p', r;
			if (send_all(fd, &c, 1, deadline) == -1) {
				printf("ping %d: send failed: %s\n", i, strerror(errno));
				return 1;
			}
			for (;;) {
				ssize_t k = recv(fd, &r, 1, 0);
				if (k == 1)
					break;
				if (k == -1 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline))
					continue;
				printf("ping %d: no echo (%s)\n", i, k == 0 ? "closed" : strerror(errno));
				return 1;
			}
			uint64_t until = now_ms() + (uint64_t)O.ping_ms;
			while (now_ms() < until)
				poll(NULL, 0, (int)(until - now_ms()));
		}
		if (O.ping_n > 0)
			printf("pings: %d echoed\n", O.ping_n);
		if (O.idle_ms >= 0) {
			int64_t t = wait_close(fd, O.idle_ms);
			if (t < 0) {
				printf("still open after %d ms\n", O.idle_ms);
				return 1;
			}
			printf("closed after %" PRId64 " ms\n", t);
		}
		return 0;
	}

	int rc = side_run(s, O.order, O.delay_ms, deadline);
	char desc[256];
	check_describe(&s->in, O.recv_n, desc, sizeof(desc));
	int good = rc == 0 && check_ok(&s->in, O.recv_n);
	printf("done %s sent=%" PRIu64 " eof=%d %s\n", desc, s->sent, s->eof, good ? "OK" : "FAILED");
	return good ? 0 : 1;
}

/* --- options ------------------------------------------------------------------------- */

static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		die("bad size %s", s);
	switch (*end) {
	case 'K': v <<= 10; end++; break;
	case 'M': v <<= 20; end++; break;
	case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		die("bad size %s", s);
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: tunnelpeer serve -f PORTFILE [-l ADDR] [-R REPORT] [-H] [-G N] [-e] [-K N]\n"
			"                        [-o ORDER] [-s N] [-r N] [-d MS] [-T SECS]\n"
			"       tunnelpeer client -p PROXYPORT -t HOST:PORT [-a ADDR] [-u] [-E N] [-X] [-o ORDER]\n"
			"                        [-s N] [-r N] [-S STATUS] [-P N:MS] [-I MS] [-T SECS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "serve") == 0)
		O.server = 1;
	else if (strcmp(argv[1], "client") != 0)
		usage();
	int opt;
	optind = 2;
	while ((opt = getopt(argc, argv, "f:l:R:HG:eK:o:s:r:d:T:p:t:a:uE:XS:P:I:")) != -1) {
		switch (opt) {
		case 'f': O.portfile = optarg; break;
		case 'l': O.listen_addr = optarg; break;
		case 'R': O.report = optarg; break;
		case 'H': O.http101 = 1; break;
		case 'G': O.greet = parse_size(optarg); break;
		case 'e': O.echo = 1; break;
		case 'K': O.reset_after = (int64_t)parse_size(optarg); break;
		case 'X': O.shut_early = 1; break;
		case 'o':
			if (strcmp(optarg, "both") == 0)
				O.order = O_BOTH;
			else if (strcmp(optarg, "send") == 0)
				O.order = O_SEND;
			else if (strcmp(optarg, "recv") == 0)
				O.order = O_RECV;
			else
				usage();
			break;
		case 's': O.send_n = parse_size(optarg); break;
		case 'r': O.recv_n = strcmp(optarg, "-1") == 0 ? -1 : (int64_t)parse_size(optarg); break;
		case 'd': O.delay_ms = atoi(optarg); break;
		case 'T': O.timeout_s = atoi(optarg); break;
		case 'p': O.proxy_port = atoi(optarg); break;
		case 't': O.target = optarg; break;
		case 'a': O.proxy_addr = optarg; break;
		case 'u': O.upgrade = 1; break;
		case 'E': O.early = parse_size(optarg); break;
		case 'S': O.status = atoi(optarg); break;
		case 'P':
			if (sscanf(optarg, "%d:%d", &O.ping_n, &O.ping_ms) != 2)
				usage();
			break;
		case 'I': O.idle_ms = atoi(optarg); break;
		default: usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (O.server) {
		if (O.portfile == NULL)
			usage();
		return run_server();
	}
	if (O.target == NULL || O.proxy_port <= 0)
		usage();
	/* a hard bound whatever happens */
	alarm((unsigned)O.timeout_s + 5);
	return run_client();
}
