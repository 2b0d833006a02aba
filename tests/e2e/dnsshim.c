/*
 * dnsshim.c - a loopback DNS stand-in for sluice's end-to-end DNS tests.
 *
 * It binds one port on 127.0.0.1 for both UDP and TCP and then either
 *
 *   - stays silent (no -u): every UDP datagram is read and dropped, TCP
 *     connections are accepted and never answered, so a resolver pointed
 *     here really times out instead of failing fast with "refused"; or
 *
 *   - delays (-u PORT -d MS): every UDP datagram is forwarded, MS
 *     milliseconds after it arrived, to 127.0.0.1:PORT (a dnsmasq started
 *     by the test) and the answer is relayed back to the asker.  TCP is
 *     accepted and ignored as above.  This keeps a lookup in flight long
 *     enough for concurrent requests to pile up behind it.
 *
 * With -x QTYPE (forward mode) queries of that type (28: AAAA) are dropped
 * instead of forwarded, like a resolver that loses one family.
 *
 * With -n SUFFIX (forward mode) queries for SUFFIX or any name under it
 * are dropped: those names never answer while the others do.
 *
 * With -t TTL (forward mode) every record in the answer section of a
 * relayed response gets TTL (0..4294967295, so a TTL with the top bit set
 * can be tried; RFC 2181 section 8 says to read it as 0).
 *
 * Every datagram received is logged as one line "t=MS mono=CLOCK udp id=ID
 * type=QTYPE name=QNAME" (MS: milliseconds since the shim started; CLOCK:
 * CLOCK_MONOTONIC in ms, comparable between shims) to the -q file (when
 * given), so a test can count what reached the "server": retransmissions
 * of one query keep its ID.
 *
 * Usage: dnsshim -f PORTFILE [-q QUERYLOG] [-u UPSTREAM_PORT] [-d DELAY_MS]
 *                [-x QTYPE] [-n SUFFIX] [-t TTL]
 *
 * Traffic never leaves 127.0.0.1.  Standalone: libc only, Linux only.
 * Stops on SIGTERM/SIGINT (default action).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PENDING 256   /* queries held or awaiting an upstream answer */
#define MAX_TCP     64    /* silent TCP connections kept open */
#define EXPIRE_MS   10000 /* forget a forwarded query after this */

struct pending {
	int used;
	int fd;                   /* upstream socket, -1 until sent */
	long long send_at;        /* ms */
	long long expire_at;      /* ms */
	struct sockaddr_in from;  /* the asker */
	socklen_t fromlen;
	size_t len;
	unsigned char buf[4096];
};

static struct pending pend[MAX_PENDING];
static long long start_ms;
static int tcp_conns[MAX_TCP];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The QTYPE of a query, or 0 when it cannot be found. */
static unsigned query_type(const unsigned char *p, size_t len)
{
	size_t pos = 12;

	while (pos < len && p[pos] != 0 && p[pos] <= 63)
		pos += 1 + p[pos];
	if (pos + 2 < len && p[pos] == 0)
		return (unsigned)p[pos + 1] << 8 | p[pos + 2];
	return 0;
}

/* One log line for a query: its ID, QTYPE and QNAME (best effort). */
static void log_query(FILE *f, const unsigned char *p, size_t len)
{
	char name[256];
	size_t pos = 12, out = 0;

	if (len < 12) {
		fprintf(f, "t=%lld udp short len=%zu\n", now_ms() - start_ms, len);
		return;
	}
	while (pos < len && p[pos] != 0) {
		size_t l = p[pos];

		if (l > 63 || pos + 1 + l > len || out + l + 2 > sizeof name)
			break;
		if (out > 0)
			name[out++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char ch = p[pos + 1 + i];
			name[out++] = (ch > 0x20 && ch < 0x7f) ? (char)ch : '?';
		}
		pos += 1 + l;
	}
	name[out] = '\0';
	fprintf(f, "t=%lld mono=%lld udp id=%02x%02x type=%u name=%s\n", now_ms() - start_ms,
		now_ms(), p[0], p[1], query_type(p, len), name);
}

/* The QNAME of a query as dotted text (best effort; "" when malformed). */
static void query_name(const unsigned char *p, size_t len, char *name, size_t size)
{
	size_t pos = 12, out = 0;

	name[0] = '\0';
	while (pos < len && p[pos] != 0) {
		size_t l = p[pos];

		if (l > 63 || pos + 1 + l > len || out + l + 2 > size)
			return;
		if (out > 0)
			name[out++] = '.';
		memcpy(name + out, p + pos + 1, l);
		out += l;
		name[out] = '\0';
		pos += 1 + l;
	}
}

/* name is suffix or a name under it (case-insensitive). */
static int under(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n < s || strcasecmp(name + n - s, suffix) != 0)
		return 0;
	return n == s || name[n - s - 1] == '.';
}

/* Skip a possibly compressed name at pos; the position after it, or 0. */
static size_t skip_name(const unsigned char *p, size_t len, size_t pos)
{
	while (pos < len) {
		if (p[pos] == 0)
			return pos + 1;
		if ((p[pos] & 0xc0) == 0xc0)
			return pos + 2 <= len ? pos + 2 : 0;
		if (p[pos] > 63)
			return 0;
		pos += 1 + p[pos];
	}
	return 0;
}

/* Give every answer-section record of response p the TTL ttl. */
static void set_ttls(unsigned char *p, size_t len, unsigned long ttl)
{
	size_t pos = 12;
	unsigned qd, an;

	if (len < 12)
		return;
	qd = (unsigned)p[4] << 8 | p[5];
	an = (unsigned)p[6] << 8 | p[7];
	for (unsigned i = 0; i < qd; i++) {
		pos = skip_name(p, len, pos);
		if (pos == 0 || pos + 4 > len)
			return;
		pos += 4; /* QTYPE, QCLASS */
	}
	for (unsigned i = 0; i < an; i++) {
		pos = skip_name(p, len, pos);
		if (pos == 0 || pos + 10 > len)
			return;
		/* TYPE(2) CLASS(2) TTL(4) RDLENGTH(2) RDATA */
		p[pos + 4] = (unsigned char)(ttl >> 24);
		p[pos + 5] = (unsigned char)(ttl >> 16);
		p[pos + 6] = (unsigned char)(ttl >> 8);
		p[pos + 7] = (unsigned char)ttl;
		pos += 10 + ((size_t)p[pos + 8] << 8 | p[pos + 9]);
	}
}

static int bind_pair(int *udp, int *tcp, int *port)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		struct sockaddr_in sa;
		socklen_t len = sizeof sa;
		int one = 1;

		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (*udp < 0)
			return -1;
		if (bind(*udp, (struct sockaddr *)&sa, sizeof sa) < 0 ||
		    getsockname(*udp, (struct sockaddr *)&sa, &len) < 0) {
			close(*udp);
			return -1;
		}
		*tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (*tcp < 0) {
			close(*udp);
			return -1;
		}
		setsockopt(*tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(*tcp, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		    listen(*tcp, 64) == 0) {
			*port = ntohs(sa.sin_port);
			return 0;
		}
		close(*tcp);
		close(*udp); /* that TCP port is taken: try another pair */
	}
	return -1;
}

static int write_port_file(const char *path, int port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	const char *portfile = NULL, *qlog_path = NULL, *drop_suffix = NULL;
	int upstream = 0, delay = 0, drop_type = -1, opt, udp = -1, tcp = -1, port;
	int set_ttl = 0;
	unsigned long ttl = 0;
	FILE *qlog = NULL;

	start_ms = now_ms();

	while ((opt = getopt(argc, argv, "f:q:u:d:x:n:t:")) != -1) {
		switch (opt) {
		case 'f': portfile = optarg; break;
		case 'q': qlog_path = optarg; break;
		case 'u': upstream = atoi(optarg); break;
		case 'd': delay = atoi(optarg); break;
		case 'x': drop_type = atoi(optarg); break;
		case 'n': drop_suffix = optarg; break;
		case 't': set_ttl = 1; ttl = strtoul(optarg, NULL, 10) & 0xffffffffUL; break;
		default:
			fprintf(stderr, "usage: dnsshim -f PORTFILE [-q QUERYLOG] "
					"[-u UPSTREAM_PORT] [-d DELAY_MS] [-x QTYPE] [-n SUFFIX] [-t TTL]\n");
			return 2;
		}
	}
	if (!portfile || upstream < 0 || upstream > 65535 || delay < 0) {
		fprintf(stderr, "dnsshim: bad arguments\n");
		return 2;
	}
	if (qlog_path) {
		qlog = fopen(qlog_path, "a");
		if (!qlog) {
			perror("dnsshim: query log");
			return 1;
		}
		setvbuf(qlog, NULL, _IOLBF, 0);
	}
	if (bind_pair(&udp, &tcp, &port) < 0) {
		perror("dnsshim: bind");
		return 1;
	}
	for (int i = 0; i < MAX_TCP; i++)
		tcp_conns[i] = -1;
	if (write_port_file(portfile, port) < 0) {
		perror("dnsshim: port file");
		return 1;
	}

	for (;;) {
		struct pollfd pfd[2 + MAX_PENDING];
		int map[2 + MAX_PENDING];
		int n = 0, timeout = -1;
		long long now = now_ms();

		pfd[n].fd = udp; pfd[n].events = POLLIN; map[n++] = -1;
		pfd[n].fd = tcp; pfd[n].events = POLLIN; map[n++] = -1;
		for (int i = 0; i < MAX_PENDING; i++) {
			struct pending *p = &pend[i];
			long long due;

			if (!p->used)
				continue;
			if (p->fd >= 0) {
				pfd[n].fd = p->fd;
				pfd[n].events = POLLIN;
				map[n++] = i;
				due = p->expire_at;
			} else {
				due = p->send_at;
			}
			long long wait = due > now ? due - now : 0;
			if (timeout < 0 || wait < timeout)
				timeout = (int)wait;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("dnsshim: poll");
			return 1;
		}
		now = now_ms();

		if (pfd[0].revents & POLLIN) {
			for (;;) {
				struct pending tmp;
				ssize_t r;

				tmp.fromlen = sizeof tmp.from;
				r = recvfrom(udp, tmp.buf, sizeof tmp.buf, 0,
					     (struct sockaddr *)&tmp.from, &tmp.fromlen);
				if (r < 0)
					break;
				if (qlog)
					log_query(qlog, tmp.buf, (size_t)r);
				if (!upstream)
					continue; /* silent */
				if (drop_type >= 0 &&
				    query_type(tmp.buf, (size_t)r) == (unsigned)drop_type)
					continue; /* this family is lost */
				if (drop_suffix) {
					char qname[256];

					query_name(tmp.buf, (size_t)r, qname, sizeof qname);
					if (under(qname, drop_suffix))
						continue; /* this name never answers */
				}
				for (int i = 0; i < MAX_PENDING; i++) {
					if (pend[i].used)
						continue;
					pend[i] = tmp;
					pend[i].used = 1;
					pend[i].fd = -1;
					pend[i].len = (size_t)r;
					pend[i].send_at = now + delay;
					pend[i].expire_at = now + delay + EXPIRE_MS;
					break;
				}
			}
		}
		if (pfd[1].revents & POLLIN) {
			int c = accept4(tcp, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c >= 0) {
				int slot = -1;
				for (int i = 0; i < MAX_TCP; i++)
					if (tcp_conns[i] < 0) { slot = i; break; }
				if (slot < 0)
					close(c);
				else
					tcp_conns[slot] = c; /* held open, never answered */
			}
		}
		for (int k = 2; k < n; k++) {
			struct pending *p = &pend[map[k]];
			unsigned char ans[4096];
			ssize_t r;

			if (!(pfd[k].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			r = recv(p->fd, ans, sizeof ans, 0);
			if (r > 0 && set_ttl)
				set_ttls(ans, (size_t)r, ttl);
			if (r > 0)
				sendto(udp, ans, (size_t)r, 0,
				       (struct sockaddr *)&p->from, p->fromlen);
			close(p->fd);
			p->used = 0;
		}
		for (int i = 0; i < MAX_PENDING; i++) {
			struct pending *p = &pend[i];

			if (!p->used)
				continue;
			if (p->fd < 0 && p->send_at <= now) {
				struct sockaddr_in up;

				memset(&up, 0, sizeof up);
				up.sin_family = AF_INET;
				up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
				up.sin_port = htons((unsigned short)upstream);
				p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
				if (p->fd < 0 ||
				    connect(p->fd, (struct sockaddr *)&up, sizeof up) < 0 ||
				    send(p->fd, p->buf, p->len, 0) < 0) {
					if (p->fd >= 0)
						close(p->fd);
					p->used = 0;
				}
			} else if (p->fd >= 0 && p->expire_at <= now) {
				close(p->fd);
				p->used = 0;
			}
		}
	}
}
