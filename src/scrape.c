/* scrape: the metrics page (include/sluice/scrape.h). */
#include "sluice/scrape.h"

#include <ares.h>
#include <dirent.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sluice/acceptor.h"
#include "sluice/expo.h"
#include "sluice/json.h"
#include "sluice/topk.h"
#include "sluice/loop.h"
#include "sluice/metrics.h"
#include "sluice/parent.h"
#include "sluice/service.h"
#include "sluice/session.h"
#include "sluice/worker.h"

#define STR2(x) #x
#define STR(x) STR2(x)

/* A counter or gauge family with one unlabelled sample. */
static void one(struct expo *e, const char *name, enum expo_type type, const char *help, uint64_t v)
{
	expo_family(e, name, type, help);
	expo_sample_u64(e, name, NULL, v);
}

/* The sum over every worker of the stat_t at byte offset off of struct worker. */
static uint64_t sum(const struct worker *ws, int n, size_t off)
{
	uint64_t t = 0;
	for (int i = 0; i < n; i++)
		t += stat_get((const stat_t *)((const char *)&ws[i] + off));
	return t;
}
#define SUM(field) sum(ws, n, offsetof(struct worker, field))

static void requests(struct expo *e, const struct worker *ws, int n)
{
	static const char *const classes[STATUS_CLASSES] = { "none", "1xx", "2xx", "3xx", "4xx", "5xx" };
	expo_family(e, "sluice_requests_total", EXPO_COUNTER,
		    "Exchanges completed (tunnels when they end), by method and status class.");
	for (int mc = 0; mc < MC_N; mc++)
		for (int sc = 0; sc < STATUS_CLASSES; sc++) {
			uint64_t v = SUM(m.requests[mc][sc]);
			if (v == 0 && sc != 2)
				continue; /* a series appears once it counts something */
			const char *l[] = { "method", metrics_method_names[mc], "code", classes[sc], NULL };
			expo_sample_u64(e, "sluice_requests_total", l, v);
		}
	uint64_t buckets[EXPO_DURATION_NBOUNDS + 1];
	for (int b = 0; b <= EXPO_DURATION_NBOUNDS; b++)
		buckets[b] = SUM(m.duration[b]);
	expo_family(e, "sluice_request_duration_seconds", EXPO_HISTOGRAM,
		    "Time from a request's first byte to its exchange's end.");
	expo_histogram(e, "sluice_request_duration_seconds", NULL, expo_duration_bounds, buckets,
		       EXPO_DURATION_NBOUNDS, (double)SUM(m.duration_sum_us) / 1e6);
}

static void traffic(struct expo *e, const struct worker *ws, int n)
{
	one(e, "sluice_client_received_bytes_total", EXPO_COUNTER, "Bytes read from clients (tunnels apart).",
	    SUM(m.client_in));
	one(e, "sluice_client_sent_bytes_total", EXPO_COUNTER, "Bytes written to clients (tunnels apart).",
	    SUM(m.client_out));
	one(e, "sluice_origin_received_bytes_total", EXPO_COUNTER, "Bytes read from servers (tunnels apart).",
	    SUM(m.origin_in));
	one(e, "sluice_origin_sent_bytes_total", EXPO_COUNTER, "Bytes written to servers (tunnels apart).",
	    SUM(m.origin_out));
	one(e, "sluice_connections_open", EXPO_GAUGE, "Client connections open now.",
	    (uint64_t)worker_connection_count());
	one(e, "sluice_connections_accepted_total", EXPO_COUNTER, "Connections accepted (the admin listener's too).",
	    SUM(stats.accepted));
	one(e, "sluice_handoffs_total", EXPO_COUNTER, "Sockets the acceptor thread handed to a worker.",
	    SUM(stats.handoffs));
	expo_family(e, "sluice_handoff_seconds_total", EXPO_COUNTER,
		    "Time from accept to the worker taking the socket, summed over the hand-offs.");
	expo_sample(e, "sluice_handoff_seconds_total", NULL, (double)SUM(stats.handoff_us) / 1e6);
	one(e, "sluice_tunnels_open", EXPO_GAUGE, "CONNECT, Upgrade and redirected TLS tunnels running now.",
	    SUM(stats.tunnels));
	one(e, "sluice_tunnels_total", EXPO_COUNTER, "Tunnels ended.", SUM(m.tunnels_done));
	expo_family(e, "sluice_tunnel_bytes_total", EXPO_COUNTER,
		    "Bytes relayed by tunnels, counted when each ends; up: client to server.");
	const char *up[] = { "direction", "up", NULL }, *down[] = { "direction", "down", NULL };
	expo_sample_u64(e, "sluice_tunnel_bytes_total", up, SUM(m.tunnel_up));
	expo_sample_u64(e, "sluice_tunnel_bytes_total", down, SUM(m.tunnel_down));
	expo_family(e, "sluice_body_spliced_bytes_total", EXPO_COUNTER,
		    "Body bytes moved by splice(), never copied through sluice (in the byte counters above too); up: "
		    "request bodies.");
	expo_sample_u64(e, "sluice_body_spliced_bytes_total", up, SUM(m.body_spliced_up));
	expo_sample_u64(e, "sluice_body_spliced_bytes_total", down, SUM(m.body_spliced_down));
	expo_family(e, "sluice_sessions", EXPO_GAUGE, "Client connections by state.");
	for (unsigned st = 0; session_state_name(st); st++) {
		const char *l[] = { "state", session_state_name(st), NULL };
		expo_sample_u64(e, "sluice_sessions", l, SUM(m.states[st]));
	}
}

/* Local answers by cause, and denials by rule: the same (status, name) may
 * sit in several workers' tables, and is one series. */
struct row {
	const char *name;
	int status;
	uint64_t n;
};

static size_t row_add(struct row *rows, size_t nrows, const char *name, int status, uint64_t v)
{
	for (size_t i = 0; i < nrows; i++)
		if (rows[i].status == status && strcmp(rows[i].name, name) == 0) {
			rows[i].n += v;
			return nrows;
		}
	rows[nrows] = (struct row){ name, status, v };
	return nrows + 1;
}

static void rows_out(struct expo *e, const char *metric, const char *key, const struct row *rows, size_t nrows,
		     uint64_t other)
{
	for (size_t i = 0; i < nrows; i++) {
		char code[12];
		snprintf(code, sizeof(code), "%d", rows[i].status);
		const char *l[] = { "code", code, key, rows[i].name, NULL };
		expo_sample_u64(e, metric, l, rows[i].n);
	}
	if (other) {
		const char *l[] = { "code", "other", key, "other", NULL };
		expo_sample_u64(e, metric, l, other);
	}
}

static void causes(struct expo *e, const struct worker *ws, int n)
{
	size_t max = (size_t)n * (METRICS_CAUSES_MAX > METRICS_DENIALS_MAX ? METRICS_CAUSES_MAX : METRICS_DENIALS_MAX);
	struct row *rows = calloc(max, sizeof(*rows));
	if (rows == NULL) {
		e->truncated = 1;
		return;
	}
	size_t nrows = 0;
	for (int i = 0; i < n; i++) {
		unsigned k = atomic_load_explicit(&ws[i].m.ncauses, memory_order_acquire);
		for (unsigned j = 0; j < k; j++)
			nrows = row_add(rows, nrows, ws[i].m.causes[j].reason, ws[i].m.causes[j].status,
					stat_get(&ws[i].m.causes[j].n));
	}
	expo_family(e, "sluice_errors_total", EXPO_COUNTER,
		    "Answers sluice made itself and exchanges it cut, by status and cause.");
	rows_out(e, "sluice_errors_total", "cause", rows, nrows, SUM(m.causes_other));
	nrows = 0;
	for (int i = 0; i < n; i++) {
		unsigned k = atomic_load_explicit(&ws[i].m.ndenials, memory_order_acquire);
		for (unsigned j = 0; j < k; j++)
			nrows = row_add(rows, nrows, ws[i].m.denials[j].where, ws[i].m.denials[j].status,
					stat_get(&ws[i].m.denials[j].n));
	}
	expo_family(e, "sluice_denials_total", EXPO_COUNTER, "Requests the access rules denied, by rule (file:line).");
	rows_out(e, "sluice_denials_total", "rule", rows, nrows, SUM(m.denials_other));
	free(rows);
}

static void labelled(struct expo *e, const char *name, const char *key, const char *const *values,
		     const uint64_t *v, int nv)
{
	for (int i = 0; i < nv; i++) {
		const char *l[] = { key, values[i], NULL };
		expo_sample_u64(e, name, l, v[i]);
	}
}

static void dns_and_pool(struct expo *e, const struct worker *ws, int n)
{
	uint64_t hits = 0, neg = 0, queries = 0, coalesced = 0, busy = 0, answers[4] = { 0 }, idle = 0;
	for (int i = 0; i < n; i++) {
		const struct dns_stats *d = dns_stats(ws[i].dns);
		hits += stat_get(&d->hits);
		neg += stat_get(&d->negative_hits);
		queries += stat_get(&d->queries);
		coalesced += stat_get(&d->coalesced);
		busy += stat_get(&d->busy);
		for (int k = 0; k < 4; k++)
			answers[k] += stat_get(&d->answers[k]);
		idle += upstream_pool_idle(ws[i].pool);
	}
	one(e, "sluice_dns_cache_hits_total", EXPO_COUNTER, "Names answered from the cache (negative ones too).", hits);
	one(e, "sluice_dns_cache_negative_hits_total", EXPO_COUNTER, "Cache hits that said: no such name.", neg);
	one(e, "sluice_dns_cache_misses_total", EXPO_COUNTER,
	    "Names not in the cache: a lookup started, or joined one in flight.", queries + coalesced);
	one(e, "sluice_dns_lookups_total", EXPO_COUNTER, "Lookups sent to the DNS servers.", queries);
	one(e, "sluice_dns_busy_total", EXPO_COUNTER, "Names refused: too many lookups in flight.", busy);
	static const char *const results[] = { "ok", "notfound", "timeout", "failed" };
	expo_family(e, "sluice_dns_answers_total", EXPO_COUNTER, "Lookups ended, by result.");
	labelled(e, "sluice_dns_answers_total", "result", results, answers, 4);
	one(e, "sluice_upstream_pool_hits_total", EXPO_COUNTER, "Requests sent on a pooled server connection.",
	    SUM(m.pool_hits));
	one(e, "sluice_upstream_pool_misses_total", EXPO_COUNTER, "Server connections opened.", SUM(m.pool_misses));
	one(e, "sluice_upstream_stale_retries_total", EXPO_COUNTER,
	    "Requests sent again on a new connection after a pooled one turned out closed.",
	    SUM(m.pool_stale_retries));
	one(e, "sluice_upstream_pool_idle", EXPO_GAUGE, "Idle server connections pooled now.", idle);
	static const char *const auth[] = { "ok", "failed", "cached" };
	uint64_t av[] = { SUM(m.auth_ok), SUM(m.auth_failed), SUM(m.auth_cached) };
	expo_family(e, "sluice_auth_total", EXPO_COUNTER,
		    "Logins: checked and accepted, refused (407), accepted from the cache.");
	labelled(e, "sluice_auth_total", "result", auth, av, 3);
}

static void service(struct expo *e, const struct worker *ws, int n)
{
	const struct acceptor_stats *a = acceptor_stats();
	static const char *const why[] = { "max_connections", "descriptors", "accept_error" };
	uint64_t pv[] = { stat_get(&a->paused_connections), stat_get(&a->paused_fds), stat_get(&a->paused_errors) };
	expo_family(e, "sluice_accept_pauses_total", EXPO_COUNTER, "Times accepting paused, by reason.");
	labelled(e, "sluice_accept_pauses_total", "reason", why, pv, 3);
	one(e, "sluice_clients_refused_total", EXPO_COUNTER, "Connections closed at accept: over max_connections_per_client.",
	    stat_get(&a->refused_per_client));
	expo_family(e, "sluice_worker_loop_lag_seconds", EXPO_GAUGE,
		    "How late a worker's once-a-tick timer ran lately: the longest its loop was kept from turning.");
	for (int i = 0; i < n; i++) {
		char id[12];
		snprintf(id, sizeof(id), "%d", i);
		const char *l[] = { "worker", id, NULL };
		expo_sample(e, "sluice_worker_loop_lag_seconds", l, (double)stat_get(&ws[i].m.loop_lag_ms) / 1000.0);
	}
	one(e, "sluice_workers", EXPO_GAUGE, "Worker threads.", (uint64_t)n);
	const struct service_stats *sv = service_stats();
	static const char *const res[] = { "ok", "failed" };
	uint64_t rv[] = { stat_get(&sv->reloads_ok), stat_get(&sv->reloads_failed) };
	expo_family(e, "sluice_config_reloads_total", EXPO_COUNTER, "Configuration reloads (SIGHUP), by result.");
	labelled(e, "sluice_config_reloads_total", "result", res, rv, 2);
	one(e, "sluice_config_last_reload_success", EXPO_GAUGE, "1 when the last reload applied (or none was tried).",
	    stat_get(&sv->last_reload_ok));
	expo_family(e, "sluice_config_last_reload_timestamp_seconds", EXPO_GAUGE, "When the last reload was tried; 0: never.");
	expo_sample(e, "sluice_config_last_reload_timestamp_seconds", NULL, (double)stat_get(&sv->last_reload_ms) / 1000.0);
	int ares_v;
	const char *build[] = { "version", SLUICE_VERSION, "llhttp",
				STR(LLHTTP_VERSION_MAJOR) "." STR(LLHTTP_VERSION_MINOR) "." STR(LLHTTP_VERSION_PATCH),
				"cares", ares_version(&ares_v), NULL };
	expo_family(e, "sluice_build_info", EXPO_GAUGE, "The build: sluice's version and its libraries'.");
	expo_sample_u64(e, "sluice_build_info", build, 1);
}

/* Each parent named since the start (a reload that drops one keeps its
 * counts): its requests, failed connections, and whether it is up. */
static void parents(struct expo *e, const struct worker *ws, int n)
{
	if (parent_slot_name(0) == NULL)
		return; /* no parent was ever configured */
	static const char *const fam[][2] = {
		{ "sluice_parent_requests_total", "Exchanges and tunnels sent to a parent proxy." },
		{ "sluice_parent_failures_total", "Connections to a parent proxy that were refused, failed or timed out." },
		{ "sluice_parent_up", "1 when a parent proxy is up; 0 while it is held down after failures." },
	};
	uint64_t now = loop_clock_ms();
	for (int f = 0; f < 3; f++) {
		expo_family(e, fam[f][0], f == 2 ? EXPO_GAUGE : EXPO_COUNTER, fam[f][1]);
		const char *name;
		for (int slot = 0; (name = parent_slot_name(slot)) != NULL; slot++) {
			const char *l[] = { "parent", name, NULL };
			uint64_t v = f == 0   ? SUM(m.parent_requests[slot])
				     : f == 1 ? SUM(m.parent_failures[slot])
					      : (uint64_t)!parent_down(slot, now);
			expo_sample_u64(e, fam[f][0], l, v);
		}
	}
}

/* --- the process (the client libraries' standard names) --------------------------------- */

static void process(struct expo *e)
{
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, btime = 0;
	long long rss = 0;
	FILE *f = fopen("/proc/self/stat", "re");
	if (f) {
		/* fields 14, 15 (utime, stime), 22 (starttime), 23 (vsize), 24
		 * (rss); the name (field 2) may hold spaces: skip past its ')' */
		char line[1024];
		if (fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')');
			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
					"%llu %llu %lld", &utime, &stime, &start, &vsize, &rss) != 5)
				utime = stime = start = vsize = 0, rss = 0;
		}
		fclose(f);
	}
	f = fopen("/proc/stat", "re");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	uint64_t fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			fds += de->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own descriptor */
	}
	struct rlimit rl = { 0 };
	getrlimit(RLIMIT_NOFILE, &rl);
	expo_family(e, "process_cpu_seconds_total", EXPO_COUNTER, "User and system CPU time spent, in seconds.");
	expo_sample(e, "process_cpu_seconds_total", NULL, (double)(utime + stime) / (double)tick);
	one(e, "process_resident_memory_bytes", EXPO_GAUGE, "Resident memory size in bytes.", (uint64_t)rss * (uint64_t)page);
	one(e, "process_virtual_memory_bytes", EXPO_GAUGE, "Virtual memory size in bytes.", vsize);
	one(e, "process_open_fds", EXPO_GAUGE, "Open file descriptors.", fds);
	one(e, "process_max_fds", EXPO_GAUGE, "The most file descriptors the process may open.", (uint64_t)rl.rlim_cur);
	expo_family(e, "process_start_time_seconds", EXPO_GAUGE, "Start time of the process since the epoch, in seconds.");
	expo_sample(e, "process_start_time_seconds", NULL, (double)btime + (double)start / (double)tick);
}

void scrape_render(struct expo *e)
{
	int n;
	struct worker *ws = worker_all(&n);
	requests(e, ws, n);
	traffic(e, ws, n);
	causes(e, ws, n);
	dns_and_pool(e, ws, n);
	service(e, ws, n);
	parents(e, ws, n);
	process(e);
}

/* --- the top talkers ------------------------------------------------------------------ */

static void top_family(struct expo *e, const char *name, const char *key, const struct topk_item *it, size_t n,
		       int what)
{
	for (size_t i = 0; i < n; i++) {
		const char *l[] = { key, it[i].key, NULL };
		expo_sample_u64(e, name, l, what == 0 ? it[i].count : what == 1 ? it[i].err : it[i].requests);
	}
}

void scrape_render_top(struct expo *e, const struct topk_item *names, size_t nnames,
		       const struct topk_item *clients, size_t nclients)
{
	static const struct {
		const char *name, *help;
		int names, what;
	} fams[] = {
		{ "sluice_top_name_bytes", "Bytes to and from the busiest destination names (an estimate, at most the "
		  "true figure plus _error).", 1, 0 },
		{ "sluice_top_name_bytes_error", "How much sluice_top_name_bytes may exceed the true figure.", 1, 1 },
		{ "sluice_top_name_requests", "Requests to the busiest destination names (at most the true figure, "
		  "which is at most this plus _bytes_error).", 1, 2 },
		{ "sluice_top_client_bytes", "Bytes to and from the busiest clients (an estimate, at most the true "
		  "figure plus _error).", 0, 0 },
		{ "sluice_top_client_bytes_error", "How much sluice_top_client_bytes may exceed the true figure.", 0, 1 },
		{ "sluice_top_client_requests", "Requests from the busiest clients (at most the true figure, which is "
		  "at most this plus _bytes_error).", 0, 2 },
	};
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		expo_family(e, fams[f].name, EXPO_GAUGE, fams[f].help);
		if (fams[f].names)
			top_family(e, fams[f].name, "name", names, nnames, fams[f].what);
		else
			top_family(e, fams[f].name, "client", clients, nclients, fams[f].what);
	}
}

static void json_items(struct expo *e, const char *key, const struct topk_item *it, size_t n)
{
	char buf[6 * TOPK_KEY_MAX + 128];
	int k = snprintf(buf, sizeof(buf), "\"%s\":[", key);
	expo_append(e, buf, (size_t)k);
	for (size_t i = 0; i < n; i++) {
		size_t used, m = json_escape(buf, 6 * TOPK_KEY_MAX, it[i].key, it[i].len, &used);
		expo_append(e, i ? ",{\"name\":\"" : "{\"name\":\"", i ? 10 : 9);
		expo_append(e, buf, m);
		k = snprintf(buf, sizeof(buf), "\",\"bytes\":%llu,\"bytes_error\":%llu,\"requests\":%llu}",
			     (unsigned long long)it[i].count, (unsigned long long)it[i].err,
			     (unsigned long long)it[i].requests);
		expo_append(e, buf, (size_t)k);
	}
	expo_append(e, "]", 1);
}

void scrape_top_json(struct expo *e, const struct topk_item *names, size_t nnames, const struct topk_item *clients,
		     size_t nclients, int answered, int workers)
{
	char buf[96];
	int k = snprintf(buf, sizeof(buf), "{\"workers\":%d,\"answered\":%d,", workers, answered);
	expo_append(e, buf, (size_t)k);
	json_items(e, "names", names, nnames);
	expo_append(e, ",", 1);
	json_items(e, "clients", clients, nclients);
	expo_append(e, "}\n", 2);
}
