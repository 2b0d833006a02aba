#include "sluice/intercept.h"

#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int intercept_original_dst(int fd, union sockaddr_any *out)
{
	union sockaddr_any local;
	socklen_t len = sizeof(local);
	if (getsockname(fd, &local.sa, &len) == -1)
		return -1;
	memset(out, 0, sizeof(*out));
	if (local.sa.sa_family == AF_INET6) {
		len = sizeof(out->in6);
		return getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &out->in6, &len);
	}
	len = sizeof(out->in);
	return getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &out->in, &len);
}

static int same_port(const union sockaddr_any *a, const struct sockaddr_storage *b)
{
	if (a->sa.sa_family != b->ss_family)
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == ((const struct sockaddr_in *)b)->sin_port;
	return a->in6.sin6_port == ((const struct sockaddr_in6 *)b)->sin6_port;
}

/* Same family, port and address. */
static int same_endpoint(const union sockaddr_any *a, const struct sockaddr_storage *b)
{
	if (!same_port(a, b))
		return 0;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;
	return memcmp(&a->in6.sin6_addr, &b6->sin6_addr, sizeof(b6->sin6_addr)) == 0;
}

/* 127/8 is loopback; connect() sends 0/8 ("this network") there too. */
static int v4_is_loopback(uint32_t addr)
{
	uint32_t first = ntohl(addr) >> 24;
	return first == 127 || first == 0;
}

int intercept_is_local(const union sockaddr_any *dst)
{
	/* A v4-mapped IPv6 address is its IPv4 address. */
	if (dst->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&dst->in6.sin6_addr)) {
		union sockaddr_any v4;
		memset(&v4, 0, sizeof(v4));
		v4.in.sin_family = AF_INET;
		v4.in.sin_port = dst->in6.sin6_port;
		memcpy(&v4.in.sin_addr, &dst->in6.sin6_addr.s6_addr[12], 4);
		return intercept_is_local(&v4);
	}
	/* A connected UDP socket asks the routing table without sending
	 * anything: to a local address, the source it picks is that address
	 * (bind(2) would say yes to every address under ip_nonlocal_bind).
	 * The loopback ranges answer with their one preferred source, and the
	 * unspecified addresses (0.0.0.0, ::), which connect() takes to mean
	 * this host, with none of theirs: both are decided here. */
	if (dst->sa.sa_family == AF_INET ? v4_is_loopback(dst->in.sin_addr.s_addr)
					 : IN6_IS_ADDR_LOOPBACK(&dst->in6.sin6_addr) ||
						   IN6_IS_ADDR_UNSPECIFIED(&dst->in6.sin6_addr))
		return 1;
	socklen_t len = dst->sa.sa_family == AF_INET6 ? sizeof(dst->in6) : sizeof(dst->in);
	int fd = socket(dst->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	union sockaddr_any src;
	socklen_t slen = sizeof(src);
	int local = connect(fd, &dst->sa, len) == 0 && getsockname(fd, &src.sa, &slen) == 0 &&
		    (dst->sa.sa_family == AF_INET6
			     ? memcmp(&src.in6.sin6_addr, &dst->in6.sin6_addr, sizeof(src.in6.sin6_addr)) == 0
			     : src.in.sin_addr.s_addr == dst->in.sin_addr.s_addr);
	close(fd);
	return local;
}

int intercept_is_self(int fd, const union sockaddr_any *dst, const struct config *cfg)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	if (getsockname(fd, (struct sockaddr *)&local, &len) == 0 && same_endpoint(dst, &local))
		return 1;
	/* A wildcard listener cannot be told apart from a remote service on
	 * the same port; the local address above covers it for connections
	 * that were not redirected. */
	for (int i = 0; i < cfg->nlisten; i++)
		if (same_endpoint(dst, &cfg->listen[i].addr))
			return 1;
	return 0;
}
