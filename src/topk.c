/* topk: Space-Saving top talkers in fixed memory (include/sluice/topk.h).
 *
 * One allocation, three arrays:
 *
 *   e[cap]      entries, each the topk_item a snapshot copies out
 *   heap[cap]   { key, idx, hash }: a binary min-heap of entries by count
 *   slots[2^k]  { hash, idx }: open addressing, key -> entry, <= half full
 *
 * Weighted Space-Saving moves a count by any amount, so the paper's
 * stream-summary (buckets of equal counts, O(1) for +1 only) would have to
 * walk the bucket list; a heap keeps every add O(log cap).  It is lazy: an
 * add to a counted key touches its entry alone, and the heap key of that
 * entry falls behind its count.  Counts only grow, so a heap key is always
 * a lower bound of its count; only the root is ever needed, and it is
 * brought up to date (and sunk) when a new key wants the smallest counter.
 * Each such repair is paid for by an add since the entry's last repair,
 * so evictions cost O(log cap) amortised, and a counted key costs one hash,
 * one probe and two additions.
 *
 * The table deletes by shifting back the entries that follow (no
 * tombstones), so probe chains stay as short after a million evictions as
 * after the first.
 */
#include "sluice/topk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/hash.h"

#define EMPTY UINT32_MAX

struct hnode {
	uint64_t key;	/* the entry's count when last looked at: <= count */
	uint32_t idx;
	uint32_t hash;	/* of its key: finds its slot when it is evicted */
};

struct slot {
	uint32_t hash;
	uint32_t idx;	/* EMPTY: a free slot */
};

struct topk {
	uint32_t cap, used;
	uint32_t mask;		/* slots - 1 */
	int evicted;		/* a key has lost its counter: rest is not 0 */
	uint64_t total;
	struct hnode *heap;
	struct slot *slots;
	struct topk_item e[];	/* requests: since the key took the entry */
};

/* Twice the counters, rounded up to a power of two: at most half full, so
 * a probe almost always ends within a cache line. */
static uint32_t slots_for(uint32_t cap)
{
	uint32_t n = 2;
	while (n < 2 * cap)
		n *= 2;
	return n;
}

size_t topk_memory(uint32_t capacity)
{
	if (capacity == 0 || capacity > TOPK_CAPACITY_MAX)
		return 0;
	return sizeof(struct topk) + (size_t)capacity * (sizeof(struct topk_item) + sizeof(struct hnode)) +
	       (size_t)slots_for(capacity) * sizeof(struct slot);
}

struct topk *topk_new(uint32_t capacity)
{
	size_t size = topk_memory(capacity);
	if (size == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct topk *t = malloc(size);
	if (t == NULL)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->cap = capacity;
	t->mask = slots_for(capacity) - 1;
	t->heap = (struct hnode *)&t->e[capacity];
	t->slots = (struct slot *)&t->heap[capacity];
	for (uint32_t i = 0; i <= t->mask; i++)
		t->slots[i].idx = EMPTY;
	return t;
}

void topk_free(struct topk *t)
{
	free(t);
}

uint64_t topk_total(const struct topk *t)
{
	return t->total;
}

static void sift_down(struct hnode *h, uint32_t n, uint32_t i)
{
	struct hnode x = h[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n)
			c += h[c + 1].key < h[c].key;	/* no branch: it is a coin toss */
		if (h[c].key >= x.key)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

static void sift_up(struct hnode *h, uint32_t i)
{
	struct hnode x = h[i];
	while (i > 0 && h[(i - 1) / 2].key > x.key) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

/* The entry with the smallest count.  Once the root's key is its count,
 * every other count is >= its own heap key >= the root's. */
static uint32_t smallest(struct topk *t)
{
	for (;;) {
		struct hnode *r = &t->heap[0];
		uint64_t c = t->e[r->idx].count;
		if (r->key == c)
			return r->idx;
		r->key = c;
		sift_down(t->heap, t->used, 0);
	}
}

/* The slot holding the key, or the free slot that ends its probe chain. */
static struct slot *find(const struct topk *t, uint32_t h, const char *key, uint8_t len, uint8_t cut)
{
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct slot *s = &t->slots[i];
		if (s->idx == EMPTY)
			return s;
		const struct topk_item *e = &t->e[s->idx];
		if (s->hash == h && e->len == len && e->cut == cut && memcmp(e->key, key, len) == 0)
			return s;
	}
}

/* Take entry idx, whose key hashes to h, out of the table.  The slots
 * after the hole that could have been placed in it move back (each to no
 * earlier than its home), so every remaining key is still found before
 * the first free slot. */
static void unlink_entry(struct topk *t, uint32_t idx, uint32_t h)
{
	uint32_t i = h & t->mask;
	while (t->slots[i].idx != idx)
		i = (i + 1) & t->mask;
	for (uint32_t j = i;;) {
		j = (j + 1) & t->mask;
		if (t->slots[j].idx == EMPTY)
			break;
		uint32_t home = t->slots[j].hash & t->mask;
		/* It may move to i unless its home lies in (i, j]. */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].idx = EMPTY;
}

static void put_item(struct topk_item *it, uint64_t count, uint64_t err, uint64_t requests,
		     const char *key, uint8_t len, uint8_t cut)
{
	it->count = count;
	it->err = err;
	it->requests = requests;
	it->len = len;
	it->cut = cut;
	memcpy(it->key, key, len);
	it->key[len] = '\0';
}

void topk_add(struct topk *t, const char *key, size_t len, uint64_t bytes, uint64_t requests)
{
	uint8_t cut = len > TOPK_KEY_MAX;
	uint8_t n = cut ? TOPK_KEY_MAX : (uint8_t)len;
	uint32_t h = hash_bytes(key, n);
	t->total += bytes;

	struct slot *s = find(t, h, key, n, cut);
	if (s->idx != EMPTY) {
		struct topk_item *e = &t->e[s->idx];
		e->count += bytes;
		e->requests += requests;
		return;
	}

	uint32_t idx;
	uint64_t floor = 0;	/* the count the newcomer inherits */
	if (t->used < t->cap) {
		idx = t->used;
		t->heap[idx] = (struct hnode){ .key = bytes, .idx = idx, .hash = h };
		sift_up(t->heap, idx);
		t->used++;
	} else {
		idx = smallest(t);
		floor = t->e[idx].count;
		unlink_entry(t, idx, t->heap[0].hash);
		t->evicted = 1;
		/* The shift may have freed a slot earlier in the key's chain. */
		s = find(t, h, key, n, cut);
		t->heap[0].key = floor + bytes;
		t->heap[0].hash = h;
		sift_down(t->heap, t->used, 0);
	}
	put_item(&t->e[idx], floor + bytes, floor, requests, key, n, cut);
	s->hash = h;
	s->idx = idx;
}

static void swap_nodes(struct hnode *a, struct hnode *b)
{
	struct hnode x = *a;
	*a = *b;
	*b = x;
}

size_t topk_snapshot(struct topk *t, struct topk_item *out, size_t max, uint64_t *rest)
{
	struct hnode *h = t->heap;
	uint32_t used = t->used;
	if (used == 0) {
		if (rest)
			*rest = 0;
		return 0;
	}
	/* Current counts as heap keys, heapified again (they only grew), then
	 * heapsorted in place: each minimum in turn goes to the end, so the
	 * array ends largest first.  No memory of its own (qsort mallocs). */
	for (uint32_t i = 0; i < used; i++)
		h[i].key = t->e[h[i].idx].count;
	for (uint32_t i = used / 2; i-- > 0;)
		sift_down(h, used, i);
	for (uint32_t k = used - 1; k > 0; k--) {
		swap_nodes(&h[0], &h[k]);
		sift_down(h, k, 0);
	}

	size_t n = max < used ? max : used;
	for (size_t k = 0; k < n; k++)
		out[k] = t->e[h[k].idx];
	if (rest) {
		/* A key left out was either counted, at most the largest count
		 * not copied, or lost its counter, at most the smallest. */
		if (n < used)
			*rest = h[n].key;
		else
			*rest = t->evicted ? h[used - 1].key : 0;
	}
	/* Reversed, the array is smallest first: a heap again. */
	for (uint32_t i = 0, j = used - 1; i < j; i++, j--)
		swap_nodes(&h[i], &h[j]);
	return n;
}

/* --- merge ------------------------------------------------------------------ */

struct acc {
	const struct topk_item *it;	/* the key, as the first part listed it */
	uint64_t count, err, requests;
	uint64_t seen_rest;		/* the rests of the parts that listed it */
	uint32_t hash;
};

static int same_key(const struct topk_item *a, const struct topk_item *b)
{
	return a->len == b->len && a->cut == b->cut && memcmp(a->key, b->key, a->len) == 0;
}

/* Largest count first; equal counts by key bytes, so the result does not
 * depend on the order of the parts. */
static int acc_cmp(const void *a, const void *b)
{
	const struct acc *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	int c = memcmp(x->it->key, y->it->key, x->it->len < y->it->len ? x->it->len : y->it->len);
	if (c != 0)
		return c;
	if (x->it->len != y->it->len)
		return x->it->len < y->it->len ? -1 : 1;
	return (int)x->it->cut - (int)y->it->cut;
}

ssize_t topk_merge(const struct topk_part *parts, size_t nparts, struct topk_item *out,
		   size_t max, uint64_t *rest)
{
	size_t total = 0;
	uint64_t all_rest = 0;
	for (size_t p = 0; p < nparts; p++) {
		total += parts[p].n;
		all_rest += parts[p].rest;
	}
	if (total > UINT32_MAX / 4 || total > SIZE_MAX / 4 / sizeof(struct acc)) {
		errno = ENOMEM;
		return -1;
	}
	uint32_t nslots = slots_for(total ? (uint32_t)total : 1), mask = nslots - 1;
	struct acc *accs = malloc(total * sizeof(*accs) + 1);
	uint32_t *tab = malloc((size_t)nslots * sizeof(*tab));
	if (accs == NULL || tab == NULL) {
		free(accs); accs = NULL;
		free(tab); tab = NULL;
		errno = ENOMEM;
		return -1;
	}
	memset(tab, 0xff, (size_t)nslots * sizeof(*tab));

	uint32_t na = 0;
	for (size_t p = 0; p < nparts; p++) {
		for (size_t k = 0; k < parts[p].n; k++) {
			const struct topk_item *it = &parts[p].items[k];
			uint32_t h = hash_bytes(it->key, it->len), i = h & mask;
			while (tab[i] != EMPTY && !(accs[tab[i]].hash == h && same_key(accs[tab[i]].it, it)))
				i = (i + 1) & mask;
			if (tab[i] == EMPTY) {
				accs[na] = (struct acc){ .it = it, .hash = h };
				tab[i] = na++;
			}
			struct acc *a = &accs[tab[i]];
			a->count += it->count;
			a->err += it->err;
			a->requests += it->requests;
			a->seen_rest += parts[p].rest;
		}
	}
	free(tab); tab = NULL;

	/* Where a part did not list the key, it may have had up to that
	 * part's rest: the upper bound grows by it, the lower one does not. */
	for (uint32_t i = 0; i < na; i++) {
		accs[i].count += all_rest - accs[i].seen_rest;
		accs[i].err += all_rest - accs[i].seen_rest;
	}
	qsort(accs, na, sizeof(*accs), acc_cmp);

	size_t n = max < na ? max : na;
	for (size_t k = 0; k < n; k++) {
		const struct acc *a = &accs[k];
		put_item(&out[k], a->count, a->err, a->requests, a->it->key, a->it->len, a->it->cut);
	}
	if (rest)
		*rest = n < na && accs[n].count > all_rest ? accs[n].count : all_rest;
	free(accs); accs = NULL;
	return (ssize_t)n;
}
