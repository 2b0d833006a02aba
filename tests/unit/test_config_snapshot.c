/* Unit tests for the config snapshot (src/config.c): a snapshot a session
 * holds stays valid, whole and unchanged after a newer one was published
 * and everyone else let go of it, and is freed with the last reference;
 * references taken and dropped on other threads while snapshots are being
 * published never free one early (ASan in `make asan-test`) nor leak one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/config.h"
#include "suites.h"

static struct config *snapshot(const char *via)
{
	struct config *c = config_new();
	ck_assert_ptr_nonnull(c);
	snprintf(c->via_name, sizeof(c->via_name), "%s", via);
	return c;
}

START_TEST(new_snapshot_has_the_defaults)
{
	unsigned before = config_live();
	struct config *c = config_new();
	struct config d;
	config_defaults(&d);
	ck_assert_uint_eq(c->buffer_size, d.buffer_size);
	ck_assert_str_eq(c->via_name, d.via_name);
	ck_assert_uint_eq(config_live(), before + 1);
	config_unref(c);
	ck_assert_uint_eq(config_live(), before);
	config_unref(NULL); /* accepted */
}
END_TEST

START_TEST(nothing_is_current_before_a_publish)
{
	ck_assert_ptr_null(config_acquire());
}
END_TEST

/* The worker's and the session's view, step by step. */
START_TEST(old_snapshot_stays_valid_while_a_session_holds_it)
{
	unsigned live0 = config_live();
	unsigned gen0 = config_generation();
	config_publish(snapshot("first"));
	ck_assert_uint_ne(config_generation(), gen0);

	const struct config *worker = config_acquire(); /* a worker's reference */
	const struct config *session = config_ref(worker); /* a session starts */
	ck_assert_ptr_eq(session, worker);

	unsigned gen1 = config_generation();
	config_publish(snapshot("second")); /* a reload */
	ck_assert_uint_ne(config_generation(), gen1);
	ck_assert_uint_eq(config_live(), live0 + 2);

	/* the worker moves on between events */
	const struct config *now = config_acquire();
	ck_assert_str_eq(now->via_name, "second");
	config_unref(worker);
	worker = now;

	/* the session still reads its own, whole */
	ck_assert_str_eq(session->via_name, "first");
	ck_assert_uint_eq(session->buffer_size, 16384);
	ck_assert_uint_eq(config_live(), live0 + 2);

	config_unref(session); /* the session ends: the first snapshot goes */
	ck_assert_uint_eq(config_live(), live0 + 1);
	ck_assert_str_eq(worker->via_name, "second");

	config_unref(worker);
	ck_assert_uint_eq(config_live(), live0 + 1); /* still current */
	config_publish(NULL);
	ck_assert_uint_eq(config_live(), live0);
	ck_assert_ptr_null(config_acquire());
}
END_TEST

/* Readers on other threads take and drop references as sessions do while
 * the main thread publishes: every snapshot they hold reads whole, and when
 * everyone is done none is left. */
#define READERS 2
#define READS 20000
#define PUBLISHES 500

static void *reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < READS; i++) {
		const struct config *w = config_acquire();
		ck_assert_ptr_nonnull(w);
		const struct config *s = config_ref(w);
		config_unref(w);
		/* every snapshot says which it is, the same in two fields */
		ck_assert_int_eq(strncmp(s->via_name, "snap-", 5), 0);
		ck_assert_int_eq(atoi(s->via_name + 5), (int)s->max_headers);
		config_unref(s);
	}
	return NULL;
}

START_TEST(references_across_threads_free_each_snapshot_once)
{
	unsigned live0 = config_live();
	struct config *c = snapshot("snap-8");
	c->max_headers = 8;
	config_publish(c);
	pthread_t t[READERS];
	for (int i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (int i = 0; i < PUBLISHES; i++) {
		char via[32];
		snprintf(via, sizeof(via), "snap-%d", 9 + i);
		c = snapshot(via);
		c->max_headers = (uint32_t)(9 + i);
		config_publish(c);
	}
	for (int i = 0; i < READERS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_uint_eq(config_live(), live0 + 1);
	config_publish(NULL);
	ck_assert_uint_eq(config_live(), live0);
}
END_TEST

void config_snapshot_add_tcases(Suite *s)
{
	TCase *tc = tcase_create("snapshot");
	tcase_add_test(tc, new_snapshot_has_the_defaults);
	tcase_add_test(tc, nothing_is_current_before_a_publish);
	tcase_add_test(tc, old_snapshot_stays_valid_while_a_session_holds_it);
	tcase_add_test(tc, references_across_threads_free_each_snapshot_once);
	suite_add_tcase(s, tc);
}
