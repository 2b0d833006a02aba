/* Unit tests for the timer heap in src/loop.c, driven through
 * loop_run_once(l, 0) with deadlines already in the past, plus one pipe to
 * see an io callback dispatched. */
#include <string.h>
#include <unistd.h>

#include "sluice/loop.h"
#include "suites.h"

#define NTIMERS 16

static struct timer timers[NTIMERS];
static int fired[NTIMERS * 2];
static int nfired;

static void record(struct timer *t)
{
	ck_assert_int_lt(nfired, NTIMERS * 2);
	fired[nfired++] = (int)(t - timers);
}

static struct loop *setup_loop(void)
{
	memset(timers, 0, sizeof(timers));
	nfired = 0;
	for (int i = 0; i < NTIMERS; i++)
		timers[i].cb = record;
	struct loop *l = loop_new();
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_gt(loop_now(l), 1000); /* room for deadlines in the past */
	return l;
}

/* A deadline ms milliseconds after a point safely in the past. */
static uint64_t past(const struct loop *l, int ms)
{
	return loop_now(l) - 1000 + (uint64_t)ms;
}

START_TEST(timers_fire_in_deadline_order)
{
	struct loop *l = setup_loop();
	timer_set(l, &timers[0], past(l, 30));
	timer_set(l, &timers[1], past(l, 10));
	timer_set(l, &timers[2], past(l, 20));
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(nfired, 3);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(fired[1], 2);
	ck_assert_int_eq(fired[2], 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(timer_armed(&timers[i]), 0);
	loop_free(l);
}
END_TEST

START_TEST(cancelled_timer_does_not_fire)
{
	struct loop *l = setup_loop();
	timer_set(l, &timers[0], past(l, 10));
	timer_set(l, &timers[1], past(l, 20));
	timer_set(l, &timers[2], past(l, 30));
	timer_cancel(l, &timers[1]);
	ck_assert_int_eq(timer_armed(&timers[1]), 0);
	loop_run_once(l, 0);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[0], 0);
	ck_assert_int_eq(fired[1], 2);
	loop_free(l);
}
END_TEST

START_TEST(cancel_of_an_unarmed_timer_is_harmless)
{
	struct loop *l = setup_loop();
	timer_set(l, &timers[0], past(l, 10));
	timer_cancel(l, &timers[1]);
	timer_cancel(l, &timers[0]);
	timer_cancel(l, &timers[0]);
	loop_run_once(l, 0);
	ck_assert_int_eq(nfired, 0);
	loop_free(l);
}
END_TEST

START_TEST(moving_an_armed_timer_later_changes_the_order)
{
	struct loop *l = setup_loop();
	timer_set(l, &timers[0], past(l, 10));
	timer_set(l, &timers[1], past(l, 20));
	timer_set(l, &timers[0], past(l, 30));
	loop_run_once(l, 0);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(fired[1], 0);
	loop_free(l);
}
END_TEST

START_TEST(moving_an_armed_timer_earlier_changes_the_order)
{
	struct loop *l = setup_loop();
	timer_set(l, &timers[0], past(l, 10));
	timer_set(l, &timers[1], past(l, 20));
	timer_set(l, &timers[2], past(l, 30));
	timer_set(l, &timers[2], past(l, 5));
	loop_run_once(l, 0);
	ck_assert_int_eq(nfired, 3);
	ck_assert_int_eq(fired[0], 2);
	ck_assert_int_eq(fired[1], 0);
	ck_assert_int_eq(fired[2], 1);
	loop_free(l);
}
END_TEST

START_TEST(future_timer_stays_armed)
{
	struct loop *l = setup_loop();
	uint64_t later = loop_now(l) + 600000;
	timer_set(l, &timers[0], later);
	timer_set(l, &timers[1], past(l, 0));
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(nfired, 1);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(timer_armed(&timers[0]), 1);
	ck_assert_uint_eq(timers[0].deadline, later);
	loop_free(l);
}
END_TEST

/* Many timers set in a scrambled order, some cancelled: the rest must still
 * come out sorted (exercises sift-up and sift-down after removals). */
START_TEST(heap_stays_ordered_after_cancels)
{
	struct loop *l = setup_loop();
	static const int order[NTIMERS] = { 7, 3, 15, 0, 12, 9, 1, 14, 5, 10, 2, 13, 8, 4, 11, 6 };
	for (int i = 0; i < NTIMERS; i++)
		timer_set(l, &timers[order[i]], past(l, 10 * order[i]));
	timer_cancel(l, &timers[0]);
	timer_cancel(l, &timers[9]);
	timer_cancel(l, &timers[15]);
	timer_cancel(l, &timers[4]);
	loop_run_once(l, 0);
	static const int want[] = { 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14 };
	ck_assert_int_eq(nfired, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < nfired; i++)
		ck_assert_msg(fired[i] == want[i], "position %d: timer %d, want %d", i, fired[i], want[i]);
	loop_free(l);
}
END_TEST

static struct loop *rearm_loop;

static void rearm_once(struct timer *t)
{
	record(t);
	if (nfired == 1)
		timer_set(rearm_loop, t, loop_now(rearm_loop) + 600000);
}

START_TEST(callback_may_rearm_its_timer)
{
	struct loop *l = setup_loop();
	rearm_loop = l;
	timers[0].cb = rearm_once;
	timer_set(l, &timers[0], past(l, 0));
	loop_run_once(l, 0);
	ck_assert_int_eq(nfired, 1);
	ck_assert_int_eq(timer_armed(&timers[0]), 1);
	timer_cancel(l, &timers[0]);
	loop_free(l);
}
END_TEST

static uint32_t io_events;
static int io_calls;

static void on_io(struct io *io, uint32_t events)
{
	char c;
	io_calls++;
	io_events = events;
	ck_assert_int_eq(read(io->fd, &c, 1), 1);
}

START_TEST(readable_fd_is_dispatched)
{
	struct loop *l = setup_loop();
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	struct io io = { .fd = p[0], .cb = on_io };
	ck_assert_int_eq(loop_add(l, &io, EPOLLIN, 0), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(io_calls, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 0), 1);
	ck_assert_int_eq(io_calls, 1);
	ck_assert_uint_ne(io_events & EPOLLIN, 0);
	loop_del(l, &io);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}
END_TEST

/* Two readable pipes in one batch: whichever is dispatched first sees the
 * other's event pending and its own no longer; outside a batch nothing is. */
static struct loop *pend_loop;
static struct io *pend_other[2];
static int pend_seen[2], pend_self[2], pend_calls;

static void on_pend(struct io *io, uint32_t events)
{
	char c;
	int i = io == pend_other[1] ? 0 : 1; /* pend_other[i] is the one that is not io */
	pend_seen[pend_calls] = loop_pending(pend_loop, pend_other[i], EPOLLIN);
	pend_self[pend_calls] = loop_pending(pend_loop, io, EPOLLIN);
	pend_calls++;
	ck_assert_int_eq(read(io->fd, &c, 1), 1);
	(void)events;
}

START_TEST(pending_sees_events_later_in_the_batch)
{
	struct loop *l = setup_loop();
	int a[2], b[2];
	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	struct io ia = { .fd = a[0], .cb = on_pend }, ib = { .fd = b[0], .cb = on_pend };
	pend_loop = l;
	pend_other[0] = &ib; /* the other of ia */
	pend_other[1] = &ia; /* the other of ib */
	ck_assert_int_eq(loop_add(l, &ia, EPOLLIN, 1), 0);
	ck_assert_int_eq(loop_add(l, &ib, EPOLLIN, 1), 0);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "y", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 0), 2);
	ck_assert_int_eq(pend_calls, 2);
	ck_assert_int_eq(pend_seen[0], 1); /* the second event was still to come */
	ck_assert_int_eq(pend_seen[1], 0); /* the first was dispatched already */
	ck_assert_int_eq(pend_self[0], 0);
	ck_assert_int_eq(pend_self[1], 0);
	ck_assert_int_eq(loop_pending(l, &ia, EPOLLIN) + loop_pending(l, &ib, EPOLLIN), 0);
	ck_assert_int_eq(loop_pending(l, &ia, EPOLLOUT), 0);
	loop_del(l, &ia);
	loop_del(l, &ib);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}
END_TEST

Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("timers");
	tcase_add_test(tc, timers_fire_in_deadline_order);
	tcase_add_test(tc, cancelled_timer_does_not_fire);
	tcase_add_test(tc, cancel_of_an_unarmed_timer_is_harmless);
	tcase_add_test(tc, moving_an_armed_timer_later_changes_the_order);
	tcase_add_test(tc, moving_an_armed_timer_earlier_changes_the_order);
	tcase_add_test(tc, future_timer_stays_armed);
	tcase_add_test(tc, heap_stays_ordered_after_cancels);
	tcase_add_test(tc, callback_may_rearm_its_timer);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_add_test(tc, readable_fd_is_dispatched);
	tcase_add_test(tc, pending_sees_events_later_in_the_batch);
	suite_add_tcase(s, tc);
	return s;
}
