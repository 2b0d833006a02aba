/* stats: counters that one thread writes and any thread may read.
 *
 * Each worker counts its own traffic, so the request path never takes a lock
 * or a locked instruction: the writer does a plain load, add and store (one
 * writer, so no increment is lost), and a reader on another thread (the
 * metrics endpoint, merging all workers at scrape time) loads the value
 * whole: relaxed atomics, which on x86-64 and arm64 are ordinary 64-bit
 * moves, so a reader never sees half of an update.
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t stat_t;

/* Writer side: only the thread that owns the counter. */
static inline void stat_add(stat_t *s, uint64_t n)
{
	atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void stat_inc(stat_t *s)
{
	stat_add(s, 1);
}

/* A gauge going down (idle connections, say). */
static inline void stat_sub(stat_t *s, uint64_t n)
{
	atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) - n, memory_order_relaxed);
}

/* A value (a time, say). */
static inline void stat_set(stat_t *s, uint64_t v)
{
	atomic_store_explicit(s, v, memory_order_relaxed);
}

/* Any thread. */
static inline uint64_t stat_get(const stat_t *s)
{
	return atomic_load_explicit(s, memory_order_relaxed);
}

#endif
