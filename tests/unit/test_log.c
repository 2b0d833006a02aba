/* Unit tests for the access log's squid and combined lines (log.c): the
 * hand-made formatting gives, byte for byte, what printf gave before it
 * (the reference below is that code), for every kind of field. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sluice/fmt.h"
#include "sluice/log.h"
#include "suites.h"

/* The old printf formatting, as it was (fields with spaces excepted: the
 * cases below have none where it did not escape). */
static size_t ref_field(char *dst, size_t room, const char *s, size_t len)
{
	size_t n = 0;
	if (s == NULL || len == 0) {
		dst[n++] = '-';
		return n;
	}
	for (size_t i = 0; i < len && n + 3 < room; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '"')
			n += (size_t)sprintf(dst + n, "%%%02X", c);
		else
			dst[n++] = (char)c;
	}
	return n;
}

static size_t reference(enum access_format f, const struct access_entry *e, char *line)
{
	char client[INET6_ADDRSTRLEN];
	size_t n;
	log_host(e->client, client, sizeof(client));
	if (f == ACCESS_SQUID) {
		n = (size_t)sprintf(line, "%llu.%03llu %6llu %s %s/%03d %llu %s ", (unsigned long long)(e->end_ms / 1000),
				    (unsigned long long)(e->end_ms % 1000), (unsigned long long)e->elapsed_ms, client,
				    e->code, e->status, (unsigned long long)e->bytes, e->method ? e->method : "-");
	} else {
		struct tm tm;
		time_t t = (time_t)(e->end_ms / 1000);
		char when[64];
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
		n = (size_t)sprintf(line, "%s - %s [%s] \"%s ", client, e->user ? e->user : "-", when,
				    e->method ? e->method : "-");
	}
	n += ref_field(line + n, 4096, e->url, e->url ? e->url_len : 0);
	if (f == ACCESS_SQUID) {
		n += (size_t)sprintf(line + n, " %s %s/%s ", e->user ? e->user : "-", e->hier, e->peer ? e->peer : "-");
		n += ref_field(line + n, 256, e->type, e->type ? e->type_len : 0);
	} else {
		n += (size_t)sprintf(line + n, " HTTP/1.1\" %d %llu", e->status, (unsigned long long)e->bytes);
	}
	if (e->reason)
		n += (size_t)sprintf(line + n, " \"%s\"", e->reason);
	line[n++] = '\n';
	return n;
}

static void same_line(enum access_format f, const struct access_entry *e)
{
	static struct access_log al;
	char want[8192];
	access_log_init(&al, 99, f); /* never flushed: the buffer is read here */
	access_log_write(&al, e);
	size_t n = reference(f, e, want);
	ck_assert_msg(al.len == n && memcmp(al.buf, want, n) == 0, "got  %.*s\nwant %.*s", (int)al.len, al.buf, (int)n,
		      want);
}

START_TEST(lines_as_printf_wrote_them)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "fd00:200:1::2", &v6.sin6_addr);
	static const char *const ips[] = { "127.0.0.1", "0.0.0.0", "255.255.255.255", "10.200.1.2", "192.168.100.9" };
	static const uint64_t times[] = { 1796460728574, 1000, 1796460728000, 1796460728009, 1796460728099 };
	static const uint64_t elapsed[] = { 0, 7, 123456, 1234567, 99 };
	static const int statuses[] = { 200, 0, 502, 101, 999 };
	for (int i = 0; i < 5; i++) {
		inet_pton(AF_INET, ips[i], &v4.sin_addr);
		struct access_entry e = {
			.end_ms = times[i],
			.elapsed_ms = elapsed[i],
			.client = i == 4 ? (const struct sockaddr *)&v6 : (const struct sockaddr *)&v4,
			.code = i == 1 ? "TCP_DENIED" : "TCP_MISS",
			.status = statuses[i],
			.bytes = i == 2 ? 18446744073709551615ull : (uint64_t)i * 1000,
			.method = i == 1 ? NULL : "GET",
			.url = i == 3 ? NULL : "http://a.example:8080/x?y=\"z\" w\x01",
			.url_len = i == 3 ? 0 : strlen("http://a.example:8080/x?y=\"z\" w\x01"),
			.user = i == 2 ? "alice" : NULL,
			.hier = i == 1 ? "HIER_NONE" : "FIRSTUP_PARENT",
			.peer = i == 1 ? NULL : "pp.sluice.test",
			.type = i == 0 ? "text/plain; charset=utf-8" : NULL,
			.type_len = i == 0 ? strlen("text/plain; charset=utf-8") : 0,
			.reason = i == 2 ? "parent proxy refused sluice's login (407)" : NULL,
		};
		same_line(ACCESS_SQUID, &e);
		same_line(ACCESS_COMBINED, &e);
	}
	/* long fields are cut where they always were, escapes never split */
	static char url[6000];
	for (size_t len = 4080; len < 4110; len++) {
		for (size_t i = 0; i < sizeof(url); i++)
			url[i] = i % 7 == (len & 3) ? ' ' : 'a';
		inet_pton(AF_INET, "1.2.3.4", &v4.sin_addr);
		struct access_entry e = { .end_ms = 1, .client = (const struct sockaddr *)&v4, .code = "TCP_MISS",
					  .status = 200, .method = "GET", .url = url, .url_len = len, .hier = "HIER_DIRECT",
					  .peer = "1.2.3.4" };
		same_line(ACCESS_SQUID, &e);
		same_line(ACCESS_COMBINED, &e);
	}
}
END_TEST

/* Every field at its largest (and escaped three for one): the line stays
 * within its buffer (ASan watches in the sanitizer pass) and whole. */
START_TEST(the_longest_line_fits)
{
	static char big[8000];
	memset(big, '"', sizeof(big) - 1);
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &v6.sin6_addr);
	struct access_entry e = {
		.end_ms = UINT64_MAX, .elapsed_ms = UINT64_MAX, .client = (const struct sockaddr *)&v6,
		.code = "TCP_MISS_ABORTED", .status = 999, .bytes = UINT64_MAX, .method = "PROPPATCH",
		.url = big, .url_len = sizeof(big) - 1, .user = big, .hier = big, .peer = big,
		.type = big, .type_len = sizeof(big) - 1, .reason = big,
	};
	for (int f = 0; f < 2; f++) {
		static struct access_log al;
		access_log_init(&al, 99, f ? ACCESS_COMBINED : ACCESS_SQUID);
		access_log_write(&al, &e);
		ck_assert_uint_gt(al.len, 4096);
		ck_assert_uint_lt(al.len, 6144);
		ck_assert(al.buf[al.len - 1] == '\n' && memchr(al.buf, '\n', al.len) == al.buf + al.len - 1);
	}
}
END_TEST

START_TEST(numbers_as_printf_writes_them)
{
	static const uint64_t v[] = { 0, 1, 9, 10, 99, 100, 65535, 99999, 100000, 4294967295ull, 4294967296ull,
				      9999999999ull, 10000000000000000000ull, 18446744073709551615ull };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* each value and its neighbours (where they exist) */
		for (int d = -1; d <= 1; d++) {
			if ((d < 0 && v[i] == 0) || (d > 0 && v[i] == UINT64_MAX))
				continue;
			uint64_t x = v[i] + (uint64_t)(int64_t)d;
			char got[24], want[24];
			size_t n = fmt_u64(got, x);
			int k = snprintf(want, sizeof(want), "%llu", (unsigned long long)x);
			ck_assert_msg(n == (size_t)k && memcmp(got, want, n) == 0, "%s: got %.*s", want, (int)n, got);
		}
	}
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, lines_as_printf_wrote_them);
	tcase_add_test(tc, numbers_as_printf_writes_them);
	tcase_add_test(tc, the_longest_line_fits);
	suite_add_tcase(s, tc);
	return s;
}
