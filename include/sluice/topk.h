/* topk: the "top talkers" of one worker (destination names, client
 * addresses), in memory fixed when it is made, whatever the number of
 * distinct keys, and merged across workers into a top N.
 *
 * Space-Saving (Metwally, Agrawal, El Abbadi, 2005) weighted by bytes:
 * `capacity` counters; a key already counted adds to its counter, a new
 * one takes over the counter with the smallest count, inherits that count
 * and records it as its error.  Guarantees, for a structure that has been
 * given a total of T bytes:
 *
 *   - every key it lists has  count - err <= true bytes <= count;
 *   - a key it does not list had at most the smallest count (`rest` of a
 *     full snapshot), which is at most T / capacity: any key with more than
 *     T / capacity bytes is listed;
 *   - the counts add up to T exactly.
 *
 * Requests are counted beside the bytes, from the moment a key took its
 * counter: `requests` never exceeds the key's true requests (it equals
 * them while err is 0).  When every add passes bytes >= requests (a
 * request counted with its head always is), the requests the key made
 * before it took its counter are at most err, so
 *   requests <= true requests <= requests + err.
 *
 * Keys are bytes compared exactly (callers fold case, trailing dots)
 * and at most TOPK_KEY_MAX bytes are kept: every key longer than that
 * counts as one key made of its first TOPK_KEY_MAX bytes, marked `cut`,
 * distinct from the TOPK_KEY_MAX-byte key without the mark.  Real names
 * (253 bytes at most) and addresses always fit.
 *
 * Not thread-safe: a structure belongs to its worker, which adds to it
 * and takes its snapshots; other threads only ever see snapshots.
 */
#ifndef SLUICE_TOPK_H
#define SLUICE_TOPK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TOPK_KEY_MAX 255		/* key bytes kept; longer keys are cut */
#define TOPK_CAPACITY_MAX (1u << 20)	/* counters in one structure, at most */

struct topk;

/* One counted key, as a snapshot or a merge reports it. */
struct topk_item {
	uint64_t count;		/* bytes: at least the key's true bytes */
	uint64_t err;		/* count - err: at most its true bytes */
	uint64_t requests;	/* at most its true requests (see above) */
	uint8_t len;		/* key bytes, at most TOPK_KEY_MAX */
	uint8_t cut;		/* 1: the first TOPK_KEY_MAX bytes of longer keys */
	char key[TOPK_KEY_MAX + 1];	/* len bytes, then a NUL for printing */
};

/* A structure of `capacity` counters (1 .. TOPK_CAPACITY_MAX), in one
 * allocation of topk_memory(capacity) bytes; nothing else is ever
 * allocated for it.  NULL with errno EINVAL (capacity out of range) or
 * ENOMEM.  topk_free(NULL) is a no-op. */
struct topk *topk_new(uint32_t capacity);
void topk_free(struct topk *t);

/* The bytes topk_new(capacity) allocates, about 320 per counter; 0 when
 * capacity is out of range. */
size_t topk_memory(uint32_t capacity);

/* Count `bytes` and `requests` for key[0..len).  Never allocates, never
 * fails.  A counted key costs one hash of the key, one table look-up and
 * two additions; a new key also takes the smallest counter (O(log
 * capacity), amortised: see topk.c). */
void topk_add(struct topk *t, const char *key, size_t len, uint64_t bytes, uint64_t requests);

/* All bytes added so far: the sum of the counts. */
uint64_t topk_total(const struct topk *t);

/* Copy the max keys with the largest counts into out[], largest first
 * (equal counts in no promised order), and return how many were copied.
 * *rest (when rest is not NULL) receives the most bytes any key NOT
 * copied can have had: 0 when every key ever added was copied.  Not
 * const: it heapsorts the structure's own heap in place (a sorted array
 * is still a heap), so it allocates nothing; O(capacity log capacity), on
 * the worker's thread, between adds. */
size_t topk_snapshot(struct topk *t, struct topk_item *out, size_t max, uint64_t *rest);

/* One worker's snapshot, as topk_merge takes it: items as topk_snapshot
 * (or topk_merge) wrote them, each key at most once, and their `rest`. */
struct topk_part {
	const struct topk_item *items;
	size_t n;
	uint64_t rest;
};

/* Combine nparts snapshots into the max keys with the largest counts,
 * written to out[] largest first (equal counts by key bytes, so the order
 * of the parts does not matter); return how many, or -1 with errno ENOMEM.
 * A key's counts, errors and requests add up across the parts; a part
 * that does not list the key adds its `rest` to both the key's count and
 * its err, since the key may have had up to that many bytes there.  So,
 * against the whole traffic of all the parts: every item written has
 * count - err <= true bytes <= count and the requests bounds above, and
 * *rest (when not NULL) receives the most bytes any key not written can
 * have had, at least the sum of the parts' rests: the result is itself a
 * part, and any key with more bytes than *rest is in it.  Allocates
 * working memory for the combine and frees it before it returns; any
 * thread, once the snapshots are taken. */
ssize_t topk_merge(const struct topk_part *parts, size_t nparts, struct topk_item *out,
		   size_t max, uint64_t *rest);

#endif
