/* Unit tests for the descriptor budget (src/worker.c): the reserve, the
 * max_connections that fits, the plan main makes from RLIMIT_NOFILE and the
 * config; the count the acceptor makes over the workers' pools and what it
 * asks them to give back; and upstream_pool_evict (src/upstream.c), which
 * closes the longest idle connections first.  Workers are not started:
 * their pools are set up by hand on a loop of the test's own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/loop.h"
#include "sluice/tunnel.h"
#include "sluice/upstream.h"
#include "sluice/worker.h"
#include "suites.h"

START_TEST(reserve_counts_what_is_not_budgeted)
{
	/* 3 stdio + 4 logs + 1 listener + 2 acceptor + (2 + 2 x 3 + 2) + 8 slack */
	ck_assert_int_eq(worker_fd_reserve(1, 1, 3), 28);
	ck_assert_int_eq(worker_fd_reserve(2, 1, 3), 29);
	ck_assert_int_eq(worker_fd_reserve(1, 2, 3), 38);
	ck_assert_int_eq(worker_fd_reserve(1, 1, 8), 38);
	ck_assert_int_eq(worker_fd_reserve(16, 1024, 8), 3 + 4 + 16 + 2 + 1024 * 20 + 8);
}
END_TEST

START_TEST(max_connections_fits_the_budget)
{
	ck_assert_int_eq(worker_max_connections(10000, 228), 114);
	ck_assert_int_eq(worker_max_connections(10000, 229), 114);
	ck_assert_int_eq(worker_max_connections(100, 228), 100);
	ck_assert_int_eq(worker_max_connections(114, 228), 114);
	ck_assert_int_eq(worker_max_connections(10000, 2), 1);
	ck_assert_int_eq(worker_max_connections(10000, 1 << 30), 10000);
}
END_TEST

START_TEST(plan_from_nofile_and_config)
{
	struct config c;
	config_defaults(&c);
	c.nlisten = 1;
	struct worker_limits lim;
	char err[512];
	log_open(LOG_ERR, "stderr"); /* the plan's warnings are expected here */

	/* plenty: nothing lowered */
	ck_assert_int_eq(worker_limits_plan(&c, 2, 1 << 20, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(lim.fd_reserve, worker_fd_reserve(1, 2, 3));
	ck_assert_int_eq(lim.fd_budget, (1 << 20) - lim.fd_reserve);
	ck_assert_int_eq(lim.max_connections, 10000);
	ck_assert_int_eq(lim.pipe_fds_max, lim.fd_budget / 4 / 2);
	ck_assert_uint_gt(lim.pipe_memory, 0);

	/* 256 with one worker: 228 for connections, 114 of them */
	ck_assert_int_eq(worker_limits_plan(&c, 1, 256, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(lim.nofile, 256);
	ck_assert_int_eq(lim.fd_budget, 228);
	ck_assert_int_eq(lim.max_connections, 114);
	ck_assert_int_eq(lim.pipe_fds_max, 57);

	/* the resolver list says how many DNS sockets to set aside */
	snprintf(c.resolver, sizeof(c.resolver), "127.0.0.1,127.0.0.2");
	ck_assert_int_eq(worker_limits_plan(&c, 1, 256, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(lim.fd_reserve, worker_fd_reserve(1, 1, 2));
	c.resolver[0] = '\0';

	/* configured pipe memory, privileged or within the quota */
	c.tunnel_pipe_memory = 1u << 20;
	ck_assert_int_eq(worker_limits_plan(&c, 1, 256, &lim, err, sizeof(err)), 0);
	ck_assert_uint_eq(lim.pipe_memory, 1u << 20);

	/* too low to hold one connection: refused, saying why */
	ck_assert_int_eq(worker_limits_plan(&c, 1, 29, &lim, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "RLIMIT_NOFILE 29 is too low"));
	ck_assert_int_eq(worker_limits_plan(&c, 1, 30, &lim, err, sizeof(err)), 0);
	ck_assert_int_eq(lim.max_connections, 1);
}
END_TEST

/* --- the pools, counted and reclaimed ---------------------------------------------------------- */

static void no_events(void *owner, uint32_t events)
{
	(void)owner;
	(void)events;
}

static int listener(union sockaddr_any *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(a, 0, sizeof(*a));
	a->in.sin_family = AF_INET;
	a->in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, &a->sa, sizeof(a->in)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	socklen_t len = sizeof(a->in);
	ck_assert_int_eq(getsockname(fd, &a->sa, &len), 0);
	return fd;
}

/* n connections to at, connected and released into p's pool, oldest
 * first in u[]. */
static void fill_pool(struct upstream_pool *p, const union sockaddr_any *at, struct upstream **u, int n)
{
	static int owner;
	for (int i = 0; i < n; i++) {
		u[i] = upstream_connect(p, at, "pool.test:80", no_events, &owner);
		ck_assert_ptr_nonnull(u[i]);
		struct pollfd pf = { .fd = upstream_fd(u[i]), .events = POLLOUT };
		ck_assert_int_eq(poll(&pf, 1, 2000), 1);
		ck_assert_int_eq(upstream_connect_result(u[i]), 0);
	}
	for (int i = 0; i < n; i++)
		upstream_release(u[i], 1);
}

START_TEST(evict_closes_the_longest_idle_first)
{
	struct loop *l = loop_new();
	struct upstream_pool *p = upstream_pool_new(l, 16, 60000);
	union sockaddr_any at;
	int lfd = listener(&at);
	struct upstream *u[5];
	fill_pool(p, &at, u, 5);
	ck_assert_uint_eq(upstream_pool_idle(p), 5);
	ck_assert_uint_eq(upstream_pool_evict(p, 2), 2);
	ck_assert_uint_eq(upstream_pool_idle(p), 3);
	ck_assert_int_eq(upstream_fd(u[0]), -1);
	ck_assert_int_eq(upstream_fd(u[1]), -1);
	ck_assert_int_ge(upstream_fd(u[2]), 0);
	ck_assert_int_ge(upstream_fd(u[4]), 0);
	/* no more than there are */
	ck_assert_uint_eq(upstream_pool_evict(p, 10), 3);
	ck_assert_uint_eq(upstream_pool_idle(p), 0);
	ck_assert_uint_eq(upstream_pool_evict(p, 1), 0);
	upstream_reap(p);
	upstream_pool_free(p);
	loop_free(l);
	close(lfd);
}
END_TEST

/* Two workers' pools set up by hand: the acceptor's count and what it asks
 * each worker to give back. */
START_TEST(count_and_reclaim_over_the_workers)
{
	struct loop *l = loop_new();
	struct worker w[2];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 2; i++) {
		w[i].id = i;
		w[i].pool = upstream_pool_new(l, 16, 60000);
		w[i].pipes = pipe_pool_new(4);
		w[i].wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ck_assert_int_ge(w[i].wake.fd, 0);
	}
	struct worker_limits lim = { .nofile = 256, .fd_reserve = 28, .fd_budget = 228, .max_connections = 114,
				     .pipe_fds_max = 57, .pipe_memory = 1u << 20 };
	worker_limits_set(w, 2, &lim);
	ck_assert_int_eq(worker_limits()->fd_budget, 228);
	ck_assert_int_eq(worker_fds_in_use(), 0);

	union sockaddr_any at;
	int lfd = listener(&at);
	struct upstream *a[3], *b[4];
	fill_pool(w[0].pool, &at, a, 3);
	fill_pool(w[1].pool, &at, b, 4);
	ck_assert_int_eq(worker_fds_in_use(), 7);

	/* short by 5: worker 0 gives its 3, worker 1 the 2 left */
	ck_assert_int_eq(worker_fds_reclaim(5), 5);
	ck_assert_int_eq(atomic_load(&w[0].reclaim), 3);
	ck_assert_int_eq(atomic_load(&w[1].reclaim), 2);
	uint64_t v;
	ck_assert_int_eq(read(w[0].wake.fd, &v, sizeof(v)), sizeof(v)); /* both woken */
	ck_assert_int_eq(read(w[1].wake.fd, &v, sizeof(v)), sizeof(v));
	/* more than is idle: what there is */
	ck_assert_int_eq(worker_fds_reclaim(100), 7);
	worker_fds_relax();
	/* nothing idle: nothing to ask */
	upstream_pool_evict(w[0].pool, 3);
	upstream_pool_evict(w[1].pool, 4);
	ck_assert_int_eq(worker_fds_in_use(), 0);
	atomic_store(&w[0].reclaim, 0);
	atomic_store(&w[1].reclaim, 0);
	ck_assert_int_eq(worker_fds_reclaim(5), 0);
	ck_assert_int_eq(atomic_load(&w[0].reclaim), 0);

	for (int i = 0; i < 2; i++) {
		upstream_pool_free(w[i].pool);
		pipe_pool_free(w[i].pipes);
		close(w[i].wake.fd);
	}
	loop_free(l);
	close(lfd);
}
END_TEST

Suite *worker_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("fd_budget");
	tcase_add_test(tc, reserve_counts_what_is_not_budgeted);
	tcase_add_test(tc, max_connections_fits_the_budget);
	tcase_add_test(tc, plan_from_nofile_and_config);
	tcase_add_test(tc, evict_closes_the_longest_idle_first);
	tcase_add_test(tc, count_and_reclaim_over_the_workers);
	suite_add_tcase(s, tc);
	return s;
}
