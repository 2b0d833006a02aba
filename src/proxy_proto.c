#include "sluice/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* The layouts are in include/sluice/proxy_proto.h. */
static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
#define V2_VER_CMD 12 /* offsets of the bytes after the signature */
#define V2_FAM 13
#define V2_LEN 14
#define V2_FIXED 16 /* sig, ver_cmd, fam, len */
#define V2_VERSION 2
#define V2_LOCAL 0
#define V2_PROXY 1
#define V2_TCP4 0x11
#define V2_TCP6 0x21
#define V1_SIG "PROXY "
#define V1_SIG_LEN 6

/* The address block each family needs once a transport is named; UNSPEC
 * needs none. */
static const uint16_t v2_addr_len[4] = { 0, 12, 36, 216 };

_Static_assert(PROXY_V2_MAX == 1024, "the v2 length reason names 1024 bytes");
_Static_assert(PROXY_V1_MAX == 107, "the v1 length reason names 107 bytes");

static int refuse(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -1;
}

/* Whether p[0..len) agrees with sig[0..n) as far as both go. */
static int starts(const uint8_t *p, size_t len, const void *sig, size_t n)
{
	return memcmp(p, sig, len < n ? len : n) == 0;
}

/* --- version 2 ------------------------------------------------------------------ */

static void set_addr(union sockaddr_any *sa, int family, const uint8_t *addr, const uint8_t *port)
{
	if (family == AF_INET) {
		sa->in.sin_family = AF_INET;
		memcpy(&sa->in.sin_addr, addr, 4);
		memcpy(&sa->in.sin_port, port, 2);
	} else {
		sa->in6.sin6_family = AF_INET6;
		memcpy(&sa->in6.sin6_addr, addr, 16);
		memcpy(&sa->in6.sin6_port, port, 2);
	}
}

/* b[0..len) agrees with the 12-byte signature so far.  Each byte is
 * judged the moment it is in: ver_cmd, then fam, then the length, against
 * the bound and the family's address block, before waiting for the rest. */
static int v2_parse(const uint8_t *b, size_t len, struct proxy_hdr *out, const char **why)
{
	if (len <= V2_VER_CMD)
		return 0;
	if (b[V2_VER_CMD] >> 4 != V2_VERSION)
		return refuse(why, "v2: unsupported version");
	unsigned cmd = b[V2_VER_CMD] & 0x0f;
	if (cmd != V2_LOCAL && cmd != V2_PROXY)
		return refuse(why, "v2: unsupported command");
	if (len <= V2_FAM)
		return 0;
	/* A LOCAL header's family is to be ignored (spec 2.2); for PROXY the
	 * spec has receivers refuse the nibbles it does not define. */
	unsigned fam = b[V2_FAM] >> 4, transport = b[V2_FAM] & 0x0f;
	if (cmd == V2_PROXY && (fam > 3 || transport > 2))
		return refuse(why, "v2: bad address family or transport");
	if (len < V2_FIXED)
		return 0;
	size_t n = (size_t)b[V2_LEN] << 8 | b[V2_LEN + 1];
	if (V2_FIXED + n > PROXY_V2_MAX)
		return refuse(why, "v2: header longer than 1024 bytes");
	if (cmd == V2_PROXY && transport != 0 && n < v2_addr_len[fam])
		return refuse(why, "v2: address block too short for its family");
	if (len < V2_FIXED + n)
		return 0;

	/* TLVs after the addresses are skipped unread: nothing sluice does
	 * depends on them. */
	const uint8_t *a = b + V2_FIXED;
	memset(out, 0, sizeof(*out));
	out->version = 2;
	if (cmd == V2_PROXY && b[V2_FAM] == V2_TCP4) {
		set_addr(&out->src, AF_INET, a, a + 8);
		set_addr(&out->dst, AF_INET, a + 4, a + 10);
	} else if (cmd == V2_PROXY && b[V2_FAM] == V2_TCP6) {
		set_addr(&out->src, AF_INET6, a, a + 32);
		set_addr(&out->dst, AF_INET6, a + 16, a + 34);
	} else {
		out->local = 1;
	}
	return (int)(V2_FIXED + n);
}

/* --- version 1 ------------------------------------------------------------------ */

enum v1_field { F_PROTO, F_SRC, F_DST, F_SPORT, F_DPORT };

/* Each field check takes p[0..n), whole when done (a space or the CR came
 * after it), else only asks whether more bytes could still make it valid,
 * and returns NULL or the reason it cannot be. */

static const char *v1_proto(const uint8_t *p, size_t n, int done, int *family)
{
	static const struct {
		const char *word;
		int family;
	} protos[] = { { "TCP4", AF_INET }, { "TCP6", AF_INET6 }, { "UNKNOWN", AF_UNSPEC } };
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		size_t w = strlen(protos[i].word);
		if ((done ? n == w : n <= w) && memcmp(p, protos[i].word, n) == 0) {
			*family = protos[i].family;
			return NULL;
		}
	}
	return "v1: unknown protocol";
}

static int addr_char(uint8_t c, int family)
{
	if ((c >= '0' && c <= '9') || c == '.')
		return 1;
	/* IPv6, and its dotted IPv4 tail (::ffff:192.0.2.1) */
	return family == AF_INET6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'));
}

/* Whether the text is an address is inet_pton's to say, once it is whole;
 * before, the character set and the longest spelling. */
static const char *v1_addr(const uint8_t *p, size_t n, int done, int family, union sockaddr_any *sa,
			   const char *bad)
{
	char text[INET6_ADDRSTRLEN];
	size_t max = family == AF_INET ? INET_ADDRSTRLEN - 1 : INET6_ADDRSTRLEN - 1;
	if (n > max)
		return bad;
	for (size_t i = 0; i < n; i++)
		if (!addr_char(p[i], family))
			return bad;
	if (!done)
		return NULL;
	memcpy(text, p, n);
	text[n] = '\0';
	void *dst = family == AF_INET ? (void *)&sa->in.sin_addr : (void *)&sa->in6.sin6_addr;
	if (inet_pton(family, text, dst) != 1)
		return bad;
	sa->sa.sa_family = (sa_family_t)family;
	return NULL;
}

/* Decimal 0..65535, no sign, no leading zero but "0" itself: every prefix
 * of a valid port passes the same checks, so they run on partial ones. */
static const char *v1_port(const uint8_t *p, size_t n, int done, int family, union sockaddr_any *sa,
			   const char *bad)
{
	unsigned long v = 0;
	if (n > 5 || (n > 1 && p[0] == '0'))
		return bad;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return bad;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v > 65535)
		return bad;
	if (done) {
		in_port_t port = htons((uint16_t)v);
		if (family == AF_INET)
			sa->in.sin_port = port;
		else
			sa->in6.sin6_port = port;
	}
	return NULL;
}

/* The fields after "PROXY ": p[0..n) so far, the whole line when its CR is
 * at p[n].  Each field followed by a space is checked whole, the last one
 * for what it can become; so a bad field is refused as soon as it shows. */
static const char *v1_fields(const uint8_t *p, size_t n, int whole, struct proxy_hdr *h)
{
	int family = AF_UNSPEC;
	size_t start = 0;
	for (int f = F_PROTO;; f++) {
		size_t end = start;
		while (end < n && p[end] != ' ')
			end++;
		int done = end < n || whole;
		const uint8_t *t = p + start;
		size_t tn = end - start;
		const char *bad;
		if (done && tn == 0)
			return "v1: double space or empty field";
		switch (f) {
		case F_PROTO:
			bad = v1_proto(t, tn, done, &family);
			/* the spec: whatever follows UNKNOWN up to the CRLF is ignored */
			if (bad == NULL && done && family == AF_UNSPEC) {
				h->local = 1;
				return NULL;
			}
			break;
		case F_SRC: bad = v1_addr(t, tn, done, family, &h->src, "v1: bad source address"); break;
		case F_DST: bad = v1_addr(t, tn, done, family, &h->dst, "v1: bad destination address"); break;
		case F_SPORT: bad = v1_port(t, tn, done, family, &h->src, "v1: bad source port"); break;
		case F_DPORT: bad = v1_port(t, tn, done, family, &h->dst, "v1: bad destination port"); break;
		default: return "v1: too many fields";
		}
		if (bad != NULL)
			return bad;
		if (end == n)
			return whole && f < F_DPORT ? "v1: missing fields" : NULL;
		start = end + 1;
	}
}

/* b[0..len) agrees with "PROXY " so far.  The CRLF must end within
 * PROXY_V1_MAX bytes, so its CR is at index PROXY_V1_MAX - 2 at the latest;
 * past that with no CR, or at the first lone CR or LF, the line is refused.
 * The fields are checked on every call, on as much of the line as is in. */
static int v1_parse(const uint8_t *b, size_t len, struct proxy_hdr *out, const char **why)
{
	if (len <= V1_SIG_LEN)
		return 0;
	size_t lim = len < PROXY_V1_MAX - 1 ? len : PROXY_V1_MAX - 1;
	size_t cr = V1_SIG_LEN;
	while (cr < lim && b[cr] != '\r' && b[cr] != '\n')
		cr++;
	int whole = cr < lim;
	if (whole && b[cr] == '\n')
		return refuse(why, "v1: LF without CR");
	if (whole && cr + 1 < len && b[cr + 1] != '\n')
		return refuse(why, "v1: CR not followed by LF");

	struct proxy_hdr h;
	memset(&h, 0, sizeof(h));
	h.version = 1;
	const char *bad = v1_fields(b + V1_SIG_LEN, cr - V1_SIG_LEN, whole, &h);
	if (bad != NULL)
		return refuse(why, bad);
	if (!whole && len >= PROXY_V1_MAX - 1)
		return refuse(why, "v1: no CRLF within 107 bytes");
	if (!whole || cr + 1 == len)
		return 0;
	memcpy(out, &h, sizeof(h));
	return (int)(cr + 2);
}

int proxy_header_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out, const char **why)
{
	if (len == 0)
		return 0;
	/* The signatures differ in their first byte, so at most one agrees. */
	if (starts(buf, len, v2_sig, sizeof(v2_sig)))
		return v2_parse(buf, len, out, why);
	if (starts(buf, len, V1_SIG, V1_SIG_LEN))
		return v1_parse(buf, len, out, why);
	return refuse(why, "not a PROXY protocol header");
}
