/* Unit tests for src/proxy_proto.c: v1 and v2 headers that carry addresses
 * and those that do not (UNKNOWN, LOCAL, UNSPEC, UDP, UNIX), every prefix of
 * each needing more, the request after a header left alone, each malformed
 * shape refused with its reason, and at the first byte that shows it.
 *
 * Every call goes through a heap copy of exactly the bytes given, so the
 * ASan build (make asan-test) sees any read past len. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/proxy_proto.h"
#include "suites.h"

static int parse(const void *p, size_t n, struct proxy_hdr *h, const char **why)
{
	uint8_t *c = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(c);
	memcpy(c, p, n);
	int r = proxy_header_parse(c, n, h, why);
	free(c);
	return r;
}

static int parse_str(const char *s, struct proxy_hdr *h, const char **why)
{
	return parse(s, strlen(s), h, why);
}

/* Refused, for this reason. */
static void refused(const void *p, size_t n, const char *reason)
{
	struct proxy_hdr h;
	const char *why = NULL;
	ck_assert_msg(parse(p, n, &h, &why) == -1, "accepted: %.*s", (int)n, (const char *)p);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, reason);
}

static void refused_str(const char *s, const char *reason)
{
	refused(s, strlen(s), reason);
}

struct refusal {
	const char *line, *why;
};

static void refused_each(const struct refusal *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		refused_str(c[i].line, c[i].why);
}

/* The byte count at which p is first refused: 0 for every shorter prefix,
 * -1 for it and every longer one (results are final). */
static size_t refused_at(const void *p, size_t n)
{
	struct proxy_hdr h;
	const char *why;
	size_t at = 0;
	for (size_t k = 0; k <= n; k++) {
		int r = parse(p, k, &h, &why);
		if (at == 0 && r == 0)
			continue;
		ck_assert_msg(r == -1, "prefix of %zu bytes gives %d", k, r);
		if (at == 0)
			at = k;
	}
	ck_assert_msg(at > 0, "never refused");
	return at;
}

/* Every prefix of a valid header needs more; the whole gives its length. */
static void every_prefix_needs_more(const void *p, size_t n)
{
	struct proxy_hdr h;
	const char *why = NULL;
	for (size_t k = 0; k < n; k++) {
		int r = parse(p, k, &h, &why);
		ck_assert_msg(r == 0, "prefix %zu of %zu gives %d (%s)", k, n, r, r == -1 ? why : "");
	}
	ck_assert_int_eq(parse(p, n, &h, &why), (int)n);
}

static void check_v4(const union sockaddr_any *sa, const char *addr, uint16_t port)
{
	char text[INET_ADDRSTRLEN];
	ck_assert_int_eq(sa->sa.sa_family, AF_INET);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET, &sa->in.sin_addr, text, sizeof(text)));
	ck_assert_str_eq(text, addr);
	ck_assert_uint_eq(ntohs(sa->in.sin_port), port);
}

static void check_v6(const union sockaddr_any *sa, const char *addr, uint16_t port)
{
	char text[INET6_ADDRSTRLEN];
	ck_assert_int_eq(sa->sa.sa_family, AF_INET6);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &sa->in6.sin6_addr, text, sizeof(text)));
	ck_assert_str_eq(text, addr);
	ck_assert_uint_eq(ntohs(sa->in6.sin6_port), port);
}

static void check_local(const struct proxy_hdr *h, int version)
{
	static const union sockaddr_any zero;
	ck_assert_int_eq(h->version, version);
	ck_assert_int_eq(h->local, 1);
	ck_assert_mem_eq(&h->src, &zero, sizeof(zero));
	ck_assert_mem_eq(&h->dst, &zero, sizeof(zero));
}

/* The addresses every test header carries: 192.0.2.1:56324 ->
 * 198.51.100.2:3128, and [2001:db8::1]:443 -> [2001:db8::2]:3128. */
static void check_tcp4(const struct proxy_hdr *h, int version)
{
	ck_assert_int_eq(h->version, version);
	ck_assert_int_eq(h->local, 0);
	check_v4(&h->src, "192.0.2.1", 56324);
	check_v4(&h->dst, "198.51.100.2", 3128);
}

static void check_tcp6(const struct proxy_hdr *h, int version)
{
	ck_assert_int_eq(h->version, version);
	ck_assert_int_eq(h->local, 0);
	check_v6(&h->src, "2001:db8::1", 443);
	check_v6(&h->dst, "2001:db8::2", 3128);
}

/* --- v2 headers built here ---------------------------------------------------- */

static const uint8_t SIG[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

struct bytes {
	uint8_t b[2048];
	size_t n;
};

/* sig, ver_cmd, fam, a length of n, and body[0..n) (zeros when NULL). */
static void v2(struct bytes *s, uint8_t ver_cmd, uint8_t fam, const void *body, size_t n)
{
	memcpy(s->b, SIG, 12);
	s->b[12] = ver_cmd;
	s->b[13] = fam;
	s->b[14] = (uint8_t)(n >> 8);
	s->b[15] = (uint8_t)n;
	if (body != NULL)
		memcpy(s->b + 16, body, n);
	else
		memset(s->b + 16, 0, n);
	s->n = 16 + n;
}

/* The answer to the v2 header v2() builds from these. */
static int parse_v2(uint8_t ver_cmd, uint8_t fam, const void *body, size_t n, struct proxy_hdr *h)
{
	static struct bytes s;
	const char *why;
	v2(&s, ver_cmd, fam, body, n);
	return parse(s.b, s.n, h, &why);
}

/* 192.0.2.1:56324 -> 198.51.100.2:3128 */
static const uint8_t ADDR4[12] = { 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x0c, 0x38 };
/* [2001:db8::1]:443 -> [2001:db8::2]:3128 */
static const uint8_t ADDR6[36] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
				   0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
				   0x01, 0xbb, 0x0c, 0x38 };
/* ALPN "h2", AUTHORITY "example.test", NOOP of 3 bytes */
static const uint8_t TLVS[] = { 0x01, 0, 2, 'h', '2', 0x02, 0, 12, 'e', 'x', 'a', 'm', 'p', 'l',
				'e', '.', 't', 'e', 's', 't', 0x04, 0, 3, 0, 0, 0 };

static void v2_tlv(struct bytes *s, uint8_t fam, const uint8_t *addr, size_t alen)
{
	uint8_t body[64];
	memcpy(body, addr, alen);
	memcpy(body + alen, TLVS, sizeof(TLVS));
	v2(s, 0x21, fam, body, alen + sizeof(TLVS));
}

/* --- valid v1 ------------------------------------------------------------------ */

#define V1_TCP4 "PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128\r\n"
#define V1_TCP6 "PROXY TCP6 2001:db8::1 2001:db8::2 443 3128\r\n"
#define V1_TCP6_LONGEST                                                                                    \
	"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 " \
	"65535\r\n"
#define V1_UNKNOWN_LONGEST                                                                                    \
	"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 " \
	"65535\r\n"
#define REQUEST "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n"

START_TEST(v1_tcp4)
{
	struct proxy_hdr h;
	const char *why = "untouched";
	ck_assert_int_eq(parse_str(V1_TCP4, &h, &why), strlen(V1_TCP4));
	ck_assert_str_eq(why, "untouched");
	check_tcp4(&h, 1);
}
END_TEST

START_TEST(v1_tcp6)
{
	struct proxy_hdr h;
	const char *why;
	ck_assert_int_eq(parse_str(V1_TCP6, &h, &why), strlen(V1_TCP6));
	check_tcp6(&h, 1);

	/* upper case, an IPv4-mapped tail, ports 0 and 65535 */
	static const char mixed[] = "PROXY TCP6 2001:DB8::A ::ffff:192.0.2.1 0 65535\r\n";
	ck_assert_int_eq(parse_str(mixed, &h, &why), strlen(mixed));
	check_v6(&h.src, "2001:db8::a", 0);
	check_v6(&h.dst, "::ffff:192.0.2.1", 65535);

	/* the spec's longest TCP6 line */
	ck_assert_uint_eq(strlen(V1_TCP6_LONGEST), 104);
	ck_assert_int_eq(parse_str(V1_TCP6_LONGEST, &h, &why), 104);
	check_v6(&h.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
}
END_TEST

START_TEST(v1_unknown_is_local)
{
	struct proxy_hdr h;
	const char *why;
	ck_assert_int_eq(parse_str("PROXY UNKNOWN\r\n", &h, &why), 15);
	check_local(&h, 1);
	/* whatever follows, up to the CRLF, is ignored */
	static const char any[] = "PROXY UNKNOWN whatever  the\tsender says\r\n";
	ck_assert_int_eq(parse_str(any, &h, &why), strlen(any));
	check_local(&h, 1);
	/* the spec's worst case: exactly 107 bytes */
	ck_assert_uint_eq(strlen(V1_UNKNOWN_LONGEST), PROXY_V1_MAX);
	ck_assert_int_eq(parse_str(V1_UNKNOWN_LONGEST, &h, &why), PROXY_V1_MAX);
	check_local(&h, 1);
}
END_TEST

/* --- valid v2 ------------------------------------------------------------------ */

START_TEST(v2_tcp4)
{
	struct bytes s;
	struct proxy_hdr h;
	const char *why = "untouched";
	v2(&s, 0x21, 0x11, ADDR4, sizeof(ADDR4));
	ck_assert_int_eq(parse(s.b, s.n, &h, &why), 28);
	ck_assert_str_eq(why, "untouched");
	check_tcp4(&h, 2);
}
END_TEST

START_TEST(v2_tcp6)
{
	struct proxy_hdr h;
	ck_assert_int_eq(parse_v2(0x21, 0x21, ADDR6, sizeof(ADDR6), &h), 52);
	check_tcp6(&h, 2);
}
END_TEST

START_TEST(v2_tlvs_are_skipped)
{
	struct bytes s;
	struct proxy_hdr h;
	const char *why;
	v2_tlv(&s, 0x11, ADDR4, sizeof(ADDR4));
	ck_assert_int_eq(parse(s.b, s.n, &h, &why), 16 + 12 + sizeof(TLVS));
	check_tcp4(&h, 2);

	v2_tlv(&s, 0x21, ADDR6, sizeof(ADDR6));
	ck_assert_int_eq(parse(s.b, s.n, &h, &why), 16 + 36 + sizeof(TLVS));
	check_tcp6(&h, 2);

	/* TLVs are not read, so even ones that do not add up pass */
	uint8_t body[12 + 5];
	memcpy(body, ADDR4, 12);
	memcpy(body + 12, "\x01\xff\xff\x00\x00", 5);
	ck_assert_int_eq(parse_v2(0x21, 0x11, body, sizeof(body), &h), 33);
	check_tcp4(&h, 2);
}
END_TEST

START_TEST(v2_local_is_local)
{
	struct proxy_hdr h;
	ck_assert_int_eq(parse_v2(0x20, 0x00, NULL, 0, &h), 16);
	check_local(&h, 2);
	/* addresses sent anyway are skipped, not used */
	ck_assert_int_eq(parse_v2(0x20, 0x11, ADDR4, sizeof(ADDR4), &h), 28);
	check_local(&h, 2);
	/* the family of a LOCAL header is ignored, whatever it is */
	ck_assert_int_eq(parse_v2(0x20, 0xff, NULL, 0, &h), 16);
	check_local(&h, 2);
}
END_TEST

/* UNSPEC, UDP and UNIX carry no address sluice can use: accepted, local. */
START_TEST(v2_other_families_are_local)
{
	struct proxy_hdr h;
	static const struct {
		uint8_t fam;
		size_t len;
	} cases[] = {
		{ 0x00, 0 },   { 0x00, 12 }, { 0x12, 12 }, { 0x22, 36 }, { 0x31, 216 },
		{ 0x32, 216 }, { 0x10, 0 },  { 0x20, 0 },  { 0x01, 0 },  { 0x30, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse_v2(0x21, cases[i].fam, NULL, cases[i].len, &h);
		ck_assert_msg(r == (int)(16 + cases[i].len), "fam 0x%02x", cases[i].fam);
		check_local(&h, 2);
	}
}
END_TEST

START_TEST(v2_longest_header_is_taken)
{
	struct proxy_hdr h;
	uint8_t body[PROXY_V2_MAX - 16];
	memset(body, 0, sizeof(body));
	memcpy(body, ADDR4, sizeof(ADDR4));
	ck_assert_int_eq(parse_v2(0x21, 0x11, body, sizeof(body), &h), PROXY_V2_MAX);
	check_tcp4(&h, 2);
}
END_TEST

/* --- partial input and what follows ------------------------------------------ */

START_TEST(every_prefix_of_a_header_needs_more)
{
	static const char *const v1[] = { V1_TCP4, V1_TCP6, V1_TCP6_LONGEST, V1_UNKNOWN_LONGEST, "PROXY UNKNOWN\r\n",
					  "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n" };
	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++)
		every_prefix_needs_more(v1[i], strlen(v1[i]));

	static struct bytes s[7];
	v2(&s[0], 0x21, 0x11, ADDR4, sizeof(ADDR4));
	v2(&s[1], 0x21, 0x21, ADDR6, sizeof(ADDR6));
	v2_tlv(&s[2], 0x11, ADDR4, sizeof(ADDR4));
	v2_tlv(&s[3], 0x21, ADDR6, sizeof(ADDR6));
	v2(&s[4], 0x20, 0x00, NULL, 0);
	v2(&s[5], 0x21, 0x31, NULL, 216);
	v2(&s[6], 0x21, 0x11, NULL, PROXY_V2_MAX - 16);
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		every_prefix_needs_more(s[i].b, s[i].n);
}
END_TEST

/* Only the header is taken; the request after it, in the same read, is
 * neither read nor counted, and its bytes do not change the answer. */
START_TEST(request_after_the_header_is_left)
{
	struct bytes s;
	struct proxy_hdr h, alone;
	const char *why;
	char in[512];
	snprintf(in, sizeof(in), "%s%s", V1_TCP4, REQUEST);
	ck_assert_int_eq(parse_str(V1_TCP4, &alone, &why), strlen(V1_TCP4));
	ck_assert_int_eq(parse_str(in, &h, &why), strlen(V1_TCP4));
	ck_assert_mem_eq(&h, &alone, sizeof(h));
	snprintf(in, sizeof(in), "%s%s", "PROXY UNKNOWN\r\n", "\r\n\r\nPROXY TCP4 x\n");
	ck_assert_int_eq(parse_str(in, &h, &why), 15);

	v2_tlv(&s, 0x11, ADDR4, sizeof(ADDR4));
	size_t n = s.n;
	ck_assert_int_eq(parse(s.b, n, &alone, &why), n);
	memcpy(s.b + n, REQUEST, strlen(REQUEST));
	ck_assert_int_eq(parse(s.b, n + strlen(REQUEST), &h, &why), n);
	ck_assert_mem_eq(&h, &alone, sizeof(h));
	/* even a second header right after */
	memcpy(s.b + n, SIG, 12);
	ck_assert_int_eq(parse(s.b, n + 12, &h, &why), n);
}
END_TEST

/* *out is written only with a header, *why only with a refusal, and why may
 * be NULL. */
START_TEST(out_and_why_written_only_with_their_answer)
{
	struct proxy_hdr h, before;
	memset(&before, 0xa5, sizeof(before));
	const char *why = "untouched";
	h = before;
	ck_assert_int_eq(parse("PROXY TCP4 1.2", 14, &h, &why), 0);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n", 16, &h, &why), -1);
	ck_assert_int_eq(parse("PROXY TCP4 1.2.3.4 5.6.7.8 80 80\n", 33, &h, &why), -1);
	ck_assert_mem_eq(&h, &before, sizeof(h));
	why = "untouched";
	ck_assert_int_eq(parse_str("PROXY TCP4 1.2", &h, &why), 0);
	ck_assert_int_eq(parse_str(V1_TCP4, &h, &why), strlen(V1_TCP4));
	ck_assert_str_eq(why, "untouched");
	ck_assert_int_eq(parse_str("GET /", &h, NULL), -1);
	ck_assert_int_eq(parse_str(V1_TCP4, &h, NULL), strlen(V1_TCP4));
	ck_assert_int_eq(proxy_header_parse(NULL, 0, &h, &why), 0);
}
END_TEST

/* --- not a PROXY header --------------------------------------------------------- */

START_TEST(http_request_is_refused_at_its_first_byte)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n";
	refused_str(get, "not a PROXY protocol header");
	ck_assert_uint_eq(refused_at(get, strlen(get)), 1);
	static const char connect[] = "CONNECT example.test:443 HTTP/1.1\r\n\r\n";
	ck_assert_uint_eq(refused_at(connect, strlen(connect)), 1);
	/* a TLS hello, and nothing but the line end */
	ck_assert_uint_eq(refused_at("\x16\x03\x01", 3), 1);
	ck_assert_uint_eq(refused_at("\n", 1), 1);
}
END_TEST

START_TEST(bad_signature_is_refused_at_the_byte)
{
	/* "PROXY " cut or changed */
	ck_assert_uint_eq(refused_at("PROXZ TCP4", 10), 5);
	ck_assert_uint_eq(refused_at("proxy TCP4", 10), 1);
	ck_assert_uint_eq(refused_at("PROXY\r\n", 7), 6);
	ck_assert_uint_eq(refused_at("PROXYTCP4", 9), 6);
	refused_str("PROXY\r\n", "not a PROXY protocol header");
	/* the v2 signature with any byte changed */
	for (size_t i = 0; i < 12; i++) {
		struct bytes s;
		v2(&s, 0x21, 0x11, ADDR4, sizeof(ADDR4));
		s.b[i] ^= 0x20;
		ck_assert_uint_eq(refused_at(s.b, s.n), i + 1);
		refused(s.b, s.n, "not a PROXY protocol header");
	}
}
END_TEST

/* --- malformed v1 --------------------------------------------------------------- */

START_TEST(v1_longer_than_107_bytes_is_refused)
{
	/* the longest UNKNOWN line with one more byte */
	char line[160];
	snprintf(line, sizeof(line), "PROXY UNKNOWN %s\r\n", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
							 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350");
	ck_assert_uint_eq(strlen(line), PROXY_V1_MAX + 1);
	refused_str(line, "v1: no CRLF within 107 bytes");
	/* known at 106 bytes: the CR could only be the 107th, its LF the 108th */
	ck_assert_uint_eq(refused_at(line, strlen(line)), PROXY_V1_MAX - 1);

	/* no line end at all */
	char none[300];
	memset(none, 'a', sizeof(none));
	memcpy(none, "PROXY UNKNOWN ", 14);
	ck_assert_uint_eq(refused_at(none, sizeof(none)), PROXY_V1_MAX - 1);
}
END_TEST

START_TEST(v1_lone_cr_or_lf_is_refused)
{
	refused_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128\n", "v1: LF without CR");
	refused_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128\rX", "v1: CR not followed by LF");
	refused_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128\r\r\n", "v1: CR not followed by LF");
	refused_str("PROXY UNKNOWN\n", "v1: LF without CR");
	refused_str("PROXY UNKNOWN a\rb\r\n", "v1: CR not followed by LF");
	refused_str("PROXY \n", "v1: LF without CR");
	/* the CR alone waits for its LF */
	struct proxy_hdr h;
	const char *why;
	ck_assert_int_eq(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128\r", &h, &why), 0);
	ck_assert_int_eq(parse_str("PROXY UNKNOWN\r", &h, &why), 0);
}
END_TEST

START_TEST(v1_double_space_is_refused)
{
	static const char *const lines[] = {
		"PROXY  TCP4 192.0.2.1 198.51.100.2 56324 3128\r\n",
		"PROXY TCP4  192.0.2.1 198.51.100.2 56324 3128\r\n",
		"PROXY TCP4 192.0.2.1  198.51.100.2 56324 3128\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2  56324 3128\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324  3128\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128 \r\n",
		"PROXY TCP4 \r\n",
		"PROXY \r\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		refused_str(lines[i], "v1: double space or empty field");
	/* at the second space, without waiting for the CRLF */
	ck_assert_uint_eq(refused_at(lines[0], strlen(lines[0])), 7);
	ck_assert_uint_eq(refused_at(lines[2], strlen(lines[2])), 22);
	/* and a space before the CRLF at that space */
	ck_assert_uint_eq(refused_at(lines[5], strlen(lines[5])), 45);
	/* a tab is no space */
	refused_str("PROXY TCP4\t192.0.2.1 198.51.100.2 56324 3128\r\n", "v1: unknown protocol");
}
END_TEST

START_TEST(v1_unknown_protocol_is_refused)
{
	refused_str("PROXY TCP5 192.0.2.1 198.51.100.2 56324 3128\r\n", "v1: unknown protocol");
	refused_str("PROXY UDP4 192.0.2.1 198.51.100.2 56324 3128\r\n", "v1: unknown protocol");
	refused_str("PROXY tcp4 192.0.2.1 198.51.100.2 56324 3128\r\n", "v1: unknown protocol");
	refused_str("PROXY TCP 192.0.2.1 198.51.100.2 56324 3128\r\n", "v1: unknown protocol");
	refused_str("PROXY UNKNOWNX\r\n", "v1: unknown protocol");
	refused_str("PROXY UNKNOW\r\n", "v1: unknown protocol");
	ck_assert_uint_eq(refused_at("PROXY TCP5", 10), 10);
	ck_assert_uint_eq(refused_at("PROXY UNKNOWN_", 14), 14);
}
END_TEST

START_TEST(v1_bad_address_is_refused)
{
	static const struct refusal cases[] = {
		{ "PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP4 192.0.2.1.5 198.51.100.2 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP4 localhost 198.51.100.2 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.x 1 2\r\n", "v1: bad destination address" },
		{ "PROXY TCP4 192.0.2.1 ::1 1 2\r\n", "v1: bad destination address" },
		{ "PROXY TCP6 192.0.2.1 ::1 1 2\r\n", "v1: bad source address" },
		{ "PROXY TCP6 ::1 2001:db8::g 1 2\r\n", "v1: bad destination address" },
		{ "PROXY TCP6 ::1 1::2::3 1 2\r\n", "v1: bad destination address" },
		{ "PROXY TCP6 ::1 12345:: 1 2\r\n", "v1: bad destination address" },
		{ "PROXY TCP6 [::1] ::1 1 2\r\n", "v1: bad source address" },
	};
	refused_each(cases, sizeof(cases) / sizeof(cases[0]));
	/* a character no address of the family has is refused at once */
	ck_assert_uint_eq(refused_at("PROXY TCP4 192.0.x", 18), 18);
	ck_assert_uint_eq(refused_at("PROXY TCP4 192.0.2.1 ::", 23), 22);
	/* too long for any address of the family */
	ck_assert_uint_eq(refused_at("PROXY TCP4 1111111111111111", 27), 11 + 16);
	/* otherwise at the space after it */
	ck_assert_uint_eq(refused_at("PROXY TCP4 192.0.2.256 1", 24), 23);
}
END_TEST

START_TEST(v1_bad_port_is_refused)
{
	static const struct refusal cases[] = {
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 080 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 00 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 +80 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 1x 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 100000 2\r\n", "v1: bad source port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 65536\r\n", "v1: bad destination port" },
		{ "PROXY TCP4 192.0.2.1 198.51.100.2 1 080\r\n", "v1: bad destination port" },
		{ "PROXY TCP6 ::1 ::2 1 99999\r\n", "v1: bad destination port" },
	};
	refused_each(cases, sizeof(cases) / sizeof(cases[0]));
	/* at the digit that makes it wrong, before any CRLF */
	static const char big[] = "PROXY TCP4 192.0.2.1 198.51.100.2 65536";
	ck_assert_uint_eq(refused_at(big, strlen(big)), strlen(big));
	static const char zero[] = "PROXY TCP4 192.0.2.1 198.51.100.2 1 080";
	ck_assert_uint_eq(refused_at(zero, strlen(zero)), strlen(zero) - 1);
	/* "0" and 65535 are ports */
	struct proxy_hdr h;
	const char *why;
	ck_assert_int_eq(parse_str("PROXY TCP4 192.0.2.1 198.51.100.2 0 65535\r\n", &h, &why), 43);
	check_v4(&h.src, "192.0.2.1", 0);
	check_v4(&h.dst, "198.51.100.2", 65535);
}
END_TEST

START_TEST(v1_missing_or_extra_fields_are_refused)
{
	refused_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n", "v1: missing fields");
	refused_str("PROXY TCP4 192.0.2.1\r\n", "v1: missing fields");
	refused_str("PROXY TCP4\r\n", "v1: missing fields");
	refused_str("PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128 1\r\n", "v1: too many fields");
	/* without its CRLF the line waits, and a request after it is read as
	 * part of the last port */
	static const char crlf[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128";
	char line[200];
	snprintf(line, sizeof(line), "%s%s", crlf, REQUEST);
	struct proxy_hdr h;
	const char *why;
	ck_assert_int_eq(parse_str(crlf, &h, &why), 0);
	refused_str(line, "v1: bad destination port");
	/* the CRLF after the last port is what makes it a header */
	snprintf(line, sizeof(line), "%s 5\r\n", crlf);
	refused_str(line, "v1: too many fields");
}
END_TEST

/* --- malformed v2 --------------------------------------------------------------- */

START_TEST(v2_bad_version_is_refused_at_its_byte)
{
	static const uint8_t versions[] = { 0x01, 0x11, 0x31, 0xf1, 0x00, 0x10 };
	for (size_t i = 0; i < sizeof(versions); i++) {
		struct bytes s;
		v2(&s, versions[i], 0x11, ADDR4, sizeof(ADDR4));
		refused(s.b, s.n, "v2: unsupported version");
		ck_assert_uint_eq(refused_at(s.b, s.n), 13);
	}
}
END_TEST

START_TEST(v2_bad_command_is_refused_at_its_byte)
{
	for (unsigned cmd = 2; cmd <= 0xf; cmd++) {
		struct bytes s;
		v2(&s, (uint8_t)(0x20 | cmd), 0x11, ADDR4, sizeof(ADDR4));
		refused(s.b, s.n, "v2: unsupported command");
		ck_assert_uint_eq(refused_at(s.b, s.n), 13);
	}
}
END_TEST

START_TEST(v2_undefined_family_or_transport_is_refused)
{
	static const uint8_t fams[] = { 0x41, 0x51, 0xf1, 0x13, 0x1f, 0x03, 0x40 };
	for (size_t i = 0; i < sizeof(fams); i++) {
		struct bytes s;
		v2(&s, 0x21, fams[i], NULL, 216);
		refused(s.b, s.n, "v2: bad address family or transport");
		ck_assert_uint_eq(refused_at(s.b, s.n), 14);
	}
}
END_TEST

START_TEST(v2_length_short_of_the_family_is_refused)
{
	static const struct {
		uint8_t fam;
		size_t len;
	} cases[] = { { 0x11, 11 }, { 0x11, 0 }, { 0x21, 35 }, { 0x21, 12 }, { 0x12, 11 },
		      { 0x22, 35 }, { 0x31, 215 }, { 0x32, 36 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bytes s;
		v2(&s, 0x21, cases[i].fam, NULL, cases[i].len);
		refused(s.b, s.n, "v2: address block too short for its family");
		/* as soon as the length is in, before its bytes */
		ck_assert_uint_eq(refused_at(s.b, s.n), 16);
	}
}
END_TEST

START_TEST(v2_length_beyond_the_bound_is_refused)
{
	static const size_t lens[] = { PROXY_V2_MAX - 15, PROXY_V2_MAX, 0xffff };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t head[16];
		memcpy(head, SIG, 12);
		head[12] = 0x21;
		head[13] = 0x11;
		head[14] = (uint8_t)(lens[i] >> 8);
		head[15] = (uint8_t)lens[i];
		refused(head, 16, "v2: header longer than 1024 bytes");
		ck_assert_uint_eq(refused_at(head, 16), 16);
		/* LOCAL too: the bound is about what the caller holds */
		head[12] = 0x20;
		refused(head, 16, "v2: header longer than 1024 bytes");
	}
}
END_TEST

Suite *proxy_proto_suite(void)
{
	Suite *s = suite_create("proxy_proto");
	TCase *tc = tcase_create("valid");
	tcase_add_test(tc, v1_tcp4);
	tcase_add_test(tc, v1_tcp6);
	tcase_add_test(tc, v1_unknown_is_local);
	tcase_add_test(tc, v2_tcp4);
	tcase_add_test(tc, v2_tcp6);
	tcase_add_test(tc, v2_tlvs_are_skipped);
	tcase_add_test(tc, v2_local_is_local);
	tcase_add_test(tc, v2_other_families_are_local);
	tcase_add_test(tc, v2_longest_header_is_taken);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_add_test(tc, every_prefix_of_a_header_needs_more);
	tcase_add_test(tc, request_after_the_header_is_left);
	tcase_add_test(tc, out_and_why_written_only_with_their_answer);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_test(tc, http_request_is_refused_at_its_first_byte);
	tcase_add_test(tc, bad_signature_is_refused_at_the_byte);
	tcase_add_test(tc, v1_longer_than_107_bytes_is_refused);
	tcase_add_test(tc, v1_lone_cr_or_lf_is_refused);
	tcase_add_test(tc, v1_double_space_is_refused);
	tcase_add_test(tc, v1_unknown_protocol_is_refused);
	tcase_add_test(tc, v1_bad_address_is_refused);
	tcase_add_test(tc, v1_bad_port_is_refused);
	tcase_add_test(tc, v1_missing_or_extra_fields_are_refused);
	tcase_add_test(tc, v2_bad_version_is_refused_at_its_byte);
	tcase_add_test(tc, v2_bad_command_is_refused_at_its_byte);
	tcase_add_test(tc, v2_undefined_family_or_transport_is_refused);
	tcase_add_test(tc, v2_length_short_of_the_family_is_refused);
	tcase_add_test(tc, v2_length_beyond_the_bound_is_refused);
	suite_add_tcase(s, tc);
	return s;
}
