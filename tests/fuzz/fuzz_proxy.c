/* The fuzz target for src/proxy_proto.c: proxy_header_parse() on any bytes
 * and on every prefix of them.  The input is copied to a heap block of its
 * exact size; for a prefix, the bytes past it are poisoned in ASan builds,
 * so a read beyond len is a sanitizer report either way.  Promises (the
 * header's), each aborting with its name when broken:
 *
 *   P1  the result is -1, 0, or 1..len; *why is set (a "v1: ", "v2: " or
 *       "not a PROXY protocol header" text) exactly on -1, *out written
 *       only on > 0
 *   P2  0 only below the bound of the version the first byte picks:
 *       len < PROXY_V1_MAX for "P", len < PROXY_V2_MAX for the v2 signature
 *   P3  results are final: over the prefixes 0..len the answers are 0 up to
 *       some point, then one answer for good; a header of n bytes gives 0
 *       for every prefix shorter than n, then n with the same *out (every
 *       prefix up to PROXY_V2_MAX + 16 bytes is tried, and len - 1)
 *   P4  an accepted header is what it says: version 1 for "PROXY ", else
 *       2; local exactly when there are no addresses, with src and dst all
 *       zero; otherwise both AF_INET or both AF_INET6, and they are the
 *       header's: the v2 address bytes at their offsets, a v1 TCP4 line
 *       printed again from them byte for byte, a TCP6 line printed again
 *       parsing to the same *out
 *
 * The mutations are mutate_text.h's with a built-in dictionary (PROXY words,
 * line ends, boundary ports and addresses, the v2 signature) and, for
 * binary headers, the v2 fields set to the values that matter (version and
 * command nibbles, the family byte, lengths at each family's block size and
 * the bound), with the body resized to the length or not. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/proxy_proto.h"
#include "target.h"

#if defined(__SANITIZE_ADDRESS__)
#define PROXY_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROXY_FUZZ_ASAN 1
#endif
#endif
#ifdef PROXY_FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

static const uint8_t SIG[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

enum outcome { O_NOT_PROXY, O_V1_REFUSED, O_V2_REFUSED, O_MORE, O_V1, O_V1_LOCAL, O_V2, O_V2_LOCAL, O_COUNT };
static unsigned long counts[O_COUNT];

/* proxy_header_parse on the first k bytes of block[0..size), the rest
 * made unreadable while it runs. */
static int parse_prefix(uint8_t *block, size_t size, size_t k, struct proxy_hdr *h, const char **why)
{
#ifdef PROXY_FUZZ_ASAN
	if (k < size)
		ASAN_POISON_MEMORY_REGION(block + k, size - k);
#endif
	int r = proxy_header_parse(block, k, h, why);
#ifdef PROXY_FUZZ_ASAN
	if (k < size)
		ASAN_UNPOISON_MEMORY_REGION(block + k, size - k);
#endif
	return r;
}

static int why_ok(const char *why)
{
	return why != NULL && (strncmp(why, "v1: ", 4) == 0 || strncmp(why, "v2: ", 4) == 0 ||
			       strcmp(why, "not a PROXY protocol header") == 0);
}

/* P1 for one call: the result's range and what it may write. */
static const char *call(uint8_t *block, size_t size, size_t k, struct proxy_hdr *h, int *r)
{
	static const char canary[] = "canary";
	struct proxy_hdr before;
	memset(&before, 0x5a, sizeof(before));
	*h = before;
	const char *why = canary;
	*r = parse_prefix(block, size, k, h, &why);
	if (*r < -1 || (*r > 0 && (size_t)*r > k))
		return "P1 result out of range";
	if ((*r == -1) != (why != canary))
		return "P1 why set other than on -1";
	if (*r == -1 && !why_ok(why))
		return "P1 why not a reason";
	if (*r <= 0 && memcmp(h, &before, sizeof(before)) != 0)
		return "P1 out written without a header";
	if (*r == 0 && k > 0 && k >= (block[0] == 'P' ? PROXY_V1_MAX : PROXY_V2_MAX))
		return "P2 more wanted past the bound";
	return NULL;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static int same_sockaddr(const union sockaddr_any *sa, int family, const uint8_t *addr, const uint8_t *port)
{
	if (family == AF_INET)
		return sa->sa.sa_family == AF_INET && memcmp(&sa->in.sin_addr, addr, 4) == 0 &&
		       memcmp(&sa->in.sin_port, port, 2) == 0;
	return sa->sa.sa_family == AF_INET6 && memcmp(&sa->in6.sin6_addr, addr, 16) == 0 &&
	       memcmp(&sa->in6.sin6_port, port, 2) == 0;
}

/* The line a v1 header with these addresses would be, printed by inet_ntop. */
static size_t v1_line(const struct proxy_hdr *h, char *line, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int v6 = h->src.sa.sa_family == AF_INET6;
	const void *sa = v6 ? (const void *)&h->src.in6.sin6_addr : (const void *)&h->src.in.sin_addr;
	const void *da = v6 ? (const void *)&h->dst.in6.sin6_addr : (const void *)&h->dst.in.sin_addr;
	if (inet_ntop(h->src.sa.sa_family, sa, s, sizeof(s)) == NULL ||
	    inet_ntop(h->dst.sa.sa_family, da, d, sizeof(d)) == NULL)
		return 0;
	unsigned sp = ntohs(v6 ? h->src.in6.sin6_port : h->src.in.sin_port);
	unsigned dp = ntohs(v6 ? h->dst.in6.sin6_port : h->dst.in.sin_port);
	int n = snprintf(line, cap, "PROXY TCP%c %s %s %u %u\r\n", v6 ? '6' : '4', s, d, sp, dp);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* P4 for a header of n bytes at p. */
static const char *accepted(const uint8_t *p, size_t n, const struct proxy_hdr *h)
{
	int v1 = p[0] == 'P';
	if (h->version != (v1 ? 1 : 2))
		return "P4 wrong version";
	if (h->local != 0 && h->local != 1)
		return "P4 local neither 0 nor 1";
	if (h->local) {
		if (!all_zero(&h->src, sizeof(h->src)) || !all_zero(&h->dst, sizeof(h->dst)))
			return "P4 local with addresses";
		if (v1 ? memcmp(p, "PROXY UNKNOWN", 13) != 0 || (p[13] != ' ' && p[13] != '\r')
		       : p[12] == 0x21 && (p[13] == 0x11 || p[13] == 0x21))
			return "P4 local, but the header has addresses";
		return NULL;
	}
	int fam = h->src.sa.sa_family;
	if ((fam != AF_INET && fam != AF_INET6) || h->dst.sa.sa_family != fam)
		return "P4 addresses of no family, or of two";
	if (!v1) {
		const uint8_t *a = p + 16;
		int v6 = fam == AF_INET6, alen = v6 ? 16 : 4;
		if (p[12] != 0x21 || p[13] != (v6 ? 0x21 : 0x11))
			return "P4 v2 addresses without PROXY and TCP over IPv4/IPv6";
		const uint8_t *ports = a + 2 * alen;
		if (!same_sockaddr(&h->src, fam, a, ports) || !same_sockaddr(&h->dst, fam, a + alen, ports + 2))
			return "P4 v2 addresses not the header's";
		return NULL;
	}
	char line[PROXY_V1_MAX + 64];
	size_t ln = v1_line(h, line, sizeof(line));
	if (ln == 0)
		return "P4 v1 addresses do not print";
	if (fam == AF_INET && (ln != n || memcmp(line, p, n) != 0))
		return "P4 v1 TCP4 line not the one its addresses print";
	struct proxy_hdr again;
	const char *why;
	if (proxy_header_parse((const uint8_t *)line, ln, &again, &why) != (int)ln ||
	    memcmp(&again, h, sizeof(again)) != 0)
		return "P4 v1 line printed from the addresses parses otherwise";
	return NULL;
}

static enum outcome outcome_of(const uint8_t *data, int r, const struct proxy_hdr *h)
{
	if (r == 0)
		return O_MORE;
	int v1 = data[0] == 'P';
	if (r < 0)
		return data[0] != 'P' && data[0] != SIG[0] ? O_NOT_PROXY : v1 ? O_V1_REFUSED : O_V2_REFUSED;
	if (v1)
		return h->local ? O_V1_LOCAL : O_V1;
	return h->local ? O_V2_LOCAL : O_V2;
}

#define PREFIXES_ALL (PROXY_V2_MAX + 16)

static const char *check(uint8_t *block, size_t size)
{
	struct proxy_hdr full, h;
	int r, rk;
	const char *broken = call(block, size, size, &full, &r);
	if (broken != NULL)
		return broken;
	if (size > 0)
		counts[outcome_of(block, r, &full)]++;
	if (r > 0 && (broken = accepted(block, (size_t)r, &full)) != NULL)
		return broken;

	/* P3 over every prefix up to a little past both bounds, where the
	 * answer must have settled, and the one a byte short of the whole:
	 * libFuzzer's inputs run to 17000 bytes, and each prefix costs a pass
	 * over the poisoned rest. */
	int settled = 0;
	for (size_t k = 0; k < size; k++) {
		if (k > PREFIXES_ALL)
			k = size - 1;
		if ((broken = call(block, size, k, &h, &rk)) != NULL)
			return broken;
		if (r > 0) {
			if (k < (size_t)r ? rk != 0 : rk != r)
				return "P3 a prefix of a header answers otherwise";
			if (rk > 0 && memcmp(&h, &full, sizeof(h)) != 0)
				return "P3 a prefix from the header on gives another header";
		} else if (r == 0) {
			if (rk != 0)
				return "P3 a prefix answers where the whole needs more";
		} else {
			if (rk > 0 || (settled && rk != -1))
				return "P3 a prefix of a refused input is taken or needs more after a refusal";
			settled |= rk == -1;
		}
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *block = malloc(size ? size : 1);
	if (block == NULL)
		abort();
	memcpy(block, data, size);
	const char *broken = check(block, size);
	free(block);
	if (broken != NULL)
		fuzz_fail("proxy", broken, size);
	return 0;
}

/* --- mutations ------------------------------------------------------------------ */

static const char *const tokens[] = {
	"PROXY ", "TCP4 ", "TCP6 ", "UNKNOWN", "UNKNOWN ", "\r\n", "\r", "\n", " ", "  ",
	"0", "65535", "65536", "080", "+1", "255.255.255.255", "0.0.0.0", "1.2.3.04", "256.1.1.1",
	"::", "::1", "::ffff:1.2.3.4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1::2::3", "GET / HTTP/1.1\r\n",
};

/* The v2 fields at the values the parser decides on. */
static size_t mutate_v2(struct fuzz_rng *r, uint8_t *buf, size_t len, size_t cap)
{
	static const uint8_t ver_cmd[] = { 0x20, 0x21, 0x21, 0x22, 0x2f, 0x11, 0x31, 0x01, 0xf1 };
	static const uint8_t fam[] = { 0x00, 0x11, 0x11, 0x12, 0x21, 0x21, 0x22,
				       0x31, 0x32, 0x10, 0x01, 0x13, 0x41, 0xff };
	static const size_t lens[] = { 0, 11, 12, 35, 36, 215, 216, 1007, 1008, 1009, 0xffff };
	if (len < 16) {
		if (cap < 16)
			return len;
		memcpy(buf, SIG, 12);
		buf[12] = 0x21;
		buf[13] = 0x11;
		buf[14] = 0;
		buf[15] = 12;
		len = 16;
	}
	switch (fuzz_below(r, 4)) {
	case 0: buf[12] = ver_cmd[fuzz_below(r, sizeof(ver_cmd))]; return len;
	case 1: buf[13] = fam[fuzz_below(r, sizeof(fam))]; return len;
	default: {
		size_t n = fuzz_below(r, 3) ? lens[fuzz_below(r, sizeof(lens) / sizeof(lens[0]))]
					    : (len - 16 + (size_t)fuzz_below(r, 3) - 1) & 0xffff;
		buf[14] = (uint8_t)(n >> 8);
		buf[15] = (uint8_t)n;
		/* mostly with a body of that length, so it gets past the wait */
		if (fuzz_below(r, 4) != 0 && 16 + n <= cap) {
			if (16 + n > len)
				for (size_t i = len; i < 16 + n; i++)
					buf[i] = (uint8_t)fuzz_next(r);
			len = 16 + n;
		}
		return len;
	}
	}
}

static size_t mutate(struct fuzz_rng *r, const struct fuzz_dict *d, const struct fuzz_input *seeds, size_t nseeds,
		     uint8_t *buf, size_t len, size_t cap)
{
	static struct fuzz_dict dict;
	if (dict.n == 0)
		for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
			dict.len[dict.n] = (uint8_t)strlen(tokens[i]);
			memcpy(dict.tok[dict.n++], tokens[i], strlen(tokens[i]));
		}
	if ((len == 0 || buf[0] == SIG[0]) && fuzz_below(r, 2))
		return mutate_v2(r, buf, len, cap);
	return text_mutate(r, d != NULL && d->n > 0 ? d : &dict, seeds, nseeds, buf, len, cap);
}

static void report(FILE *out)
{
	fprintf(out,
		"  not a PROXY header      %lu\n  v1 refused              %lu\n  v2 refused              %lu\n"
		"  more needed             %lu\n  v1 with addresses       %lu\n  v1 local (UNKNOWN)      %lu\n"
		"  v2 with addresses       %lu\n  v2 local                %lu\n",
		counts[O_NOT_PROXY], counts[O_V1_REFUSED], counts[O_V2_REFUSED], counts[O_MORE], counts[O_V1],
		counts[O_V1_LOCAL], counts[O_V2], counts[O_V2_LOCAL]);
}

/* Past both bounds: the longest v2 header (1024) and more. */
const struct fuzz_target fuzz_target = { "proxy", 2048, mutate, report };
