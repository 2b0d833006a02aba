/* Unit tests for the pure parts of CONNECT and the relay itself:
 * http_authority_parse() (src/http.c), the connect_ports and tunnel
 * directives and config_connect_port_allowed() (src/config.c), and
 * relay_init()/relay_move()/relay_release() with the pipe pool (src/tunnel.c)
 * driven over loopback TCP pairs (splice) and AF_UNIX socketpairs (copy),
 * and the pool's memory budget: the sizes of the pipes it hands out
 * (F_GETPIPE_SZ) and pipe_budget_per_worker's arithmetic.
 *
 * The relay tests play the event loop: they set the readiness flags the way
 * epoll edges would and call relay_move() until nothing moves, with a bound
 * on the rounds so that a relay that stalls fails instead of hanging. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/http.h"
#include "sluice/tunnel.h"
#include "suites.h"

/* --- http_authority_parse ------------------------------------------------------------------ */

static int authority(const char *s, struct http_target *t, const char **why)
{
	*why = NULL;
	return http_authority_parse(s, strlen(s), t, why);
}

/* Expect s to be refused, with some reason. */
static void authority_refused(const char *s)
{
	struct http_target t;
	const char *why;
	ck_assert_msg(authority(s, &t, &why) == -1, "CONNECT target \"%s\" accepted (port %u)", s, t.port);
	ck_assert_msg(why != NULL && why[0] != '\0', "CONNECT target \"%s\" refused without a reason", s);
}

START_TEST(authority_host_and_port)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(authority("example.com:443", &t, &why), 0);
	ck_assert_str_eq(t.host, "example.com");
	ck_assert_uint_eq(t.port, 443);
	ck_assert_int_eq(t.ipv6, 0);
	ck_assert_int_eq(authority("127.0.0.1:8443", &t, &why), 0);
	ck_assert_str_eq(t.host, "127.0.0.1");
	ck_assert_uint_eq(t.port, 8443);
	ck_assert_int_eq(authority("a-b.c_d.example:1", &t, &why), 0);
	ck_assert_str_eq(t.host, "a-b.c_d.example");
	ck_assert_uint_eq(t.port, 1);
	ck_assert_int_eq(authority("h:65535", &t, &why), 0);
	ck_assert_uint_eq(t.port, 65535);
	/* port 80 must be said, not implied */
	ck_assert_int_eq(authority("h:80", &t, &why), 0);
	ck_assert_uint_eq(t.port, 80);
}
END_TEST

START_TEST(authority_ipv6_literal)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(authority("[::1]:443", &t, &why), 0);
	ck_assert_str_eq(t.host, "::1");
	ck_assert_int_eq(t.ipv6, 1);
	ck_assert_uint_eq(t.port, 443);
	ck_assert_int_eq(authority("[2001:db8::a:1]:8443", &t, &why), 0);
	ck_assert_str_eq(t.host, "2001:db8::a:1");
	ck_assert_uint_eq(t.port, 8443);
	ck_assert_int_eq(authority("[::ffff:127.0.0.1]:443", &t, &why), 0);
	ck_assert_str_eq(t.host, "::ffff:127.0.0.1");
}
END_TEST

START_TEST(authority_reads_only_len_bytes)
{
	struct http_target t;
	const char *why = NULL;
	const char *s = "host:4430000";
	ck_assert_int_eq(http_authority_parse(s, 8, &t, &why), 0);
	ck_assert_str_eq(t.host, "host");
	ck_assert_uint_eq(t.port, 443);
}
END_TEST

START_TEST(authority_port_is_required)
{
	authority_refused("example.com");
	authority_refused("example.com:");
	authority_refused("[::1]");
	authority_refused("[::1]:");
	struct http_target t;
	const char *why;
	ck_assert_int_eq(authority("example.com", &t, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "port"));
}
END_TEST

START_TEST(authority_bad_ports)
{
	authority_refused("h:0");
	authority_refused("h:00");
	authority_refused("h:65536");
	authority_refused("h:99999999999999999999");
	authority_refused("h:-1");
	authority_refused("h:+443");
	authority_refused("h:44 3");
	authority_refused("h:443 ");
	authority_refused("h:4a3");
	authority_refused("h:443:443");
	authority_refused("[::1]:0");
	authority_refused("[::1]:65536");
}
END_TEST

START_TEST(authority_bad_hosts)
{
	authority_refused("");
	authority_refused(":443");
	authority_refused("[]:443");
	authority_refused("[::1]443");
	authority_refused("[::1:443");
	authority_refused("[zz::1]:443");
	authority_refused("ho st:443");
	authority_refused("host\r:443");
	char big[300];
	memset(big, 'a', 256);
	strcpy(big + 256, ":443");
	authority_refused(big);
}
END_TEST

START_TEST(authority_refuses_paths_schemes_and_userinfo)
{
	authority_refused("host:443/");
	authority_refused("host:443/path");
	authority_refused("/path");
	authority_refused("http://host:443");
	authority_refused("https://host:443/");
	authority_refused("user@host:443");
	authority_refused("user:pass@host:443");
	authority_refused("[::1]:443/x");
}
END_TEST

/* --- connect_ports and the tunnel directives ----------------------------------------------- */

static int parse_conf(struct config *c, const char *text, char *err, size_t errlen)
{
	config_defaults(c);
	err[0] = '\0';
	return config_parse(c, text, "t.conf", err, errlen);
}

/* 443, and 80 for browsers' ws:// WebSockets (CONNECT host:80) */
START_TEST(connect_ports_default_is_443_and_80)
{
	struct config c;
	config_defaults(&c);
	ck_assert_int_eq(config_connect_port_allowed(&c, 443), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 8443), 0);
	ck_assert_int_eq(config_connect_port_allowed(&c, 80), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 22), 0);
	ck_assert_int_eq(config_connect_port_allowed(&c, 0), 0);
	ck_assert_int_eq(config_connect_port_allowed(&c, 443 + 65536), 0);
	ck_assert_uint_eq(c.tunnel_idle_timeout, 600000);
	ck_assert_int_eq(c.tunnel_splice, 1);
}
END_TEST

START_TEST(connect_ports_list)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse_conf(&c, "connect_ports 443 8443\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.nconnect_ports, 2);
	ck_assert_int_eq(config_connect_port_allowed(&c, 443), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 8443), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 80), 0);
	ck_assert_int_eq(config_connect_port_allowed(&c, 8444), 0);
}
END_TEST

START_TEST(connect_ports_replace_the_default)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse_conf(&c, "connect_ports 8443\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_connect_port_allowed(&c, 8443), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 443), 0);
	/* a later line replaces an earlier one */
	ck_assert_int_eq(parse_conf(&c, "connect_ports 443\nconnect_ports 563\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_connect_port_allowed(&c, 563), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 443), 0);
}
END_TEST

START_TEST(connect_ports_commas)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse_conf(&c, "connect_ports 443,8443,1\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.nconnect_ports, 3);
	ck_assert_int_eq(config_connect_port_allowed(&c, 1), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 8443), 1);
	ck_assert_int_eq(parse_conf(&c, "connect_ports 443, 8443 65535   # a comment\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.nconnect_ports, 3);
	ck_assert_int_eq(config_connect_port_allowed(&c, 65535), 1);
	ck_assert_int_eq(config_connect_port_allowed(&c, 8443), 1);
}
END_TEST

static void bad_ports(const char *text)
{
	struct config c;
	char err[256];
	ck_assert_msg(parse_conf(&c, text, err, sizeof(err)) == -1, "\"%s\" accepted", text);
	ck_assert_msg(strncmp(err, "t.conf:1: connect_ports", 23) == 0, "\"%s\": error \"%s\"", text, err);
}

START_TEST(connect_ports_bad_values)
{
	bad_ports("connect_ports 0\n");
	bad_ports("connect_ports 65536\n");
	bad_ports("connect_ports -443\n");
	bad_ports("connect_ports https\n");
	bad_ports("connect_ports 443x\n");
	bad_ports("connect_ports 443 8443x\n");
	bad_ports("connect_ports 443,,x\n");
	bad_ports("connect_ports 4.43\n");
	bad_ports("connect_ports 99999999999999999999\n");
	bad_ports("connect_ports ,\n");
	bad_ports("connect_ports\n");
}
END_TEST

START_TEST(connect_ports_bounded)
{
	struct config c;
	char err[256], text[512];
	int n = snprintf(text, sizeof(text), "connect_ports 1001");
	for (int i = 2; i <= CONFIG_MAX_CONNECT_PORTS; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ",%d", 1000 + i);
	snprintf(text + n, sizeof(text) - (size_t)n, "\n");
	ck_assert_int_eq(parse_conf(&c, text, err, sizeof(err)), 0);
	ck_assert_int_eq(c.nconnect_ports, CONFIG_MAX_CONNECT_PORTS);
	ck_assert_int_eq(config_connect_port_allowed(&c, 1000 + CONFIG_MAX_CONNECT_PORTS), 1);
	snprintf(text + n, sizeof(text) - (size_t)n, ",9999\n");
	bad_ports(text);
}
END_TEST

/* Exposes a bug: the config tokenizer takes at most 8 words a line, so the
 * documented space-separated form stops at 7 ports ("too many values"),
 * although CONFIG_MAX_CONNECT_PORTS is 32. */
START_TEST(connect_ports_space_separated_up_to_the_limit)
{
	struct config c;
	char err[256];
	ck_assert_msg(parse_conf(&c, "connect_ports 443 8443 563 5222 5223 6697 8883 9443\n", err, sizeof(err)) == 0,
		      "8 space-separated ports refused: %s", err);
	ck_assert_int_eq(c.nconnect_ports, 8);
	ck_assert_int_eq(config_connect_port_allowed(&c, 9443), 1);
}
END_TEST

/* Exposes a bug: each value is copied into a 256-byte scratch buffer with
 * snprintf, so a longer one is cut silently and the policy changes: here
 * "...443,8443" became "...443,84" -- port 84 allowed, 8443 not. */
START_TEST(connect_ports_long_value_is_not_cut)
{
	struct config c;
	char err[256], text[512];
	int n = snprintf(text, sizeof(text), "connect_ports ");
	memset(text + n, '0', 249);
	snprintf(text + n + 249, sizeof(text) - (size_t)n - 249, "443,8443\n");
	int r = parse_conf(&c, text, err, sizeof(err));
	if (r == 0) {
		ck_assert_msg(config_connect_port_allowed(&c, 84) == 0, "port 84 allowed: the value was cut");
		ck_assert_int_eq(config_connect_port_allowed(&c, 8443), 1);
		ck_assert_int_eq(config_connect_port_allowed(&c, 443), 1);
	}
}
END_TEST

START_TEST(tunnel_directives)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse_conf(&c, "tunnel_idle_timeout 1s\ntunnel_splice off\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.tunnel_idle_timeout, 1000);
	ck_assert_int_eq(c.tunnel_splice, 0);
	ck_assert_int_eq(parse_conf(&c, "tunnel_idle_timeout 10m\ntunnel_splice on\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.tunnel_idle_timeout, 600000);
	ck_assert_int_eq(c.tunnel_splice, 1);
	ck_assert_int_eq(parse_conf(&c, "tunnel_splice yes\n", err, sizeof(err)), -1);
	ck_assert_int_eq(parse_conf(&c, "tunnel_splice on off\n", err, sizeof(err)), -1);
	ck_assert_int_eq(parse_conf(&c, "tunnel_idle_timeout soon\n", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "tunnel_idle_timeout"));
}
END_TEST

START_TEST(tunnel_pipe_memory_directive)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	ck_assert_uint_eq(c.tunnel_pipe_memory, 0); /* auto */
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_conf(&c, "tunnel_pipe_memory 2m\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.tunnel_pipe_memory, 2u << 20);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_conf(&c, "tunnel_pipe_memory 64k\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	/* below 64 KiB every pipe would be a page: refused, 0 is auto */
	ck_assert_int_eq(parse_conf(&c, "tunnel_pipe_memory 63k\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "tunnel_pipe_memory"));
	ck_assert_int_eq(parse_conf(&c, "tunnel_pipe_memory 0\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_conf(&c, "tunnel_pipe_memory lots\n", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "tunnel_pipe_memory"));
}
END_TEST

/* --- the relay ------------------------------------------------------------------------------ */

#define ROUNDS_MAX 20000

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	ck_assert_int_ne(fl, -1);
	ck_assert_int_ne(fcntl(fd, F_SETFL, fl | O_NONBLOCK), -1);
}

/* A connected pair: TCP over 127.0.0.1 (tcp) or an AF_UNIX socketpair. */
static void sock_pair(int tcp, int *a, int *b)
{
	if (!tcp) {
		int sv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		*a = sv[0];
		*b = sv[1];
		return;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(ls, -1);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(*a, -1);
	ck_assert_int_eq(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*b = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ne(*b, -1);
	close(ls);
}

/* One direction as a session holds it:
 *
 *   writer ──> src ══ relay ══> dst ──> reader
 *   (test)     (proxy's sockets, non-blocking)   (test)
 */
struct rig {
	int writer, src, dst, reader;
	uint8_t rd, wr;
	struct relay r;
	struct pipe_pool *pp;
	struct buf_pool bp;
	int own_pp;
};

/* src_tcp, dst_tcp: TCP or AF_UNIX for each pair; shared: a pool to use
 * (NULL: a pool of the rig's own). */
static void rig_open(struct rig *g, int src_tcp, int dst_tcp, int force_copy, struct pipe_pool *shared)
{
	memset(g, 0, sizeof(*g));
	sock_pair(src_tcp, &g->writer, &g->src);
	sock_pair(dst_tcp, &g->dst, &g->reader);
	nonblock(g->writer);
	nonblock(g->src);
	nonblock(g->dst);
	nonblock(g->reader);
	g->pp = shared ? shared : pipe_pool_new(4);
	g->own_pp = shared == NULL;
	ck_assert_ptr_nonnull(g->pp);
	buf_pool_init(&g->bp, 16384, 8);
	g->rd = g->wr = 1;
	relay_init(&g->r, g->src, g->dst, &g->rd, &g->wr, NULL, force_copy);
}

static void rig_close(struct rig *g)
{
	relay_release(&g->r, g->pp, &g->bp);
	/* the relay's buffer went back: none is left outside the pool */
	ck_assert_ptr_null(g->r.buf);
	ck_assert_uint_eq(g->bp.nfree, g->bp.allocated);
	buf_pool_drain(&g->bp);
	if (g->own_pp)
		pipe_pool_free(g->pp);
	close(g->writer);
	close(g->src);
	close(g->dst);
	close(g->reader);
}

/* Byte i of the test stream: position-dependent, so a lost, doubled or
 * reordered byte shows. */
static uint8_t pat(size_t i)
{
	return (uint8_t)((i * 131u) ^ (i >> 8) ^ (i >> 16));
}

/* Offset of the first byte of p[0..n) that is not stream byte off + i, or
 * n.  (One ck_assert per buffer, not per byte: in fork mode each passing
 * assertion is a write to the parent.) */
static size_t first_wrong(const uint8_t *p, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(off + i))
			return i;
	return n;
}

/* One relay_move as after an epoll edge on both sockets. */
static enum relay_result step(struct rig *g, int *moved)
{
	g->rd = g->wr = 1;
	*moved = 0;
	return relay_move(&g->r, g->pp, &g->bp, moved);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Push len stream bytes (from offset off) into the writer, relay, and read
 * them at the reader; checks every byte.  Returns the bytes that came out.
 * Bounded by rounds and by time together: on a loaded machine loopback
 * bytes can take longer than ROUNDS_MAX quick rounds to show up. */
static size_t transfer(struct rig *g, size_t off, size_t len)
{
	static uint8_t chunk[65536];
	size_t in = 0, out = 0;
	uint64_t until = now_ms() + 10000;
	for (int i = 0; (i < ROUNDS_MAX || now_ms() < until) && out < len; i++) {
		if (in < len) {
			size_t k = len - in < sizeof(chunk) ? len - in : sizeof(chunk);
			for (size_t j = 0; j < k; j++)
				chunk[j] = pat(off + in + j);
			ssize_t w = send(g->writer, chunk, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				in += (size_t)w;
		}
		int moved;
		enum relay_result res = step(g, &moved);
		ck_assert_msg(res != RELAY_ERROR, "relay error: %s", strerror(errno));
		uint8_t got[65536];
		ssize_t n;
		while ((n = recv(g->reader, got, sizeof(got), MSG_DONTWAIT)) > 0) {
			size_t bad = first_wrong(got, (size_t)n, off + out);
			ck_assert_msg(bad == (size_t)n, "byte %zu differs", off + out + bad);
			out += (size_t)n;
		}
	}
	return out;
}

/* Read what the reader has now into p (at most cap bytes). */
static size_t drain(int fd, char *p, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n < cap && (k = recv(fd, p + n, cap - n, MSG_DONTWAIT)) > 0)
		n += (size_t)k;
	return n;
}

START_TEST(relay_splice_moves_bytes)
{
	struct rig g;
	rig_open(&g, 1, 1, 0, NULL);
	ck_assert_uint_eq(transfer(&g, 0, 3u << 20), 3u << 20);
	ck_assert_uint_eq(g.r.bytes, 3u << 20);
	ck_assert_int_eq(g.r.no_splice, 0);
	ck_assert_int_eq(g.r.eof, 0);
	ck_assert_int_eq(g.r.done, 0);
	/* the source is dry: the pipe goes back to the pool, no buffer is held */
	int moved;
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
	ck_assert_int_eq(g.rd, 0);
	ck_assert_int_eq(g.r.pipe[0], -1);
	ck_assert_uint_eq(g.r.in_pipe, 0);
	ck_assert_uint_eq(pipe_pool_idle(g.pp), 1);
	ck_assert_ptr_null(g.r.buf);
	ck_assert_uint_eq(g.bp.allocated, 0);
	/* and it is taken again for the next bytes */
	ck_assert_uint_eq(transfer(&g, 3u << 20, 100000), 100000);
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
	ck_assert_uint_eq(pipe_pool_idle(g.pp), 1);
	rig_close(&g);
}
END_TEST

START_TEST(relay_copy_moves_bytes)
{
	for (int tcp = 0; tcp <= 1; tcp++) {
		struct rig g;
		rig_open(&g, tcp, tcp, 1, NULL);
		ck_assert_uint_eq(transfer(&g, 0, 3u << 20), 3u << 20);
		ck_assert_uint_eq(g.r.bytes, 3u << 20);
		int moved;
		ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
		/* no pipe ever, and the buffer went back once empty */
		ck_assert_int_eq(g.r.pipe[0], -1);
		ck_assert_uint_eq(pipe_pool_idle(g.pp), 0);
		ck_assert_ptr_null(g.r.buf);
		ck_assert_uint_eq(g.bp.nfree, g.bp.allocated);
		rig_close(&g);
	}
}
END_TEST

START_TEST(relay_splice_over_socketpair)
{
	struct rig g;
	rig_open(&g, 0, 0, 0, NULL);
	ck_assert_uint_eq(transfer(&g, 0, 1u << 20), 1u << 20);
	ck_assert_uint_eq(g.r.bytes, 1u << 20);
	rig_close(&g);
}
END_TEST

/* Bytes read before the relay began (a ClientHello behind the CONNECT head)
 * go out first, then what the source has. */
static void pending_first(int tcp, int force_copy)
{
	struct rig g;
	rig_open(&g, tcp, tcp, force_copy, NULL);
	struct buf *b = buf_get(&g.bp);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(buf_append(b, "xxxHELLO", 8), 0);
	b->start = 3; /* the CONNECT head before it was spent */
	relay_init(&g.r, g.src, g.dst, &g.rd, &g.wr, b, force_copy); /* the relay owns b now */
	ck_assert_int_eq(send(g.writer, "WORLD", 5, 0), 5);
	char got[64];
	size_t n = 0;
	for (int i = 0; i < 100 && n < 10; i++) {
		int moved;
		ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
		n += drain(g.reader, got + n, sizeof(got) - n);
	}
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(memcmp(got, "HELLOWORLD", 10), 0);
	ck_assert_uint_eq(g.r.bytes, 10);
	rig_close(&g);
}

START_TEST(relay_sends_pending_bytes_first_splice)
{
	pending_first(1, 0);
}
END_TEST

START_TEST(relay_sends_pending_bytes_first_copy)
{
	pending_first(1, 1);
	pending_first(0, 1);
}
END_TEST

/* EOF from the source becomes shutdown(SHUT_WR) of the sink once every
 * byte is through, while the other direction keeps working. */
static void eof_becomes_shutdown(int tcp, int force_copy)
{
	struct rig g;
	rig_open(&g, tcp, tcp, force_copy, NULL);
	ck_assert_int_eq(send(g.writer, "last words", 10, 0), 10);
	ck_assert_int_eq(shutdown(g.writer, SHUT_WR), 0);
	for (int i = 0; i < 100 && !g.r.done; i++) {
		int moved;
		ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
	}
	ck_assert_int_eq(g.r.eof, 1);
	ck_assert_int_eq(g.r.done, 1);
	ck_assert_uint_eq(g.r.bytes, 10);
	ck_assert_int_eq(g.r.pipe[0], -1);
	char got[64];
	ck_assert_uint_eq(drain(g.reader, got, sizeof(got)), 10);
	ck_assert_int_eq(memcmp(got, "last words", 10), 0);
	ck_assert_int_eq(recv(g.reader, got, sizeof(got), MSG_DONTWAIT), 0); /* EOF */
	/* a done direction stays done */
	int moved;
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);

	/* the way back is still open: reader -> dst ══> src -> writer */
	uint8_t rd2 = 1, wr2 = 1;
	struct relay back;
	relay_init(&back, g.dst, g.src, &rd2, &wr2, NULL, force_copy);
	ck_assert_int_eq(send(g.reader, "reply", 5, 0), 5);
	ck_assert_int_eq(shutdown(g.reader, SHUT_WR), 0);
	for (int i = 0; i < 100 && !back.done; i++) {
		rd2 = wr2 = 1;
		ck_assert_int_ne(relay_move(&back, g.pp, &g.bp, &moved), RELAY_ERROR);
	}
	ck_assert_int_eq(back.done, 1);
	ck_assert_uint_eq(drain(g.writer, got, sizeof(got)), 5);
	ck_assert_int_eq(memcmp(got, "reply", 5), 0);
	ck_assert_int_eq(recv(g.writer, got, sizeof(got), MSG_DONTWAIT), 0);
	relay_release(&back, g.pp, &g.bp);
	rig_close(&g);
}

START_TEST(relay_eof_shuts_the_sink_splice)
{
	eof_becomes_shutdown(1, 0);
}
END_TEST

START_TEST(relay_eof_shuts_the_sink_copy)
{
	eof_becomes_shutdown(1, 1);
	eof_becomes_shutdown(0, 1);
}
END_TEST

/* An EOF right behind pending bytes: the pending bytes still go first. */
START_TEST(relay_eof_after_pending_bytes)
{
	for (int copy = 0; copy <= 1; copy++) {
		struct rig g;
		rig_open(&g, 1, 1, copy, NULL);
		struct buf *b = buf_get(&g.bp);
		ck_assert_int_eq(buf_append(b, "hello", 5), 0);
		relay_init(&g.r, g.src, g.dst, &g.rd, &g.wr, b, copy);
		ck_assert_int_eq(shutdown(g.writer, SHUT_WR), 0);
		for (int i = 0; i < 100 && !g.r.done; i++) {
			int moved;
			ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
		}
		ck_assert_int_eq(g.r.done, 1);
		char got[16];
		ck_assert_uint_eq(drain(g.reader, got, sizeof(got)), 5);
		ck_assert_int_eq(memcmp(got, "hello", 5), 0);
		ck_assert_int_eq(recv(g.reader, got, sizeof(got), MSG_DONTWAIT), 0);
		rig_close(&g);
	}
}
END_TEST

/* Make the sink small and stop reading it: bytes pile up in the pipe.
 * (The jammed rigs use an AF_UNIX sink: a tiny TCP window on loopback,
 * whose segments are 64 KiB, would stall on the persist timer instead.) */
static void jam(struct rig *g)
{
	int small = 4096;
	setsockopt(g->dst, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	static uint8_t chunk[65536];
	size_t in = 0;
	for (int i = 0; i < 1000 && g->wr; i++) {
		for (;;) {
			for (size_t j = 0; j < sizeof(chunk); j++)
				chunk[j] = pat(in + j);
			ssize_t w = send(g->writer, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w <= 0)
				break;
			/* keep the stream exact: only whole sends are counted below */
			in += (size_t)w;
			if ((size_t)w < sizeof(chunk))
				break;
		}
		g->rd = 1;
		int moved = 0;
		ck_assert_int_ne(relay_move(&g->r, g->pp, &g->bp, &moved), RELAY_ERROR);
	}
}

/* EAGAIN from the sink with bytes in the pipe: wait for the sink (its
 * readiness cleared, the source's kept), then carry on without a byte
 * lost or doubled. */
START_TEST(relay_full_sink_keeps_pipe_bytes)
{
	struct rig g;
	rig_open(&g, 1, 0, 0, NULL);
	jam(&g);
	ck_assert_int_eq(g.wr, 0);
	ck_assert_uint_gt(g.r.in_pipe, 0);
	ck_assert_int_eq(g.rd, 1);
	ck_assert_int_ne(g.r.pipe[0], -1);
	uint64_t before = g.r.bytes;
	/* no event on the sink: nothing may move, whatever the source says */
	int moved = 0;
	g.rd = 1;
	ck_assert_int_eq(relay_move(&g.r, g.pp, &g.bp, &moved), RELAY_IDLE);
	ck_assert_uint_eq(g.r.bytes, before);
	/* now read everything: the stream must be whole and in order */
	uint8_t got[65536];
	size_t out = 0;
	int idle_rounds = 0;
	for (int i = 0; i < ROUNDS_MAX && idle_rounds < 50; i++) {
		ssize_t n;
		int any = 0;
		while ((n = recv(g.reader, got, sizeof(got), MSG_DONTWAIT)) > 0) {
			size_t bad = first_wrong(got, (size_t)n, out);
			ck_assert_msg(bad == (size_t)n, "byte %zu differs", out + bad);
			out += (size_t)n;
			any = 1;
		}
		ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
		idle_rounds = any || moved ? 0 : idle_rounds + 1;
	}
	ck_assert_uint_eq(out, g.r.bytes);
	ck_assert_uint_eq(g.r.in_pipe, 0);
	ck_assert_uint_gt(out, before);
	rig_close(&g);
}
END_TEST

/* A pipe that still holds bytes is closed, never pooled: the next tunnel
 * taking a pipe from the pool must not see them. */
START_TEST(relay_release_closes_a_full_pipe)
{
	struct pipe_pool *pp = pipe_pool_new(4);
	struct rig g;
	rig_open(&g, 1, 0, 0, pp);
	jam(&g);
	ck_assert_uint_gt(g.r.in_pipe, 0);
	relay_release(&g.r, pp, &g.bp);
	ck_assert_int_eq(g.r.pipe[0], -1);
	ck_assert_uint_eq(g.r.in_pipe, 0);
	ck_assert_uint_eq(pipe_pool_idle(pp), 0);
	rig_close(&g);

	struct rig h;
	rig_open(&h, 1, 1, 0, pp);
	ck_assert_uint_eq(transfer(&h, 0, 200000), 200000); /* checks every byte */
	int moved;
	ck_assert_int_eq(step(&h, &moved), RELAY_IDLE);
	ck_assert_uint_eq(pipe_pool_idle(pp), 1); /* an empty one is kept */
	rig_close(&h);
	pipe_pool_free(pp);
}
END_TEST

/* The pool keeps at most max pipes. */
START_TEST(pipe_pool_is_bounded)
{
	struct pipe_pool *pp = pipe_pool_new(1);
	struct rig a, b;
	rig_open(&a, 1, 0, 0, pp);
	rig_open(&b, 1, 0, 0, pp);
	jam(&a);
	jam(&b);
	ck_assert_int_ne(a.r.pipe[0], -1);
	ck_assert_int_ne(b.r.pipe[0], -1);
	ck_assert_int_ne(a.r.pipe[0], b.r.pipe[0]);
	/* drain both to the end; each gives its pipe back when dry */
	struct rig *gs[2] = { &a, &b };
	for (int k = 0; k < 2; k++) {
		struct rig *g = gs[k];
		uint8_t got[65536];
		int idle_rounds = 0, moved = 0;
		for (int i = 0; i < ROUNDS_MAX && idle_rounds < 50; i++) {
			int any = recv(g->reader, got, sizeof(got), MSG_DONTWAIT) > 0;
			ck_assert_int_ne(step(g, &moved), RELAY_ERROR);
			idle_rounds = any || moved ? 0 : idle_rounds + 1;
		}
		ck_assert_int_eq(g->r.pipe[0], -1);
	}
	ck_assert_uint_eq(pipe_pool_idle(pp), 1);
	rig_close(&a);
	rig_close(&b);
	pipe_pool_free(pp);
}
END_TEST

/* A reset source is an error, not an EOF. */
static void source_reset(int force_copy)
{
	struct rig g;
	rig_open(&g, 1, 1, force_copy, NULL);
	ck_assert_int_eq(send(g.writer, "x", 1, 0), 1);
	int moved;
	ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	ck_assert_int_eq(setsockopt(g.writer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	ck_assert_int_eq(send(g.writer, "unread", 6, 0), 6);
	close(g.writer);
	g.writer = socket(AF_INET, SOCK_STREAM, 0); /* for rig_close */
	enum relay_result res = RELAY_IDLE;
	for (int i = 0; i < 100 && res != RELAY_ERROR; i++)
		res = step(&g, &moved);
	ck_assert_int_eq(res, RELAY_ERROR);
	ck_assert_int_eq(g.r.done, 0);
	rig_close(&g);
}

START_TEST(relay_source_reset_is_an_error)
{
	source_reset(0);
	source_reset(1);
}
END_TEST

/* A sink that went away is an error too. */
static void sink_gone(int force_copy)
{
	struct rig g;
	rig_open(&g, 1, 1, force_copy, NULL);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	ck_assert_int_eq(setsockopt(g.reader, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(g.reader);
	g.reader = socket(AF_INET, SOCK_STREAM, 0); /* for rig_close */
	enum relay_result res = RELAY_IDLE;
	char chunk[4096];
	memset(chunk, 'z', sizeof(chunk));
	for (int i = 0; i < 1000 && res != RELAY_ERROR; i++) {
		send(g.writer, chunk, sizeof(chunk), MSG_DONTWAIT | MSG_NOSIGNAL);
		int moved;
		res = step(&g, &moved);
	}
	ck_assert_int_eq(res, RELAY_ERROR);
	rig_close(&g);
}

START_TEST(relay_sink_gone_is_an_error)
{
	sink_gone(0);
	sink_gone(1);
}
END_TEST

/* --- a bounded relay (a body's rest) ------------------------------------------------------------ */

/* The writer sends len stream bytes and then "NEXT" (the next message);
 * the relay, bounded to len, must move exactly the len bytes, end without
 * shutting the sink, and leave "NEXT" in the source socket. */
static void bounded_exact(int force_copy, size_t len)
{
	struct rig g;
	rig_open(&g, 1, 1, force_copy, NULL);
	relay_bound(&g.r, len);
	static uint8_t chunk[65536];
	size_t in = 0, out = 0;
	int next_sent = 0;
	uint64_t until = now_ms() + 10000;
	for (int i = 0; (i < ROUNDS_MAX || now_ms() < until) && !(g.r.done && out == len); i++) {
		if (in < len) {
			size_t k = len - in < sizeof(chunk) ? len - in : sizeof(chunk);
			for (size_t j = 0; j < k; j++)
				chunk[j] = pat(in + j);
			ssize_t w = send(g.writer, chunk, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				in += (size_t)w;
		}
		if (in == len && !next_sent) {
			ck_assert_int_eq(send(g.writer, "NEXT", 4, 0), 4);
			next_sent = 1;
		}
		int moved;
		ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
		uint8_t got[65536];
		ssize_t n;
		while ((n = recv(g.reader, got, sizeof(got), MSG_DONTWAIT)) > 0) {
			size_t bad = first_wrong(got, (size_t)n, out);
			ck_assert_msg(bad == (size_t)n, "byte %zu differs", out + bad);
			out += (size_t)n;
		}
	}
	ck_assert_uint_eq(out, len);
	ck_assert_int_eq(g.r.done, 1);
	ck_assert_uint_eq(g.r.left, 0);
	ck_assert_uint_eq(g.r.bytes, len);
	if (force_copy)
		ck_assert_uint_eq(g.r.spliced, 0);
	else
		ck_assert_uint_eq(g.r.spliced, len);
	ck_assert_int_eq(g.r.pipe[0], -1); /* back in the pool, empty */
	/* the sink was not shut: nothing more, but no EOF either */
	char c[8];
	ck_assert_int_eq(recv(g.reader, c, sizeof(c), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	/* the next message is still in the source, whole */
	ssize_t n = -1;
	for (int i = 0; i < 1000 && n == -1; i++) {
		n = recv(g.src, c, sizeof(c), MSG_DONTWAIT);
		if (n == -1)
			usleep(1000);
	}
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(memcmp(c, "NEXT", 4), 0);
	int moved;
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE); /* done stays done */
	ck_assert_int_eq(moved, 0);
	rig_close(&g);
}

START_TEST(relay_bounded_moves_exactly_its_length)
{
	bounded_exact(0, 3000001); /* larger than any fill: several splices */
	bounded_exact(1, 3000001);
	bounded_exact(0, 1);
	bounded_exact(1, 65537);
}
END_TEST

/* The source ends short of the bound: done, with what is missing left. */
static void bounded_short(int force_copy)
{
	struct rig g;
	rig_open(&g, 1, 1, force_copy, NULL);
	relay_bound(&g.r, 5000);
	static uint8_t chunk[1000];
	for (size_t j = 0; j < sizeof(chunk); j++)
		chunk[j] = pat(j);
	ck_assert_int_eq(send(g.writer, chunk, sizeof(chunk), 0), (ssize_t)sizeof(chunk));
	ck_assert_int_eq(shutdown(g.writer, SHUT_WR), 0);
	for (int i = 0; i < 1000 && !g.r.done; i++) {
		int moved;
		ck_assert_int_ne(step(&g, &moved), RELAY_ERROR);
		if (!g.r.done)
			usleep(1000);
	}
	ck_assert_int_eq(g.r.done, 1);
	ck_assert_uint_eq(g.r.left, 4000);
	ck_assert_uint_eq(g.r.bytes, 1000);
	uint8_t got[2000];
	ck_assert_uint_eq(drain(g.reader, (char *)got, sizeof(got)), 1000);
	ck_assert_uint_eq(first_wrong(got, 1000, 0), 1000);
	/* not shut: the caller decides how to tell the truncation */
	ck_assert_int_eq(recv(g.reader, got, sizeof(got), MSG_DONTWAIT), -1);
	rig_close(&g);
}

START_TEST(relay_bounded_source_short)
{
	bounded_short(0);
	bounded_short(1);
}
END_TEST

START_TEST(relay_bounded_zero_is_done)
{
	struct rig g;
	rig_open(&g, 1, 1, 0, NULL);
	relay_bound(&g.r, 0);
	ck_assert_int_eq(send(g.writer, "NEXT", 4, 0), 4);
	int moved;
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
	ck_assert_int_eq(g.r.done, 1);
	ck_assert_uint_eq(g.r.bytes, 0);
	char c[8];
	ck_assert_int_eq(recv(g.src, c, sizeof(c), 0), 4);
	rig_close(&g);
}
END_TEST

START_TEST(body_splice_min_directive)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	ck_assert_uint_eq(c.body_splice_min, 65536);
	ck_assert_int_eq(parse_conf(&c, "body_splice_min 0\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.body_splice_min, 0);
	ck_assert_int_eq(parse_conf(&c, "body_splice_min 1m\n", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.body_splice_min, 1u << 20);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(parse_conf(&c, "body_splice_min lots\n", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "body_splice_min"));
}
END_TEST

/* --- the pool's budget ------------------------------------------------------------------------ */

static uint32_t pipe_size(int fd)
{
	int n = fcntl(fd, F_GETPIPE_SZ);
	ck_assert_int_gt(n, 0);
	return (uint32_t)n;
}

static uint32_t page_size(void)
{
	return (uint32_t)sysconf(_SC_PAGESIZE);
}

/* Stalled directions under a small budget: the first pipes are the
 * kernel's default (64 KiB) while they fit, every one beyond is one page;
 * the pool counts exactly what the kernel says. */
START_TEST(pipes_within_a_small_budget)
{
	enum { N = 8 };
	const uint32_t budget = 256u << 10, page = page_size();
	struct pipe_pool *pp = pipe_pool_new(4);
	pipe_pool_set_budget(pp, budget, 0);
	struct rig g[N];
	uint64_t sum = 0;
	uint32_t pages = 0;
	for (int i = 0; i < N; i++) {
		rig_open(&g[i], 1, 0, 0, pp);
		jam(&g[i]);
		ck_assert_int_ne(g[i].r.pipe[0], -1);
		ck_assert_uint_gt(g[i].r.in_pipe, 0);
		uint32_t sz = pipe_size(g[i].r.pipe[1]);
		ck_assert_uint_eq(sz, g[i].r.pipe_cap);
		ck_assert_uint_le(g[i].r.in_pipe, sz);
		/* a stalled direction puts in at most twice what its sink took */
		ck_assert_uint_lt(g[i].r.fill, 64u << 10);
		sum += sz;
		pages += sz == page;
	}
	ck_assert_uint_eq(pipe_pool_bytes(pp), sum);
	ck_assert_uint_eq(pipe_pool_fds(pp), 2 * N);
	ck_assert_uint_le(sum, budget + N * page);
	ck_assert_uint_ge(pages, N - budget / (64u << 10));
	/* the first went beyond 64 KiB only while under half the budget */
	ck_assert_uint_ge(pipe_size(g[0].r.pipe[1]), 64u << 10);
	ck_assert_uint_le(pipe_size(g[0].r.pipe[1]), budget / 2);
	/* released with bytes inside: closed, and the count comes back */
	for (int i = 0; i < N; i++)
		rig_close(&g[i]);
	ck_assert_uint_eq(pipe_pool_bytes(pp), 0);
	ck_assert_uint_eq(pipe_pool_fds(pp), 0);
	pipe_pool_free(pp);
}
END_TEST

/* Push as much as the source takes, relay, read everything, until total
 * bytes went through (checked at the reader).  Returns the largest pipe
 * the relay held meanwhile. */
static uint32_t stream(struct rig *g, size_t total)
{
	uint32_t largest = 0;
	static uint8_t chunk[1 << 20];
	size_t in = 0, out = 0;
	for (int i = 0; i < ROUNDS_MAX && out < total; i++) {
		for (;;) {
			size_t k = total - in < sizeof(chunk) ? total - in : sizeof(chunk);
			if (k == 0)
				break;
			for (size_t j = 0; j < k; j++)
				chunk[j] = pat(in + j);
			ssize_t w = send(g->writer, chunk, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w <= 0)
				break;
			in += (size_t)w;
		}
		int moved;
		ck_assert_int_ne(step(g, &moved), RELAY_ERROR);
		if (g->r.pipe[0] >= 0 && g->r.pipe_cap > largest) {
			ck_assert_uint_eq(pipe_size(g->r.pipe[1]), g->r.pipe_cap);
			largest = g->r.pipe_cap;
		}
		uint8_t got[65536];
		ssize_t n;
		while ((n = recv(g->reader, got, sizeof(got), MSG_DONTWAIT)) > 0) {
			size_t bad = first_wrong(got, (size_t)n, out);
			ck_assert_msg(bad == (size_t)n, "byte %zu differs", out + bad);
			out += (size_t)n;
		}
	}
	ck_assert_uint_eq(out, total);
	return largest;
}

/* A flowing direction's pipe grows to 1 MiB when the budget allows (the
 * one-stream throughput depends on it), or to the largest asked for. */
START_TEST(flowing_pipe_grows_within_the_budget)
{
	uint32_t largest[] = { 0, 128u << 10 }, want[] = { 1u << 20, 128u << 10 };
	for (int k = 0; k < 2; k++) {
		struct pipe_pool *pp = pipe_pool_new(4);
		pipe_pool_set_budget(pp, 64u << 20, largest[k]);
		struct rig g;
		rig_open(&g, 1, 0, 0, pp);
		int big = 8 << 20;
		setsockopt(g.dst, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
		setsockopt(g.reader, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		uint32_t seen = 0;
		for (int i = 0; i < 16 && seen < want[k]; i++) {
			uint32_t n = stream(&g, 4u << 20);
			seen = n > seen ? n : seen;
		}
		ck_assert_uint_eq(seen, want[k]);
		rig_close(&g);
		pipe_pool_free(pp);
	}
}
END_TEST

/* Half of the budget for pipes above the default: under budget/2 a pipe
 * grows, beyond it a flowing direction keeps 64 KiB. */
START_TEST(big_pipes_take_half_the_budget)
{
	struct pipe_pool *pp = pipe_pool_new(4);
	pipe_pool_set_budget(pp, 1u << 20, 0);
	struct rig a, b;
	rig_open(&a, 1, 0, 0, pp);
	rig_open(&b, 1, 0, 0, pp);
	int big = 8 << 20;
	setsockopt(a.dst, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(a.reader, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	jam(&b); /* b holds a 64 or 128 KiB pipe (its sink took a first fill whole) */
	ck_assert_uint_ge(b.r.pipe_cap, 64u << 10);
	ck_assert_uint_le(b.r.pipe_cap, 128u << 10);
	uint32_t seen = 0;
	for (int i = 0; i < 8; i++) {
		uint32_t n = stream(&a, 2u << 20);
		seen = n > seen ? n : seen;
	}
	/* with b's pipe, a may grow to 256 KiB (at most 512 KiB in all), not 512 */
	ck_assert_uint_eq(seen, 256u << 10);
	ck_assert_uint_le(pipe_pool_bytes(pp), 1u << 20);
	rig_close(&a);
	rig_close(&b);
	pipe_pool_free(pp);
}
END_TEST

static int deny(void *arg, int n)
{
	(void)arg;
	(void)n;
	return 0;
}

/* No descriptor for a pipe: the bytes are copied, none lost. */
START_TEST(no_pipe_without_descriptors)
{
	struct pipe_pool *pp = pipe_pool_new(4);
	pipe_pool_set_gate(pp, deny, NULL);
	struct rig g;
	rig_open(&g, 1, 1, 0, pp);
	ck_assert_uint_eq(transfer(&g, 0, 1u << 20), 1u << 20);
	ck_assert_int_eq(g.r.pipe[0], -1);
	ck_assert_int_eq(g.r.no_splice, 0); /* asked again next time */
	ck_assert_uint_eq(pipe_pool_fds(pp), 0);
	rig_close(&g);
	pipe_pool_free(pp);
}
END_TEST

/* pipe_pool_keep: idle pipes beyond the new bound are closed, the counts
 * follow, and none is kept until it is raised again. */
START_TEST(pipe_pool_keep_closes_idle_pipes)
{
	struct pipe_pool *pp = pipe_pool_new(4);
	struct rig g;
	rig_open(&g, 1, 1, 0, pp);
	ck_assert_uint_eq(transfer(&g, 0, 200000), 200000);
	int moved;
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
	ck_assert_uint_eq(pipe_pool_idle(pp), 1);
	ck_assert_uint_eq(pipe_pool_fds(pp), 2);
	ck_assert_uint_gt(pipe_pool_bytes(pp), 0);
	ck_assert_uint_eq(pipe_pool_keep(pp, 0), 2);
	ck_assert_uint_eq(pipe_pool_idle(pp), 0);
	ck_assert_uint_eq(pipe_pool_fds(pp), 0);
	ck_assert_uint_eq(pipe_pool_bytes(pp), 0);
	ck_assert_uint_eq(transfer(&g, 200000, 200000), 200000);
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
	ck_assert_uint_eq(pipe_pool_idle(pp), 0); /* closed, not kept */
	ck_assert_uint_eq(pipe_pool_fds(pp), 0);
	ck_assert_uint_eq(pipe_pool_keep(pp, 100), 0); /* at most max */
	ck_assert_uint_eq(transfer(&g, 400000, 200000), 200000);
	ck_assert_int_eq(step(&g, &moved), RELAY_IDLE);
	ck_assert_uint_eq(pipe_pool_idle(pp), 1);
	rig_close(&g);
	pipe_pool_free(pp);
}
END_TEST

START_TEST(pipe_budget_arithmetic)
{
	struct pipe_quota root = { .privileged = 1, .user_pages = 16384, .max_size = 1u << 20, .page = 4096 };
	struct pipe_quota user = { .privileged = 0, .user_pages = 16384, .max_size = 1u << 20, .page = 4096 };
	struct pipe_quota free_user = { .privileged = 0, .user_pages = 0, .max_size = 1u << 20, .page = 4096 };
	int lowered;
	/* privileged: the quota does not apply */
	ck_assert_uint_eq(pipe_budget_per_worker(0, 2, &root, &lowered), PIPE_MEMORY_DEFAULT);
	ck_assert_int_eq(lowered, 0);
	ck_assert_uint_eq(pipe_budget_per_worker(8u << 20, 2, &root, &lowered), 8u << 20);
	ck_assert_uint_eq(pipe_budget_per_worker(1u << 30, 64, &root, &lowered), 1u << 30);
	ck_assert_int_eq(lowered, 0);
	/* unprivileged: three quarters of 64 MiB / 2 workers = 24 MiB each */
	ck_assert_uint_eq(pipe_budget_per_worker(0, 2, &user, &lowered), 24u << 20);
	ck_assert_int_eq(lowered, 0); /* auto is not "lowered" */
	ck_assert_uint_eq(pipe_budget_per_worker(64u << 20, 2, &user, &lowered), 24u << 20);
	ck_assert_int_eq(lowered, 1);
	ck_assert_uint_eq(pipe_budget_per_worker(16u << 20, 2, &user, &lowered), 16u << 20);
	ck_assert_int_eq(lowered, 0);
	ck_assert_uint_eq(pipe_budget_per_worker(0, 1, &user, &lowered), 48u << 20);
	ck_assert_uint_eq(pipe_budget_per_worker(0, 1024, &user, &lowered), 48u << 10);
	ck_assert_uint_eq(pipe_budget_per_worker(0, 0, &user, &lowered), 48u << 20);
	/* no quota configured */
	ck_assert_uint_eq(pipe_budget_per_worker(0, 2, &free_user, &lowered), PIPE_MEMORY_DEFAULT);
	ck_assert_int_eq(lowered, 0);

	struct pipe_quota q;
	pipe_quota_probe(&q);
	ck_assert_uint_eq(q.page, page_size());
	ck_assert_uint_ge(q.max_size, q.page);
}
END_TEST

Suite *tunnel_suite(void)
{
	Suite *s = suite_create("tunnel");
	TCase *tc = tcase_create("authority");
	tcase_add_test(tc, authority_host_and_port);
	tcase_add_test(tc, authority_ipv6_literal);
	tcase_add_test(tc, authority_reads_only_len_bytes);
	tcase_add_test(tc, authority_port_is_required);
	tcase_add_test(tc, authority_bad_ports);
	tcase_add_test(tc, authority_bad_hosts);
	tcase_add_test(tc, authority_refuses_paths_schemes_and_userinfo);
	suite_add_tcase(s, tc);

	tc = tcase_create("connect_ports");
	tcase_add_test(tc, connect_ports_default_is_443_and_80);
	tcase_add_test(tc, connect_ports_list);
	tcase_add_test(tc, connect_ports_replace_the_default);
	tcase_add_test(tc, connect_ports_commas);
	tcase_add_test(tc, connect_ports_bad_values);
	tcase_add_test(tc, connect_ports_bounded);
	tcase_add_test(tc, connect_ports_space_separated_up_to_the_limit);
	tcase_add_test(tc, connect_ports_long_value_is_not_cut);
	tcase_add_test(tc, tunnel_directives);
	tcase_add_test(tc, tunnel_pipe_memory_directive);
	tcase_add_test(tc, body_splice_min_directive);
	suite_add_tcase(s, tc);

	tc = tcase_create("relay");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, relay_splice_moves_bytes);
	tcase_add_test(tc, relay_copy_moves_bytes);
	tcase_add_test(tc, relay_splice_over_socketpair);
	tcase_add_test(tc, relay_sends_pending_bytes_first_splice);
	tcase_add_test(tc, relay_sends_pending_bytes_first_copy);
	tcase_add_test(tc, relay_eof_shuts_the_sink_splice);
	tcase_add_test(tc, relay_eof_shuts_the_sink_copy);
	tcase_add_test(tc, relay_eof_after_pending_bytes);
	tcase_add_test(tc, relay_full_sink_keeps_pipe_bytes);
	tcase_add_test(tc, relay_release_closes_a_full_pipe);
	tcase_add_test(tc, pipe_pool_is_bounded);
	tcase_add_test(tc, relay_source_reset_is_an_error);
	tcase_add_test(tc, relay_sink_gone_is_an_error);
	tcase_add_test(tc, relay_bounded_moves_exactly_its_length);
	tcase_add_test(tc, relay_bounded_source_short);
	tcase_add_test(tc, relay_bounded_zero_is_done);
	suite_add_tcase(s, tc);

	tc = tcase_create("pipe_budget");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pipes_within_a_small_budget);
	tcase_add_test(tc, flowing_pipe_grows_within_the_budget);
	tcase_add_test(tc, big_pipes_take_half_the_budget);
	tcase_add_test(tc, no_pipe_without_descriptors);
	tcase_add_test(tc, pipe_pool_keep_closes_idle_pipes);
	tcase_add_test(tc, pipe_budget_arithmetic);
	suite_add_tcase(s, tc);
	return s;
}
