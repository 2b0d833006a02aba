/* Unit tests for src/upstream.c: the table of addresses that failed lately
 * (marks, their expiry and doubling, clearing, the bound), the order in
 * which a host's addresses are tried, and the pool's part: a pooled
 * connection taken only for an address of the current answer, and connect
 * outcomes noted in the table (loopback sockets, no network). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/loop.h"
#include "sluice/upstream.h"
#include "suites.h"

#define T0 1000000 /* a clock value far from 0 */

static union sockaddr_any v4(const char *ip, uint16_t port)
{
	union sockaddr_any a;
	memset(&a, 0, sizeof(a));
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.in.sin_addr), 1);
	return a;
}

static union sockaddr_any v6(const char *ip, uint16_t port)
{
	union sockaddr_any a;
	memset(&a, 0, sizeof(a));
	a.in6.sin6_family = AF_INET6;
	a.in6.sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.in6.sin6_addr), 1);
	return a;
}

static int same(const union sockaddr_any *a, const union sockaddr_any *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* --- the table ------------------------------------------------------------------ */

START_TEST(empty_table_marks_nothing)
{
	struct upstream_fails *f = upstream_fails_new();
	ck_assert_ptr_nonnull(f);
	union sockaddr_any a = v4("192.0.2.1", 80);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0, NULL), 0);
	ck_assert_uint_eq(upstream_fails_count(f), 0);
	upstream_fails_clear(f, &a); /* nothing to forget: no harm */
	ck_assert_uint_eq(upstream_fails_count(f), 0);
	upstream_fails_free(f);
	upstream_fails_free(NULL);
}
END_TEST

START_TEST(a_failure_marks_for_the_hold_then_expires)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any a = v4("192.0.2.1", 80);
	upstream_fails_add(f, &a, T0);
	uint64_t last = 0;
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0, &last), 1);
	ck_assert_uint_eq(last, T0);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + UPSTREAM_FAIL_HOLD_MS - 1, NULL), 1);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + UPSTREAM_FAIL_HOLD_MS, NULL), 0);
	ck_assert_uint_eq(upstream_fails_count(f), 1); /* kept, to double a repeat */
	upstream_fails_free(f);
}
END_TEST

START_TEST(address_port_and_family_are_the_key)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any a = v4("192.0.2.1", 80);
	union sockaddr_any other_port = v4("192.0.2.1", 443);
	union sockaddr_any other_ip = v4("192.0.2.65", 80); /* differs in bit 6 only */
	union sockaddr_any mapped = v6("::ffff:192.0.2.1", 80);
	upstream_fails_add(f, &a, T0);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + 1, NULL), 1);
	ck_assert_int_eq(upstream_fails_marked(f, &other_port, T0 + 1, NULL), 0);
	ck_assert_int_eq(upstream_fails_marked(f, &other_ip, T0 + 1, NULL), 0);
	ck_assert_int_eq(upstream_fails_marked(f, &mapped, T0 + 1, NULL), 0);
	union sockaddr_any b6 = v6("2001:db8::1", 80);
	upstream_fails_add(f, &b6, T0);
	ck_assert_int_eq(upstream_fails_marked(f, &b6, T0 + 1, NULL), 1);
	ck_assert_uint_eq(upstream_fails_count(f), 2);
	upstream_fails_free(f);
}
END_TEST

START_TEST(a_success_clears_the_mark)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any a = v4("192.0.2.1", 80), b = v4("192.0.2.2", 80);
	upstream_fails_add(f, &a, T0);
	upstream_fails_add(f, &b, T0);
	upstream_fails_clear(f, &a);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + 1, NULL), 0);
	ck_assert_int_eq(upstream_fails_marked(f, &b, T0 + 1, NULL), 1);
	ck_assert_uint_eq(upstream_fails_count(f), 1);
	/* cleared means forgotten: failing again starts from the first hold */
	upstream_fails_add(f, &a, T0 + 2);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + 2 + UPSTREAM_FAIL_HOLD_MS - 1, NULL), 1);
	ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + 2 + UPSTREAM_FAIL_HOLD_MS, NULL), 0);
	upstream_fails_free(f);
}
END_TEST

/* The length of a's current mark, found by probing (a was marked at t). */
static uint64_t hold_of(const struct upstream_fails *f, const union sockaddr_any *a, uint64_t t)
{
	uint64_t lo = t, hi = t + 2 * (uint64_t)UPSTREAM_FAIL_HOLD_MAX_MS;
	ck_assert_int_eq(upstream_fails_marked(f, a, lo, NULL), 1);
	while (hi - lo > 1) { /* marked at lo, not at hi */
		uint64_t mid = lo + (hi - lo) / 2;
		if (upstream_fails_marked(f, a, mid, NULL))
			lo = mid;
		else
			hi = mid;
	}
	return hi - t;
}

START_TEST(failing_again_soon_after_the_mark_doubles_the_hold_up_to_the_cap)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any a = v4("192.0.2.1", 80);
	uint64_t t = T0, want = UPSTREAM_FAIL_HOLD_MS;
	upstream_fails_add(f, &a, t);
	ck_assert_uint_eq(hold_of(f, &a, t), want);
	for (int i = 0; i < 10; i++) {
		t += want + 5; /* tried again just after the mark ended: fails */
		upstream_fails_add(f, &a, t);
		want = want * 2 > UPSTREAM_FAIL_HOLD_MAX_MS ? UPSTREAM_FAIL_HOLD_MAX_MS : want * 2;
		ck_assert_uint_eq(hold_of(f, &a, t), want);
	}
	ck_assert_uint_eq(want, UPSTREAM_FAIL_HOLD_MAX_MS);
	upstream_fails_free(f);
}
END_TEST

START_TEST(failing_long_after_the_mark_starts_over)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any a = v4("192.0.2.1", 80);
	upstream_fails_add(f, &a, T0);
	upstream_fails_add(f, &a, T0 + UPSTREAM_FAIL_HOLD_MS + 1); /* doubled */
	uint64_t t = T0 + UPSTREAM_FAIL_HOLD_MS + 1;
	ck_assert_uint_eq(hold_of(f, &a, t), 2 * UPSTREAM_FAIL_HOLD_MS);
	/* a whole hold after the mark ended: a new outage */
	t += 2 * UPSTREAM_FAIL_HOLD_MS + 2 * UPSTREAM_FAIL_HOLD_MS;
	upstream_fails_add(f, &a, t);
	ck_assert_uint_eq(hold_of(f, &a, t), UPSTREAM_FAIL_HOLD_MS);
	upstream_fails_free(f);
}
END_TEST

START_TEST(failures_while_marked_renew_without_doubling)
{
	/* a hundred connects of one outage failing one after the other (they
	 * were all under way): one hold, counted from the last of them */
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any a = v4("192.0.2.1", 80);
	for (int i = 0; i < 100; i++)
		upstream_fails_add(f, &a, T0 + (uint64_t)i * 10);
	uint64_t last = 0, t = T0 + 990;
	ck_assert_int_eq(upstream_fails_marked(f, &a, t, &last), 1);
	ck_assert_uint_eq(last, t);
	ck_assert_uint_eq(hold_of(f, &a, t), UPSTREAM_FAIL_HOLD_MS);
	ck_assert_uint_eq(upstream_fails_count(f), 1);
	upstream_fails_free(f);
}
END_TEST

START_TEST(the_table_is_bounded_and_keeps_the_newest)
{
	struct upstream_fails *f = upstream_fails_new();
	const uint32_t cap = UPSTREAM_FAILS_SETS * UPSTREAM_FAILS_WAYS;
	union sockaddr_any a;
	for (uint32_t i = 0; i < 20000; i++) {
		memset(&a, 0, sizeof(a));
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(80);
		a.in.sin_addr.s_addr = htonl(0x0a000000u + i);
		upstream_fails_add(f, &a, T0 + i);
		ck_assert_uint_le(upstream_fails_count(f), cap);
		ck_assert_int_eq(upstream_fails_marked(f, &a, T0 + i, NULL), 1);
	}
	ck_assert_uint_eq(upstream_fails_count(f), cap); /* every slot used */
	/* the oldest were the ones to go: of the first thousand, none is left */
	int kept = 0;
	for (uint32_t i = 0; i < 1000; i++) {
		a.in.sin_addr.s_addr = htonl(0x0a000000u + i);
		kept += upstream_fails_marked(f, &a, T0 + 20000, NULL);
	}
	ck_assert_int_eq(kept, 0);
	upstream_fails_free(f);
}
END_TEST

/* --- the order ------------------------------------------------------------------ */

START_TEST(no_failures_resolver_order_at_turn_zero_then_rotating)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any in[3] = { v4("192.0.2.1", 80), v4("192.0.2.2", 80), v4("192.0.2.3", 80) };
	for (uint32_t turn = 0; turn < 7; turn++) {
		union sockaddr_any a[3];
		memcpy(a, in, sizeof(in));
		upstream_fails_order(f, a, 3, turn, T0);
		for (int i = 0; i < 3; i++)
			ck_assert(same(&a[i], &in[(turn + (uint32_t)i) % 3]));
	}
	upstream_fails_free(f);
}
END_TEST

START_TEST(rotation_keeps_the_resolvers_pattern_of_families)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any in[5] = { v6("2001:db8::1", 80), v4("192.0.2.1", 80), v6("2001:db8::2", 80),
				     v4("192.0.2.2", 80), v6("2001:db8::3", 80) };
	union sockaddr_any a[5];
	memcpy(a, in, sizeof(in));
	upstream_fails_order(f, a, 5, 1, T0);
	/* 6 4 6 4 6 still; each family's list starts one further on */
	ck_assert(same(&a[0], &in[2]));
	ck_assert(same(&a[1], &in[3]));
	ck_assert(same(&a[2], &in[4]));
	ck_assert(same(&a[3], &in[1]));
	ck_assert(same(&a[4], &in[0]));
	/* IPv4 first (no IPv6 route, dns.c put it last): IPv4 stays first */
	union sockaddr_any in2[4] = { v4("192.0.2.1", 80), v4("192.0.2.2", 80), v6("2001:db8::1", 80),
				      v6("2001:db8::2", 80) };
	memcpy(a, in2, sizeof(in2));
	upstream_fails_order(f, a, 4, 1, T0);
	ck_assert(same(&a[0], &in2[1]));
	ck_assert(same(&a[1], &in2[0]));
	ck_assert(same(&a[2], &in2[3]));
	ck_assert(same(&a[3], &in2[2]));
	upstream_fails_free(f);
}
END_TEST

START_TEST(marked_addresses_go_last_oldest_failure_first)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any in[4] = { v4("192.0.2.1", 80), v4("192.0.2.2", 80), v4("192.0.2.3", 80),
				     v4("192.0.2.4", 80) };
	upstream_fails_add(f, &in[0], T0 + 20); /* the newest failure */
	upstream_fails_add(f, &in[2], T0 + 10);
	union sockaddr_any a[4];
	for (uint32_t turn = 0; turn < 4; turn++) {
		memcpy(a, in, sizeof(in));
		upstream_fails_order(f, a, 4, turn, T0 + 30);
		/* the healthy two first, turning; then .3 (failed first), .1 */
		ck_assert(same(&a[0], &in[turn % 2 ? 3 : 1]));
		ck_assert(same(&a[1], &in[turn % 2 ? 1 : 3]));
		ck_assert(same(&a[2], &in[2]));
		ck_assert(same(&a[3], &in[0]));
	}
	/* once the marks end, the resolver's order again */
	memcpy(a, in, sizeof(in));
	upstream_fails_order(f, a, 4, 0, T0 + 20 + UPSTREAM_FAIL_HOLD_MS);
	for (int i = 0; i < 4; i++)
		ck_assert(same(&a[i], &in[i]));
	upstream_fails_free(f);
}
END_TEST

START_TEST(every_address_marked_all_are_still_tried)
{
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any in[3] = { v4("192.0.2.1", 80), v4("192.0.2.2", 80), v6("2001:db8::1", 80) };
	upstream_fails_add(f, &in[0], T0 + 3);
	upstream_fails_add(f, &in[1], T0 + 1);
	upstream_fails_add(f, &in[2], T0 + 2);
	union sockaddr_any a[3];
	memcpy(a, in, sizeof(in));
	upstream_fails_order(f, a, 3, 5, T0 + 10);
	ck_assert(same(&a[0], &in[1]));
	ck_assert(same(&a[1], &in[2]));
	ck_assert(same(&a[2], &in[0]));
	upstream_fails_free(f);
}
END_TEST

START_TEST(order_is_a_permutation)
{
	/* whatever is marked and whatever the turn, every address stays, once */
	struct upstream_fails *f = upstream_fails_new();
	union sockaddr_any in[DNS_MAX_ADDRS];
	char ip[64];
	for (int i = 0; i < DNS_MAX_ADDRS; i++) {
		if (i % 3 == 1) {
			snprintf(ip, sizeof(ip), "2001:db8::%d", i + 1);
			in[i] = v6(ip, 443);
		} else {
			snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
			in[i] = v4(ip, 443);
		}
	}
	for (uint32_t mask = 0; mask < (1u << DNS_MAX_ADDRS); mask += 7) {
		struct upstream_fails *g = upstream_fails_new();
		for (int i = 0; i < DNS_MAX_ADDRS; i++)
			if (mask & (1u << i))
				upstream_fails_add(g, &in[i], T0 + (uint64_t)((i * 5) % 8));
		for (int n = 1; n <= DNS_MAX_ADDRS; n++) {
			union sockaddr_any a[DNS_MAX_ADDRS];
			memcpy(a, in, sizeof(in));
			upstream_fails_order(g, a, n, mask * 3, T0 + 100);
			for (int i = 0; i < n; i++) {
				int seen = 0;
				for (int j = 0; j < n; j++)
					seen += same(&a[j], &in[i]);
				ck_assert_int_eq(seen, 1);
			}
		}
		upstream_fails_free(g);
	}
	upstream_fails_free(f);
}
END_TEST

/* --- the pool ------------------------------------------------------------------- */

static void no_events(void *owner, uint32_t events)
{
	(void)owner;
	(void)events;
}

/* A listener on 127.0.0.1 and its address. */
static int listener(union sockaddr_any *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	*a = v4("127.0.0.1", 0);
	ck_assert_int_eq(bind(fd, &a->sa, sizeof(a->in)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	socklen_t len = sizeof(a->in);
	ck_assert_int_eq(getsockname(fd, &a->sa, &len), 0);
	return fd;
}

/* The connect on u has completed (loopback: at once, or nearly). */
static void connected(struct upstream *u)
{
	struct pollfd p = { .fd = upstream_fd(u), .events = POLLOUT };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_eq(upstream_connect_result(u), 0);
}

START_TEST(a_pooled_connection_serves_only_an_address_of_the_answer)
{
	struct loop *l = loop_new();
	ck_assert_ptr_nonnull(l);
	struct upstream_pool *p = upstream_pool_new(l, 16, 60000);
	ck_assert_ptr_nonnull(p);
	union sockaddr_any at;
	int lfd = listener(&at);
	int owner;

	struct upstream *u = upstream_connect(p, &at, "name.test:80", no_events, &owner);
	ck_assert_ptr_nonnull(u);
	connected(u);
	upstream_release(u, 1);
	ck_assert_uint_eq(upstream_pool_idle(p), 1);

	/* the answer has it (ports are not compared: the key has the port) */
	union sockaddr_any answer[2] = { v4("127.0.0.9", 0), v4("127.0.0.1", 0) };
	struct upstream *t = upstream_take(p, "name.test:80", answer, 2, no_events, &owner);
	ck_assert_ptr_eq(t, u);
	upstream_release(t, 1);

	/* no answer: a name's connection is not taken, and stays */
	ck_assert_ptr_null(upstream_take(p, "name.test:80", NULL, 0, no_events, &owner));
	ck_assert_uint_eq(upstream_pool_idle(p), 1);

	/* the name moved: not taken, and closed */
	union sockaddr_any moved[2] = { v4("127.0.0.9", 0), v6("::ffff:127.0.0.1", 0) };
	ck_assert_ptr_null(upstream_take(p, "name.test:80", moved, 2, no_events, &owner));
	ck_assert_uint_eq(upstream_pool_idle(p), 0);
	ck_assert_int_eq(upstream_fd(u), -1);

	upstream_pool_free(p);
	loop_free(l);
	close(lfd);
}
END_TEST

START_TEST(a_literals_pooled_connection_needs_no_answer)
{
	struct loop *l = loop_new();
	struct upstream_pool *p = upstream_pool_new(l, 16, 60000);
	union sockaddr_any at;
	int lfd = listener(&at);
	int owner;
	char key[64];
	snprintf(key, sizeof(key), "127.0.0.1:%u", ntohs(at.in.sin_port));
	struct upstream *u = upstream_connect(p, &at, key, no_events, &owner);
	ck_assert_ptr_nonnull(u);
	connected(u);
	upstream_release(u, 1);
	ck_assert_ptr_eq(upstream_take(p, key, NULL, 0, no_events, &owner), u);
	upstream_release(u, 1);
	/* nor does an IPv6 literal's (the key is "::1:port"), when this host
	 * has IPv6 loopback */
	union sockaddr_any at6 = v6("::1", 0);
	int lfd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len6 = sizeof(at6.in6);
	if (lfd6 >= 0 && bind(lfd6, &at6.sa, sizeof(at6.in6)) == 0 && listen(lfd6, 4) == 0 &&
	    getsockname(lfd6, &at6.sa, &len6) == 0) {
		snprintf(key, sizeof(key), "::1:%u", ntohs(at6.in6.sin6_port));
		u = upstream_connect(p, &at6, key, no_events, &owner);
		ck_assert_ptr_nonnull(u);
		connected(u);
		upstream_release(u, 1);
		ck_assert_ptr_eq(upstream_take(p, key, NULL, 0, no_events, &owner), u);
		upstream_close(u);
	}
	if (lfd6 >= 0)
		close(lfd6);
	/* a name made of digits is still a name */
	u = upstream_connect(p, &at, "163.example:80", no_events, &owner);
	ck_assert_ptr_nonnull(u);
	connected(u);
	upstream_release(u, 1);
	ck_assert_ptr_null(upstream_take(p, "163.example:80", NULL, 0, no_events, &owner));
	upstream_pool_free(p);
	loop_free(l);
	close(lfd);
}
END_TEST

START_TEST(the_pool_notes_connect_outcomes_and_orders_by_them)
{
	struct loop *l = loop_new();
	struct upstream_pool *p = upstream_pool_new(l, 16, 60000);
	union sockaddr_any good;
	int lfd = listener(&good);
	/* a port nobody listens on: bound, then closed */
	union sockaddr_any refusing;
	close(listener(&refusing));
	int owner;

	/* refused (at once on loopback, or when the connect ends) */
	struct upstream *u = upstream_connect(p, &refusing, "x:1", no_events, &owner);
	if (u) {
		struct pollfd pf = { .fd = upstream_fd(u), .events = POLLOUT };
		ck_assert_int_eq(poll(&pf, 1, 2000), 1);
		ck_assert_int_eq(upstream_connect_result(u), -1);
		ck_assert_int_eq(errno, ECONNREFUSED);
		upstream_close(u);
	} else {
		ck_assert_int_eq(errno, ECONNREFUSED);
	}
	union sockaddr_any a[2] = { refusing, good };
	upstream_order(p, a, 2);
	ck_assert(same(&a[0], &good));
	ck_assert(same(&a[1], &refusing));

	/* a silent one, timed out by its owner: behind one that did not fail */
	union sockaddr_any other;
	int lfd2 = listener(&other);
	u = upstream_connect(p, &good, "x:1", no_events, &owner);
	ck_assert_ptr_nonnull(u);
	upstream_connect_timed_out(u);
	upstream_close(u);
	union sockaddr_any b[3] = { good, refusing, other };
	upstream_order(p, b, 3);
	ck_assert(same(&b[0], &other));

	/* a connect that succeeds clears the mark */
	u = upstream_connect(p, &good, "x:1", no_events, &owner);
	ck_assert_ptr_nonnull(u);
	connected(u);
	upstream_close(u);
	a[0] = refusing;
	a[1] = good;
	upstream_order(p, a, 2);
	ck_assert(same(&a[0], &good));
	ck_assert(same(&a[1], &refusing));
	close(lfd2);

	upstream_pool_free(p);
	loop_free(l);
	close(lfd);
}
END_TEST

Suite *upstream_suite(void)
{
	Suite *s = suite_create("upstream");
	TCase *tc = tcase_create("fails");
	tcase_add_test(tc, empty_table_marks_nothing);
	tcase_add_test(tc, a_failure_marks_for_the_hold_then_expires);
	tcase_add_test(tc, address_port_and_family_are_the_key);
	tcase_add_test(tc, a_success_clears_the_mark);
	tcase_add_test(tc, failing_again_soon_after_the_mark_doubles_the_hold_up_to_the_cap);
	tcase_add_test(tc, failing_long_after_the_mark_starts_over);
	tcase_add_test(tc, failures_while_marked_renew_without_doubling);
	tcase_add_test(tc, the_table_is_bounded_and_keeps_the_newest);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_test(tc, no_failures_resolver_order_at_turn_zero_then_rotating);
	tcase_add_test(tc, rotation_keeps_the_resolvers_pattern_of_families);
	tcase_add_test(tc, marked_addresses_go_last_oldest_failure_first);
	tcase_add_test(tc, every_address_marked_all_are_still_tried);
	tcase_add_test(tc, order_is_a_permutation);
	suite_add_tcase(s, tc);

	tc = tcase_create("pool");
	tcase_add_test(tc, a_pooled_connection_serves_only_an_address_of_the_answer);
	tcase_add_test(tc, a_literals_pooled_connection_needs_no_answer);
	tcase_add_test(tc, the_pool_notes_connect_outcomes_and_orders_by_them);
	suite_add_tcase(s, tc);
	return s;
}
