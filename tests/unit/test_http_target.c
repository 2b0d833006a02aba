/* Unit tests for request targets in src/http.c: http_target_parse(),
 * http_origin_target_parse() and http_host_value().  Part of the http suite:
 * http_suite() (test_http.c) calls http_target_add_tcases(). */
#include <stdio.h>
#include <string.h>

#include "sluice/http.h"
#include "suites.h"

static int parse(const char *url, struct http_target *t, const char **why)
{
	*why = NULL;
	return http_target_parse(url, strlen(url), t, why);
}

/* path or query as a C string; "(null)" for an absent query */
static const char *str(const char *p, uint32_t len)
{
	static char ring[4][1024];
	static unsigned next;
	if (p == NULL)
		return "(null)";
	char *out = ring[next++ % 4];
	snprintf(out, sizeof(ring[0]), "%.*s", (int)len, p);
	return out;
}

/* Expect url to be refused with exactly this reason. */
static void refused(const char *url, const char *reason)
{
	struct http_target t;
	const char *why;
	ck_assert_msg(parse(url, &t, &why) == -1, "%s accepted", url);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strcmp(why, reason) == 0, "%s: got \"%s\", want \"%s\"", url, why, reason);
}

START_TEST(host_only_gets_port_80_and_path_slash)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://example.com", &t, &why), 0);
	ck_assert_str_eq(t.host, "example.com");
	ck_assert_uint_eq(t.port, 80);
	ck_assert_int_eq(t.ipv6, 0);
	ck_assert_str_eq(str(t.path, t.path_len), "/");
	ck_assert_ptr_null(t.query);
}
END_TEST

START_TEST(port_path_and_query)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://host:8080/p/q.html?a=1&b=2", &t, &why), 0);
	ck_assert_str_eq(t.host, "host");
	ck_assert_uint_eq(t.port, 8080);
	/* with a path, the query stays part of it */
	ck_assert_str_eq(str(t.path, t.path_len), "/p/q.html?a=1&b=2");
	ck_assert_ptr_null(t.query);
}
END_TEST

START_TEST(scheme_is_case_insensitive_and_host_case_is_kept)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("HTTP://HOST/", &t, &why), 0);
	ck_assert_str_eq(t.host, "HOST");
	ck_assert_str_eq(str(t.path, t.path_len), "/");
	ck_assert_int_eq(parse("hTtP://h/x", &t, &why), 0);
	ck_assert_str_eq(t.host, "h");
}
END_TEST

START_TEST(ipv6_literal_with_port)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://[::1]:8080/x", &t, &why), 0);
	ck_assert_str_eq(t.host, "::1");
	ck_assert_int_eq(t.ipv6, 1);
	ck_assert_uint_eq(t.port, 8080);
	ck_assert_str_eq(str(t.path, t.path_len), "/x");
}
END_TEST

START_TEST(ipv6_literal_without_port)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://[2001:db8::a:1]", &t, &why), 0);
	ck_assert_str_eq(t.host, "2001:db8::a:1");
	ck_assert_int_eq(t.ipv6, 1);
	ck_assert_uint_eq(t.port, 80);
	ck_assert_str_eq(str(t.path, t.path_len), "/");
}
END_TEST

START_TEST(query_without_path_gets_path_slash)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://host?q=1", &t, &why), 0);
	ck_assert_str_eq(t.host, "host");
	ck_assert_str_eq(str(t.path, t.path_len), "/");
	ck_assert_str_eq(str(t.query, t.query_len), "?q=1");
}
END_TEST

START_TEST(fragment_is_dropped_from_path)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://host/p#frag", &t, &why), 0);
	ck_assert_str_eq(str(t.path, t.path_len), "/p");
	ck_assert_int_eq(parse("http://host/p?q#frag", &t, &why), 0);
	ck_assert_str_eq(str(t.path, t.path_len), "/p?q");
}
END_TEST

START_TEST(fragment_without_path_gives_path_slash)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://host#frag", &t, &why), 0);
	ck_assert_str_eq(str(t.path, t.path_len), "/");
	ck_assert_ptr_null(t.query);
}
END_TEST

/* Exposes a bug: the fragment stays in the query when there is no path. */
START_TEST(fragment_is_dropped_from_query_without_path)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://host?q=1#frag", &t, &why), 0);
	ck_assert_str_eq(str(t.path, t.path_len), "/");
	ck_assert_str_eq(str(t.query, t.query_len), "?q=1");
}
END_TEST

START_TEST(only_len_bytes_are_read)
{
	struct http_target t;
	const char *why;
	const char *url = "http://h/abc HTTP/1.1";
	ck_assert_int_eq(http_target_parse(url, strlen("http://h/abc"), &t, &why), 0);
	ck_assert_str_eq(str(t.path, t.path_len), "/abc");
	ck_assert_int_eq(http_target_parse(url, strlen("http://h"), &t, &why), 0);
	ck_assert_str_eq(t.host, "h");
	ck_assert_str_eq(str(t.path, t.path_len), "/");
}
END_TEST

START_TEST(port_bounds)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://h:1/", &t, &why), 0);
	ck_assert_uint_eq(t.port, 1);
	ck_assert_int_eq(parse("http://h:65535/", &t, &why), 0);
	ck_assert_uint_eq(t.port, 65535);
}
END_TEST

START_TEST(empty_port_means_80)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://h:/x", &t, &why), 0);
	ck_assert_uint_eq(t.port, 80);
	ck_assert_str_eq(str(t.path, t.path_len), "/x");
}
END_TEST

START_TEST(host_of_255_chars_is_accepted_256_refused)
{
	char url[300], host[257];
	struct http_target t;
	const char *why;
	memset(host, 'a', 255);
	host[255] = '\0';
	snprintf(url, sizeof(url), "http://%s/", host);
	ck_assert_int_eq(parse(url, &t, &why), 0);
	ck_assert_str_eq(t.host, host);
	memset(host, 'a', 256);
	host[256] = '\0';
	snprintf(url, sizeof(url), "http://%s/", host);
	refused(url, "bad host in URL");
}
END_TEST

START_TEST(https_is_refused)
{
	refused("https://example.com/", "https URLs go through CONNECT");
	refused("HTTPS://example.com/", "https URLs go through CONNECT");
}
END_TEST

START_TEST(origin_form_is_refused)
{
	refused("/x", "origin-form request to a forward proxy");
	refused("/", "origin-form request to a forward proxy");
}
END_TEST

START_TEST(other_schemes_are_refused)
{
	refused("ftp://example.com/", "request target is not an http:// URL");
	refused("example.com:80", "request target is not an http:// URL");
	refused("", "request target is not an http:// URL");
	refused("http:/", "request target is not an http:// URL");
}
END_TEST

START_TEST(userinfo_is_refused)
{
	refused("http://u@h/", "user information in URL");
	refused("http://u:p@h:8080/", "user information in URL");
}
END_TEST

START_TEST(at_sign_in_path_is_not_userinfo)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(parse("http://h/a@b", &t, &why), 0);
	ck_assert_str_eq(t.host, "h");
	ck_assert_str_eq(str(t.path, t.path_len), "/a@b");
}
END_TEST

START_TEST(bad_ports_are_refused)
{
	refused("http://h:0/", "bad port in URL");
	refused("http://h:65536/", "bad port in URL");
	refused("http://h:99999999999999999999/", "bad port in URL");
	refused("http://h:80a/", "bad port in URL");
	refused("http://h:http/", "bad port in URL");
	refused("http://h:-1/", "bad port in URL");
	refused("http://h:8:8/", "bad port in URL");
}
END_TEST

START_TEST(empty_host_is_refused)
{
	refused("http://", "bad host in URL");
	refused("http:///x", "bad host in URL");
	refused("http://:8080/", "bad host in URL");
	refused("http://?q", "bad host in URL");
}
END_TEST

START_TEST(bad_host_characters_are_refused)
{
	refused("http://exa mple.com/", "bad host in URL");
	refused("http://h%41/", "bad host in URL");
	refused("http://h!/", "bad host in URL");
	refused("http://h\\x/", "bad host in URL");
}
END_TEST

START_TEST(bad_ipv6_literals_are_refused)
{
	refused("http://[::1/", "bad IPv6 literal in URL");
	refused("http://[]/", "bad IPv6 literal in URL");
	refused("http://[::g]/", "bad IPv6 literal in URL");
	refused("http://[fe80::1%eth0]/", "bad IPv6 literal in URL");
	refused("http://[::1]x/", "bad authority in URL");
}
END_TEST

START_TEST(host_value_plain)
{
	struct http_target t = { .host = "example.com", .port = 80 };
	char dst[264];
	ck_assert_uint_eq(http_host_value(&t, dst, sizeof(dst)), strlen("example.com"));
	ck_assert_str_eq(dst, "example.com");
}
END_TEST

START_TEST(host_value_with_port)
{
	struct http_target t = { .host = "example.com", .port = 8080 };
	char dst[264];
	ck_assert_uint_eq(http_host_value(&t, dst, sizeof(dst)), strlen("example.com:8080"));
	ck_assert_str_eq(dst, "example.com:8080");
}
END_TEST

START_TEST(host_value_ipv6)
{
	struct http_target t = { .host = "::1", .port = 80, .ipv6 = 1 };
	char dst[264];
	ck_assert_uint_eq(http_host_value(&t, dst, sizeof(dst)), 5);
	ck_assert_str_eq(dst, "[::1]");
	t.port = 3128;
	ck_assert_uint_eq(http_host_value(&t, dst, sizeof(dst)), 10);
	ck_assert_str_eq(dst, "[::1]:3128");
}
END_TEST

START_TEST(host_value_of_parsed_target)
{
	struct http_target t;
	const char *why;
	char dst[264];
	ck_assert_int_eq(parse("http://[2001:db8::1]:65535/x", &t, &why), 0);
	http_host_value(&t, dst, sizeof(dst));
	ck_assert_str_eq(dst, "[2001:db8::1]:65535");
}
END_TEST

/* --- origin-form with Host (transparent listeners) -------------------------- */

static int oparse(const char *target, const char *host, struct http_target *t, const char **why)
{
	*why = NULL;
	return http_origin_target_parse(target, strlen(target), host, strlen(host), t, why);
}

START_TEST(origin_form_with_host)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(oparse("/a/b?c=d", "Example.test", &t, &why), 0);
	ck_assert_str_eq(t.host, "Example.test");
	ck_assert_uint_eq(t.port, 80);
	ck_assert_str_eq(str(t.path, t.path_len), "/a/b?c=d");
	ck_assert_ptr_null(t.query);
	ck_assert_int_eq(oparse("/", "10.200.2.2:8080", &t, &why), 0);
	ck_assert_str_eq(t.host, "10.200.2.2");
	ck_assert_uint_eq(t.port, 8080);
	ck_assert_int_eq(oparse("*", "[fd00:200:2::2]", &t, &why), 0);
	ck_assert_str_eq(t.host, "fd00:200:2::2");
	ck_assert_int_eq(t.ipv6, 1);
	ck_assert_uint_eq(t.port, 80);
	ck_assert_str_eq(str(t.path, t.path_len), "*");
}
END_TEST

START_TEST(origin_form_refusals)
{
	struct http_target t;
	const char *why;
	ck_assert_int_eq(oparse("http://x/", "x", &t, &why), -1);
	ck_assert_str_eq(why, "request target is not origin-form");
	ck_assert_int_eq(oparse("", "x", &t, &why), -1);
	ck_assert_int_eq(oparse("/", "", &t, &why), -1);
	ck_assert_str_eq(why, "empty Host");
	ck_assert_int_eq(oparse("/", "user@x", &t, &why), -1);
	ck_assert_str_eq(why, "user information in Host");
	ck_assert_int_eq(oparse("/", "x:99999", &t, &why), -1);
	ck_assert_str_eq(why, "bad Host");
	ck_assert_int_eq(oparse("/", "a b", &t, &why), -1);
	ck_assert_int_eq(oparse("/", "[zz]:80", &t, &why), -1);
}
END_TEST

void http_target_add_tcases(Suite *s)
{
	TCase *tc = tcase_create("target_parse");
	tcase_add_test(tc, host_only_gets_port_80_and_path_slash);
	tcase_add_test(tc, port_path_and_query);
	tcase_add_test(tc, scheme_is_case_insensitive_and_host_case_is_kept);
	tcase_add_test(tc, ipv6_literal_with_port);
	tcase_add_test(tc, ipv6_literal_without_port);
	tcase_add_test(tc, query_without_path_gets_path_slash);
	tcase_add_test(tc, fragment_is_dropped_from_path);
	tcase_add_test(tc, fragment_without_path_gives_path_slash);
	tcase_add_test(tc, fragment_is_dropped_from_query_without_path);
	tcase_add_test(tc, only_len_bytes_are_read);
	tcase_add_test(tc, port_bounds);
	tcase_add_test(tc, empty_port_means_80);
	tcase_add_test(tc, host_of_255_chars_is_accepted_256_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("target_refused");
	tcase_add_test(tc, https_is_refused);
	tcase_add_test(tc, origin_form_is_refused);
	tcase_add_test(tc, other_schemes_are_refused);
	tcase_add_test(tc, userinfo_is_refused);
	tcase_add_test(tc, at_sign_in_path_is_not_userinfo);
	tcase_add_test(tc, bad_ports_are_refused);
	tcase_add_test(tc, empty_host_is_refused);
	tcase_add_test(tc, bad_host_characters_are_refused);
	tcase_add_test(tc, bad_ipv6_literals_are_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("target_host_value");
	tcase_add_test(tc, host_value_plain);
	tcase_add_test(tc, host_value_with_port);
	tcase_add_test(tc, host_value_ipv6);
	tcase_add_test(tc, host_value_of_parsed_target);
	tcase_add_test(tc, origin_form_with_host);
	tcase_add_test(tc, origin_form_refusals);
	suite_add_tcase(s, tc);
}
