/* top: a worker's top talkers, the destination names and the clients that
 * move the most bytes, in fixed memory whatever the number of distinct
 * names (topk.h, Space-Saving), and the snapshots a scrape asks for.
 *
 * The worker counts every exchange (top_count) without a lock.  A scrape,
 * on whichever worker serves it, asks every worker for a snapshot
 * (top_ask), which each takes between two batches of events (top_serve)
 * into buffers of its own under a mutex that only the snapshot and the
 * merge take, never the request path; the scrape then merges the
 * snapshots (top_merge) into the top N with their error bounds.
 *
 * Names are counted as the client named them (the Host, CONNECT target or
 * SNI), folded to lower case: the registrable part (example.com for
 * cdn.example.com) would need the public suffix list, which sluice does not
 * carry, and the full name is what an admin greps the logs for.  Clients
 * are counted by address (a v4-mapped one as IPv4).
 */
#ifndef SLUICE_TOP_H
#define SLUICE_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/topk.h"

#define TOP_CAPACITY 2048	/* counters per table per worker (~640 KiB) */
#define TOP_SNAPSHOT 256	/* keys of each table a worker hands a scrape */

struct top;

/* A worker's tables; NULL when out of memory. */
struct top *top_new(void);
void top_free(struct top *t);

/* The worker's thread: an exchange to name (its length, not NUL-terminated)
 * from client moved bytes. */
void top_count(struct top *t, const char *name, size_t len, const struct sockaddr *client, uint64_t bytes);
/* The worker's thread, between batches: take the snapshot asked for, if
 * one is.  One atomic load otherwise. */
void top_serve(struct top *t);

/* Any thread: ask for a snapshot newer than the last ask; returns the
 * generation to wait for. */
unsigned top_ask(struct top *t);
/* Any thread: has t's worker answered generation gen? */
int top_answered(const struct top *t, unsigned gen);

/* The merged top n of every worker's last snapshot: names into names[],
 * clients into clients[] (keys rendered as text: addresses by inet_ntop),
 * largest first; the counts of each are returned in *nnames, *nclients.
 * 0, or -1 when out of memory. */
int top_merge(struct top *const *tops, int ntops, size_t n, struct topk_item *names, size_t *nnames,
	      struct topk_item *clients, size_t *nclients);

#endif
