/* intercept: where a redirected (transparent) connection was really going.
 *
 * A gateway's firewall rewrites the destination of a client's connection to
 * sluice's transparent listener (iptables REDIRECT); netfilter's connection
 * tracking remembers the original one, which getsockopt hands back.
 */
#ifndef SLUICE_INTERCEPT_H
#define SLUICE_INTERCEPT_H

#include "sluice/config.h"
#include "sluice/dns.h"

/* The original destination of the accepted socket fd: SO_ORIGINAL_DST for
 * IPv4, IP6T_SO_ORIGINAL_DST for IPv6, chosen by the socket's family.
 * Returns 0, or -1 with errno set (ENOENT: no NAT record for it). */
int intercept_original_dst(int fd, union sockaddr_any *out);

/* Is dst sluice itself: the local address of fd, or the address of one of
 * cfg's listeners?  A connection to a transparent listener that was not
 * redirected has itself as its original destination; carrying it there
 * would loop.  (Redirecting sluice's own outgoing connections back to it,
 * with OUTPUT rules, is a loop this cannot see: the README says so.) */
int intercept_is_self(int fd, const union sockaddr_any *dst, const struct config *cfg);

/* Is dst's address one of this machine's own (whatever the port)?  A
 * redirected connection to the gateway itself must not be carried there:
 * sluice would reach the gateway's services from a local address, past the
 * INPUT rules that keep clients out.  Answered by the routing table, so it
 * follows address changes; loopback, the unspecified addresses (0.0.0.0/8
 * and ::, which connect() takes to this host) and their v4-mapped forms
 * are local whatever the routes say. */
int intercept_is_local(const union sockaddr_any *dst);

#endif
