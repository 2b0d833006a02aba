/* Unit tests for src/dns.c, the dns suite.
 *
 * Most cover its cache half (dns_cache_*), pure, with the clock passed in
 * as plain numbers of ms: answers and their expiry, the bounds (answers,
 * lookups in flight, lookups nobody waits for), waiters; then the TTL of
 * an answer as c-ares parses it, the per-try timeouts, and the resolver
 * lists config_validate lets through, which dns_new must take.  The last
 * case drives the resolver against a small DNS server of its own on
 * loopback (fake_dns below): callbacks that resolve, cancel or free, and
 * an A answer whose AAAA never comes. */
#include <ares.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* An answer for name with one address, kept until expires. */
static struct dns_entry *put_ok(struct dns_cache *c, const char *name, uint64_t expires, uint64_t now, int waited)
{
	union sockaddr_any a = v4("192.0.2.1", 0);
	return dns_cache_put(c, name, DNS_OK, &a, 1, expires, now, waited);
}

static void noop_cb(void *arg, enum dns_status st, const union sockaddr_any *addrs, int naddrs)
{
	(void)arg, (void)st, (void)addrs, (void)naddrs;
}

static struct dns_waiter waiter(void)
{
	struct dns_waiter w;
	memset(&w, 0, sizeof(w));
	w.cb = noop_cb;
	return w;
}

/* --- answers --------------------------------------------------------------------- */

START_TEST(new_cache_is_empty)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(dns_cache_count(c), 0);
	ck_assert_uint_eq(dns_cache_lookups(c), 0);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 0));
	ck_assert_ptr_null(dns_cache_lookup(c, "example.com"));
	dns_cache_free(c);
}
END_TEST

START_TEST(answer_serves_addresses_until_expiry)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	union sockaddr_any a[2] = { v4("192.0.2.1", 0), v4("192.0.2.2", 0) };
	struct dns_entry *e = dns_cache_put(c, "example.com", DNS_OK, a, 2, 31000, 1000, 1);
	ck_assert_ptr_nonnull(e);
	struct dns_entry *got = dns_cache_get(c, "example.com", 30999);
	ck_assert_ptr_eq(got, e);
	ck_assert_int_eq(dns_entry_status(got), DNS_OK);
	const union sockaddr_any *addrs = NULL;
	ck_assert_int_eq(dns_entry_addrs(got, &addrs), 2);
	ck_assert_int_eq(memcmp(&addrs[0], &a[0], sizeof(a[0])), 0);
	ck_assert_int_eq(memcmp(&addrs[1], &a[1], sizeof(a[1])), 0);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 31000));
	ck_assert_uint_eq(dns_cache_count(c), 0);
	dns_cache_free(c);
}
END_TEST

START_TEST(negative_answer_is_served_until_it_expires)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	struct dns_entry *e = dns_cache_put(c, "nx.example", DNS_NOTFOUND, NULL, 0, 10000, 0, 1);
	struct dns_entry *got = dns_cache_get(c, "nx.example", 9999);
	ck_assert_ptr_eq(got, e);
	ck_assert_int_eq(dns_entry_status(got), DNS_NOTFOUND);
	const union sockaddr_any *addrs;
	ck_assert_int_eq(dns_entry_addrs(got, &addrs), 0);
	ck_assert_ptr_null(dns_cache_get(c, "nx.example", 10000));
	dns_cache_free(c);
}
END_TEST

START_TEST(answer_expired_already_is_not_kept_and_drops_the_old_one)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	ck_assert_ptr_nonnull(put_ok(c, "example.com", 60000, 0, 1));
	ck_assert_ptr_null(put_ok(c, "example.com", 500, 500, 1)); /* TTL 0 */
	ck_assert_uint_eq(dns_cache_count(c), 0);
	ck_assert_ptr_null(dns_cache_get(c, "example.com", 501));
	dns_cache_free(c);
}
END_TEST

START_TEST(answer_replaces_the_one_for_its_name)
{
	struct dns_cache *c = dns_cache_new(2, 8);
	union sockaddr_any b = v4("192.0.2.7", 0);
	put_ok(c, "example.com", 60000, 0, 1);
	put_ok(c, "other.example", 60000, 0, 1);
	/* full, nobody waits: its own name's place is still its own */
	ck_assert_ptr_nonnull(dns_cache_put(c, "EXAMPLE.com", DNS_OK, &b, 1, 90000, 10, 0));
	ck_assert_uint_eq(dns_cache_count(c), 2);
	const union sockaddr_any *addrs;
	ck_assert_int_eq(dns_entry_addrs(dns_cache_get(c, "example.com", 70000), &addrs), 1);
	ck_assert_int_eq(memcmp(&addrs[0], &b, sizeof(b)), 0);
	ck_assert_ptr_nonnull(dns_cache_get(c, "other.example", 11));
	dns_cache_free(c);
}
END_TEST

START_TEST(names_are_case_insensitive)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	struct dns_entry *e = put_ok(c, "Example.COM", 60000, 0, 1);
	ck_assert_ptr_eq(dns_cache_get(c, "example.com", 1), e);
	ck_assert_ptr_eq(dns_cache_get(c, "EXAMPLE.com", 1), e);
	ck_assert_ptr_null(dns_cache_get(c, "example.co", 1));
	struct dns_lookup *l = dns_cache_add_lookup(c, "Lookup.Example", 0);
	ck_assert_ptr_eq(dns_cache_lookup(c, "lookup.example"), l);
	ck_assert_ptr_null(dns_cache_add_lookup(c, "LOOKUP.EXAMPLE", 0));
	dns_cache_free(c);
}
END_TEST

START_TEST(addresses_are_capped_at_dns_max_addrs)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	union sockaddr_any a[DNS_MAX_ADDRS + 2];
	for (int i = 0; i < DNS_MAX_ADDRS + 2; i++)
		a[i] = v4("192.0.2.9", (uint16_t)(i + 1));
	struct dns_entry *e = dns_cache_put(c, "many.example", DNS_OK, a, DNS_MAX_ADDRS + 2, 60000, 0, 1);
	const union sockaddr_any *addrs;
	ck_assert_int_eq(dns_entry_addrs(e, &addrs), DNS_MAX_ADDRS);
	ck_assert_uint_eq(ntohs(addrs[DNS_MAX_ADDRS - 1].in.sin_port), DNS_MAX_ADDRS);
	dns_cache_free(c);
}
END_TEST

START_TEST(too_long_name_is_refused)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	char name[DNS_NAME_MAX + 2];
	memset(name, 'a', DNS_NAME_MAX + 1);
	name[DNS_NAME_MAX + 1] = '\0';
	ck_assert_ptr_null(dns_cache_add_lookup(c, name, 0));
	ck_assert_ptr_null(put_ok(c, name, 60000, 0, 1));
	name[DNS_NAME_MAX] = '\0';
	ck_assert_ptr_nonnull(dns_cache_add_lookup(c, name, 0));
	ck_assert_ptr_nonnull(put_ok(c, name, 60000, 0, 1));
	dns_cache_free(c);
}
END_TEST

/* --- bounds ------------------------------------------------------------------------ */

START_TEST(full_cache_evicts_the_least_recently_used_for_a_waited_answer)
{
	struct dns_cache *c = dns_cache_new(3, 8);
	put_ok(c, "a.example", 600000, 0, 1);
	put_ok(c, "b.example", 600000, 1, 1);
	put_ok(c, "c.example", 600000, 2, 1);
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 3)); /* a is now the most recent */
	ck_assert_ptr_nonnull(put_ok(c, "d.example", 600000, 4, 1));
	ck_assert_uint_eq(dns_cache_count(c), 3);
	ck_assert_ptr_null(dns_cache_get(c, "b.example", 5));
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 5));
	ck_assert_ptr_nonnull(dns_cache_get(c, "c.example", 5));
	ck_assert_ptr_nonnull(dns_cache_get(c, "d.example", 5));
	dns_cache_free(c);
}
END_TEST

START_TEST(answer_nobody_waits_for_evicts_nothing)
{
	struct dns_cache *c = dns_cache_new(2, 8);
	put_ok(c, "a.example", 600000, 0, 1);
	put_ok(c, "b.example", 600000, 0, 1);
	ck_assert_ptr_null(put_ok(c, "orphan.example", 600000, 1, 0));
	ck_assert_uint_eq(dns_cache_count(c), 2);
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 2));
	ck_assert_ptr_nonnull(dns_cache_get(c, "b.example", 2));
	ck_assert_ptr_null(dns_cache_get(c, "orphan.example", 2));
	dns_cache_free(c);
}
END_TEST

START_TEST(answer_nobody_waits_for_is_kept_when_there_is_room)
{
	struct dns_cache *c = dns_cache_new(2, 8);
	put_ok(c, "a.example", 600000, 0, 1);
	ck_assert_ptr_nonnull(put_ok(c, "orphan.example", 600000, 1, 0));
	ck_assert_ptr_nonnull(dns_cache_get(c, "orphan.example", 2));
	dns_cache_free(c);
}
END_TEST

START_TEST(lookups_never_take_an_answers_place)
{
	struct dns_cache *c = dns_cache_new(2, 100);
	put_ok(c, "a.example", 600000, 0, 1);
	put_ok(c, "b.example", 600000, 0, 1);
	char name[32];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d.void.example", i);
		ck_assert_ptr_nonnull(dns_cache_add_lookup(c, name, 1));
	}
	ck_assert_uint_eq(dns_cache_lookups(c), 100);
	ck_assert_uint_eq(dns_cache_count(c), 2);
	ck_assert_ptr_nonnull(dns_cache_get(c, "a.example", 2));
	ck_assert_ptr_nonnull(dns_cache_get(c, "b.example", 2));
	dns_cache_free(c);
}
END_TEST

START_TEST(lookups_are_bounded_and_released_ones_make_room)
{
	struct dns_cache *c = dns_cache_new(8, 2);
	struct dns_lookup *a = dns_cache_add_lookup(c, "a.example", 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(dns_cache_add_lookup(c, "b.example", 0));
	ck_assert_ptr_null(dns_cache_add_lookup(c, "c.example", 0));
	ck_assert_uint_eq(dns_cache_lookups(c), 2);
	dns_cache_release(c, a);
	ck_assert_ptr_null(dns_cache_lookup(c, "a.example"));
	ck_assert_ptr_nonnull(dns_cache_add_lookup(c, "c.example", 0));
	dns_cache_free(c);
}
END_TEST

START_TEST(cache_size_zero_keeps_no_answer_but_shares_lookups)
{
	struct dns_cache *c = dns_cache_new(0, 8);
	ck_assert_ptr_null(put_ok(c, "a.example", 600000, 0, 1));
	ck_assert_ptr_null(put_ok(c, "a.example", 600000, 0, 0));
	ck_assert_uint_eq(dns_cache_count(c), 0);
	ck_assert_ptr_null(dns_cache_get(c, "a.example", 1));
	struct dns_lookup *l = dns_cache_add_lookup(c, "a.example", 0);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_eq(dns_cache_lookup(c, "a.example"), l);
	dns_cache_free(c);
}
END_TEST

/* Whatever names come and go, the cache holds no more than its bounds. */
START_TEST(memory_stays_bounded_whatever_names_come)
{
	struct dns_cache *c = dns_cache_new(16, 32);
	char name[32];
	struct dns_waiter w[8];
	for (int i = 0; i < 8; i++)
		w[i] = waiter();
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		put_ok(c, name, 600000 + (uint64_t)i, (uint64_t)i, i % 3 == 0);
		struct dns_lookup *l = dns_cache_add_lookup(c, name, (uint64_t)i);
		if (l == NULL) {
			/* what the resolver does at the bound: drop the idle ones */
			struct dns_lookup *idle;
			snprintf(name, sizeof(name), "n%d.example", i - 32);
			while ((idle = dns_cache_lookup(c, name)) != NULL)
				dns_cache_release(c, idle);
		} else if (i % 5 == 0) {
			dns_cache_wait(c, l, &w[i % 8]);
		}
		ck_assert_uint_le(dns_cache_count(c), 16);
		ck_assert_uint_le(dns_cache_lookups(c), 32);
	}
	dns_cache_free(c);
}
END_TEST

/* --- waiters ----------------------------------------------------------------------- */

START_TEST(a_lookup_nobody_waits_for_is_idle)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	struct dns_lookup *l = dns_cache_add_lookup(c, "a.example", 0);
	struct dns_waiter w1 = waiter(), w2 = waiter();
	ck_assert_uint_eq(dns_cache_idle(c), 1);
	dns_cache_wait(c, l, &w1);
	dns_cache_wait(c, l, &w2);
	ck_assert_uint_eq(dns_cache_idle(c), 0);
	dns_cache_unwait(c, &w1);
	ck_assert_uint_eq(dns_cache_idle(c), 0);
	dns_cache_unwait(c, &w2);
	ck_assert_uint_eq(dns_cache_idle(c), 1); /* its clients left */
	dns_cache_unwait(c, &w2);		  /* not waiting: nothing */
	ck_assert_uint_eq(dns_cache_idle(c), 1);
	ck_assert_ptr_null(w2.next);
	dns_cache_wait(c, l, &w1); /* a new client for the name takes it up */
	ck_assert_uint_eq(dns_cache_idle(c), 0);
	dns_cache_free(c);
	ck_assert_ptr_null(w1.next); /* freeing detaches */
}
END_TEST

START_TEST(retire_hands_over_the_waiters_and_frees_the_name)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	struct dns_lookup *l = dns_cache_add_lookup(c, "a.example", 0);
	struct dns_waiter w1 = waiter(), w2 = waiter(), w3 = waiter(), list;
	dns_cache_wait(c, l, &w1);
	dns_cache_wait(c, l, &w2);
	dns_cache_wait(c, l, &w3);
	dns_cache_retire(c, l, &list);
	ck_assert_ptr_eq(list.next, &w1);
	ck_assert_ptr_eq(w1.next, &w2);
	ck_assert_ptr_eq(w2.next, &w3);
	ck_assert_ptr_eq(w3.next, &list);
	ck_assert_ptr_null(w1.lookup);
	/* the name is free for a new lookup; the retired one waits for nobody */
	ck_assert_ptr_null(dns_cache_lookup(c, "a.example"));
	struct dns_lookup *again = dns_cache_add_lookup(c, "a.example", 5);
	ck_assert_ptr_nonnull(again);
	ck_assert_uint_eq(dns_cache_lookups(c), 2);
	ck_assert_uint_eq(dns_cache_idle(c), 2);
	/* a waiter cancelled while on the list leaves it */
	dns_cache_unwait(c, &w2);
	ck_assert_ptr_eq(w1.next, &w3);
	ck_assert_ptr_null(w2.next);
	dns_cache_release(c, l);
	ck_assert_uint_eq(dns_cache_lookups(c), 1);
	ck_assert_ptr_eq(dns_cache_lookup(c, "a.example"), again);
	dns_cache_unwait(c, &w1);
	dns_cache_unwait(c, &w3);
	ck_assert_ptr_eq(list.next, &list);
	dns_cache_free(c);
}
END_TEST

START_TEST(release_detaches_the_waiters)
{
	struct dns_cache *c = dns_cache_new(8, 8);
	struct dns_lookup *l = dns_cache_add_lookup(c, "a.example", 0);
	struct dns_waiter w = waiter();
	dns_cache_wait(c, l, &w);
	dns_cache_release(c, l);
	ck_assert_ptr_null(w.next);
	ck_assert_ptr_null(w.lookup);
	ck_assert_uint_eq(dns_cache_lookups(c), 0);
	ck_assert_uint_eq(dns_cache_idle(c), 0);
	dns_cache_free(c);
}
END_TEST

/* --- TTLs ----------------------------------------------------------------------------- */

/* An answer as c-ares parses it: address records with ttls, then CNAMEs. */
struct parsed {
	struct ares_addrinfo ai;
	struct ares_addrinfo_node nodes[4];
	struct ares_addrinfo_cname cnames[4];
};

static const struct ares_addrinfo *parsed(struct parsed *p, const int *node_ttls, int nnodes, const int *cname_ttls,
					  int ncnames)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < nnodes; i++) {
		p->nodes[i].ai_ttl = node_ttls[i];
		p->nodes[i].ai_family = AF_INET;
		p->nodes[i].ai_next = i + 1 < nnodes ? &p->nodes[i + 1] : NULL;
	}
	for (int i = 0; i < ncnames; i++) {
		p->cnames[i].ttl = cname_ttls[i];
		p->cnames[i].next = i + 1 < ncnames ? &p->cnames[i + 1] : NULL;
	}
	p->ai.nodes = nnodes ? p->nodes : NULL;
	p->ai.cnames = ncnames ? p->cnames : NULL;
	return &p->ai;
}

START_TEST(ttl_is_the_shortest_address_record)
{
	struct parsed p;
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ 300, 60, 120 }, 3, NULL, 0), 3600), 60);
}
END_TEST

START_TEST(ttl_of_a_cname_chain_is_its_shortest_link)
{
	struct parsed p;
	/* alias (CNAME, 30 s) -> mid (CNAME, 3600 s) -> target (A, 300 s) */
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ 300 }, 1, (int[]){ 30, 3600 }, 2), 86400), 30);
	/* the address record the shortest */
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ 5 }, 1, (int[]){ 30, 3600 }, 2), 86400), 5);
}
END_TEST

START_TEST(ttl_of_2_31_or_more_is_zero)
{
	/* c-ares hands a 32-bit TTL over as an int: 2^31 arrives as INT_MIN,
	 * 2^32 - 1 as -1 (RFC 2181, section 8: read them as 0) */
	struct parsed p;
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ INT32_MIN }, 1, NULL, 0), 3600), 0);
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ -1 }, 1, NULL, 0), 3600), 0);
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ 300 }, 1, (int[]){ INT32_MIN }, 1), 3600), 0);
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ INT32_MAX }, 1, NULL, 0), 3600), 3600);
}
END_TEST

START_TEST(ttl_is_capped_by_max_ttl)
{
	struct parsed p;
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ 86400 }, 1, (int[]){ 90000 }, 1), 3600), 3600);
	ck_assert_uint_eq(dns_answer_ttl(parsed(&p, (int[]){ 0 }, 1, NULL, 0), 3600), 0);
	ck_assert_uint_eq(dns_answer_ttl(NULL, 3600), 0);
}
END_TEST

/* --- per-try timeouts ----------------------------------------------------------------- */

START_TEST(tries_fit_the_budget_for_any_number_of_servers)
{
	static const uint32_t budgets[] = { 50, 500, 1000, 2000, 5000, 30000 };
	for (size_t b = 0; b < sizeof(budgets) / sizeof(budgets[0]); b++) {
		for (int n = 1; n <= 8; n++) {
			int tries = 0, timeout = 0;
			dns_try_timeouts(budgets[b], n, &tries, &timeout);
			ck_assert_int_ge(tries, 1);
			ck_assert_int_le(tries, 3);
			ck_assert_int_ge(timeout, 1);
			/* c-ares: try k of n * tries waits timeout << (k / n) */
			uint64_t total = (uint64_t)n * (uint64_t)timeout * ((1u << tries) - 1);
			ck_assert_msg(total <= budgets[b] || (tries == 1 && timeout == 1),
				      "budget %u ms, %d servers: %d tries of %d ms take %llu ms", budgets[b], n, tries,
				      timeout, (unsigned long long)total);
		}
	}
}
END_TEST

START_TEST(tries_for_one_and_two_servers)
{
	int tries, timeout;
	dns_try_timeouts(5000, 1, &tries, &timeout);
	ck_assert_int_eq(tries, 3);
	ck_assert_int_eq(timeout, 714); /* 714 + 1428 + 2856 */
	dns_try_timeouts(2000, 2, &tries, &timeout);
	ck_assert_int_eq(tries, 3);
	ck_assert_int_eq(timeout, 142); /* 2 * (142 + 284 + 568) */
	dns_try_timeouts(1000, 3, &tries, &timeout);
	ck_assert_int_eq(tries, 2); /* 3 tries would be 47 ms each */
	ck_assert_int_eq(timeout, 111);
}
END_TEST

/* --- resolver lists: what -t lets through, dns_new takes ------------------------------------ */

static int validate_resolver(const char *list, char *err, size_t errlen)
{
	struct config c;
	config_defaults(&c);
	snprintf(c.resolver, sizeof(c.resolver), "%s", list);
	return config_validate(&c, err, errlen);
}

START_TEST(resolver_lists_refused_by_validate)
{
	static const char *const bad[] = {
		"not-an-address", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:53:53", "127.0.0.1:x",
		"127.0.0.256", "1.2.3", "[::1", "::1]", "[127.0.0.1]:53", "[::1]:", "[::1]:0", "[::1]x", "fe80::1%lo",
		"127.0.0.1,,127.0.0.2", "127.0.0.1,", ",127.0.0.1", " 127.0.0.1", "127.0.0.1, 127.0.0.2",
		"1,2,3,4,5,6,7,8,9",
		"127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,::1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[512] = "";
		ck_assert_msg(validate_resolver(bad[i], err, sizeof(err)) == -1, "resolver \"%s\" accepted", bad[i]);
		ck_assert_msg(strncmp(err, "resolver ", 9) == 0, "resolver \"%s\": message \"%s\"", bad[i], err);
	}
}
END_TEST

START_TEST(resolver_lists_validate_accepts_dns_new_takes)
{
	static const char *const good[] = {
		"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]", "[::1]:5353", "2001:db8::53", "::ffff:127.0.0.1",
		"127.0.0.1:53,[::1]:53,::2,[::3]",
		"127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8",
	};
	struct loop *l = loop_new();
	ck_assert_ptr_nonnull(l);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config c;
		char err[512] = "";
		config_defaults(&c);
		snprintf(c.resolver, sizeof(c.resolver), "%s", good[i]);
		ck_assert_msg(config_validate(&c, err, sizeof(err)) == 0, "resolver \"%s\" refused: %s", good[i], err);
		struct dns *d = dns_new(l, &c, err, sizeof(err));
		ck_assert_msg(d != NULL, "resolver \"%s\": dns_new: %s", good[i], err);
		dns_free(d);
	}
	loop_free(l);
}
END_TEST

START_TEST(dns_directives_validated)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	c.dns_cache_size = 0; /* no answer kept */
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	c.dns_cache_size = 1048576;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	c.dns_cache_size = 1048577;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "dns_cache_size"));
	config_defaults(&c);
	c.dns_negative_ttl = 3 * 3600;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	c.dns_negative_ttl = 3 * 3600 + 1;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "dns_negative_ttl"));
}
END_TEST

/* --- the resolver against a DNS server on loopback ------------------------------------------ */

/* A DNS server in the test's own loop: A queries get 127.0.0.1 with ttl,
 * AAAA queries no data (::1 with aaaa); drop_a and drop_aaaa lose them. */
struct fake_dns {
	struct io io; /* first: the loop hands us &io */
	uint16_t port;
	int queries;
	int drop_a, drop_aaaa, aaaa;
	uint32_t ttl;
};

static void fake_dns_read(struct io *io, uint32_t events)
{
	struct fake_dns *f = (struct fake_dns *)io;
	unsigned char q[512], a[600];
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);
	ssize_t n;
	(void)events;
	while ((n = recvfrom(io->fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen)) > 12) {
		size_t pos = 12;
		while (pos < (size_t)n && q[pos] != 0)
			pos += 1 + q[pos];
		pos += 5; /* the root label, QTYPE, QCLASS */
		if (pos > (size_t)n)
			continue;
		unsigned qtype = (unsigned)q[pos - 4] << 8 | q[pos - 3];
		f->queries++;
		if ((qtype == 28 && f->drop_aaaa) || (qtype == 1 && f->drop_a))
			continue;
		memcpy(a, q, pos);
		a[2] = 0x80 | (q[2] & 0x01); /* a response, RD as asked */
		a[3] = 0x80;		      /* RA, NOERROR */
		memset(a + 6, 0, 6);	      /* no answer, authority or additional records yet */
		size_t len = pos;
		if (qtype == 1 || (qtype == 28 && f->aaaa)) {
			/* a pointer to the question's name, TYPE, CLASS IN, TTL, RDLENGTH */
			const unsigned char rr[] = { 0xc0, 0x0c, 0, (unsigned char)qtype, 0, 1,
						     (unsigned char)(f->ttl >> 24), (unsigned char)(f->ttl >> 16),
						     (unsigned char)(f->ttl >> 8), (unsigned char)f->ttl,
						     0, qtype == 1 ? 4 : 16 };
			const unsigned char v4[4] = { 127, 0, 0, 1 }, v6[16] = { [15] = 1 };
			memcpy(a + len, rr, sizeof(rr));
			len += sizeof(rr);
			memcpy(a + len, qtype == 1 ? v4 : v6, qtype == 1 ? 4 : 16);
			len += qtype == 1 ? 4 : 16;
			a[7] = 1;
		}
		sendto(io->fd, a, len, 0, (struct sockaddr *)&from, fromlen);
		fromlen = sizeof(from);
	}
}

static void fake_dns_start(struct loop *l, struct fake_dns *f)
{
	memset(f, 0, sizeof(*f));
	f->ttl = 300;
	f->io.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->io.fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(bind(f->io.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(f->io.fd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	f->io.cb = fake_dns_read;
	ck_assert_int_eq(loop_add(l, &f->io, EPOLLIN, 0), 0);
}

/* A resolver pointed at f, dns_timeout 2 s. */
static struct dns *resolver(struct loop *l, const struct fake_dns *f, uint32_t cache_size)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	snprintf(c.resolver, sizeof(c.resolver), "127.0.0.1:%u", f->port);
	c.dns_cache_size = cache_size;
	c.dns_timeout = 2000;
	struct dns *d = dns_new(l, &c, err, sizeof(err));
	ck_assert_msg(d != NULL, "dns_new: %s", err);
	return d;
}

/* One test's waiters and what their callbacks do. */
struct client {
	struct dns_waiter w;
	struct dns *d;
	int called;
	enum dns_status st;
	int naddrs;
	const char *then_resolve;	/* resolve this name from the callback */
	struct dns_waiter *then_cancel;	/* cancel this waiter from the callback */
	int then_free;			/* free this client from the callback */
	enum dns_status then_st;
	int *freed_called;
	int family;			/* of the first address */
};

static void client_cb(void *arg, enum dns_status st, const union sockaddr_any *addrs, int naddrs)
{
	struct client *cl = arg;
	cl->called++;
	cl->st = st;
	cl->naddrs = naddrs;
	if (naddrs > 0)
		cl->family = addrs[0].sa.sa_family;
	if (cl->then_cancel)
		dns_cancel(cl->d, cl->then_cancel);
	if (cl->then_resolve) {
		const union sockaddr_any *a;
		int n;
		cl->then_st = dns_resolve(cl->d, cl->then_resolve, &cl->w, &a, &n);
	}
	if (cl->then_free) {
		(*cl->freed_called)++;
		dns_cancel(cl->d, &cl->w); /* what closing a session does */
		free(cl);
	}
}

static struct client *client_new(struct dns *d)
{
	struct client *cl = calloc(1, sizeof(*cl));
	ck_assert_ptr_nonnull(cl);
	cl->d = d;
	cl->w.cb = client_cb;
	cl->w.arg = cl;
	return cl;
}

/* Run the loop until *flag is set or ms pass. */
static void run_until(struct loop *l, const int *flag, int ms)
{
	uint64_t end = loop_clock_ms() + (uint64_t)ms;
	while (!*flag && loop_clock_ms() < end)
		loop_run_once(l, 10);
}

START_TEST(callbacks_may_resolve_cancel_and_free)
{
	struct loop *l = loop_new();
	struct fake_dns f;
	fake_dns_start(l, &f);
	struct dns *d = resolver(l, &f, 1); /* one answer: the next one evicts it */
	const union sockaddr_any *a;
	int n, freed_called = 0;

	/* a: the first waiter resolves other names, whose answers evict a's;
	 * the second is cancelled by the first; the third frees itself; the
	 * fourth resolves a again */
	struct client *c1 = client_new(d), *c2 = client_new(d), *c3 = client_new(d), *c4 = client_new(d);
	c1->then_resolve = "b.test";
	c1->then_cancel = &c2->w;
	c3->then_free = 1;
	c3->freed_called = &freed_called;
	c4->then_resolve = "a.test";
	ck_assert_int_eq(dns_resolve(d, "a.test", &c1->w, &a, &n), DNS_PENDING);
	ck_assert_int_eq(dns_resolve(d, "a.test", &c2->w, &a, &n), DNS_PENDING);
	ck_assert_int_eq(dns_resolve(d, "A.TEST", &c3->w, &a, &n), DNS_PENDING);
	ck_assert_int_eq(dns_resolve(d, "a.test", &c4->w, &a, &n), DNS_PENDING);
	ck_assert_int_eq(c1->called + c2->called + c4->called + freed_called, 0); /* never from inside */
	run_until(l, &c4->called, 3000);
	ck_assert_int_eq(c1->called, 1);
	ck_assert_int_eq(c1->st, DNS_OK);
	ck_assert_int_eq(c1->naddrs, 1);
	ck_assert_int_eq(c1->family, AF_INET);
	ck_assert_int_eq(c2->called, 0);
	ck_assert_int_eq(freed_called, 1);
	ck_assert_int_eq(c4->called, 1);
	ck_assert_int_eq(c4->st, DNS_OK);
	ck_assert_int_eq(c1->then_st, DNS_PENDING);
	ck_assert_int_eq(c4->then_st, DNS_OK); /* a's answer, still cached */
	/* c1 now waits for b.test, whose answer takes a's place (one entry);
	 * from that callback it asks for c.test, then cancels */
	c1->then_resolve = "c.test";
	c1->then_cancel = NULL;
	uint64_t end = loop_clock_ms() + 3000;
	while (c1->called == 1 && loop_clock_ms() < end)
		loop_run_once(l, 10);
	ck_assert_int_eq(c1->called, 2);
	ck_assert_int_eq(c1->st, DNS_OK);
	ck_assert_int_eq(c1->then_st, DNS_PENDING);
	dns_cancel(d, &c1->w);
	for (int i = 0; i < 20; i++)
		loop_run_once(l, 10);
	ck_assert_int_eq(c1->called, 2);
	ck_assert_int_eq(c2->called, 0);
	dns_free(d);
	loop_del(l, &f.io);
	close(f.io.fd);
	free(c1);
	free(c2);
	free(c4);
	loop_free(l);
}
END_TEST

START_TEST(an_aaaa_answer_waits_for_the_a)
{
	struct loop *l = loop_new();
	struct fake_dns f;
	fake_dns_start(l, &f);
	f.drop_a = 1;
	f.aaaa = 1;
	struct dns *d = resolver(l, &f, 8);
	struct client *c = client_new(d);
	const union sockaddr_any *a;
	int n;
	uint64_t t0 = loop_clock_ms();
	ck_assert_int_eq(dns_resolve(d, "v6only.test", &c->w, &a, &n), DNS_PENDING);
	run_until(l, &c->called, 4000);
	uint64_t took = loop_clock_ms() - t0;
	ck_assert_int_eq(c->called, 1);
	ck_assert_int_eq(c->st, DNS_OK);
	ck_assert_int_eq(c->naddrs, 1);
	ck_assert_int_eq(c->family, AF_INET6);
	ck_assert_msg(took >= 1500, "the AAAA answer went out after %llu ms, without waiting for the A",
		      (unsigned long long)took);
	dns_free(d);
	loop_del(l, &f.io);
	close(f.io.fd);
	free(c);
	loop_free(l);
}
END_TEST

START_TEST(an_a_answer_does_not_wait_for_a_lost_aaaa)
{
	struct loop *l = loop_new();
	struct fake_dns f;
	fake_dns_start(l, &f);
	f.drop_aaaa = 1;
	struct dns *d = resolver(l, &f, 8);
	struct client *c = client_new(d);
	const union sockaddr_any *a;
	int n;
	uint64_t t0 = loop_clock_ms();
	ck_assert_int_eq(dns_resolve(d, "v4only.test", &c->w, &a, &n), DNS_PENDING);
	run_until(l, &c->called, 3000);
	uint64_t took = loop_clock_ms() - t0;
	ck_assert_int_eq(c->called, 1);
	ck_assert_int_eq(c->st, DNS_OK);
	ck_assert_int_eq(c->naddrs, 1);
	ck_assert_int_eq(c->family, AF_INET);
	ck_assert_msg(took < 1000, "the A answer waited %llu ms for the AAAA (dns_timeout 2 s)",
		      (unsigned long long)took);
	/* and it is cached */
	ck_assert_int_eq(dns_resolve(d, "v4only.test", &c->w, &a, &n), DNS_OK);
	ck_assert_int_eq(n, 1);
	dns_free(d);
	loop_del(l, &f.io);
	close(f.io.fd);
	free(c);
	loop_free(l);
}
END_TEST

/* A name /etc/hosts answers ("localhost" always is, RFC 6761) is kept for a
 * few seconds like any answer: the next request for it reads no file. */
START_TEST(hosts_answers_are_cached)
{
	struct loop *l = loop_new();
	struct fake_dns f;
	fake_dns_start(l, &f);
	struct dns *d = resolver(l, &f, 8);
	struct client *c = client_new(d);
	const union sockaddr_any *a;
	int n;
	ck_assert_int_eq(dns_resolve(d, "localhost", &c->w, &a, &n), DNS_OK);
	ck_assert_int_gt(n, 0);
	uint64_t hits = stat_get(&dns_stats(d)->hits);
	ck_assert_int_eq(dns_resolve(d, "localhost", &c->w, &a, &n), DNS_OK);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(stat_get(&dns_stats(d)->hits), hits + 1);
	dns_free(d);
	loop_del(l, &f.io);
	close(f.io.fd);
	free(c);
	loop_free(l);
}
END_TEST

Suite *dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("answers");
	tcase_add_test(tc, new_cache_is_empty);
	tcase_add_test(tc, answer_serves_addresses_until_expiry);
	tcase_add_test(tc, negative_answer_is_served_until_it_expires);
	tcase_add_test(tc, answer_expired_already_is_not_kept_and_drops_the_old_one);
	tcase_add_test(tc, answer_replaces_the_one_for_its_name);
	tcase_add_test(tc, names_are_case_insensitive);
	tcase_add_test(tc, addresses_are_capped_at_dns_max_addrs);
	tcase_add_test(tc, too_long_name_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_test(tc, full_cache_evicts_the_least_recently_used_for_a_waited_answer);
	tcase_add_test(tc, answer_nobody_waits_for_evicts_nothing);
	tcase_add_test(tc, answer_nobody_waits_for_is_kept_when_there_is_room);
	tcase_add_test(tc, lookups_never_take_an_answers_place);
	tcase_add_test(tc, lookups_are_bounded_and_released_ones_make_room);
	tcase_add_test(tc, cache_size_zero_keeps_no_answer_but_shares_lookups);
	tcase_add_test(tc, memory_stays_bounded_whatever_names_come);
	suite_add_tcase(s, tc);

	tc = tcase_create("waiters");
	tcase_add_test(tc, a_lookup_nobody_waits_for_is_idle);
	tcase_add_test(tc, retire_hands_over_the_waiters_and_frees_the_name);
	tcase_add_test(tc, release_detaches_the_waiters);
	suite_add_tcase(s, tc);

	tc = tcase_create("ttl");
	tcase_add_test(tc, ttl_is_the_shortest_address_record);
	tcase_add_test(tc, ttl_of_a_cname_chain_is_its_shortest_link);
	tcase_add_test(tc, ttl_of_2_31_or_more_is_zero);
	tcase_add_test(tc, ttl_is_capped_by_max_ttl);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeouts");
	tcase_add_test(tc, tries_fit_the_budget_for_any_number_of_servers);
	tcase_add_test(tc, tries_for_one_and_two_servers);
	suite_add_tcase(s, tc);

	tc = tcase_create("config");
	tcase_add_test(tc, resolver_lists_refused_by_validate);
	tcase_add_test(tc, resolver_lists_validate_accepts_dns_new_takes);
	tcase_add_test(tc, dns_directives_validated);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolver");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, callbacks_may_resolve_cancel_and_free);
	tcase_add_test(tc, an_a_answer_does_not_wait_for_a_lost_aaaa);
	tcase_add_test(tc, an_aaaa_answer_waits_for_the_a);
	tcase_add_test(tc, hosts_answers_are_cached);
	suite_add_tcase(s, tc);
	return s;
}
