/* Unit tests for src/nameset.c: the set answers exactly for the bytes it
 * was given (NUL bytes and the empty string included), refuses keys it
 * cannot store, and keeps every key findable through the table doubling
 * many times over. */
#include <stdio.h>
#include <string.h>

#include "sluice/nameset.h"
#include "suites.h"

#define S(lit) lit, sizeof(lit) - 1

static struct nameset *new_set(void)
{
	struct nameset *s = nameset_new();
	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(added_keys_are_found_and_counted)
{
	struct nameset *s = new_set();
	ck_assert_uint_eq(nameset_count(s), 0);
	ck_assert_int_eq(nameset_has(s, S("example.com")), 0);
	ck_assert_int_eq(nameset_add(s, S("example.com")), 1);
	ck_assert_int_eq(nameset_add(s, S("example.org")), 1);
	ck_assert_uint_eq(nameset_count(s), 2);
	ck_assert_int_eq(nameset_has(s, S("example.com")), 1);
	ck_assert_int_eq(nameset_has(s, S("example.org")), 1);
	/* A prefix or an extension of a key is another key. */
	ck_assert_int_eq(nameset_has(s, S("example.co")), 0);
	ck_assert_int_eq(nameset_has(s, S("example.comm")), 0);
	/* Bytes compare exactly: case is the caller's to fold. */
	ck_assert_int_eq(nameset_has(s, S("EXAMPLE.COM")), 0);
	nameset_free(s);
}
END_TEST

START_TEST(a_duplicate_is_not_added_again)
{
	struct nameset *s = new_set();
	ck_assert_int_eq(nameset_add(s, S("alice")), 1);
	ck_assert_int_eq(nameset_add(s, S("alice")), 0);
	ck_assert_uint_eq(nameset_count(s), 1);
	ck_assert_int_eq(nameset_has(s, S("alice")), 1);
	nameset_free(s);
}
END_TEST

/* Address prefixes are stored as raw bytes: a NUL is a byte like any other,
 * and keys differing only after one must stay apart. */
START_TEST(keys_may_hold_nul_bytes)
{
	struct nameset *s = new_set();
	ck_assert_int_eq(nameset_add(s, S("\x08\x0a\0\0\0")), 1);
	ck_assert_int_eq(nameset_add(s, S("\x08\x0a\0\0\x01")), 1);
	ck_assert_int_eq(nameset_add(s, S("a\0b")), 1);
	ck_assert_uint_eq(nameset_count(s), 3);
	ck_assert_int_eq(nameset_has(s, S("\x08\x0a\0\0\0")), 1);
	ck_assert_int_eq(nameset_has(s, S("\x08\x0a\0\0\x01")), 1);
	ck_assert_int_eq(nameset_has(s, S("a\0b")), 1);
	ck_assert_int_eq(nameset_has(s, S("a\0c")), 0);
	ck_assert_int_eq(nameset_has(s, S("a")), 0);
	ck_assert_int_eq(nameset_has(s, S("\x08\x0a\0\0")), 0);
	ck_assert_int_eq(nameset_has(s, S("\x08\x0a\0\0\0\0")), 0);
	nameset_free(s);
}
END_TEST

/* A /0 prefix key is one byte, but the empty string is a key too. */
START_TEST(the_empty_key_is_a_key)
{
	struct nameset *s = new_set();
	ck_assert_int_eq(nameset_add(s, S("x")), 1);
	ck_assert_int_eq(nameset_has(s, S("")), 0);
	ck_assert_int_eq(nameset_add(s, S("")), 1);
	ck_assert_int_eq(nameset_add(s, S("")), 0);
	ck_assert_int_eq(nameset_has(s, S("")), 1);
	ck_assert_uint_eq(nameset_count(s), 2);
	nameset_free(s);
}
END_TEST

START_TEST(keys_beyond_the_maximum_are_refused)
{
	static char key[NAMESET_KEY_MAX + 2];
	memset(key, 'k', sizeof(key));
	struct nameset *s = new_set();
	ck_assert_int_eq(nameset_add(s, key, NAMESET_KEY_MAX + 1), -1);
	ck_assert_uint_eq(nameset_count(s), 0);
	ck_assert_int_eq(nameset_has(s, key, NAMESET_KEY_MAX + 1), 0);
	/* The longest allowed key is stored whole: its length takes more than
	 * one byte, and a key one byte shorter is another key. */
	ck_assert_int_eq(nameset_add(s, key, NAMESET_KEY_MAX), 1);
	ck_assert_int_eq(nameset_has(s, key, NAMESET_KEY_MAX), 1);
	ck_assert_int_eq(nameset_has(s, key, NAMESET_KEY_MAX - 1), 0);
	ck_assert_int_eq(nameset_has(s, key, NAMESET_KEY_MAX + 1), 0);
	ck_assert_uint_eq(nameset_count(s), 1);
	nameset_free(s);
}
END_TEST

/* 200,000 keys double the table from 16 slots fourteen times and the arena
 * many more: each rehash must keep every key where a look-up probes. */
START_TEST(every_key_survives_growth)
{
	enum { N = 200000 };
	struct nameset *s = new_set();
	char k[32];
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof(k), "host%d.example", i);
		ck_assert_int_eq(nameset_add(s, k, (size_t)n), 1);
	}
	ck_assert_uint_eq(nameset_count(s), N);
	int missing = 0, phantom = 0;
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof(k), "host%d.example", i);
		missing += !nameset_has(s, k, (size_t)n);
		n = snprintf(k, sizeof(k), "host%d.example", N + i);
		phantom += nameset_has(s, k, (size_t)n);
	}
	ck_assert_int_eq(missing, 0);
	ck_assert_int_eq(phantom, 0);
	/* Adding them again changes nothing. */
	int n = snprintf(k, sizeof(k), "host%d.example", N / 2);
	ck_assert_int_eq(nameset_add(s, k, (size_t)n), 0);
	ck_assert_uint_eq(nameset_count(s), N);
	nameset_free(s);
}
END_TEST

/* An ACL without values of a kind keeps a NULL set and looks it up anyway. */
START_TEST(a_null_set_is_empty)
{
	ck_assert_int_eq(nameset_has(NULL, S("example.com")), 0);
	ck_assert_int_eq(nameset_has(NULL, S("")), 0);
	ck_assert_uint_eq(nameset_count(NULL), 0);
	nameset_free(NULL);
}
END_TEST

Suite *nameset_suite(void)
{
	Suite *s = suite_create("nameset");
	TCase *tc = tcase_create("keys");
	tcase_add_test(tc, added_keys_are_found_and_counted);
	tcase_add_test(tc, a_duplicate_is_not_added_again);
	tcase_add_test(tc, keys_may_hold_nul_bytes);
	tcase_add_test(tc, the_empty_key_is_a_key);
	tcase_add_test(tc, keys_beyond_the_maximum_are_refused);
	tcase_add_test(tc, a_null_set_is_empty);
	suite_add_tcase(s, tc);

	/* Its own case for the time limit: the machine may be busy, and this
	 * test is about correctness, not speed. */
	tc = tcase_create("growth");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_key_survives_growth);
	suite_add_tcase(s, tc);
	return s;
}
