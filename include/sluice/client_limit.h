/* client_limit: connections per client address, for
 * max_connections_per_client, so that one host cannot take the gateway's
 * every connection.
 *
 * The acceptor takes a count for each socket it accepts (and closes the
 * socket at once when the client is over its limit); whoever ends the
 * connection gives it back, on any thread.  One mutex around a small
 * chained table: a lock per accept and per close, never per request.
 * With the limit off (0) both calls return at once.  A v4-mapped IPv6
 * client counts as its IPv4 address.
 */
#ifndef SLUICE_CLIENT_LIMIT_H
#define SLUICE_CLIENT_LIMIT_H

#include <stdint.h>
#include <string.h>

#include "sluice/dns.h" /* union sockaddr_any */

/* An address as these tables key it: 16 bytes, IPv4 as v4-mapped IPv6
 * (so a v4-mapped client counts as its IPv4 address). */
static inline void client_key(const union sockaddr_any *a, uint8_t key[16])
{
	if (a->sa.sa_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a->in.sin_addr, 4);
	} else {
		memcpy(key, &a->in6.sin6_addr, 16);
	}
}

/* Set the limit (0: off) for at most max_clients connections in all
 * (the table never grows past that).  0, or -1 when out of memory. */
int client_limit_init(uint32_t per_client, uint32_t max_clients);
void client_limit_free(void);

/* Count one more connection from peer: 1, or 0 (not counted) when peer
 * holds per_client connections already. */
int client_limit_take(const union sockaddr_any *peer);
/* That connection ended. */
void client_limit_give(const union sockaddr_any *peer);

#endif
