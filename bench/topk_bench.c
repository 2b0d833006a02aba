/* topk_bench: nanoseconds per topk_add, and the cost of a snapshot and a
 * merge, for include/sluice/topk.h.  Not built by default:
 *
 *   cc -O2 -g -std=gnu11 -D_GNU_SOURCE -Iinclude bench/topk_bench.c src/topk.c \
 *      -o /tmp/topk_bench -lm && /tmp/topk_bench [capacity]
 *
 * The keys (host names of about 20 bytes) and the draws are made before
 * the clock starts, so the figures are topk_add's own: a hash of the key,
 * a probe, and on a miss the smallest counter taken.  Each stream runs
 * five times on a fresh structure; the best and the median are printed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/topk.h"

enum { ADDS = 1000000, ZIPF_KEYS = 100000, RUNS = 5, KEYLEN = 32 };

static char keys[ADDS][KEYLEN];
static unsigned char lens[ADDS];
static uint32_t draw[ADDS];
static uint64_t weight[ADDS];

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ns per add over the draws, best and median of RUNS fresh structures. */
static void run(const char *name, uint32_t cap)
{
	double ns[RUNS];
	for (int r = 0; r < RUNS; r++) {
		struct topk *t = topk_new(cap);
		if (t == NULL) {
			perror("topk_new");
			exit(1);
		}
		double t0 = now_ns();
		for (uint32_t i = 0; i < ADDS; i++)
			topk_add(t, keys[draw[i]], lens[draw[i]], weight[i], 1);
		ns[r] = (now_ns() - t0) / ADDS;
		topk_free(t);
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	printf("%-34s %7.1f ns/add best, %7.1f median\n", name, ns[0], ns[RUNS / 2]);
}

int main(int argc, char **argv)
{
	uint32_t cap = argc > 1 ? (uint32_t)atoi(argv[1]) : 2048;
	for (uint32_t i = 0; i < ADDS; i++) {
		lens[i] = (unsigned char)snprintf(keys[i], KEYLEN, "host%u.example.com", (unsigned)(mix(i) % 100000000));
		weight[i] = 100 + mix(i + ADDS) % 1400;
	}

	/* Zipf, s = 1, over ZIPF_KEYS names: the first takes about 8% of the
	 * adds, the first 2048 about 70%. */
	static double cdf[ZIPF_KEYS];
	double sum = 0;
	for (int k = 0; k < ZIPF_KEYS; k++)
		cdf[k] = sum += 1.0 / (k + 1);
	for (uint32_t i = 0; i < ADDS; i++) {
		double u = (double)(mix(i + 2 * ADDS) >> 11) / (double)(1ull << 53) * sum;
		uint32_t lo = 0, hi = ZIPF_KEYS - 1;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		draw[i] = lo;
	}
	printf("capacity %u: %zu bytes, %.1f bytes per counter\n", cap, topk_memory(cap),
	       (double)topk_memory(cap) / cap);
	run("zipf s=1 over 100,000 names", cap);

	for (uint32_t i = 0; i < ADDS; i++)
		draw[i] = i % cap;
	run("counted keys only (cap names)", cap);

	for (uint32_t i = 0; i < ADDS; i++)
		draw[i] = i;
	run("1,000,000 distinct names", cap);

	/* A snapshot of a full structure, and a merge of four into a top 20. */
	struct topk *w[4];
	struct topk_item *snap[4], top[20];
	struct topk_part parts[4];
	for (int p = 0; p < 4; p++) {
		w[p] = topk_new(cap);
		snap[p] = calloc(cap, sizeof(struct topk_item));
		if (w[p] == NULL || snap[p] == NULL)
			return 1;
		for (uint32_t i = (uint32_t)p; i < ADDS; i += 4)
			topk_add(w[p], keys[i], lens[i], weight[i], 1);
	}
	/* The first snapshot pays for faulting in the fresh output pages; a
	 * scrape every second reuses its buffer, so the second is timed. */
	double t0 = 0;
	for (int round = 0; round < 2; round++) {
		t0 = now_ns();
		for (int p = 0; p < 4; p++) {
			parts[p].items = snap[p];
			parts[p].n = topk_snapshot(w[p], snap[p], cap, &parts[p].rest);
		}
	}
	double t1 = now_ns(), best = 1e18;
	ssize_t n = 0;
	for (int r = 0; r < RUNS; r++) {
		double t2 = now_ns();
		n = topk_merge(parts, 4, top, 20, NULL);
		if (now_ns() - t2 < best)
			best = now_ns() - t2;
	}
	printf("snapshot of %u counters              %7.1f us\n", cap, (t1 - t0) / 4 / 1e3);
	printf("merge of 4 x %u into a top %zd       %7.1f us (best of %d)\n", cap, n, best / 1e3, RUNS);
	for (int p = 0; p < 4; p++) {
		topk_free(w[p]);
		free(snap[p]);
	}
	return 0;
}
