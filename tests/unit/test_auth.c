/* Unit tests for the pure parts of proxy authentication: reading Basic
 * credentials strictly (src/auth.c) and a worker's cache of answers
 * (src/auth_cache.c): exact values only, expiry, a newer users file, and
 * bounded whatever is put in. */
#include <stdio.h>
#include <string.h>

#include "sluice/auth.h"
#include "suites.h"

static int parse(const char *v, char *user, char *pass)
{
	const char *why;
	return auth_parse_basic(v, strlen(v), user, HTPASSWD_USER_MAX + 1, pass, AUTH_PASSWORD_MAX + 1, &why);
}

START_TEST(basic_credentials_are_read_strictly)
{
	char user[HTPASSWD_USER_MAX + 1], pass[AUTH_PASSWORD_MAX + 1];
	/* "alice:open sesame" and friends, as curl writes them */
	ck_assert_int_eq(parse("Basic YWxpY2U6b3BlbiBzZXNhbWU=", user, pass), 0);
	ck_assert_str_eq(user, "alice");
	ck_assert_str_eq(pass, "open sesame");
	ck_assert_int_eq(parse("basic   YWxpY2U6b3BlbiBzZXNhbWU=", user, pass), 0); /* scheme without case */
	ck_assert_int_eq(parse("Basic Ym9iOmE6Yg==", user, pass), 0);		 /* "bob:a:b": the first colon */
	ck_assert_str_eq(user, "bob");
	ck_assert_str_eq(pass, "a:b");
	ck_assert_int_eq(parse("Basic Ym9iOg==", user, pass), 0); /* "bob:": an empty password is a password */
	ck_assert_str_eq(pass, "");
	static const char *const bad[] = {
		"Basic",			/* no credentials */
		"Basic ",			/* nor here */
		"BasicYWxpY2U6eA==",		/* no space after the scheme */
		"Digest username=\"alice\"",	/* another scheme */
		"Basic YWxpY2U6eA",		/* no padding */
		"Basic YWxpY2U6eA=",		/* wrong padding */
		"Basic YWxp=2U6eA==",		/* padding inside */
		"Basic YWxpY2U6eA==!",		/* a byte outside base64 */
		"Basic bm9jb2xvbg==",		/* "nocolon" */
		"Basic Om5vdXNlcg==",		/* ":nouser" */
		"Basic YWxpY2U6YQFi",		/* "alice:a\x01b": a control byte */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse(bad[i], user, pass) == -1, "'%s' taken", bad[i]);
	char big[AUTH_VALUE_MAX + 16] = "Basic ";
	memset(big + 6, 'A', sizeof(big) - 7);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(parse(big, user, pass), -1);
}
END_TEST

START_TEST(cache_answers_exact_values_until_they_expire)
{
	struct auth_cache *c = auth_cache_new(64);
	const char *user = NULL;
	struct auth_job *job = NULL;
	const char *v = "Basic YWxpY2U6b3BlbiBzZXNhbWU=";
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1000, 1, &user, &job), -1);
	auth_cache_put(c, v, strlen(v), "alice", 1, 1000, 500, 1);
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1200, 1, &user, &job), 1);
	ck_assert_str_eq(user, "alice");
	/* another value, even one that differs in a byte, is not the same login */
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v) - 1, 1200, 1, &user, &job), -1);
	ck_assert_int_eq(auth_cache_find(c, "Basic YWxpY2U6b3BlbiBzZXNhbWV=", strlen(v), 1200, 1, &user, &job), -1);
	/* expired, or from before the users changed: not known */
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1500, 1, &user, &job), -1);
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1200, 2, &user, &job), -1);
	/* a failure is remembered as one */
	auth_cache_put(c, "Basic eDp5", 10, "x", 0, 1000, 500, 1);
	ck_assert_int_eq(auth_cache_find(c, "Basic eDp5", 10, 1100, 1, &user, &job), 0);
	/* and an answer replaced by a newer one */
	auth_cache_put(c, "Basic eDp5", 10, "x", 1, 1100, 500, 1);
	ck_assert_int_eq(auth_cache_find(c, "Basic eDp5", 10, 1200, 1, &user, &job), 1);
	auth_cache_free(c);
}
END_TEST

/* A flood of values keeps the table's size: the newest are found, and a
 * value too long to be a login is never kept. */
START_TEST(cache_stays_bounded)
{
	struct auth_cache *c = auth_cache_new(16);
	char v[64];
	const char *user;
	struct auth_job *job;
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(v, sizeof(v), "Basic value-%d", i);
		auth_cache_put(c, v, (size_t)n, "u", 0, (uint64_t)i, 100000000, 1);
	}
	int n = snprintf(v, sizeof(v), "Basic value-%d", 99999);
	ck_assert_int_eq(auth_cache_find(c, v, (size_t)n, 100000, 1, &user, &job), 0);
	int found = 0;
	for (int i = 0; i < 100000; i++) {
		n = snprintf(v, sizeof(v), "Basic value-%d", i);
		found += auth_cache_find(c, v, (size_t)n, 100000, 1, &user, &job) == 0;
	}
	ck_assert_int_le(found, 16);
	char big[AUTH_VALUE_MAX + 2];
	memset(big, 'A', sizeof(big));
	auth_cache_put(c, big, sizeof(big), "u", 1, 0, 1000, 1);
	ck_assert_int_eq(auth_cache_find(c, big, sizeof(big), 1, 1, &user, &job), -1);
	auth_cache_free(c);
}
END_TEST

/* A check in flight is found by everyone asking for the same login, until
 * its answer replaces it (or it outlives its time). */
START_TEST(cache_knows_checks_in_flight)
{
	struct auth_cache *c = auth_cache_new(64);
	struct auth_job j1, *job = NULL;
	const char *user;
	const char *v = "Basic YWxpY2U6eA==";
	auth_cache_pending(c, v, strlen(v), &j1, 1000, 500);
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1100, 7, &user, &job), AUTH_PENDING);
	ck_assert_ptr_eq(job, &j1);
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1600, 7, &user, &job), -1); /* outlived */
	auth_cache_put(c, v, strlen(v), "alice", 1, 1100, 500, 7);
	ck_assert_int_eq(auth_cache_find(c, v, strlen(v), 1200, 7, &user, &job), 1);
	/* many values later, the answer is found in one place only: never a
	 * stale check in flight behind a newer answer */
	auth_cache_pending(c, v, strlen(v), &j1, 2000, 500);
	auth_cache_put(c, v, strlen(v), "alice", 0, 2100, 500, 7);
	for (int i = 0; i < 1000; i++) {
		char w[32];
		int n = snprintf(w, sizeof(w), "Basic other-%d", i);
		auth_cache_put(c, w, (size_t)n, "x", 1, 2100, 100, 7);
	}
	int r = auth_cache_find(c, v, strlen(v), 2150, 7, &user, &job);
	ck_assert(r == 0 || r == -1);
	auth_cache_free(c);
}
END_TEST

Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("basic");
	tcase_add_test(tc, basic_credentials_are_read_strictly);
	tcase_add_test(tc, cache_answers_exact_values_until_they_expire);
	tcase_add_test(tc, cache_stays_bounded);
	tcase_add_test(tc, cache_knows_checks_in_flight);
	suite_add_tcase(s, tc);
	return s;
}
