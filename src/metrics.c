/* metrics: each worker's counters (include/sluice/metrics.h). */
#include "sluice/metrics.h"

#include <llhttp.h>
#include <string.h>

const char *const metrics_method_names[MC_N] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "other",
};

enum method_class metrics_method_class(int method)
{
	switch (method) {
	case HTTP_GET: return MC_GET;
	case HTTP_HEAD: return MC_HEAD;
	case HTTP_POST: return MC_POST;
	case HTTP_PUT: return MC_PUT;
	case HTTP_DELETE: return MC_DELETE;
	case HTTP_OPTIONS: return MC_OPTIONS;
	case HTTP_CONNECT: return MC_CONNECT;
	default: return MC_OTHER;
	}
}

void metrics_request(struct worker_metrics *m, enum method_class mc, int status, uint64_t elapsed_ms)
{
	unsigned sc = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;
	stat_inc(&m->requests[mc][sc]);
	/* the loop's clock counts ms: a request under 1 ms is in the first bucket */
	stat_inc(&m->duration[expo_duration_bucket(elapsed_ms * 1000)]);
	stat_add(&m->duration_sum_us, elapsed_ms * 1000);
}

/* Tables: found by a walk (a few dozen entries, only on errors), appended
 * under the writer's thread alone; the count is published after the entry,
 * so a reader that sees it sees the entry whole. */
void metrics_cause(struct worker_metrics *m, int status, const char *reason)
{
	unsigned n = atomic_load_explicit(&m->ncauses, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		if (m->causes[i].reason == reason && m->causes[i].status == status) {
			stat_inc(&m->causes[i].n);
			return;
		}
	if (n == METRICS_CAUSES_MAX) {
		stat_inc(&m->causes_other);
		return;
	}
	m->causes[n].reason = reason;
	m->causes[n].status = status;
	stat_set(&m->causes[n].n, 1);
	atomic_store_explicit(&m->ncauses, n + 1, memory_order_release);
}

void metrics_denial(struct worker_metrics *m, int status, const char *where)
{
	unsigned n = atomic_load_explicit(&m->ndenials, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		if (m->denials[i].status == status && strncmp(m->denials[i].where, where, METRICS_WHERE_MAX - 1) == 0) {
			stat_inc(&m->denials[i].n);
			return;
		}
	if (n == METRICS_DENIALS_MAX) {
		stat_inc(&m->denials_other);
		return;
	}
	struct metrics_denial *d = &m->denials[n];
	strncpy(d->where, where, METRICS_WHERE_MAX - 1);
	d->where[METRICS_WHERE_MAX - 1] = '\0';
	d->status = status;
	stat_set(&d->n, 1);
	atomic_store_explicit(&m->ndenials, n + 1, memory_order_release);
}
