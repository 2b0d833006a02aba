/* proxy_proto: the PROXY protocol header (HAProxy, versions 1 and 2) that a
 * load balancer in front of sluice puts before the client's first byte.
 *
 * Behind a TCP load balancer every connection comes from the balancer, so
 * the access rules, the per-client limits and the access log would all see
 * the balancer's address.  A listener that speaks the PROXY protocol reads
 * the real client's address from this header instead.  The spec is
 * https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt; the two forms:
 *
 *   v1, one line of text, at most 107 bytes with its CRLF:
 *       "PROXY TCP4 192.0.2.1 198.51.100.2 56324 3128\r\n"   (or TCP6)
 *       "PROXY UNKNOWN[ anything]\r\n"
 *   v2, binary, 16 bytes then len bytes of addresses and TLVs:
 *       sig(12) = 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
 *       ver_cmd(1): version 2 in the high nibble; command LOCAL 0 or PROXY 1
 *       fam(1):     family (0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) << 4
 *                   | transport (0 UNSPEC, 1 STREAM, 2 DGRAM)
 *       len(2):     big-endian
 *       INET:  src(4) dst(4) sport(2) dport(2)    (12 bytes)
 *       INET6: src(16) dst(16) sport(2) dport(2)  (36 bytes)
 *       UNIX:  src(108) dst(108)                  (216 bytes)
 *       then TLVs, which sluice skips without reading them.
 *
 * Only TCP over IPv4 or IPv6 gives addresses.  Everything else the spec
 * allows (v1 UNKNOWN, v2 LOCAL, UNSPEC, UDP, UNIX) is accepted as "local":
 * the connection's own addresses stand, as HAProxy does.  Anything the spec
 * does not allow is refused, since a listener that takes PROXY headers must
 * not guess (spec section 2: no port sharing with plain clients).
 *
 * proxy_header_parse() is stateless and allocation-free: a caller that has
 * read more calls it again on everything it has.  Three promises let the
 * caller stop early and bound what it holds:
 *
 *   - Results are final.  Once a prefix of the stream gives -1, every longer
 *     one does too; a header of n bytes gives 0 for every prefix shorter
 *     than n and n for every prefix from n on (bytes after it are never
 *     looked at, they are the client's request).
 *   - -1 comes as early as the bytes allow: the first byte that cannot
 *     start either signature ("GET /" is refused at its 'G'), a v2 version,
 *     command, family or length as soon as its byte is in, a v1 field as
 *     soon as it cannot become a valid one (a letter in an IPv4 address, a
 *     port "0" followed by a digit or above 65535, a double space).  Only
 *     whether a v1 address as a whole is valid waits for the space or CR
 *     after it.
 *   - 0 only comes back for len < PROXY_V1_MAX (a stream starting "PROXY ")
 *     or len < PROXY_V2_MAX (starting with the v2 signature), so a caller
 *     never holds more than PROXY_V2_MAX bytes waiting for a header.
 */
#ifndef SLUICE_PROXY_PROTO_H
#define SLUICE_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/dns.h" /* union sockaddr_any */

/* The spec's longest v1 line, "PROXY UNKNOWN" with two full IPv6 addresses
 * and ports, CRLF included. */
#define PROXY_V1_MAX 107

/* The longest v2 header taken: 16 fixed bytes and up to 1008 of addresses
 * and TLVs.  That holds the largest address block (UNIX, 216) with every
 * TLV the spec registers at a generous size (an AUTHORITY of 255, a
 * UNIQUE_ID of 128, the SSL TLV with version, cipher, algorithms and a CN,
 * ALPN, CRC32C) plus a cloud balancer's own (AWS's VPC endpoint id), and it
 * is exactly the smallest buffer_size the config allows (1k), so a header
 * that parses always fits the client's input buffer. */
#define PROXY_V2_MAX 1024

struct proxy_hdr {
	/* No addresses in the header (v1 UNKNOWN, v2 LOCAL, v2 other than TCP
	 * over IPv4/IPv6): the connection's own addresses stand, and src and
	 * dst are all zero (AF_UNSPEC). */
	int local;
	/* The real client and the address it connected to, both AF_INET or both
	 * AF_INET6, ports in network order as in any sockaddr. */
	union sockaddr_any src, dst;
	int version; /* 1 or 2 */
};

/* Parse a PROXY header at the start of buf[0..len); never reads beyond len.
 *
 * Returns the header's length (> 0) with *out filled, 0 when more bytes are
 * needed (buf so far can still begin a header), or -1 when it is not a valid
 * header, with *why a short static text for the log ("not a PROXY protocol
 * header", "v1: bad source address", "v2: unsupported version" ...).  *out
 * is written (whole, padding zeroed) only on > 0, *why only on -1; why may
 * be NULL.
 *
 * Refused beyond what the layouts above say: v1 fields not separated by
 * exactly one space; an address that inet_pton() does not take for the
 * family (so IPv4 with leading zeros); a port with a sign, a leading zero
 * (but "0" itself) or above 65535; a lone CR or LF, or no CRLF within 107
 * bytes; a protocol word other than TCP4, TCP6, UNKNOWN (followed by a space
 * or the CRLF).  v2: a version other than 2; a command other than LOCAL and
 * PROXY; with PROXY, a family above 3 or a transport above 2, or a length
 * shorter than the family's address block when the transport is given
 * (12, 36, 216); a header longer than PROXY_V2_MAX.  A LOCAL header's family
 * byte is not looked at: the spec says to ignore it. */
int proxy_header_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out, const char **why);

#endif
