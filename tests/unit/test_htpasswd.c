/* Unit tests for src/htpasswd.c, against files written by the real
 * htpasswd (apache2-utils): every hash it writes verifies with the right
 * password and no other, and what it must not take is refused with the
 * file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/htpasswd.h"
#include "suites.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sluice-htpasswd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* htpasswd ARGS on dir/NAME (-c on the first call for a file). */
static void htpasswd(const char *file, const char *flags, const char *user, const char *password)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "htpasswd -b %s '%s/%s' '%s' '%s' >/dev/null 2>&1", flags, dir, file, user, password);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static char *path_of(const char *file)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	return p;
}

static void append(const char *file, const char *text)
{
	FILE *f = fopen(path_of(file), "a");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(every_hash_htpasswd_writes_verifies)
{
	htpasswd("users", "-c -m", "alice", "apr1 secret");	/* its default: apr1-MD5 */
	htpasswd("users", "-B -C 5", "bob", "bcrypt:secret");
	htpasswd("users", "-2", "carol", "sha256-secret");
	htpasswd("users", "-5", "dave", "sha512 secret!");
	htpasswd("users", "-s", "eve", "sha1secret");
	char err[512];
	struct htpasswd *h = htpasswd_load(path_of("users"), err, sizeof(err));
	ck_assert_msg(h != NULL, "%s", err);
	ck_assert_uint_eq(htpasswd_count(h), 5);
	static const char *const users[][2] = {
		{ "alice", "apr1 secret" }, { "bob", "bcrypt:secret" }, { "carol", "sha256-secret" },
		{ "dave", "sha512 secret!" }, { "eve", "sha1secret" },
	};
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		ck_assert_msg(htpasswd_check(h, users[i][0], users[i][1]) == 1, "%s", users[i][0]);
		ck_assert_msg(htpasswd_check(h, users[i][0], "wrong") == 0, "%s with a wrong password", users[i][0]);
		ck_assert_msg(htpasswd_check(h, users[i][0], "") == 0, "%s with no password", users[i][0]);
		/* a password that is another user's is not this user's */
		ck_assert(htpasswd_check(h, users[i][0], users[(i + 1) % 5][1]) == 0);
	}
	ck_assert_int_eq(htpasswd_check(h, "mallory", "apr1 secret"), 0);
	ck_assert_int_eq(htpasswd_check(h, "Alice", "apr1 secret"), 0); /* names are exact */
	htpasswd_free(h);
}
END_TEST

START_TEST(plain_text_and_des_are_refused_with_the_line)
{
	char err[512];
	htpasswd("plain", "-c -m", "alice", "one");
	htpasswd("plain", "-p", "frank", "two"); /* plain text */
	ck_assert_ptr_null(htpasswd_load(path_of("plain"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "plain:2: user frank: not a hash") != NULL, "%s", err);
	htpasswd("des", "-c -d", "gina", "three"); /* crypt DES */
	ck_assert_ptr_null(htpasswd_load(path_of("des"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "des:1: user gina") != NULL, "%s", err);
}
END_TEST

START_TEST(malformed_files_are_refused)
{
	char err[512];
	ck_assert_ptr_null(htpasswd_load(path_of("missing"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "missing: cannot open") != NULL, "%s", err);
	htpasswd("twice", "-c -m", "alice", "one");
	append("twice", "bob:$apr1$x$y\nalice:$apr1$a$b\n");
	ck_assert_ptr_null(htpasswd_load(path_of("twice"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "user alice is named twice") != NULL, "%s", err);
	append("nocolon", "alice\n");
	ck_assert_ptr_null(htpasswd_load(path_of("nocolon"), err, sizeof(err)));
	ck_assert_msg(strstr(err, "nocolon:1: not \"user:hash\"") != NULL, "%s", err);
	append("noname", ":$apr1$x$y\n");
	ck_assert_ptr_null(htpasswd_load(path_of("noname"), err, sizeof(err)));
}
END_TEST

/* Blank lines and CRLF endings (a file edited elsewhere) are taken. */
START_TEST(blank_lines_and_crlf_are_taken)
{
	char err[512];
	htpasswd("crlf", "-c -2", "alice", "pw");
	FILE *f = fopen(path_of("crlf"), "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	f = fopen(path_of("crlf2"), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "\r\n%s\r\n\n", line);
	fclose(f);
	struct htpasswd *h = htpasswd_load(path_of("crlf2"), err, sizeof(err));
	ck_assert_msg(h != NULL, "%s", err);
	ck_assert_uint_eq(htpasswd_count(h), 1);
	ck_assert_int_eq(htpasswd_check(h, "alice", "pw"), 1);
	htpasswd_free(h);
}
END_TEST

Suite *htpasswd_suite(void)
{
	Suite *s = suite_create("htpasswd");
	TCase *tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_hash_htpasswd_writes_verifies);
	tcase_add_test(tc, plain_text_and_des_are_refused_with_the_line);
	tcase_add_test(tc, malformed_files_are_refused);
	tcase_add_test(tc, blank_lines_and_crlf_are_taken);
	suite_add_tcase(s, tc);
	return s;
}
