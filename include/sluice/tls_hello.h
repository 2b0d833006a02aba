/* tls_hello: find the SNI host name in the first bytes of a TLS connection.
 *
 * For transparent proxying: a connection redirected to sluice carries no
 * CONNECT line, so the only name for the destination is the server_name the
 * client puts in its ClientHello.  sluice peeks at those bytes and never
 * decrypts; the bytes themselves still go to the upstream unchanged.
 *
 * The stream must start with TLS handshake records (RFC 8446 5.1):
 *
 *     record:     type(1)=22  version(2)  length(2)  fragment[length]
 *     handshake:  type(1)=1   length(3)   ClientHello body[length]
 *
 * and the ClientHello may be cut into fragments over several records.  The
 * body (RFC 8446 4.1.2, RFC 6066 3):
 *
 *     legacy_version(2) random(32) session_id<0..32>
 *     cipher_suites<2..2^16-2> compression_methods<1..2^8-1>
 *     [extensions<0..2^16-1>: type(2) data<0..2^16-1> ...]
 *     server_name (type 0) data: server_name_list<1..2^16-1> of
 *         name_type(1) name<1..2^16-1>, host_name being name_type 0
 *
 * tls_hello_parse() is stateless: it reads from the first byte every time,
 * so a caller that has read more just calls it again on everything it has.
 * It does not allocate; it uses TLS_HELLO_MAX bytes of stack to join the
 * fragments of the message.
 *
 * Two promises let a caller stop early:
 *
 *   - Results are final.  Once a prefix of the stream gives anything but
 *     TLS_HELLO_MORE, every longer prefix gives the same result (and on
 *     TLS_HELLO_SNI the same name): a check is made as soon as the bytes it
 *     needs are there, and in stream order.  Bytes after the ClientHello
 *     (a ChangeCipherSpec, early data) are never looked at.
 *   - TLS_HELLO_MORE only comes back for len < TLS_HELLO_MAX: a hello that
 *     would need more of the stream than that is TLS_HELLO_TOO_BIG, and that
 *     is known as soon as the declared lengths are.
 */
#ifndef SLUICE_TLS_HELLO_H
#define SLUICE_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define TLS_HELLO_MAX 16384	/* bytes of the stream looked at, at most */

enum tls_hello {
	TLS_HELLO_MORE,		/* looks like a ClientHello so far: need more bytes */
	TLS_HELLO_SNI,		/* complete ClientHello with a server_name host_name: copied to name */
	TLS_HELLO_NO_SNI,	/* complete ClientHello without one */
	TLS_HELLO_NOT_TLS,	/* the stream does not start with a TLS handshake record */
	TLS_HELLO_SSLV2,	/* an SSLv2-style ClientHello (2-byte record header): no SNI possible */
	TLS_HELLO_TOO_BIG,	/* the ClientHello does not fit in TLS_HELLO_MAX bytes of stream */
	TLS_HELLO_MALFORMED,	/* TLS records, but what is inside is inconsistent */
};

/* p[0..len) are the first len bytes the client sent (len may exceed
 * TLS_HELLO_MAX; only the first TLS_HELLO_MAX count).
 * name must have room for 256 bytes; on TLS_HELLO_SNI it holds the
 * NUL-terminated host name, lowercased.  namecap is its size: a host name
 * that does not fit with its NUL counts as malformed (with 256 that is never
 * a valid one).  name is written only when the result is TLS_HELLO_SNI.
 *
 * The host name is 1..255 bytes of letters, digits, '-', '.' and '_';
 * anything else (a NUL, a space, UTF-8) makes the hello malformed, and so do
 * a second server_name extension and a second host_name entry (RFC 6066 3),
 * which different servers resolve differently.  A server_name extension
 * holding only entries of other name types is no SNI.
 *
 * What counts as malformed besides the body's vectors not adding up: a
 * record whose type is not 22 or version major not 3 after the first one
 * (an alert in the middle of the hello), a record length of 0 or above
 * 16384, a handshake message that is not a ClientHello, a record that goes
 * on past the end of the ClientHello (a client sends nothing more before the
 * server answers), and a legacy_version whose major byte is not 3. */
enum tls_hello tls_hello_parse(const uint8_t *p, size_t len, char *name, size_t namecap);

/* A short text for logs: "sni", "no SNI", "not TLS", "SSLv2 hello",
 * "hello too big", "malformed hello", "incomplete hello". */
const char *tls_hello_text(enum tls_hello r);

#endif
