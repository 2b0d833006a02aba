/* Unit tests for src/dns.c, the dns suite.  They cover its cache half
 * (dns_cache_*): pending entries, expiry, negative answers, case-insensitive
 * names and LRU eviction.  The clock is passed in, so times here are plain
 * numbers of ms. */
#include <arpa/inet.h>
#include <string.h>

#include "sluice/dns.h"
#include "suites.h"

static union sockaddr_any v4(const char *ip, uint16_t port)
{
	union sockaddr_any a;
	memset(&a, 0, sizeof(a));
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &a.in.sin_addr), 1);
	return a;
}

/* A finished positive entry for name, resolved at now with ttl_s. */
static struct dns_entry *add_ok(struct dns_cache *c, const char *name, uint32_t ttl_s, uint64_t now)
{
	union sockaddr_any a = v4("192.0.2.1", 0);
	struct dns_entry *e = dns_cache_add_pending(c, name, now);
	ck_assert_ptr_nonnull(e);
	dns_cache_complete(c, e, DNS_OK, &a, 1, ttl_s, now);
	return e;
}

START_TEST(new_cache_is_empty)
{
	struct dns_cache *c = dns_cache_new(8);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(dns_cache_count(c), 0);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 0));
	dns_cache_free(c);
}
END_TEST

START_TEST(pending_entry_is_returned_as_pending)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_entry *e = dns_cache_add_pending(c, "example.com", 1000);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(dns_cache_count(c), 1);
	ck_assert_ptr_eq(dns_cache_get(c, "example.com", 1000), e);
	ck_assert_int_eq(dns_entry_status(e), DNS_PENDING);
	dns_cache_free(c);
}
END_TEST

START_TEST(pending_entry_does_not_expire)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_entry *e = dns_cache_add_pending(c, "example.com", 1000);
	ck_assert_ptr_eq(dns_cache_get(c, "example.com", 1000 + 86400000ull), e);
	ck_assert_int_eq(dns_entry_status(e), DNS_PENDING);
	dns_cache_free(c);
}
END_TEST

START_TEST(second_add_pending_for_a_pending_name_is_refused)
{
	struct dns_cache *c = dns_cache_new(8);
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, "example.com", 0));
	ck_assert_ptr_null(dns_cache_add_pending(c, "example.com", 5));
	ck_assert_ptr_null(dns_cache_add_pending(c, "EXAMPLE.COM", 5));
	ck_assert_uint_eq(dns_cache_count(c), 1);
	dns_cache_free(c);
}
END_TEST

START_TEST(completed_entry_serves_addresses_until_expiry)
{
	struct dns_cache *c = dns_cache_new(8);
	union sockaddr_any a[2] = { v4("192.0.2.1", 0), v4("192.0.2.2", 0) };
	struct dns_entry *e = dns_cache_add_pending(c, "example.com", 1000);
	dns_cache_complete(c, e, DNS_OK, a, 2, 30, 1000);

	struct dns_entry *got = dns_cache_get(c, "example.com", 30999);
	ck_assert_ptr_eq(got, e);
	ck_assert_int_eq(dns_entry_status(got), DNS_OK);
	const union sockaddr_any *addrs = NULL;
	ck_assert_int_eq(dns_entry_addrs(got, &addrs), 2);
	ck_assert_int_eq(memcmp(&addrs[0], &a[0], sizeof(a[0])), 0);
	ck_assert_int_eq(memcmp(&addrs[1], &a[1], sizeof(a[1])), 0);
	dns_cache_free(c);
}
END_TEST

START_TEST(entry_at_expiry_is_dropped)
{
	struct dns_cache *c = dns_cache_new(8);
	add_ok(c, "example.com", 30, 1000);
	add_ok(c, "other.example", 300, 1000);
	ck_assert_uint_eq(dns_cache_count(c), 2);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 31000));
	ck_assert_uint_eq(dns_cache_count(c), 1);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 31000));
	ck_assert_ptr_nonnull(dns_cache_get(c, "other.example", 31000));
	dns_cache_free(c);
}
END_TEST

START_TEST(entry_after_expiry_is_dropped)
{
	struct dns_cache *c = dns_cache_new(8);
	add_ok(c, "example.com", 30, 1000);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 500000));
	ck_assert_uint_eq(dns_cache_count(c), 0);
	dns_cache_free(c);
}
END_TEST

START_TEST(negative_entry_is_served_until_its_ttl)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_entry *e = dns_cache_add_pending(c, "nx.example", 0);
	dns_cache_complete(c, e, DNS_NOTFOUND, NULL, 0, 10, 0);
	struct dns_entry *got = dns_cache_get(c, "nx.example", 9999);
	ck_assert_ptr_eq(got, e);
	ck_assert_int_eq(dns_entry_status(got), DNS_NOTFOUND);
	const union sockaddr_any *addrs;
	ck_assert_int_eq(dns_entry_addrs(got, &addrs), 0);
	ck_assert_ptr_null(dns_cache_get(c, "nx.example", 10000));
	ck_assert_uint_eq(dns_cache_count(c), 0);
	dns_cache_free(c);
}
END_TEST

START_TEST(ttl_zero_is_never_served)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_entry *e = dns_cache_add_pending(c, "example.com", 500);
	union sockaddr_any a = v4("192.0.2.1", 0);
	dns_cache_complete(c, e, DNS_OK, &a, 1, 0, 500);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 500));
	ck_assert_uint_eq(dns_cache_count(c), 0);
	dns_cache_free(c);
}
END_TEST

START_TEST(names_are_case_insensitive)
{
	struct dns_cache *c = dns_cache_new(8);
	struct dns_entry *e = add_ok(c, "Example.COM", 60, 0);
	ck_assert_ptr_eq(dns_cache_get(c, "example.com", 1), e);
	ck_assert_ptr_eq(dns_cache_get(c, "EXAMPLE.com", 1), e);
	ck_assert_ptr_null(dns_cache_get(c, "example.co", 1));
	dns_cache_free(c);
}
END_TEST

START_TEST(addresses_are_capped_at_dns_max_addrs)
{
	struct dns_cache *c = dns_cache_new(8);
	union sockaddr_any a[DNS_MAX_ADDRS + 2];
	for (int i = 0; i < DNS_MAX_ADDRS + 2; i++)
		a[i] = v4("192.0.2.9", (uint16_t)(i + 1));
	struct dns_entry *e = dns_cache_add_pending(c, "many.example", 0);
	dns_cache_complete(c, e, DNS_OK, a, DNS_MAX_ADDRS + 2, 60, 0);
	const union sockaddr_any *addrs;
	ck_assert_int_eq(dns_entry_addrs(e, &addrs), DNS_MAX_ADDRS);
	ck_assert_uint_eq(ntohs(addrs[DNS_MAX_ADDRS - 1].in.sin_port), DNS_MAX_ADDRS);
	dns_cache_free(c);
}
END_TEST

START_TEST(too_long_name_is_refused)
{
	struct dns_cache *c = dns_cache_new(8);
	char name[DNS_NAME_MAX + 2];
	memset(name, 'a', DNS_NAME_MAX + 1);
	name[DNS_NAME_MAX + 1] = '\0';
	ck_assert_ptr_null(dns_cache_add_pending(c, name, 0));
	name[DNS_NAME_MAX] = '\0';
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, name, 0));
	dns_cache_free(c);
}
END_TEST

START_TEST(full_cache_evicts_least_recently_used)
{
	struct dns_cache *c = dns_cache_new(3);
	add_ok(c, "a.example", 600, 0);
	add_ok(c, "b.example", 600, 1);
	add_ok(c, "c.example", 600, 2);
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 3)); /* a is now the most recent */
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, "d.example", 4));
	ck_assert_uint_eq(dns_cache_count(c), 3);
	ck_assert_ptr_null(dns_cache_get(c, "b.example", 5));
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 5));
	ck_assert_ptr_nonnull(dns_cache_get(c, "c.example", 5));
	ck_assert_ptr_nonnull(dns_cache_get(c, "d.example", 5));
	dns_cache_free(c);
}
END_TEST

START_TEST(eviction_skips_pending_entries)
{
	struct dns_cache *c = dns_cache_new(2);
	struct dns_entry *p = dns_cache_add_pending(c, "pending.example", 0);
	add_ok(c, "done.example", 600, 1);
	ck_assert_ptr_nonnull(dns_cache_get(c, "done.example", 2)); /* pending is now the LRU one */
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, "new.example", 3));
	ck_assert_uint_eq(dns_cache_count(c), 2);
	ck_assert_ptr_eq(dns_cache_get(c, "pending.example", 4), p);
	ck_assert_ptr_null(dns_cache_get(c, "done.example", 4));
	dns_cache_free(c);
}
END_TEST

START_TEST(full_of_pending_entries_refuses_a_new_one)
{
	struct dns_cache *c = dns_cache_new(2);
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, "a.example", 0));
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, "b.example", 0));
	ck_assert_ptr_null(dns_cache_add_pending(c, "c.example", 0));
	ck_assert_uint_eq(dns_cache_count(c), 2);
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 1));
	ck_assert_ptr_nonnull(dns_cache_get(c, "b.example", 1));
	ck_assert_ptr_null(dns_cache_get(c, "c.example", 1));
	dns_cache_free(c);
}
END_TEST

START_TEST(completing_frees_room_for_a_new_entry)
{
	struct dns_cache *c = dns_cache_new(1);
	struct dns_entry *e = dns_cache_add_pending(c, "a.example", 0);
	ck_assert_ptr_null(dns_cache_add_pending(c, "b.example", 0));
	dns_cache_complete(c, e, DNS_NOTFOUND, NULL, 0, 10, 0);
	ck_assert_ptr_nonnull(dns_cache_add_pending(c, "b.example", 1));
	ck_assert_uint_eq(dns_cache_count(c), 1);
	ck_assert_ptr_null(dns_cache_get(c, "a.example", 2));
	dns_cache_free(c);
}
END_TEST

Suite *dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("entries");
	tcase_add_test(tc, new_cache_is_empty);
	tcase_add_test(tc, pending_entry_is_returned_as_pending);
	tcase_add_test(tc, pending_entry_does_not_expire);
	tcase_add_test(tc, second_add_pending_for_a_pending_name_is_refused);
	tcase_add_test(tc, completed_entry_serves_addresses_until_expiry);
	tcase_add_test(tc, entry_at_expiry_is_dropped);
	tcase_add_test(tc, entry_after_expiry_is_dropped);
	tcase_add_test(tc, negative_entry_is_served_until_its_ttl);
	tcase_add_test(tc, ttl_zero_is_never_served);
	tcase_add_test(tc, names_are_case_insensitive);
	tcase_add_test(tc, addresses_are_capped_at_dns_max_addrs);
	tcase_add_test(tc, too_long_name_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("eviction");
	tcase_add_test(tc, full_cache_evicts_least_recently_used);
	tcase_add_test(tc, eviction_skips_pending_entries);
	tcase_add_test(tc, full_of_pending_entries_refuses_a_new_one);
	tcase_add_test(tc, completing_frees_room_for_a_new_entry);
	suite_add_tcase(s, tc);
	return s;
}
