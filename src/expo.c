/* expo: Prometheus text exposition 0.0.4 written into a bounded, growable
 * buffer (see expo.h for the contract).
 *
 * Every public call remembers where the text ended when it began; when
 * anything inside it does not fit, reserve() sets `truncated` and the call
 * cuts the text back to that mark, so a line (or a whole histogram) is
 * never left half written. */
#include "sluice/expo.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/json.h"

/* About 80 lines; a scrape of a few thousand series (some 300 KB) takes
 * seven doublings, paid once by a caller that keeps the buffer between
 * scrapes (expo_reset). */
#define EXPO_FIRST_CAP 4096

void expo_init(struct expo *e, size_t max)
{
	e->buf = NULL;
	e->len = e->cap = 0;
	e->max = max;
	e->truncated = 0;
}

void expo_reset(struct expo *e)
{
	e->len = 0;
	e->truncated = 0;
}

void expo_free(struct expo *e)
{
	free(e->buf); e->buf = NULL;
	e->len = e->cap = 0;
}

/* Room for n more bytes, or -1 (and `truncated` set) when that would pass
 * max or realloc fails. */
static int reserve(struct expo *e, size_t n)
{
	if (e->truncated)
		return -1;
	if (n <= e->cap - e->len)
		return 0;
	if (n > e->max - e->len) {
		e->truncated = 1;
		return -1;
	}
	size_t need = e->len + n, cap = e->cap ? e->cap : EXPO_FIRST_CAP;
	while (cap < need && cap <= e->max / 2)
		cap *= 2;
	if (cap < need || cap > e->max)
		cap = e->max; /* need <= max was checked above */
	char *p = realloc(e->buf, cap);
	if (p == NULL) {
		e->truncated = 1;
		return -1;
	}
	e->buf = p;
	e->cap = cap;
	return 0;
}

static void put(struct expo *e, const char *s, size_t n)
{
	if (n == 0)
		return; /* an empty run: buf may still be NULL */
	if (reserve(e, n) == 0) {
		memcpy(e->buf + e->len, s, n);
		e->len += n;
	}
}

static void put_str(struct expo *e, const char *s)
{
	put(e, s, strlen(s));
}

void expo_append(struct expo *e, const char *s, size_t n)
{
	put(e, s, n);
}

/* HELP text (quoted == 0) or a label value (quoted == 1), escaped as the
 * format asks: backslash and newline always, the double quote only inside
 * quotes (the HELP parser would refuse \").  Ill-formed UTF-8 becomes
 * U+FFFD: the format has no escape for a raw byte. */
static void put_escaped(struct expo *e, const char *s, int quoted)
{
	size_t n = strlen(s);
	while (n > 0) {
		size_t run = 0;
		while (run < n && (unsigned char)s[run] < 0x80 && s[run] != '\\' && s[run] != '\n' &&
		       !(quoted && s[run] == '"'))
			run++;
		put(e, s, run);
		s += run;
		n -= run;
		if (n == 0)
			break;
		size_t k = 1;
		if (*s == '\\') {
			put(e, "\\\\", 2);
		} else if (*s == '\n') {
			put(e, "\\n", 2);
		} else if (*s == '"') {
			put(e, "\\\"", 2);
		} else {
			int seq = json_utf8_seq(s, n);
			if (seq > 0) {
				k = (size_t)seq;
				put(e, s, k);
			} else {
				k = (size_t)-seq;
				put(e, "\xef\xbf\xbd", 3);
			}
		}
		s += k;
		n -= k;
	}
}

/* A double as Go's ParseFloat reads it back to the same value: the
 * shortest of %.15g, %.16g, %.17g that round-trips (0.1 stays "0.1";
 * %.17g always does), and the format's own spellings of the specials.
 * printf and strtod use the C locale: sluice never calls setlocale. */
static const char *fmt_double(char tmp[32], double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, 32, "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return tmp;
}

/* name + suffix, then the label set with `le` appended when not NULL,
 * then the space before the value. */
static void put_series(struct expo *e, const char *name, const char *suffix, const char *const *labels,
		       const char *le)
{
	assert(expo_metric_name_ok(name));
	put_str(e, name);
	put_str(e, suffix);
	if ((labels && labels[0]) || le) {
		const char *sep = "{";
		for (size_t i = 0; labels && labels[i]; i += 2) {
			assert(expo_label_name_ok(labels[i]) && labels[i + 1]);
			put_str(e, sep);
			put_str(e, labels[i]);
			put(e, "=\"", 2);
			put_escaped(e, labels[i + 1], 1);
			put(e, "\"", 1);
			sep = ",";
		}
		if (le) {
			put_str(e, sep);
			put(e, "le=\"", 4);
			put_str(e, le);
			put(e, "\"", 1);
		}
		put(e, "}", 1);
	}
	put(e, " ", 1);
}

static const char *fmt_u64(char tmp[32], uint64_t v)
{
	snprintf(tmp, 32, "%" PRIu64, v);
	return tmp;
}

/* One whole sample line, its value already text. */
static void put_line(struct expo *e, const char *name, const char *suffix, const char *const *labels,
		     const char *le, const char *value)
{
	put_series(e, name, suffix, labels, le);
	put_str(e, value);
	put(e, "\n", 1);
}

/* Cut back to where the call began when any part of it did not fit. */
static void settle(struct expo *e, size_t mark)
{
	if (e->truncated)
		e->len = mark;
}

void expo_family(struct expo *e, const char *name, enum expo_type type, const char *help)
{
	static const char *const types[] = {
		[EXPO_COUNTER] = "counter",
		[EXPO_GAUGE] = "gauge",
		[EXPO_HISTOGRAM] = "histogram",
		[EXPO_UNTYPED] = "untyped",
	};
	size_t mark = e->len;
	assert(expo_metric_name_ok(name) && (unsigned)type <= EXPO_UNTYPED);
	if (help && help[0]) {
		put(e, "# HELP ", 7);
		put_str(e, name);
		put(e, " ", 1);
		put_escaped(e, help, 0);
		put(e, "\n", 1);
	}
	put(e, "# TYPE ", 7);
	put_str(e, name);
	put(e, " ", 1);
	put_str(e, types[type]);
	put(e, "\n", 1);
	settle(e, mark);
}

void expo_sample(struct expo *e, const char *name, const char *const *labels, double value)
{
	char tmp[32];
	size_t mark = e->len;
	put_line(e, name, "", labels, NULL, fmt_double(tmp, value));
	settle(e, mark);
}

void expo_sample_u64(struct expo *e, const char *name, const char *const *labels, uint64_t value)
{
	char tmp[32];
	size_t mark = e->len;
	put_line(e, name, "", labels, NULL, fmt_u64(tmp, value));
	settle(e, mark);
}

void expo_histogram(struct expo *e, const char *name, const char *const *labels, const double *bounds,
		    const uint64_t *counts, size_t nbounds, double sum)
{
	size_t mark = e->len;
	uint64_t total = 0;
	char le[32], tmp[32];

	for (size_t i = 0; labels && labels[i]; i += 2)
		assert(strcmp(labels[i], "le") != 0); /* the bucket's own label */
	for (size_t i = 0; i < nbounds; i++) {
		assert(isfinite(bounds[i]) && (i == 0 || bounds[i - 1] < bounds[i]));
		total += counts[i];
		put_line(e, name, "_bucket", labels, fmt_double(le, bounds[i]), fmt_u64(tmp, total));
	}
	total += counts[nbounds];
	put_line(e, name, "_bucket", labels, "+Inf", fmt_u64(tmp, total));
	put_line(e, name, "_sum", labels, NULL, fmt_double(tmp, sum));
	put_line(e, name, "_count", labels, NULL, fmt_u64(tmp, total));
	settle(e, mark);
}

static int name_char(char c, int first, int colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':'))
		return 1;
	return !first && c >= '0' && c <= '9';
}

static int name_ok(const char *name, int colon)
{
	if (name == NULL || name[0] == '\0')
		return 0;
	for (size_t i = 0; name[i]; i++)
		if (!name_char(name[i], i == 0, colon))
			return 0;
	return 1;
}

int expo_metric_name_ok(const char *name)
{
	return name_ok(name, 1);
}

int expo_label_name_ok(const char *name)
{
	return name_ok(name, 0) && strncmp(name, "__", 2) != 0;
}

const double expo_duration_bounds[EXPO_DURATION_NBOUNDS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};

/* The same bounds in microseconds, padded to 16 with a bound nothing
 * exceeds so the search below is four halvings of a power of two. */
static const uint64_t duration_usec[16] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000, UINT64_MAX,
};

unsigned expo_duration_bucket(uint64_t usec)
{
	/* the number of bounds below usec: each step keeps the half that
	 * holds the first bound >= usec */
	unsigned i = 0;
	if (duration_usec[i + 7] < usec)
		i += 8;
	if (duration_usec[i + 3] < usec)
		i += 4;
	if (duration_usec[i + 1] < usec)
		i += 2;
	if (duration_usec[i] < usec)
		i += 1;
	return i;
}
