/* Unit tests for src/buf.c: the free-list pool, compaction and the bounded
 * append/printf. */
#include <string.h>

#include "sluice/buf.h"
#include "suites.h"

START_TEST(get_returns_an_empty_buffer_of_pool_size)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 1024, 4);
	struct buf *b = buf_get(&pool);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->cap, 1024);
	ck_assert_uint_eq(b->start, 0);
	ck_assert_uint_eq(b->parsed, 0);
	ck_assert_uint_eq(b->end, 0);
	ck_assert_uint_eq(buf_room(b), 1024);
	ck_assert_int_eq(buf_empty(b), 1);
	ck_assert_uint_eq(pool.allocated, 1);
	ck_assert_uint_eq(pool.nfree, 0);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(put_then_get_reuses_the_same_buffer)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 256, 4);
	struct buf *b = buf_get(&pool);
	buf_put(&pool, b);
	ck_assert_uint_eq(pool.nfree, 1);
	ck_assert_ptr_eq(buf_get(&pool), b);
	ck_assert_uint_eq(pool.nfree, 0);
	ck_assert_uint_eq(pool.allocated, 1);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(reused_buffer_comes_back_empty)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 256, 4);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "hello", 5), 0);
	b->start = 2;
	buf_put(&pool, b);
	b = buf_get(&pool);
	ck_assert_uint_eq(b->start, 0);
	ck_assert_uint_eq(b->parsed, 0);
	ck_assert_uint_eq(b->end, 0);
	ck_assert_ptr_null(b->next);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(free_list_is_last_in_first_out)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64, 4);
	struct buf *a = buf_get(&pool), *b = buf_get(&pool);
	ck_assert_ptr_ne(a, b);
	buf_put(&pool, a);
	buf_put(&pool, b);
	ck_assert_ptr_eq(buf_get(&pool), b);
	ck_assert_ptr_eq(buf_get(&pool), a);
	ck_assert_uint_eq(pool.allocated, 2);
	buf_put(&pool, a);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(buffers_beyond_max_free_are_freed)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64, 2);
	struct buf *b[3];
	for (int i = 0; i < 3; i++)
		b[i] = buf_get(&pool);
	ck_assert_uint_eq(pool.allocated, 3);
	for (int i = 0; i < 3; i++)
		buf_put(&pool, b[i]);
	ck_assert_uint_eq(pool.nfree, 2);
	ck_assert_uint_eq(pool.allocated, 2);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(max_free_zero_keeps_nothing)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64, 0);
	struct buf *b = buf_get(&pool);
	buf_put(&pool, b);
	ck_assert_uint_eq(pool.nfree, 0);
	ck_assert_uint_eq(pool.allocated, 0);
	ck_assert_ptr_null(pool.free);
}
END_TEST

START_TEST(drain_frees_every_kept_buffer)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64, 8);
	struct buf *b[3];
	for (int i = 0; i < 3; i++)
		b[i] = buf_get(&pool);
	for (int i = 0; i < 3; i++)
		buf_put(&pool, b[i]);
	buf_pool_drain(&pool);
	ck_assert_uint_eq(pool.nfree, 0);
	ck_assert_uint_eq(pool.allocated, 0);
	ck_assert_ptr_null(pool.free);
}
END_TEST

START_TEST(put_null_is_accepted)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64, 8);
	buf_put(&pool, NULL);
	ck_assert_uint_eq(pool.nfree, 0);
	ck_assert_uint_eq(pool.allocated, 0);
}
END_TEST

START_TEST(compact_moves_live_bytes_and_offsets)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 16, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "abcdefgh", 8), 0);
	b->start = 3;
	b->parsed = 5;
	ck_assert_uint_eq(buf_compact(b), 3);
	ck_assert_uint_eq(b->start, 0);
	ck_assert_uint_eq(b->parsed, 2);
	ck_assert_uint_eq(b->end, 5);
	ck_assert_int_eq(memcmp(b->data, "defgh", 5), 0);
	ck_assert_uint_eq(buf_pending(b), 2);
	ck_assert_uint_eq(buf_unparsed(b), 3);
	ck_assert_uint_eq(buf_room(b), 11);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(compact_at_start_zero_moves_nothing)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 16, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "abc", 3), 0);
	b->parsed = 1;
	ck_assert_uint_eq(buf_compact(b), 0);
	ck_assert_uint_eq(b->parsed, 1);
	ck_assert_uint_eq(b->end, 3);
	ck_assert_int_eq(memcmp(b->data, "abc", 3), 0);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(compact_of_a_spent_buffer_empties_it)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 16, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "abcd", 4), 0);
	b->start = 4;
	ck_assert_uint_eq(buf_compact(b), 4);
	ck_assert_uint_eq(b->start, 0);
	ck_assert_uint_eq(b->parsed, 0);
	ck_assert_uint_eq(b->end, 0);
	ck_assert_uint_eq(buf_room(b), 16);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(append_up_to_capacity)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 8, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "abc", 3), 0);
	ck_assert_uint_eq(b->end, 3);
	ck_assert_uint_eq(b->parsed, 3);
	ck_assert_int_eq(buf_append(b, "defgh", 5), 0);
	ck_assert_uint_eq(b->end, 8);
	ck_assert_uint_eq(buf_room(b), 0);
	ck_assert_int_eq(memcmp(b->data, "abcdefgh", 8), 0);
	ck_assert_int_eq(buf_append(b, "", 0), 0);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(append_beyond_capacity_writes_nothing)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 8, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "abc", 3), 0);
	ck_assert_int_eq(buf_append(b, "defghi", 6), -1);
	ck_assert_uint_eq(b->end, 3);
	ck_assert_uint_eq(b->parsed, 3);
	ck_assert_int_eq(memcmp(b->data, "abc", 3), 0);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(printf_appends_formatted_text)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 32, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, ">", 1), 0);
	ck_assert_int_eq(buf_printf(b, "%d-%s", 42, "x"), 0);
	ck_assert_uint_eq(b->end, 5);
	ck_assert_uint_eq(b->parsed, 5);
	ck_assert_int_eq(memcmp(b->data, ">42-x", 5), 0);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

START_TEST(printf_too_long_writes_nothing)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 8, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "ab", 2), 0);
	ck_assert_int_eq(buf_printf(b, "%s", "0123456789"), -1);
	ck_assert_uint_eq(b->end, 2);
	ck_assert_uint_eq(b->parsed, 2);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

/* Exposes a bug: text of exactly buf_room() bytes fits but is refused
 * (vsnprintf needs a byte for its NUL). */
START_TEST(printf_exactly_filling_the_room_fits)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 8, 1);
	struct buf *b = buf_get(&pool);
	ck_assert_int_eq(buf_append(b, "ab", 2), 0);
	ck_assert_int_eq(buf_printf(b, "%s", "cdefgh"), 0);
	ck_assert_uint_eq(b->end, 8);
	ck_assert_int_eq(memcmp(b->data, "abcdefgh", 8), 0);
	buf_put(&pool, b);
	buf_pool_drain(&pool);
}
END_TEST

/* max_used bounds the buffers handed out at once, not those kept free. */
START_TEST(limit_bounds_buffers_in_use)
{
	struct buf_pool pool;
	buf_pool_init(&pool, 64, 8);
	buf_pool_limit(&pool, 2);
	struct buf *a = buf_get(&pool), *b = buf_get(&pool);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(buf_get(&pool));
	buf_put(&pool, a);
	a = buf_get(&pool); /* one came back: one may go out again */
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(buf_get(&pool));
	buf_pool_limit(&pool, 0);
	struct buf *c = buf_get(&pool);
	ck_assert_ptr_nonnull(c);
	buf_put(&pool, a);
	buf_put(&pool, b);
	buf_put(&pool, c);
	buf_pool_drain(&pool);
	ck_assert_uint_eq(pool.allocated, 0);
}
END_TEST

Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("pool");
	tcase_add_test(tc, get_returns_an_empty_buffer_of_pool_size);
	tcase_add_test(tc, put_then_get_reuses_the_same_buffer);
	tcase_add_test(tc, reused_buffer_comes_back_empty);
	tcase_add_test(tc, free_list_is_last_in_first_out);
	tcase_add_test(tc, buffers_beyond_max_free_are_freed);
	tcase_add_test(tc, max_free_zero_keeps_nothing);
	tcase_add_test(tc, drain_frees_every_kept_buffer);
	tcase_add_test(tc, put_null_is_accepted);
	tcase_add_test(tc, limit_bounds_buffers_in_use);
	suite_add_tcase(s, tc);

	tc = tcase_create("bytes");
	tcase_add_test(tc, compact_moves_live_bytes_and_offsets);
	tcase_add_test(tc, compact_at_start_zero_moves_nothing);
	tcase_add_test(tc, compact_of_a_spent_buffer_empties_it);
	tcase_add_test(tc, append_up_to_capacity);
	tcase_add_test(tc, append_beyond_capacity_writes_nothing);
	tcase_add_test(tc, printf_appends_formatted_text);
	tcase_add_test(tc, printf_too_long_writes_nothing);
	tcase_add_test(tc, printf_exactly_filling_the_room_fits);
	suite_add_tcase(s, tc);
	return s;
}
