#include "sluice/tls_hello.h"

#include <string.h>

/* The layouts are in include/sluice/tls_hello.h. */
#define REC_HEADER 5
#define REC_MAX 16384		/* a record's plaintext length, at most (RFC 8446 5.1) */
#define CT_HANDSHAKE 22
#define HS_HEADER 4
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define NAME_HOST 0
#define HOST_MAX 255

const char *tls_hello_text(enum tls_hello r)
{
	switch (r) {
	case TLS_HELLO_MORE: return "incomplete hello";
	case TLS_HELLO_SNI: return "sni";
	case TLS_HELLO_NO_SNI: return "no SNI";
	case TLS_HELLO_NOT_TLS: return "not TLS";
	case TLS_HELLO_SSLV2: return "SSLv2 hello";
	case TLS_HELLO_TOO_BIG: return "hello too big";
	case TLS_HELLO_MALFORMED: return "malformed hello";
	}
	return "?";
}

/* --- the ClientHello body ------------------------------------------------------- */

/* A cursor over a vector: every read checks what is left, so a length that
 * lies can only make a read fail, never reach outside the vector. */
struct reader {
	const uint8_t *p;
	size_t left;
};

static int get_u8(struct reader *r, uint8_t *v)
{
	if (r->left < 1)
		return 0;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 1;
}

static int get_u16(struct reader *r, uint16_t *v)
{
	if (r->left < 2)
		return 0;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 1;
}

static int skip(struct reader *r, size_t n)
{
	if (r->left < n)
		return 0;
	r->p += n;
	r->left -= n;
	return 1;
}

/* A vector with a 1- or 2-byte length prefix, taken off r as its own
 * reader; fails when the length claims more than r holds. */
static int get_vec(struct reader *r, int prefix, struct reader *v)
{
	size_t n;
	if (prefix == 1) {
		uint8_t n8;
		if (!get_u8(r, &n8))
			return 0;
		n = n8;
	} else {
		uint16_t n16;
		if (!get_u16(r, &n16))
			return 0;
		n = n16;
	}
	v->p = r->p;
	v->left = n;
	return skip(r, n);
}

static int host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_';
}

/* The server_name extension's data: server_name_list, filling it exactly.
 * On success *host is the one host_name entry, or has p == NULL when the
 * list holds other name types only. */
static enum tls_hello server_name(struct reader ext, struct reader *host)
{
	struct reader list;
	if (!get_vec(&ext, 2, &list) || ext.left != 0 || list.left == 0)
		return TLS_HELLO_MALFORMED;
	host->p = NULL;
	while (list.left > 0) {
		uint8_t type;
		struct reader entry;
		/* name_type(1), then (for host_name, and assumed for the rest
		 * since RFC 6066 never defined another) a 2-byte length */
		if (!get_u8(&list, &type) || !get_vec(&list, 2, &entry))
			return TLS_HELLO_MALFORMED;
		if (type != NAME_HOST)
			continue;
		if (host->p != NULL)
			return TLS_HELLO_MALFORMED;
		*host = entry;
	}
	return host->p != NULL ? TLS_HELLO_SNI : TLS_HELLO_NO_SNI;
}

/* body[0..n): a whole ClientHello after its 4-byte header.  The name is
 * copied out only once everything around it has been checked, so name is
 * untouched unless the answer is TLS_HELLO_SNI. */
static enum tls_hello client_hello(const uint8_t *body, size_t n, char *name, size_t namecap)
{
	struct reader r = { body, n }, v, exts;
	uint8_t major;

	/* legacy_version: 0x0300..0x0303; the SSLv2 layout is caught before */
	if (!get_u8(&r, &major) || major != 3 || !skip(&r, 1 + 32 /* minor, random */))
		return TLS_HELLO_MALFORMED;
	if (!get_vec(&r, 1, &v) || v.left > 32)	/* legacy_session_id */
		return TLS_HELLO_MALFORMED;
	if (!get_vec(&r, 2, &v) || v.left < 2 || v.left % 2 != 0)	/* cipher_suites */
		return TLS_HELLO_MALFORMED;
	if (!get_vec(&r, 1, &v) || v.left < 1)	/* legacy_compression_methods */
		return TLS_HELLO_MALFORMED;
	/* SSL 3.0 hellos may end here; with extensions, their block must end
	 * exactly where the message does. */
	if (r.left == 0)
		return TLS_HELLO_NO_SNI;
	if (!get_vec(&r, 2, &exts) || r.left != 0)
		return TLS_HELLO_MALFORMED;

	struct reader host = { NULL, 0 };
	int seen = 0;
	/* Walk every extension, not just up to server_name: a block that does
	 * not add up is a malformed hello whichever extension is wrong. */
	while (exts.left > 0) {
		uint16_t type;
		struct reader data;
		if (!get_u16(&exts, &type) || !get_vec(&exts, 2, &data))
			return TLS_HELLO_MALFORMED;
		if (type != EXT_SERVER_NAME)
			continue;
		if (seen++)
			return TLS_HELLO_MALFORMED;
		enum tls_hello res = server_name(data, &host);
		if (res == TLS_HELLO_MALFORMED)
			return res;
	}
	if (host.p == NULL)
		return TLS_HELLO_NO_SNI;

	if (host.left < 1 || host.left > HOST_MAX || host.left >= namecap)
		return TLS_HELLO_MALFORMED;
	for (size_t i = 0; i < host.left; i++)
		if (!host_char(host.p[i]))
			return TLS_HELLO_MALFORMED;
	/* DNS names compare without case; ACLs and logs want one spelling. */
	for (size_t i = 0; i < host.left; i++) {
		uint8_t c = host.p[i];
		name[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	name[host.left] = '\0';
	return TLS_HELLO_SNI;
}

/* --- records ---------------------------------------------------------------------- */

/* An SSLv2 record header is 2 bytes, length with the high bit set; then
 * msg_type 1 (CLIENT-HELLO) and the version, major first: 0x0002 for SSLv2
 * itself, 3.x from clients that offer TLS in an SSLv2-compatible hello. */
static enum tls_hello sslv2_hello(const uint8_t *p, size_t len)
{
	if (len < 3)
		return TLS_HELLO_MORE;
	if (p[2] != 1)
		return TLS_HELLO_NOT_TLS;
	if (len < 4)
		return TLS_HELLO_MORE;
	return p[3] == 0 || p[3] == 2 || p[3] == 3 ? TLS_HELLO_SSLV2 : TLS_HELLO_NOT_TLS;
}

/* The record loop checks each field the moment its bytes are there and in
 * the order they arrive, and returns TLS_HELLO_MORE only where the next
 * check lacks bytes: that order is what makes results final (see the
 * header).  Per record:
 *
 *   type, version major  -> not TLS (first record) or malformed (later)
 *   length 1..16384      -> malformed
 *   the handshake header, once its 4 bytes have arrived (they may come
 *   over up to 4 records): type 1, else malformed; then, from the declared
 *   lengths alone, for this record and every later one:
 *     the record ends past the message            -> malformed
 *     the message cannot end within TLS_HELLO_MAX  -> too big
 *   the record's bytes all there, else more
 */
enum tls_hello tls_hello_parse(const uint8_t *p, size_t len, char *name, size_t namecap)
{
	if (len > TLS_HELLO_MAX)
		len = TLS_HELLO_MAX;
	if (len == 0)
		return TLS_HELLO_MORE;
	if (p[0] & 0x80)
		return sslv2_hello(p, len);

	/* The message never holds more bytes than the stream around it, and
	 * the stream is cut at TLS_HELLO_MAX, so msg cannot overflow. */
	uint8_t msg[TLS_HELLO_MAX];
	size_t have = 0;	/* bytes of the handshake message gathered in msg */
	size_t want = 0;	/* its whole length, header included; 0 until known */
	size_t pos = 0;		/* the current record's first byte in p */

	for (;;) {
		enum tls_hello not_ours = pos == 0 ? TLS_HELLO_NOT_TLS : TLS_HELLO_MALFORMED;
		if (pos >= len)
			return TLS_HELLO_MORE;
		if (p[pos] != CT_HANDSHAKE)
			return not_ours;
		if (pos + 1 >= len)
			return TLS_HELLO_MORE;
		if (p[pos + 1] != 3)
			return not_ours;
		if (pos + REC_HEADER > len)
			return TLS_HELLO_MORE;
		size_t rlen = (size_t)p[pos + 3] << 8 | p[pos + 4];
		/* RFC 8446 5.1: no zero-length handshake fragments */
		if (rlen == 0 || rlen > REC_MAX)
			return TLS_HELLO_MALFORMED;

		size_t data = pos + REC_HEADER;
		size_t here = len - data < rlen ? len - data : rlen;	/* of the record's bytes */
		size_t had = have;
		memcpy(msg + have, p + data, here);
		have += here;

		if (want == 0) {
			if (have >= 1 && msg[0] != HS_CLIENT_HELLO)
				return TLS_HELLO_MALFORMED;
			if (have < HS_HEADER) {
				if (here < rlen)
					return TLS_HELLO_MORE;
				pos = data + rlen;
				continue;
			}
			want = HS_HEADER + ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]);
		}
		if (rlen > want - had)
			return TLS_HELLO_MALFORMED;
		/* Where the message would end in the stream, at the earliest:
		 * here, or after one more record header if this record is not
		 * the last. */
		size_t rest = want - had - rlen;
		size_t end = data + rlen + (rest > 0 ? REC_HEADER + rest : 0);
		if (end > TLS_HELLO_MAX)
			return TLS_HELLO_TOO_BIG;
		if (here < rlen)
			return TLS_HELLO_MORE;
		if (have == want)
			return client_hello(msg + HS_HEADER, want - HS_HEADER, name, namecap);
		pos = data + rlen;
	}
}
