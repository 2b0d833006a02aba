/* metrics: what each worker counts for the metrics endpoint.
 *
 * Every worker has its own struct worker_metrics and is the only thread
 * that writes it, so the request path takes no lock and no locked
 * instruction: plain counters (stat_t: relaxed loads and stores) and, for
 * the few things counted by a name (an error's cause, a denying rule), small
 * append-only tables whose entries never change once published (the count
 * of entries is stored with release order after the entry is written).  A
 * scrape, on whichever worker serves it, reads every worker's structure and
 * adds them up.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/expo.h"
#include "sluice/parent.h"
#include "sluice/stats.h"

/* Request methods as counted: the common ones by name, the rest as one. */
enum method_class { MC_GET, MC_HEAD, MC_POST, MC_PUT, MC_DELETE, MC_OPTIONS, MC_CONNECT, MC_OTHER, MC_N };
/* 0: no status sent (the exchange was cut before one), then 1xx .. 5xx */
#define STATUS_CLASSES 6
#define METRICS_CAUSES_MAX 128	/* distinct (status, cause) pairs; beyond: "other" */
#define METRICS_DENIALS_MAX 64	/* distinct denying rules; beyond: "other" */
#define METRICS_WHERE_MAX 120	/* a rule's "file:line", as kept */

extern const char *const metrics_method_names[MC_N];

/* Local answers and cuts by cause (exchange_reply's reason: a literal). */
struct metrics_cause {
	const char *reason;
	int status;
	stat_t n;
};

struct metrics_denial {
	char where[METRICS_WHERE_MAX];	/* the rule's "file:line" */
	int status;			/* 403, or 508 for a loop */
	stat_t n;
};

struct worker_metrics {
	stat_t requests[MC_N][STATUS_CLASSES];
	stat_t duration[EXPO_DURATION_NBOUNDS + 1]; /* expo.h's buckets, not cumulative */
	stat_t duration_sum_us;
	stat_t client_in, client_out;		/* bytes read from / written to clients */
	stat_t origin_in, origin_out;		/* ... from / to servers (tunnels apart) */
	stat_t tunnels_done;			/* tunnels ended */
	stat_t tunnel_up, tunnel_down;		/* their bytes, counted when they end */
	stat_t body_spliced_up, body_spliced_down; /* body bytes moved by splice (body_splice.c) */
	stat_t auth_ok, auth_failed, auth_cached; /* logins accepted, refused; answered from the cache */
	stat_t pool_hits, pool_misses, pool_stale_retries;
	stat_t loop_lag_ms;			/* the tick's lateness, the most of the last 10 */
	stat_t states[16];			/* sessions per state (session_int.h enum state) */
	stat_t parent_requests[PARENT_SLOTS];	/* exchanges sent to each parent (parent.h slots) */
	stat_t parent_failures[PARENT_SLOTS];	/* connections to it that failed */

	atomic_uint ncauses;
	struct metrics_cause causes[METRICS_CAUSES_MAX];
	stat_t causes_other;
	atomic_uint ndenials;
	struct metrics_denial denials[METRICS_DENIALS_MAX];
	stat_t denials_other;
};

/* --- the worker's side (its own thread) ----------------------------------------- */

enum method_class metrics_method_class(int llhttp_method);
/* One exchange ended: its method, the status sent (0: none) and how long
 * it took. */
void metrics_request(struct worker_metrics *m, enum method_class mc, int status, uint64_t elapsed_ms);
/* sluice answered or cut an exchange itself, for reason (a literal). */
void metrics_cause(struct worker_metrics *m, int status, const char *reason);
/* A rule (where: "file:line") denied a request with status. */
void metrics_denial(struct worker_metrics *m, int status, const char *where);

#endif
