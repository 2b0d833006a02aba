/* Unit tests for src/expo.c: the exact text of each family type, escaping,
 * numbers, histograms, the size bound and the duration buckets.
 *
 * With EXPO_SAMPLE_OUT=FILE in the environment, sample_scrape also writes
 * its text to FILE, for `promtool check metrics <FILE` by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/expo.h"
#include "suites.h"

/* The text written so far, NUL-terminated, for ck_assert_str_eq. */
static const char *text(struct expo *e)
{
	static char copy[1 << 16];
	ck_assert_uint_lt(e->len, sizeof(copy));
	memcpy(copy, e->buf, e->len);
	copy[e->len] = '\0';
	return copy;
}

START_TEST(a_family_of_each_type)
{
	struct expo e;
	expo_init(&e, 1 << 20);
	const char *get2xx[] = { "method", "GET", "code", "2xx", NULL };
	const char *get5xx[] = { "method", "GET", "code", "5xx", NULL };
	expo_family(&e, "sluice_requests_total", EXPO_COUNTER, "Requests received.");
	expo_sample_u64(&e, "sluice_requests_total", get2xx, 1027);
	expo_sample_u64(&e, "sluice_requests_total", get5xx, 3);
	expo_family(&e, "sluice_connections_open", EXPO_GAUGE, "Client connections open now.");
	expo_sample_u64(&e, "sluice_connections_open", NULL, 12);
	expo_family(&e, "sluice_loop_lag_seconds", EXPO_GAUGE, NULL);
	expo_sample(&e, "sluice_loop_lag_seconds", NULL, 0.25);
	expo_family(&e, "sluice_thing", EXPO_UNTYPED, ""); /* no HELP line either */
	expo_sample(&e, "sluice_thing", (const char *[]){ NULL }, -1.5);
	const double bounds[] = { 0.1, 1 };
	const uint64_t counts[] = { 2, 3, 1 };
	const char *w0[] = { "worker", "0", NULL };
	expo_family(&e, "sluice_request_duration_seconds", EXPO_HISTOGRAM, "Time from request to response end.");
	expo_histogram(&e, "sluice_request_duration_seconds", w0, bounds, counts, 2, 7.5);
	ck_assert_int_eq(e.truncated, 0);
	ck_assert_str_eq(text(&e),
			 "# HELP sluice_requests_total Requests received.\n"
			 "# TYPE sluice_requests_total counter\n"
			 "sluice_requests_total{method=\"GET\",code=\"2xx\"} 1027\n"
			 "sluice_requests_total{method=\"GET\",code=\"5xx\"} 3\n"
			 "# HELP sluice_connections_open Client connections open now.\n"
			 "# TYPE sluice_connections_open gauge\n"
			 "sluice_connections_open 12\n"
			 "# TYPE sluice_loop_lag_seconds gauge\n"
			 "sluice_loop_lag_seconds 0.25\n"
			 "# TYPE sluice_thing untyped\n"
			 "sluice_thing -1.5\n"
			 "# HELP sluice_request_duration_seconds Time from request to response end.\n"
			 "# TYPE sluice_request_duration_seconds histogram\n"
			 "sluice_request_duration_seconds_bucket{worker=\"0\",le=\"0.1\"} 2\n"
			 "sluice_request_duration_seconds_bucket{worker=\"0\",le=\"1\"} 5\n"
			 "sluice_request_duration_seconds_bucket{worker=\"0\",le=\"+Inf\"} 6\n"
			 "sluice_request_duration_seconds_sum{worker=\"0\"} 7.5\n"
			 "sluice_request_duration_seconds_count{worker=\"0\"} 6\n");
	expo_free(&e);
}
END_TEST

START_TEST(label_values_and_help_are_escaped)
{
	struct expo e;
	expo_init(&e, 4096);
	expo_family(&e, "m", EXPO_GAUGE, "a \\ b\nc \"q\"");
	expo_sample_u64(&e, "m", (const char *[]){ "rule", "C:\\acl\\x.conf:12 \"deny\"\nnext", NULL }, 1);
	ck_assert_str_eq(text(&e), "# HELP m a \\\\ b\\nc \"q\"\n"
				   "# TYPE m gauge\n"
				   "m{rule=\"C:\\\\acl\\\\x.conf:12 \\\"deny\\\"\\nnext\"} 1\n");
	expo_free(&e);
}
END_TEST

START_TEST(invalid_utf8_becomes_fffd)
{
	struct expo e;
	expo_init(&e, 4096);
	/* valid text kept; a stray byte, an overlong form, a surrogate and a
	 * cut sequence each replaced per maximal subpart */
	expo_sample_u64(&e, "m", (const char *[]){ "host", "caf\xc3\xa9.\xf0\x9f\x98\x80", NULL }, 1);
	expo_sample_u64(&e, "m", (const char *[]){ "host", "a\xff" "b", NULL }, 2);
	expo_sample_u64(&e, "m", (const char *[]){ "host", "\xc0\xaf\xed\xa0\x80", NULL }, 3);
	expo_sample_u64(&e, "m", (const char *[]){ "host", "x\xe2\x82", NULL }, 4);
	expo_family(&e, "n", EXPO_GAUGE, "bad \x80 byte");
#define R "\xef\xbf\xbd"
	ck_assert_str_eq(text(&e), "m{host=\"caf\xc3\xa9.\xf0\x9f\x98\x80\"} 1\n"
				   "m{host=\"a" R "b\"} 2\n"
				   "m{host=\"" R R R R R "\"} 3\n"
				   "m{host=\"x" R "\"} 4\n"
				   "# HELP n bad " R " byte\n"
				   "# TYPE n gauge\n");
#undef R
	expo_free(&e);
}
END_TEST

START_TEST(numbers)
{
	struct expo e;
	expo_init(&e, 4096);
	expo_sample_u64(&e, "u", NULL, UINT64_MAX);
	expo_sample_u64(&e, "u", NULL, 0);
	expo_sample(&e, "d", NULL, 0.1);
	expo_sample(&e, "d", NULL, 1e21);
	expo_sample(&e, "d", NULL, 123456789012.0);
	expo_sample(&e, "d", NULL, NAN);
	expo_sample(&e, "d", NULL, INFINITY);
	expo_sample(&e, "d", NULL, -INFINITY);
	expo_sample(&e, "d", NULL, -0.0);
	ck_assert_str_eq(text(&e), "u 18446744073709551615\n"
				   "u 0\n"
				   "d 0.1\n"
				   "d 1e+21\n"
				   "d 123456789012\n"
				   "d NaN\n"
				   "d +Inf\n"
				   "d -Inf\n"
				   "d -0\n");
	/* values that need 16 or 17 digits still read back exactly */
	const double hard[] = { 1.0 / 3, 2.0 / 3, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, 9007199254740993.0 };
	for (size_t i = 0; i < sizeof(hard) / sizeof(hard[0]); i++) {
		expo_reset(&e);
		expo_sample(&e, "d", NULL, hard[i]);
		ck_assert_double_eq(strtod(text(&e) + 2, NULL), hard[i]);
	}
	expo_free(&e);
}
END_TEST

START_TEST(histogram_is_cumulative)
{
	struct expo e;
	expo_init(&e, 1 << 16);
	uint64_t counts[EXPO_DURATION_NBOUNDS + 1] = { 0 };
	counts[0] = 5;				   /* <= 1 ms */
	counts[3] = 2;				   /* (5 ms, 10 ms] */
	counts[EXPO_DURATION_NBOUNDS] = 1;	   /* over 60 s */
	expo_histogram(&e, "h", NULL, expo_duration_bounds, counts, EXPO_DURATION_NBOUNDS, 61.5);
	ck_assert_str_eq(text(&e), "h_bucket{le=\"0.001\"} 5\n"
				   "h_bucket{le=\"0.0025\"} 5\n"
				   "h_bucket{le=\"0.005\"} 5\n"
				   "h_bucket{le=\"0.01\"} 7\n"
				   "h_bucket{le=\"0.025\"} 7\n"
				   "h_bucket{le=\"0.05\"} 7\n"
				   "h_bucket{le=\"0.1\"} 7\n"
				   "h_bucket{le=\"0.25\"} 7\n"
				   "h_bucket{le=\"0.5\"} 7\n"
				   "h_bucket{le=\"1\"} 7\n"
				   "h_bucket{le=\"2.5\"} 7\n"
				   "h_bucket{le=\"5\"} 7\n"
				   "h_bucket{le=\"10\"} 7\n"
				   "h_bucket{le=\"30\"} 7\n"
				   "h_bucket{le=\"60\"} 7\n"
				   "h_bucket{le=\"+Inf\"} 8\n"
				   "h_sum 61.5\n"
				   "h_count 8\n");
	/* no finite bound: only +Inf, and counts near 2^64 add up exactly */
	expo_reset(&e);
	const uint64_t big[] = { UINT64_MAX - 1 };
	expo_histogram(&e, "h", (const char *[]){ "a", "b", NULL }, NULL, big, 0, 0);
	ck_assert_str_eq(text(&e), "h_bucket{a=\"b\",le=\"+Inf\"} 18446744073709551614\n"
				   "h_sum{a=\"b\"} 0\n"
				   "h_count{a=\"b\"} 18446744073709551614\n");
	expo_free(&e);
}
END_TEST

START_TEST(output_stops_at_the_bound)
{
	struct expo e;
	expo_init(&e, 100);
	int lines = 0;
	while (!e.truncated) {
		expo_sample_u64(&e, "sluice_x_total", (const char *[]){ "k", "v", NULL }, 1234567);
		lines++;
	}
	/* 30 bytes a line: three fit, the fourth is refused whole */
	ck_assert_int_eq(lines, 4);
	ck_assert_uint_eq(e.len, 90);
	ck_assert_uint_le(e.cap, 100);
	ck_assert_int_eq(e.buf[e.len - 1], '\n');
	/* refusal is sticky: a line that would fit is not written after a gap */
	expo_sample_u64(&e, "a", NULL, 1);
	ck_assert_uint_eq(e.len, 90);

	/* a histogram that does not fit leaves nothing of itself */
	expo_reset(&e);
	ck_assert_int_eq(e.truncated, 0);
	expo_sample_u64(&e, "a", NULL, 1);
	const uint64_t counts[EXPO_DURATION_NBOUNDS + 1] = { 0 };
	expo_histogram(&e, "h", NULL, expo_duration_bounds, counts, EXPO_DURATION_NBOUNDS, 0);
	ck_assert_int_eq(e.truncated, 1);
	ck_assert_str_eq(text(&e), "a 1\n");
	expo_free(&e);
}
END_TEST

START_TEST(a_large_scrape_grows_to_fit)
{
	struct expo e;
	expo_init(&e, 1 << 20);
	char host[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "host%04d.example.com", i);
		expo_sample_u64(&e, "sluice_domain_bytes_total", (const char *[]){ "domain", host, NULL }, (uint64_t)i);
	}
	ck_assert_int_eq(e.truncated, 0);
	ck_assert_uint_le(e.len, e.cap);
	/* 58 bytes a line plus the digits: 10 of one, 90 of two, 900 of three,
	 * 4000 of four; about the size of a real scrape */
	ck_assert_uint_eq(e.len, 58 * 5000 + 10 + 180 + 2700 + 16000);
	static const char last[] = "sluice_domain_bytes_total{domain=\"host4999.example.com\"} 4999\n";
	ck_assert(memcmp(e.buf + e.len - (sizeof(last) - 1), last, sizeof(last) - 1) == 0);
	expo_free(&e);
}
END_TEST

START_TEST(names_follow_the_format)
{
	static const char *const good_metric[] = { "a", "_", ":", "sluice_requests_total", "job:rate5m", "A9_:" };
	static const char *const bad_metric[] = { "", "9a", "a-b", "a b", "a.b", "é" };
	static const char *const good_label[] = { "a", "_a", "le", "method", "Code9" };
	static const char *const bad_label[] = { "", "9a", "a:b", "__name__", "__x", "a-b" };
	for (size_t i = 0; i < sizeof(good_metric) / sizeof(good_metric[0]); i++)
		ck_assert_msg(expo_metric_name_ok(good_metric[i]), "%s", good_metric[i]);
	for (size_t i = 0; i < sizeof(bad_metric) / sizeof(bad_metric[0]); i++)
		ck_assert_msg(!expo_metric_name_ok(bad_metric[i]), "%s", bad_metric[i]);
	for (size_t i = 0; i < sizeof(good_label) / sizeof(good_label[0]); i++)
		ck_assert_msg(expo_label_name_ok(good_label[i]), "%s", good_label[i]);
	for (size_t i = 0; i < sizeof(bad_label) / sizeof(bad_label[0]); i++)
		ck_assert_msg(!expo_label_name_ok(bad_label[i]), "%s", bad_label[i]);
	ck_assert(!expo_metric_name_ok(NULL));
}
END_TEST

START_TEST(duration_buckets)
{
	/* each bound belongs to its own bucket (le: less or equal), one
	 * microsecond more to the next */
	for (unsigned i = 0; i < EXPO_DURATION_NBOUNDS; i++) {
		uint64_t us = (uint64_t)(expo_duration_bounds[i] * 1e6 + 0.5);
		ck_assert_uint_eq(expo_duration_bucket(us), i);
		ck_assert_uint_eq(expo_duration_bucket(us + 1), i + 1);
		if (i > 0)
			ck_assert_double_gt(expo_duration_bounds[i], expo_duration_bounds[i - 1]);
	}
	ck_assert_double_eq(expo_duration_bounds[0], 0.001);
	ck_assert_double_eq(expo_duration_bounds[EXPO_DURATION_NBOUNDS - 1], 60);
	ck_assert_uint_eq(expo_duration_bucket(0), 0);
	ck_assert_uint_eq(expo_duration_bucket(UINT64_MAX), EXPO_DURATION_NBOUNDS);
	/* against a linear search, on a sweep across every decade */
	for (uint64_t us = 1; us < 200000000; us = us * 11 / 10 + 1) {
		unsigned want = 0;
		while (want < EXPO_DURATION_NBOUNDS && expo_duration_bounds[want] * 1e6 < (double)us)
			want++;
		ck_assert_uint_eq(expo_duration_bucket(us), want);
	}
}
END_TEST

/* A scrape like the proxy's, hostile label values included: the text
 * promtool is run on (see the top of this file). */
START_TEST(sample_scrape)
{
	struct expo e;
	expo_init(&e, 1 << 20);
	expo_family(&e, "sluice_requests_total", EXPO_COUNTER, "Requests by method class and status class.");
	expo_sample_u64(&e, "sluice_requests_total", (const char *[]){ "method", "GET", "code", "2xx", NULL }, 10);
	expo_sample_u64(&e, "sluice_requests_total", (const char *[]){ "method", "CONNECT", "code", "2xx", NULL },
			UINT64_MAX);
	expo_family(&e, "sluice_policy_denials_total", EXPO_COUNTER, "Denials by rule (file:line).");
	expo_sample_u64(&e, "sluice_policy_denials_total",
			(const char *[]){ "rule", "/etc/sluice/a\\b \"c\".conf:7\n\xff\xc0", NULL }, 2);
	expo_family(&e, "sluice_top_domain_bytes", EXPO_GAUGE, "Top domains by bytes \\ with a\nnewline.");
	expo_sample(&e, "sluice_top_domain_bytes", (const char *[]){ "domain", "xn--caf-dma.example", NULL }, 1e9);
	expo_sample(&e, "sluice_top_domain_bytes", (const char *[]){ "domain", "caf\xc3\xa9.\xed\xa0\x80", NULL }, NAN);
	expo_family(&e, "sluice_request_duration_seconds", EXPO_HISTOGRAM, "Request duration.");
	uint64_t counts[EXPO_DURATION_NBOUNDS + 1];
	for (unsigned i = 0; i <= EXPO_DURATION_NBOUNDS; i++)
		counts[i] = i * 3;
	expo_histogram(&e, "sluice_request_duration_seconds", NULL, expo_duration_bounds, counts,
		       EXPO_DURATION_NBOUNDS, 1234.5);
	ck_assert_int_eq(e.truncated, 0);
	ck_assert_ptr_null(memchr(e.buf, '\0', e.len));
	ck_assert_int_eq(e.buf[e.len - 1], '\n');
	const char *out = getenv("EXPO_SAMPLE_OUT");
	if (out) {
		FILE *f = fopen(out, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(e.buf, 1, e.len, f), e.len);
		ck_assert_int_eq(fclose(f), 0);
	}
	expo_free(&e);
}
END_TEST

Suite *expo_suite(void)
{
	Suite *s = suite_create("expo");
	TCase *tc = tcase_create("exposition");
	tcase_add_test(tc, a_family_of_each_type);
	tcase_add_test(tc, label_values_and_help_are_escaped);
	tcase_add_test(tc, invalid_utf8_becomes_fffd);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, histogram_is_cumulative);
	tcase_add_test(tc, output_stops_at_the_bound);
	tcase_add_test(tc, a_large_scrape_grows_to_fit);
	tcase_add_test(tc, names_follow_the_format);
	tcase_add_test(tc, duration_buckets);
	tcase_add_test(tc, sample_scrape);
	suite_add_tcase(s, tc);
	return s;
}
