/* Unit tests for route.c's literal parser: it must take exactly the
 * strings inet_pton takes (a looser one would send a request where the
 * access rules and the loop guard did not look), whatever the input. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/session_int.h"
#include "suites.h"

static void same_as_inet_pton(const char *s)
{
	union sockaddr_any got;
	struct in_addr want4;
	struct in6_addr want6;
	int r = route_parse_literal(s, 8080, &got);
	if (inet_pton(AF_INET, s, &want4) == 1) {
		ck_assert_msg(r == 0 && got.sa.sa_family == AF_INET, "'%s' refused", s);
		ck_assert_msg(got.in.sin_addr.s_addr == want4.s_addr, "'%s' read wrong", s);
		ck_assert_uint_eq(ntohs(got.in.sin_port), 8080);
	} else if (inet_pton(AF_INET6, s, &want6) == 1) {
		ck_assert_msg(r == 0 && got.sa.sa_family == AF_INET6, "'%s' refused", s);
		ck_assert(memcmp(&got.in6.sin6_addr, &want6, 16) == 0);
	} else {
		ck_assert_msg(r == -1, "'%s' taken, inet_pton refuses it", s);
	}
}

START_TEST(literals_are_what_inet_pton_takes)
{
	static const char *const cases[] = {
		"127.0.0.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4",
		"1.2.3.04", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "1.2.3.4a",
		"1234.1.1.1", "1.2.3.0400", "0.0.0.00", "10.0.0.255", "::1", "::ffff:1.2.3.4", "1.example.com",
		"", "1", "999", "1.2.3.4/8",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		same_as_inet_pton(cases[i]);
	/* and random strings of digits and dots */
	srand(7);
	char s[24];
	for (int n = 0; n < 200000; n++) {
		int len = 1 + rand() % 18;
		for (int i = 0; i < len; i++) {
			int c = rand() % 13;
			s[i] = c < 10 ? (char)('0' + c) : c == 10 ? '.' : c == 11 ? '.' : 'x';
		}
		s[len] = '\0';
		same_as_inet_pton(s);
	}
}
END_TEST

Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("literals");
	tcase_add_test(tc, literals_are_what_inet_pton_takes);
	suite_add_tcase(s, tc);
	return s;
}
