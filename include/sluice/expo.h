/* expo: the Prometheus text exposition format, version 0.0.4.
 *
 * A scrape is written into one growable buffer, family by family:
 *
 *     # HELP sluice_requests_total Requests received.
 *     # TYPE sluice_requests_total counter
 *     sluice_requests_total{method="GET",code="2xx"} 1027
 *     sluice_requests_total{method="GET",code="5xx"} 3
 *
 * A family's samples must follow its HELP and TYPE lines with no other
 * family in between, and each family appears once: the caller keeps that
 * order.  Names are checked (assert) against the format's regexes; they are
 * literals in the proxy, so a bad one fails in the tests, not in the field.
 *
 * Label values and HELP text may hold any bytes (domain names, client text,
 * "file:line" rule labels): '\\' and newline become \\ and \n (and '"'
 * becomes \" in label values).  The format is UTF-8 and has no escape for
 * a raw byte, so an ill-formed UTF-8 sequence becomes U+FFFD (the bytes
 * EF BF BD), one per maximal subpart as json.h describes.
 *
 * Bounded: the buffer grows by doubling up to the max given at init.  A
 * call that would pass it (or finds no memory) writes nothing at all, sets
 * `truncated`, and so does every later call: the text then ends with the
 * last whole call that fit, still a valid exposition, and the caller
 * decides whether to serve it (a 500 is the honest answer).
 */
#ifndef SLUICE_EXPO_H
#define SLUICE_EXPO_H

#include <stddef.h>
#include <stdint.h>

struct expo {
	char *buf;	/* len bytes of text, not NUL-terminated; owned, expo_free */
	size_t len;
	size_t cap;
	size_t max;	/* cap never grows past this */
	int truncated;	/* a call did not fit: see above */
};

enum expo_type { EXPO_COUNTER, EXPO_GAUGE, EXPO_HISTOGRAM, EXPO_UNTYPED };

/* An empty output that may grow to max bytes; nothing is allocated yet. */
void expo_init(struct expo *e, size_t max);
/* Empty it for the next scrape, keeping the memory. */
void expo_reset(struct expo *e);
void expo_free(struct expo *e);

/* "# HELP name help" (skipped when help is NULL or empty) and
 * "# TYPE name type". */
void expo_family(struct expo *e, const char *name, enum expo_type type, const char *help);

/* One sample line: name{l1="v1",...} value.  labels is NULL or a list of
 * name, value pointers ended by a NULL name; the writer only reads it.
 * A double is written so that it reads back to the same value (the
 * shortest of %.15g..%.17g that does), NaN, +Inf and -Inf as the format
 * spells them; a uint64_t as exact digits. */
void expo_sample(struct expo *e, const char *name, const char *const *labels, double value);
void expo_sample_u64(struct expo *e, const char *name, const char *const *labels, uint64_t value);

/* A histogram's series under one label set: name_bucket{...,le="b"} with
 * cumulative counts for each of the nbounds bounds (ascending, finite) and
 * le="+Inf", then name_sum and name_count.  counts has nbounds + 1 entries,
 * per bucket, not cumulative: counts[i] observations <= bounds[i] and above
 * the bound before, counts[nbounds] those above every bound.  _count is
 * their total, so it always equals the +Inf bucket, even when the counters
 * were read while workers were still adding to them.  Written whole or not
 * at all. */
void expo_histogram(struct expo *e, const char *name, const char *const *labels, const double *bounds,
		    const uint64_t *counts, size_t nbounds, double sum);

/* The format's regexes: a metric name is [a-zA-Z_:][a-zA-Z0-9_:]*, a label
 * name [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved for
 * Prometheus itself).  1 when name matches. */
/* Raw bytes, for a page in another format built in the same buffer (the
 * admin's JSON), within the same bound. */
void expo_append(struct expo *e, const char *s, size_t n);

int expo_metric_name_ok(const char *name);
int expo_label_name_ok(const char *name);

/* The request-duration histogram: 15 bounds from 1 ms to 60 s, in seconds
 * (1, 2.5, 5 per decade, then 30 and 60 s for slow origins and long
 * polls). */
#define EXPO_DURATION_NBOUNDS 15
extern const double expo_duration_bounds[EXPO_DURATION_NBOUNDS];

/* The bucket a request of usec microseconds is counted in: i when
 * bounds[i - 1] < usec <= bounds[i], EXPO_DURATION_NBOUNDS above 60 s.
 * Four compares, no loop; a worker keeps EXPO_DURATION_NBOUNDS + 1
 * counters and adds one to counts[expo_duration_bucket(usec)]. */
unsigned expo_duration_bucket(uint64_t usec);

#endif
