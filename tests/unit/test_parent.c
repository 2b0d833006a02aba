/* Unit tests for parent proxies: the order parents are tried in
 * (parent.c), their health, the parent/route lines (config_route.c) and
 * a request head turned into a parent's form and back (http.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/acl.h"
#include "sluice/buf.h"
#include "sluice/config.h"
#include "sluice/hash.h"
#include "sluice/http.h"
#include "sluice/parent.h"
#include "suites.h"

/* Slots live for the process: each test takes names of its own. */
static struct parent_pick pick(const char *name, uint32_t weight)
{
	int slot = parent_slot(name, "h:1");
	ck_assert_int_ge(slot, 0);
	return (struct parent_pick){ slot, weight, hash_name(name) };
}

START_TEST(weights_spread_the_first_choice)
{
	struct parent_pick p[3] = { pick("w-a", 1), pick("w-b", 2), pick("w-c", 5) };
	int first[3] = { 0 };
	uint8_t hops[PARENT_HOPS_MAX];
	for (uint32_t turn = 0; turn < 8000; turn++) {
		int n = parent_order(p, 3, 0, 0, turn, 0, 1000, hops);
		ck_assert_int_eq(n, 3);
		/* every parent once, the rest in the line's order after the first */
		ck_assert_int_eq(hops[1], (hops[0] + 1) % 3);
		ck_assert_int_eq(hops[2], (hops[0] + 2) % 3);
		first[hops[0]]++;
	}
	ck_assert_int_eq(first[0], 1000);
	ck_assert_int_eq(first[1], 2000);
	ck_assert_int_eq(first[2], 5000);
}
END_TEST

START_TEST(a_down_parent_goes_last_and_comes_back)
{
	struct parent_pick p[3] = { pick("d-a", 1), pick("d-b", 1), pick("d-c", 1) };
	uint8_t hops[PARENT_HOPS_MAX];
	ck_assert_int_eq(parent_failed(p[0].slot, 1000), 1);
	ck_assert_int_eq(parent_failed(p[0].slot, 1500), 0); /* already down: renewed */
	ck_assert(parent_down(p[0].slot, 1500 + PARENT_DOWN_MS - 1));
	for (uint32_t turn = 0; turn < 6; turn++) {
		int n = parent_order(p, 3, 0, 0, turn, 1, 2000, hops);
		ck_assert_int_eq(n, 4);
		ck_assert_int_ne(hops[0], 0);
		ck_assert_int_eq(hops[2], PARENT_DIRECT); /* fallback before the down one */
		ck_assert_int_eq(hops[3], 0);
	}
	/* two down: the soonest back first */
	ck_assert_int_eq(parent_failed(p[2].slot, 3000), 1);
	int n = parent_order(p, 3, 0, 0, 0, 0, 3000, hops);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(hops[0], 1);
	ck_assert_int_eq(hops[1], 0);
	ck_assert_int_eq(hops[2], 2);
	/* a success brings it back at once */
	ck_assert_int_eq(parent_ok(p[0].slot), 1);
	ck_assert_int_eq(parent_ok(p[0].slot), 0);
	ck_assert(!parent_down(p[0].slot, 3000));
	/* a name moved to another proxy starts up, whatever the old one did */
	ck_assert_int_eq(parent_failed(p[1].slot, 4000), 1);
	ck_assert(parent_down(p[1].slot, 4001));
	ck_assert_int_eq(parent_slot("d-b", "h:1"), p[1].slot);
	ck_assert(parent_down(p[1].slot, 4001));
	ck_assert_int_eq(parent_slot("d-b", "other:3128"), p[1].slot);
	ck_assert(!parent_down(p[1].slot, 4001));
}
END_TEST

START_TEST(the_hold_doubles_while_it_keeps_failing)
{
	int s = pick("h-a", 1).slot;
	uint64_t now = 10000, hold = PARENT_DOWN_MS;
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(parent_failed(s, now), 1);
		ck_assert(parent_down(s, now + hold - 1));
		ck_assert(!parent_down(s, now + hold));
		now += hold + 1; /* tried again just after the hold: fails again */
		hold = hold * 2 > PARENT_DOWN_MAX_MS ? PARENT_DOWN_MAX_MS : hold * 2;
	}
	ck_assert_uint_eq(hold, PARENT_DOWN_MAX_MS);
	/* failing long after the hold ended starts over */
	now += 10 * PARENT_DOWN_MAX_MS;
	ck_assert_int_eq(parent_failed(s, now), 1);
	ck_assert(!parent_down(s, now + PARENT_DOWN_MS));
	parent_ok(s);
}
END_TEST

START_TEST(sticky_keeps_a_name_on_its_parent)
{
	struct parent_pick p[4] = { pick("s-a", 1), pick("s-b", 1), pick("s-c", 1), pick("s-d", 1) };
	uint8_t hops[PARENT_HOPS_MAX], again[PARENT_HOPS_MAX];
	int first[4] = { 0 };
	char name[64];
	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "host%d.example.com", i);
		uint32_t key = hash_name(name);
		parent_order(p, 4, 1, key, (uint32_t)i, 0, 1000, hops);
		parent_order(p, 4, 1, key, (uint32_t)i * 7 + 1, 0, 1000, again);
		ck_assert(memcmp(hops, again, 4) == 0); /* the turn does not matter */
		first[hops[0]]++;
		/* its parent down: it moves to its second choice, and only it */
		parent_failed(p[hops[0]].slot, 2000);
		parent_order(p, 4, 1, key, 0, 0, 2000, again);
		ck_assert_int_eq(again[0], hops[1]);
		ck_assert_int_eq(again[3], hops[0]);
		parent_ok(p[hops[0]].slot);
	}
	for (int i = 0; i < 4; i++) /* spread evenly: 1000 each, give or take */
		ck_assert_msg(first[i] > 850 && first[i] < 1150, "parent %d first for %d names", i, first[i]);
}
END_TEST

static int parse(struct config *c, const char *text, char *err, size_t len)
{
	config_defaults(c);
	err[0] = '\0';
	int r = config_parse(c, text, "t.conf", err, len);
	if (r == 0)
		r = config_complete(c, err, len);
	return r;
}

START_TEST(parent_and_route_lines)
{
	struct config c;
	char err[512];
	int r = parse(&c,
		      "parent hq proxy.example.net:3128 login=gw:s3cr\xc3\xa9t weight=3\n"
		      "parent cloud [2001:db8::1]:8080\n"
		      "acl intranet dstdomain .corp.example\n"
		      "acl staff src 10.1.0.0/16\n"
		      "route direct intranet\n"
		      "route hq,cloud staff !intranet sticky fallback direct\n"
		      "route_default cloud\n",
		      err, sizeof(err));
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_int_eq(c.nparents, 2);
	ck_assert_str_eq(c.parents[0].host, "proxy.example.net");
	ck_assert_uint_eq(c.parents[0].port, 3128);
	ck_assert_uint_eq(c.parents[0].weight, 3);
	/* base64("gw:s3cr\xc3\xa9t") */
	ck_assert_str_eq(c.parents[0].auth, "Proxy-Authorization: Basic Z3c6czNjcsOpdA==\r\n");
	ck_assert_str_eq(c.parents[1].host, "2001:db8::1");
	ck_assert_str_eq(c.parents[1].auth, "");
	ck_assert_int_eq(c.nroutes, 2);
	ck_assert_int_eq(c.routes[0].nparents, 0);
	ck_assert_int_eq(c.routes[1].nparents, 2);
	ck_assert(c.routes[1].sticky && c.routes[1].fallback_direct);
	ck_assert_int_eq(c.route_default.nparents, 1);
	ck_assert_int_eq(c.route_default.parent[0], 1);
	/* no http_access line: the built-in rules, and the route lines keep
	 * the file's ACLs */
	ck_assert_ptr_nonnull(c.route_policy);
	ck_assert_ptr_ne(c.route_policy, c.policy);
	struct acl_request rq = { .host = "www.corp.example", .port = 80, .method = 1 };
	ck_assert_int_eq(policy_route(c.route_policy, &rq), 0);
	rq.host = "example.org";
	ck_assert_int_eq(policy_route(c.route_policy, &rq), -1); /* no client in 10.1/16 */
	config_clear(&c);
}
END_TEST

START_TEST(bad_parent_and_route_lines)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "parent a\n", "t.conf:1: parent: parent takes NAME HOST:PORT" },
		{ "parent a host\n", "want HOST:PORT" },
		{ "parent a host:0\n", "want HOST:PORT" },
		{ "parent direct h:1\n", "a parent's name" },
		{ "parent a h:1\nparent a h:2\n", "t.conf:2: parent: a parent of that name exists" },
		{ "parent a h:1 login=nocolon\n", "login wants USER:PASSWORD" },
		{ "parent a h:1 login=:pw\n", "login wants USER:PASSWORD" },
		{ "parent a h:1 login=u:p\x01\n", "no control characters" },
		{ "parent a h:1 weight=0\n", "weight wants" },
		{ "parent a h:1 colour=red\n", "login=USER:PASSWORD and weight=N" },
		{ "route b all\n", "no parent named \"b\"" },
		{ "parent a h:1\nroute a nosuch\n", "unknown ACL \"nosuch\"" },
		{ "parent a h:1\nacl d dst 10.0.0.0/8\nroute a d\n", "dst ACL" },
		{ "route direct all sticky\n", "for routes to parents" },
		{ "parent a h:1\nroute a,a all\n", "a parent named twice" },
		{ "parent a h:1\nroute_default a all\n", "route_default takes" },
		{ "route\n", "route takes NAME" },
		{ "parent a h:1\nroute a, all\n", "want NAME[,NAME...]" },
		{ "parent a h:1\nroute ,a all\n", "want NAME[,NAME...]" },
		{ "parent a h:1\nparent b h:2\nroute a,,b all\n", "want NAME[,NAME...]" },
		{ "parent a h:1 weight=2 weight=3\n", "each once" },
		{ "route_default direct\nroute_default direct\n", "route_default given twice" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		char err[512];
		ck_assert_msg(parse(&c, cases[i].text, err, sizeof(err)) == -1, "taken: %s", cases[i].text);
		ck_assert_msg(strstr(err, cases[i].want), "%s: got \"%s\", want \"%s\"", cases[i].text, err,
			      cases[i].want);
		config_clear(&c);
	}
}
END_TEST

/* A head as http_write_request writes it, in a buffer of cap bytes. */
static struct buf *head(const char *text, uint32_t cap)
{
	struct buf *b = calloc(1, sizeof(*b) + cap + 1);
	b->cap = cap;
	memcpy(b->data, text, strlen(text));
	b->end = b->parsed = (uint32_t)strlen(text);
	return b;
}

static void round_trip_to(const char *origin, const char *authority, const char *auth, const char *parent)
{
	struct buf *b = head(origin, 1024);
	uint32_t prefix = 0;
	ck_assert_int_eq(http_request_for_parent(b, authority, auth, &prefix), 0);
	ck_assert_int_eq(b->end, strlen(parent));
	ck_assert_msg(memcmp(b->data, parent, b->end) == 0, "got %.*s", (int)b->end, b->data);
	http_request_for_origin(b, prefix, (uint32_t)strlen(auth));
	ck_assert_int_eq(b->end, strlen(origin));
	ck_assert(memcmp(b->data, origin, b->end) == 0);
	free(b);
}

static void round_trip(const char *origin, const char *auth, const char *parent)
{
	round_trip_to(origin, NULL, auth, parent);
}

START_TEST(request_heads_for_a_parent)
{
	round_trip("GET /a?b HTTP/1.1\r\nHost: h.example:8080\r\nX: 1\r\n\r\n", "",
		   "GET http://h.example:8080/a?b HTTP/1.1\r\nHost: h.example:8080\r\nX: 1\r\n\r\n");
	round_trip("POST / HTTP/1.1\r\nHost: [::1]:81\r\n\r\n", "Proxy-Authorization: Basic eDp5\r\n",
		   "POST http://[::1]:81/ HTTP/1.1\r\nHost: [::1]:81\r\nProxy-Authorization: Basic eDp5\r\n\r\n");
	round_trip("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "",
		   "OPTIONS http://h HTTP/1.1\r\nHost: h\r\n\r\n");
	/* an authority of the caller's (a redirected request's destination) */
	round_trip_to("GET /x HTTP/1.1\r\nHost: evil.example:22\r\n\r\n", "10.0.0.1", "",
		      "GET http://10.0.0.1/x HTTP/1.1\r\nHost: evil.example:22\r\n\r\n");
	round_trip_to("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "[fd00::1]:8080", "",
		      "OPTIONS http://[fd00::1]:8080 HTTP/1.1\r\nHost: h\r\n\r\n");
	/* no room: unchanged */
	const char *t = "GET /x HTTP/1.1\r\nHost: abc\r\n\r\n";
	struct buf *b = head(t, (uint32_t)strlen(t) + 9); /* "http://abc" needs 10 */
	uint32_t prefix;
	ck_assert_int_eq(http_request_for_parent(b, NULL, "", &prefix), -1);
	ck_assert(b->end == strlen(t) && memcmp(b->data, t, b->end) == 0);
	free(b);
}
END_TEST

Suite *parent_suite(void)
{
	Suite *s = suite_create("parent");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, weights_spread_the_first_choice);
	tcase_add_test(tc, a_down_parent_goes_last_and_comes_back);
	tcase_add_test(tc, the_hold_doubles_while_it_keeps_failing);
	tcase_add_test(tc, sticky_keeps_a_name_on_its_parent);
	tcase_add_test(tc, parent_and_route_lines);
	tcase_add_test(tc, bad_parent_and_route_lines);
	tcase_add_test(tc, request_heads_for_a_parent);
	suite_add_tcase(s, tc);
	return s;
}
