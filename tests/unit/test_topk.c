/* Unit tests for src/topk.c: counts are exact while the keys fit; under
 * churn the structure agrees, key for key, with a plain reading of the
 * paper's algorithm; on a million-add stream where five heavy hitters
 * hide among ~900,000 light keys, every listed key stays within its error
 * bounds, the heavy hitters are all listed and lead, the counts add up to
 * the total, and merging the stream split over 2, 3 and 4 workers keeps
 * the same promises against the whole stream.  Edge cases: long keys, a
 * key coming back after eviction, one counter, memory fixed at creation. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/nameset.h"
#include "sluice/topk.h"
#include "suites.h"

#define S(lit) lit, sizeof(lit) - 1

static struct topk *new_topk(uint32_t cap)
{
	struct topk *t = topk_new(cap);
	ck_assert_ptr_nonnull(t);
	return t;
}

static struct topk_item *new_items(size_t n)
{
	struct topk_item *it = calloc(n, sizeof(*it));
	ck_assert_ptr_nonnull(it);
	return it;
}

static const struct topk_item *listed(const struct topk_item *it, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!it[i].cut && it[i].len == strlen(key) && memcmp(it[i].key, key, it[i].len) == 0)
			return &it[i];
	return NULL;
}

static void assert_item(const struct topk_item *it, uint64_t count, uint64_t err, uint64_t requests)
{
	ck_assert_ptr_nonnull(it);
	ck_assert_uint_eq(it->count, count);
	ck_assert_uint_eq(it->err, err);
	ck_assert_uint_eq(it->requests, requests);
}

START_TEST(counts_are_exact_while_the_keys_fit)
{
	enum { CAP = 1000 };
	struct topk *t = new_topk(CAP);
	struct topk_item *it = new_items(CAP);
	uint64_t total = 0;
	char k[32];
	/* Every key comes back several times, in an order that is not the
	 * order of first arrival, with a weight its number fixes. */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < CAP; i++) {
			int key = (i * 7 + round * 13 + CAP / 2) % CAP;
			int n = snprintf(k, sizeof(k), "k%d", key);
			topk_add(t, k, (size_t)n, (uint64_t)key + 1, 1);
			total += (uint64_t)key + 1;
		}
	uint64_t rest = 99;
	ck_assert_uint_eq(topk_snapshot(t, it, CAP, &rest), CAP);
	ck_assert_uint_eq(rest, 0);	/* nothing was ever left out */
	ck_assert_uint_eq(topk_total(t), total);
	for (int i = 0; i < CAP; i++) {
		/* Weights are distinct, so the order is fixed: k999 first. */
		int key = CAP - 1 - i;
		snprintf(k, sizeof(k), "k%d", key);
		ck_assert_str_eq(it[i].key, k);
		assert_item(&it[i], 3 * ((uint64_t)key + 1), 0, 3);
	}
	/* A smaller snapshot is the head of the whole one; what it leaves out
	 * is at most the largest count it left out. */
	ck_assert_uint_eq(topk_snapshot(t, it, 2, &rest), 2);
	ck_assert_str_eq(it[1].key, "k998");
	ck_assert_uint_eq(rest, 3 * 998);

	/* One key more than fits takes the smallest counter (k0, 3 bytes). */
	topk_add(t, S("new"), 10, 1);
	ck_assert_uint_eq(topk_snapshot(t, it, CAP, &rest), CAP);
	ck_assert_ptr_null(listed(it, CAP, "k0"));
	assert_item(listed(it, CAP, "new"), 13, 3, 1);
	ck_assert_uint_eq(rest, 6);	/* now k1's count, the smallest */
	free(it);
	topk_free(t);
}
END_TEST

/* --- a million adds --------------------------------------------------------- */

enum { N = 1000000, HEAVY = 5 };

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Every add carries 100..1499 bytes and 1..3 requests (bytes >= requests,
 * as the requests bound asks), fixed by its position, so a light key's
 * true figures are found again from its name. */
static uint64_t bytes_of(uint32_t i)
{
	return 100 + mix(i) % 1400;
}

static uint64_t reqs_of(uint32_t i)
{
	return 1 + (mix(i) >> 32) % 3;
}

static const char *const heavy_name[HEAVY] = {
	"heavy0.example", "heavy1.example", "heavy2.example", "heavy3.example", "late.example",
};

/* Add i of the stream: heavy0..3 take 1 add in 50 each all along;
 * late.example takes 2 in 50 of the second half only (a heavy hitter that
 * arrives when every counter is long taken); every other add is a light
 * key of its own.  Returns the key's length; *heavy gets its index or -1. */
static int stream_key(uint32_t i, char *k, size_t size, int *heavy)
{
	uint32_t r = i % 50;
	if (r < 4)
		*heavy = (int)r;
	else if (i >= N / 2 && (r == 4 || r == 5))
		*heavy = 4;
	else
		*heavy = -1;
	if (*heavy >= 0)
		return snprintf(k, size, "%s", heavy_name[*heavy]);
	return snprintf(k, size, "light%u.example", i);
}

struct truth {
	uint64_t bytes[HEAVY], reqs[HEAVY];
	uint64_t total;
};

static void true_figures(const struct truth *tr, const struct topk_item *it, uint64_t *bytes,
			 uint64_t *reqs)
{
	unsigned i;
	if (sscanf(it->key, "light%u.example", &i) == 1) {
		*bytes = bytes_of(i);
		*reqs = reqs_of(i);
		return;
	}
	for (int h = 0; h < HEAVY; h++)
		if (strcmp(it->key, heavy_name[h]) == 0) {
			*bytes = tr->bytes[h];
			*reqs = tr->reqs[h];
			return;
		}
	ck_abort_msg("a key never added: %s", it->key);
}

/* The promises of topk.h for n items and their rest, against the whole
 * stream: each listed key within its bounds, listed once, largest first;
 * every heavy hitter, whose true bytes exceed rest, listed. */
static void check_items(const struct truth *tr, const struct topk_item *it, size_t n, uint64_t rest)
{
	struct nameset *seen = nameset_new();
	ck_assert_ptr_nonnull(seen);
	for (size_t i = 0; i < n; i++) {
		uint64_t b, r;
		true_figures(tr, &it[i], &b, &r);
		ck_assert_uint_le(it[i].count - it[i].err, b);
		ck_assert_uint_le(b, it[i].count);
		ck_assert_uint_le(it[i].requests, r);
		ck_assert_uint_le(r, it[i].requests + it[i].err);
		ck_assert_int_eq(nameset_add(seen, it[i].key, it[i].len), 1);
		if (i > 0)
			ck_assert_uint_le(it[i].count, it[i - 1].count);
	}
	for (int h = 0; h < HEAVY; h++) {
		ck_assert_uint_gt(tr->bytes[h], rest);
		ck_assert_ptr_nonnull(listed(it, n, heavy_name[h]));
	}
	nameset_free(seen);
}

/* Space-Saving as the paper states it, with a linear search for the key
 * and for the smallest count: the model topk must agree with. */
struct model {
	int n;
	struct {
		int key;
		uint64_t count, err, requests;
	} e[16];
};

static void model_add(struct model *m, int key, uint64_t bytes, uint64_t requests)
{
	int j, low = 0;
	for (j = 0; j < m->n && m->e[j].key != key; j++)
		if (m->e[j].count < m->e[low].count)
			low = j;
	if (j < m->n) {
		m->e[j].count += bytes;
		m->e[j].requests += requests;
		return;
	}
	uint64_t floor = 0;
	if (m->n < 16)
		low = m->n++;
	else
		floor = m->e[low].count;
	m->e[low].key = key;
	m->e[low].count = floor + bytes;
	m->e[low].err = floor;
	m->e[low].requests = requests;
}

/* Sixteen counters over 300 keys of skewed popularity: the table deletes
 * all the time, and keys leave and come back.  Weights of 40 random bits
 * make equal counts (practically) impossible, so which counter is the
 * smallest is never a matter of choice, and topk must list exactly the
 * model's keys and figures; and at every look, each key of the universe
 * is listed within its bounds or had at most rest <= total / 16. */
START_TEST(every_key_keeps_its_bounds_under_churn)
{
	enum { CAP = 16, KEYS = 300, ADDS = 200000 };
	uint64_t bytes[KEYS] = { 0 }, reqs[KEYS] = { 0 }, total = 0;
	struct model m = { 0 };
	struct topk *t = new_topk(CAP);
	struct topk_item it[CAP];
	char k[16];
	for (uint32_t i = 1; i <= ADDS; i++) {
		uint64_t x = mix(i + 7 * N);
		double u = (double)(x >> 11) / (double)(1ull << 53);
		int key = (int)(KEYS * u * u * u);
		uint64_t b = (1ull << 40) + (mix(x) >> 24), r = 1 + (x >> 63);
		int n = snprintf(k, sizeof(k), "u%d", key);
		topk_add(t, k, (size_t)n, b, r);
		model_add(&m, key, b, r);
		bytes[key] += b;
		reqs[key] += r;
		total += b;
		if (i % 1000 != 0 && i != 20)
			continue;
		uint64_t rest, sum = 0;
		size_t got = topk_snapshot(t, it, CAP, &rest);
		ck_assert_uint_eq(got, (size_t)m.n);
		int listed_at[KEYS];
		memset(listed_at, -1, sizeof(listed_at));
		for (size_t j = 0; j < got; j++) {
			ck_assert_int_eq(sscanf(it[j].key, "u%d", &key), 1);
			ck_assert_int_eq(listed_at[key], -1);
			listed_at[key] = (int)j;
			int e = 0;
			while (m.e[e].key != key)
				ck_assert_int_lt(++e, m.n);
			assert_item(&it[j], m.e[e].count, m.e[e].err, m.e[e].requests);
			ck_assert_uint_le(it[j].count - it[j].err, bytes[key]);
			ck_assert_uint_le(bytes[key], it[j].count);
			ck_assert_uint_le(it[j].requests, reqs[key]);
			ck_assert_uint_le(reqs[key], it[j].requests + it[j].err);
			sum += it[j].count;
		}
		for (key = 0; key < KEYS; key++)
			if (listed_at[key] == -1)
				ck_assert_uint_le(bytes[key], rest);
		ck_assert_uint_eq(sum, total);
		ck_assert_uint_le(rest, total / CAP);
	}
	topk_free(t);
}
END_TEST

START_TEST(heavy_hitters_are_found_among_a_million_keys)
{
	enum { CAP = 2048 };
	struct topk *t = new_topk(CAP);
	struct truth tr = { 0 };
	char k[64];
	for (uint32_t i = 0; i < N; i++) {
		int h, n = stream_key(i, k, sizeof(k), &h);
		topk_add(t, k, (size_t)n, bytes_of(i), reqs_of(i));
		tr.total += bytes_of(i);
		if (h >= 0) {
			tr.bytes[h] += bytes_of(i);
			tr.reqs[h] += reqs_of(i);
		}
	}
	struct topk_item *it = new_items(CAP);
	uint64_t rest;
	size_t n = topk_snapshot(t, it, CAP, &rest);
	ck_assert_uint_eq(n, CAP);
	check_items(&tr, it, n, rest);
	/* A key not listed had at most rest <= total / capacity. */
	ck_assert_uint_le(rest, tr.total / CAP);
	ck_assert_uint_eq(it[CAP - 1].count, rest);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += it[i].count;
	ck_assert_uint_eq(sum, tr.total);
	ck_assert_uint_eq(topk_total(t), tr.total);
	/* The heavy hitters lead, each near its 2% of the bytes. */
	for (int i = 0; i < HEAVY; i++) {
		ck_assert_msg(strstr(it[i].key, "heavy") || strstr(it[i].key, "late"), "%s", it[i].key);
		ck_assert_uint_le(it[i].err, rest);
	}
	free(it);
	topk_free(t);
}
END_TEST

/* The stream split over 2, 3 and 4 workers, each key's adds going to a
 * worker its position picks (so a heavy hitter is counted everywhere, a
 * light key by one worker), merged from full and from cut snapshots. */
START_TEST(merged_workers_keep_the_bounds_of_the_whole_stream)
{
	enum { CAP = 1024, TOP = 20, CUT = 64 };
	struct topk *w[2 + 3 + 4];
	for (int i = 0; i < 9; i++)
		w[i] = new_topk(CAP);
	struct truth tr = { 0 };
	char k[64];
	for (uint32_t i = 0; i < N; i++) {
		int h, n = stream_key(i, k, sizeof(k), &h);
		uint64_t pick = mix(i + N);
		topk_add(w[pick % 2], k, (size_t)n, bytes_of(i), reqs_of(i));
		topk_add(w[2 + pick % 3], k, (size_t)n, bytes_of(i), reqs_of(i));
		topk_add(w[5 + pick % 4], k, (size_t)n, bytes_of(i), reqs_of(i));
		tr.total += bytes_of(i);
		if (h >= 0) {
			tr.bytes[h] += bytes_of(i);
			tr.reqs[h] += reqs_of(i);
		}
	}
	struct topk_item *snap[9];
	struct topk_item top[TOP];
	struct topk_part part[9];
	for (int cut = 0; cut < 2; cut++) {
		for (int i = 0; i < 9; i++) {
			snap[i] = new_items(CAP);
			part[i].items = snap[i];
			part[i].n = topk_snapshot(w[i], snap[i], cut ? CUT : CAP, &part[i].rest);
			if (!cut)
				ck_assert_uint_le(part[i].rest, topk_total(w[i]) / CAP);
		}
		for (int first = 0, parts = 2; parts <= 4; first += parts, parts++) {
			uint64_t rest, rests = 0;
			for (int i = first; i < first + parts; i++)
				rests += part[i].rest;
			ssize_t n = topk_merge(&part[first], (size_t)parts, top, TOP, &rest);
			ck_assert_int_eq(n, TOP);
			check_items(&tr, top, (size_t)n, rest);
			ck_assert_uint_ge(rest, rests);
			for (int i = 0; i < HEAVY; i++)
				ck_assert_msg(strstr(top[i].key, "heavy") || strstr(top[i].key, "late"),
					      "%d parts, cut %d: %s", parts, cut, top[i].key);
			/* The merge of a merge: the result is itself a part. */
			struct topk_part again = { .items = top, .n = (size_t)n, .rest = rest };
			struct topk_item top2[TOP];
			uint64_t rest2;
			ck_assert_int_eq(topk_merge(&again, 1, top2, TOP, &rest2), n);
			ck_assert_uint_eq(rest2, rest);
			for (int i = 0; i < TOP; i++) {
				ck_assert_str_eq(top2[i].key, top[i].key);
				assert_item(&top2[i], top[i].count, top[i].err, top[i].requests);
			}
		}
		for (int i = 0; i < 9; i++)
			free(snap[i]);
	}
	for (int i = 0; i < 9; i++)
		topk_free(w[i]);
}
END_TEST

/* The merge rule on figures worked by hand: a part that does not list a
 * key may have had up to its rest of it, in the count and in the error. */
START_TEST(a_part_missing_a_key_adds_its_rest)
{
	struct topk_item a[2] = { { .count = 10, .requests = 1, .len = 1, .key = "x" },
				  { .count = 8, .requests = 1, .len = 1, .key = "y" } };
	struct topk_item b[1] = { { .count = 5, .requests = 2, .len = 1, .key = "z" } };
	struct topk_part parts[2] = { { a, 2, 8 }, { b, 1, 0 } };
	struct topk_item out[3];
	uint64_t rest;
	ck_assert_int_eq(topk_merge(parts, 2, out, 3, &rest), 3);
	ck_assert_str_eq(out[0].key, "z");
	assert_item(&out[0], 13, 8, 2);
	assert_item(&out[1], 10, 0, 1);
	assert_item(&out[2], 8, 0, 1);
	ck_assert_uint_eq(rest, 8);
	ck_assert_int_eq(topk_merge(parts, 2, out, 1, &rest), 1);
	ck_assert_uint_eq(rest, 10);

	/* The same key in both: figures add, no rest is added; equal counts
	 * come out by key bytes whatever the order of the parts. */
	struct topk_item c[2] = { { .count = 7, .err = 1, .requests = 3, .len = 1, .key = "y" },
				  { .count = 7, .len = 1, .key = "w" } };
	parts[1] = (struct topk_part){ c, 2, 4 };
	ck_assert_int_eq(topk_merge(parts, 2, out, 3, &rest), 3);
	ck_assert_str_eq(out[0].key, "w");
	assert_item(&out[0], 15, 8, 0);	/* 7, and up to 8 in a */
	ck_assert_str_eq(out[1].key, "y");
	assert_item(&out[1], 15, 1, 4);
	ck_assert_str_eq(out[2].key, "x");
	assert_item(&out[2], 14, 4, 1);	/* 10, and up to 4 in c */
	ck_assert_uint_eq(rest, 12);
	struct topk_part swapped[2] = { parts[1], parts[0] };
	struct topk_item out2[3];
	ck_assert_int_eq(topk_merge(swapped, 2, out2, 3, &rest), 3);
	ck_assert_str_eq(out2[0].key, "w");
	ck_assert_str_eq(out2[1].key, "y");

	ck_assert_int_eq(topk_merge(NULL, 0, out, 3, &rest), 0);
	ck_assert_uint_eq(rest, 0);
}
END_TEST

START_TEST(long_keys_are_cut_and_marked)
{
	static char k[TOPK_KEY_MAX + 100];
	memset(k, 'a', sizeof(k));
	struct topk *t = new_topk(8);
	/* Longer keys sharing their first TOPK_KEY_MAX bytes are one key... */
	topk_add(t, k, TOPK_KEY_MAX + 1, 1, 1);
	k[TOPK_KEY_MAX + 50] = 'b';
	topk_add(t, k, TOPK_KEY_MAX + 99, 2, 1);
	/* ...which is not the key of exactly TOPK_KEY_MAX bytes, nor shorter. */
	topk_add(t, k, TOPK_KEY_MAX, 4, 1);
	topk_add(t, k, TOPK_KEY_MAX - 1, 8, 1);
	topk_add(t, S(""), 16, 1);	/* the empty key is a key */
	struct topk_item it[8];
	ck_assert_uint_eq(topk_snapshot(t, it, 8, NULL), 4);
	ck_assert_uint_eq(it[0].len, 0);
	ck_assert_str_eq(it[0].key, "");
	assert_item(&it[1], 8, 0, 1);
	ck_assert_uint_eq(it[1].len, TOPK_KEY_MAX - 1);
	ck_assert_uint_eq(it[1].cut, 0);
	assert_item(&it[2], 4, 0, 1);
	ck_assert_uint_eq(it[2].len, TOPK_KEY_MAX);
	ck_assert_uint_eq(it[2].cut, 0);
	assert_item(&it[3], 3, 0, 2);
	ck_assert_uint_eq(it[3].len, TOPK_KEY_MAX);
	ck_assert_uint_eq(it[3].cut, 1);
	ck_assert_uint_eq(strlen(it[3].key), TOPK_KEY_MAX);
	ck_assert_mem_eq(it[3].key, k, TOPK_KEY_MAX);

	/* Merged at equal counts, the two stay apart, the uncut one first
	 * whatever the order of the parts. */
	it[2].count = it[3].count = 5;
	struct topk_part parts[2] = { { &it[3], 1, 0 }, { &it[2], 1, 0 } };
	struct topk_item out[2];
	ck_assert_int_eq(topk_merge(parts, 2, out, 2, NULL), 2);
	ck_assert_uint_eq(out[0].cut, 0);
	ck_assert_uint_eq(out[1].cut, 1);
	topk_free(t);
}
END_TEST

/* An evicted key that comes back is a newcomer: it inherits the smallest
 * count, and its requests start again (their bound is its err). */
START_TEST(an_evicted_key_comes_back_as_a_newcomer)
{
	struct topk *t = new_topk(2);
	topk_add(t, S("a"), 1, 1);
	topk_add(t, S("b"), 2, 1);
	topk_add(t, S("c"), 3, 1);	/* evicts a (1) */
	topk_add(t, S("a"), 5, 1);	/* evicts b (2) */
	struct topk_item it[2];
	uint64_t rest;
	ck_assert_uint_eq(topk_snapshot(t, it, 2, &rest), 2);
	ck_assert_str_eq(it[0].key, "a");
	assert_item(&it[0], 7, 2, 1);	/* true: 6 bytes in [5, 7], 2 requests in [1, 3] */
	ck_assert_str_eq(it[1].key, "c");
	assert_item(&it[1], 4, 1, 1);
	ck_assert_uint_eq(rest, 4);	/* b's 2 bytes are within it */
	ck_assert_uint_eq(topk_total(t), 11);
	topk_free(t);
}
END_TEST

START_TEST(one_counter_holds_the_last_key_and_all_bytes)
{
	struct topk *t = new_topk(1);
	topk_add(t, S("a"), 10, 1);
	topk_add(t, S("b"), 5, 1);
	topk_add(t, S("b"), 1, 1);
	topk_add(t, S("a"), 3, 1);
	struct topk_item it[1];
	uint64_t rest;
	ck_assert_uint_eq(topk_snapshot(t, it, 1, &rest), 1);
	ck_assert_str_eq(it[0].key, "a");
	assert_item(&it[0], 19, 16, 1);	/* true 13 in [3, 19] */
	ck_assert_uint_eq(rest, 19);	/* b: 6 */
	ck_assert_uint_eq(topk_snapshot(t, it, 0, &rest), 0);
	ck_assert_uint_eq(rest, 19);
	topk_free(t);
}
END_TEST

START_TEST(memory_is_fixed_at_creation)
{
	ck_assert_uint_eq(topk_memory(0), 0);
	ck_assert_uint_eq(topk_memory(TOPK_CAPACITY_MAX + 1), 0);
	errno = 0;
	ck_assert_ptr_null(topk_new(0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(topk_new(TOPK_CAPACITY_MAX + 1));
	/* About 320 bytes a counter, at any size. */
	for (uint32_t cap = 1024; cap <= 65536; cap *= 4)
		ck_assert_uint_le(topk_memory(cap), (size_t)cap * 340);
	ck_assert_uint_le(topk_memory(3000), (size_t)3000 * 340);

	/* Nothing is allocated after topk_new: the heap in use is the same
	 * after 200,000 distinct keys and a snapshot.  (Under ASan mallinfo2
	 * reports nothing and this part proves nothing.) */
	struct topk *t = new_topk(256);
	struct topk_item it[16];
	char k[32];
	size_t before = mallinfo2().uordblks;
	for (int i = 0; i < 200000; i++) {
		int n = snprintf(k, sizeof(k), "client%d", i);
		topk_add(t, k, (size_t)n, (uint64_t)(i % 97) + 1, 1);
	}
	topk_snapshot(t, it, 16, NULL);
	ck_assert_uint_eq(mallinfo2().uordblks, before);
	topk_free(t);
}
END_TEST

Suite *topk_suite(void)
{
	Suite *s = suite_create("topk");
	TCase *tc = tcase_create("counters");
	tcase_add_test(tc, counts_are_exact_while_the_keys_fit);
	tcase_add_test(tc, a_part_missing_a_key_adds_its_rest);
	tcase_add_test(tc, long_keys_are_cut_and_marked);
	tcase_add_test(tc, an_evicted_key_comes_back_as_a_newcomer);
	tcase_add_test(tc, one_counter_holds_the_last_key_and_all_bytes);
	tcase_add_test(tc, memory_is_fixed_at_creation);
	suite_add_tcase(s, tc);

	/* Their own case for the time limit: a million adds (three times
	 * over for the merge) on a busy machine or under ASan. */
	tc = tcase_create("stream");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, every_key_keeps_its_bounds_under_churn);
	tcase_add_test(tc, heavy_hitters_are_found_among_a_million_keys);
	tcase_add_test(tc, merged_workers_keep_the_bounds_of_the_whole_stream);
	suite_add_tcase(s, tc);
	return s;
}
