/* parent: the health of parent proxies, and the order a request tries them in.
 *
 * A parent is known by its name ("parent NAME HOST:PORT ..."), which owns a
 * slot for the life of the process: a reload that keeps the name keeps
 * the slot, so the parent's health and counters carry over.  Health is
 * shared by every worker (one worker's failed connect spares the others
 * the same wait), in relaxed atomics written only when a parent fails or
 * comes back: the request path reads one of them per parent it orders.
 *
 *   up ──a connect refused, failed or timed out──> down for PARENT_DOWN_MS
 *   down ──hold over──> tried again in turn; failing again within a hold
 *        of that doubles it (up to PARENT_DOWN_MAX_MS)
 *   any ──a connect succeeds──> up
 *
 * A down parent is not skipped, only tried last: when every way out is
 * down, the request still tries each rather than fail unheard.
 */
#ifndef SLUICE_PARENT_H
#define SLUICE_PARENT_H

#include <stdint.h>

#define PARENT_SLOTS 64		/* parent names over the life of the process */
#define PARENT_NAME_MAX 32
#define PARENT_DOWN_MS 10000
#define PARENT_DOWN_MAX_MS 300000
#define PARENT_HOPS_MAX 17	/* a route's parents (16), and direct */
#define PARENT_DIRECT 0xff	/* a hop that goes to the origin itself */

/* The slot for name, made on first use; -1 when PARENT_SLOTS names were
 * used already.  where ("host:port") is what the name stands for now: when
 * it changed, the slot's health starts afresh (up).  Config loading only. */
int parent_slot(const char *name, const char *where);
/* The name of slot i, or NULL when unused; any thread. */
const char *parent_slot_name(int slot);

/* A connection to the parent failed at now (loop ms): it is down for its
 * hold.  Returns 1 when this call took it down (the caller logs it). */
int parent_failed(int slot, uint64_t now);
/* A connection to it succeeded: 1 when it was down or failing (the caller
 * logs that it is back). */
int parent_ok(int slot);
/* Down at now? */
int parent_down(int slot, uint64_t now);

/* One parent as a route sees it. */
struct parent_pick {
	int slot;
	uint32_t weight;	/* >= 1 */
	uint32_t name_hash;	/* sticky: the parent's part of the score */
};

/* The order to try n parents in (n <= 16), hops[] getting their indices
 * and PARENT_DIRECT: those up first: sticky (key_hash: the destination
 * name's) by weighted rendezvous hashing, so one name keeps its parent
 * while it is up and moves to the same next one when it is not; else the
 * first by weight from turn (the worker's count of requests), the rest
 * after it in the line's order.  Then direct, when direct: the route falls
 * back to it.  Then the parents down, the soonest back first.  Returns the
 * number of hops. */
int parent_order(const struct parent_pick *p, int n, int sticky, uint32_t key_hash, uint32_t turn, int direct,
		 uint64_t now, uint8_t *hops);

#endif
