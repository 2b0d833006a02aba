/* Unit tests for src/intercept.c on real loopback sockets: a connection
 * that was not redirected has no original destination other than sluice
 * itself, which intercept_is_self() must recognise. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/intercept.h"
#include "suites.h"

struct conn {
	int lfd, cfd, afd;	/* listener, client end, accepted end */
	struct sockaddr_in addr;	/* the listener's */
};

static void conn_open(struct conn *c)
{
	socklen_t len = sizeof(c->addr);
	memset(&c->addr, 0, sizeof(c->addr));
	c->addr.sin_family = AF_INET;
	c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(c->lfd, 0);
	ck_assert_int_eq(bind(c->lfd, (struct sockaddr *)&c->addr, sizeof(c->addr)), 0);
	ck_assert_int_eq(listen(c->lfd, 1), 0);
	ck_assert_int_eq(getsockname(c->lfd, (struct sockaddr *)&c->addr, &len), 0);
	c->cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c->cfd, (struct sockaddr *)&c->addr, sizeof(c->addr)), 0);
	c->afd = accept(c->lfd, NULL, NULL);
	ck_assert_int_ge(c->afd, 0);
}

static void conn_close(struct conn *c)
{
	close(c->afd);
	close(c->cfd);
	close(c->lfd);
}

START_TEST(not_redirected_is_self)
{
	struct conn c;
	struct config cfg;
	config_defaults(&cfg);
	cfg.nlisten = 0;
	conn_open(&c);
	union sockaddr_any dst;
	/* Without a NAT record the kernel says ENOENT (no conntrack, or no
	 * entry); with one, the original destination is the local address. */
	if (intercept_original_dst(c.afd, &dst) == 0)
		ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 1);
	else
		ck_assert_int_eq(errno, ENOENT);
	/* the accepted socket's own address is sluice itself */
	memset(&dst, 0, sizeof(dst));
	dst.in = c.addr;
	ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 1);
	conn_close(&c);
}
END_TEST

START_TEST(elsewhere_is_not_self_but_a_listener_is)
{
	struct conn c;
	struct config cfg;
	config_defaults(&cfg);
	conn_open(&c);
	union sockaddr_any dst;
	memset(&dst, 0, sizeof(dst));
	dst.in.sin_family = AF_INET;
	inet_pton(AF_INET, "10.200.2.2", &dst.in.sin_addr);
	dst.in.sin_port = htons(80);
	cfg.nlisten = 0;
	ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 0);
	/* same port as the local one, other address: still elsewhere */
	dst.in.sin_port = c.addr.sin_port;
	ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 0);
	/* a configured listener's exact address is sluice */
	ck_assert_int_eq(config_parse_listen("10.200.2.2:80", &cfg.listen[0]), 0);
	cfg.nlisten = 1;
	dst.in.sin_port = htons(80);
	ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 1);
	/* a wildcard listener on that port cannot claim a remote address */
	ck_assert_int_eq(config_parse_listen("0.0.0.0:80", &cfg.listen[0]), 0);
	ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 0);
	/* another family never matches */
	memset(&dst, 0, sizeof(dst));
	dst.in6.sin6_family = AF_INET6;
	dst.in6.sin6_addr = in6addr_loopback;
	dst.in6.sin6_port = c.addr.sin_port;
	ck_assert_int_eq(intercept_is_self(c.afd, &dst, &cfg), 0);
	conn_close(&c);
}
END_TEST

START_TEST(local_addresses_are_local)
{
	union sockaddr_any a;
	memset(&a, 0, sizeof(a));
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons(80);
	a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(intercept_is_local(&a), 1);
	inet_pton(AF_INET, "127.0.0.2", &a.in.sin_addr);
	ck_assert_int_eq(intercept_is_local(&a), 1); /* all of 127/8 is local */
	/* TEST-NET-1 is nobody's address: not local, whatever the routes
	 * (unreachable is also "not local") */
	inet_pton(AF_INET, "192.0.2.1", &a.in.sin_addr);
	ck_assert_int_eq(intercept_is_local(&a), 0);
	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(443);
	a.in6.sin6_addr = in6addr_loopback;
	int v6 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (v6 != -1) { /* a kernel without IPv6 has no such address */
		close(v6);
		ck_assert_int_eq(intercept_is_local(&a), 1);
	}
	inet_pton(AF_INET6, "2001:db8::1", &a.in6.sin6_addr);
	ck_assert_int_eq(intercept_is_local(&a), 0);
}
END_TEST

/* connect() to 0.0.0.0 (all of 0/8 "this network") or to :: reaches this
 * host's loopback; so does a v4-mapped IPv6 address of any of those. */
START_TEST(unspecified_and_mapped_addresses_are_local)
{
	static const char *const v4[] = { "0.0.0.0", "0.1.2.3", "127.255.255.254" };
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		union sockaddr_any a;
		memset(&a, 0, sizeof(a));
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(80);
		inet_pton(AF_INET, v4[i], &a.in.sin_addr);
		ck_assert_msg(intercept_is_local(&a) == 1, "%s is not local", v4[i]);
	}
	static const char *const v6[] = { "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0", "::ffff:0.0.0.9" };
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		union sockaddr_any a;
		memset(&a, 0, sizeof(a));
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(80);
		inet_pton(AF_INET6, v6[i], &a.in6.sin6_addr);
		ck_assert_msg(intercept_is_local(&a) == 1, "%s is not local", v6[i]);
	}
	union sockaddr_any a;
	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &a.in6.sin6_addr); /* TEST-NET-1, mapped */
	ck_assert_int_eq(intercept_is_local(&a), 0);
}
END_TEST

Suite *intercept_suite(void)
{
	Suite *s = suite_create("intercept");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, not_redirected_is_self);
	tcase_add_test(tc, elsewhere_is_not_self_but_a_listener_is);
	tcase_add_test(tc, local_addresses_are_local);
	tcase_add_test(tc, unspecified_and_mapped_addresses_are_local);
	suite_add_tcase(s, tc);
	return s;
}
