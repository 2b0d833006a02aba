/* service: signals, reload, graceful stop, sd_notify and the watchdog
 * (include/sluice/service.h). */
#include "sluice/service.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "sluice/auth.h"
#include "sluice/log.h"
#include "sluice/loop.h"

#define STATUS_MS 5000 /* how often STATUS= is brought up to date */

static uint64_t watchdog_ms; /* WATCHDOG=1 every this often; 0: no watchdog */
static struct service_stats stats = { .last_reload_ok = 1 };

const struct service_stats *service_stats(void)
{
	return &stats;
}

uint64_t service_watchdog_setup(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	watchdog_ms = usec / 2000 ? usec / 2000 : 1;
	/* a healthy worker turns at least twice between two pings */
	uint64_t tick = watchdog_ms / 2;
	worker_set_tick(tick < 1 ? 1 : tick > 1000 ? 1000 : (uint32_t)tick);
	return watchdog_ms;
}

void service_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
#ifdef SLUICE_TEST_HOOKS
	sigaddset(set, SIGUSR2);
#endif
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* --- the status line ------------------------------------------------------------------ */

struct tally {
	uint64_t at;		/* loop_clock_ms() of the last count */
	uint64_t requests;	/* completed then, all workers */
	double rate;		/* requests per second since the count before */
};

static void status_text(const struct service *sv, struct tally *t, uint64_t now, char *buf, size_t len)
{
	uint64_t requests = 0, tunnels = 0;
	for (int i = 0; i < sv->nworkers; i++) {
		requests += stat_get(&sv->workers[i].stats.requests);
		tunnels += stat_get(&sv->workers[i].stats.tunnels);
	}
	if (now > t->at && t->at) {
		t->rate = (double)(requests - t->requests) * 1000.0 / (double)(now - t->at);
		t->at = now;
		t->requests = requests;
	} else if (t->at == 0) {
		t->at = now;
		t->requests = requests;
	}
	snprintf(buf, len, "%d connections, %llu tunnels, %.0f requests/s", worker_connection_count(),
		 (unsigned long long)tunnels, t->rate);
}

/* The first worker whose loop has not turned for more than limit ms: its
 * index (and *late, how long), or -1. */
static int stalled_worker(const struct service *sv, uint64_t now, uint64_t limit, uint64_t *late)
{
	for (int i = 0; i < sv->nworkers; i++) {
		uint64_t t = stat_get(&sv->workers[i].turned);
		if (now > t && now - t > limit) {
			*late = now - t;
			return i;
		}
	}
	return -1;
}

/* --- reload -------------------------------------------------------------------------- */

static void reload(struct service *sv)
{
	char err[4608];
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s", (unsigned long long)loop_clock_us(),
		   sv->source);
	log_info("SIGHUP: reloading %s", sv->source);
	struct config *nw = sv->build(sv->build_arg, err, sizeof(err));
	if (nw == NULL)
		goto failed;
	char changed[512];
	config_keep_restart_only(nw, sv->cfg, changed, sizeof(changed));
	if (changed[0])
		log_warn("reload: %s changed: these take effect at the next restart; the running values stay", changed);
	/* the running values may not fit the new ones (header_max above the
	 * running buffer_size, say): checked again as they will run */
	char why[1024];
	if (changed[0] && config_validate(nw, why, sizeof(why)) == -1) {
		snprintf(err, sizeof(err), "%.2048s: with the running %s (a restart applies the new): %s", sv->source,
			 changed, why);
		config_unref(nw);
		goto failed;
	}
	if (acceptor_prepare(sv->acc, nw, err, sizeof(err)) == -1) {
		config_unref(nw);
		goto failed;
	}
	config_publish(nw);
	acceptor_commit(sv->acc);
	config_unref(sv->cfg);
	sv->cfg = config_acquire();
	worker_nudge_all(); /* idle workers take the new snapshot now, not at their next event */
	if (sv->cfg->auth_basic[0])
		auth_reload();
	stat_inc(&stats.reloads_ok);
	stat_set(&stats.last_reload_ok, 1);
	stat_set(&stats.last_reload_ms, loop_wall_ms());
	log_info("configuration reloaded from %s", sv->source);
	sd_notifyf(0, "READY=1\nSTATUS=configuration reloaded from %s", sv->source);
	return;
failed:
	stat_inc(&stats.reloads_failed);
	stat_set(&stats.last_reload_ok, 0);
	stat_set(&stats.last_reload_ms, loop_wall_ms());
	log_err("reload failed: %s; still serving with the previous configuration", err);
	sd_notifyf(0, "READY=1\nSTATUS=reload failed: %s; serving with the previous configuration", err);
}

#ifdef SLUICE_TEST_HOOKS
/* Test builds only (the Makefile's sluice-hooks): SIGUSR2 stops worker 0's
 * loop for SLUICE_TEST_WEDGE_MS (default 5000), as a worker stuck in a
 * system call or a loop would be. */
static void wedge_run(struct worker *w, struct worker_msg *m)
{
	const char *v = getenv("SLUICE_TEST_WEDGE_MS");
	long ms = v ? atol(v) : 5000;
	free(m);
	log_warn("test hook: worker %d wedged for %ld ms", w->id, ms);
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void wedge(struct service *sv)
{
	struct worker_msg *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return;
	m->run = wedge_run;
	worker_post(&sv->workers[0], m);
}
#endif

/* --- the loop ---------------------------------------------------------------------- */

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int service_run(struct service *sv, const sigset_t *set)
{
	int sfd = signalfd(-1, set, SFD_CLOEXEC);
	int dfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd == -1 || dfd == -1) {
		log_err("signalfd/eventfd: %s", strerror(errno));
		if (sfd != -1)
			close(sfd);
		if (dfd != -1)
			close(dfd);
		return 1;
	}
	stat_set(&stats.start_ms, loop_wall_ms());
	struct tally tally = { 0 };
	char status[160];
	uint64_t now = loop_clock_ms();
	status_text(sv, &tally, now, status, sizeof(status));
	sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=serving on %s with %d workers", (int)getpid(),
		   sv->cfg->listen[0].text, sv->nworkers);
	uint64_t next_status = now + STATUS_MS, next_ping = now, deadline = UINT64_MAX;
	int stopping = 0, was_stalled = 0;
	for (;;) {
		now = loop_clock_ms();
		if (watchdog_ms && now >= next_ping) {
			uint64_t late = 0;
			int w = stalled_worker(sv, now, watchdog_ms, &late);
			if (w == -1) {
				sd_notify(0, "WATCHDOG=1");
				if (was_stalled)
					log_info("watchdog: every worker turns again");
			} else if (!was_stalled) {
				log_err("watchdog: worker %d has not turned for %llu ms: no more pings", w,
					(unsigned long long)late);
				sd_notifyf(0, "STATUS=worker %d stalled for %llu ms", w, (unsigned long long)late);
			}
			was_stalled = w != -1;
			next_ping = now + watchdog_ms;
		}
		if (now >= next_status) {
			status_text(sv, &tally, now, status, sizeof(status));
			if (!was_stalled)
				sd_notifyf(0, "STATUS=%s%s", stopping ? "stopping: " : "", status);
			next_status = now + STATUS_MS;
		}
		if (now >= deadline) {
			log_info("shutdown_timeout: closing the %d connections still open", worker_connection_count());
			break;
		}
		uint64_t until = earliest(next_status, deadline);
		if (watchdog_ms)
			until = earliest(until, next_ping);
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = dfd, .events = POLLIN } };
		int n = poll(p, 2, until > now ? (int)earliest(until - now, 60000) : 0);
		if (n == -1 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			break;
		}
		if (n <= 0)
			continue;
		if (p[1].revents & POLLIN) {
			log_info("stopped: every connection has ended");
			break;
		}
		struct signalfd_siginfo si;
		if (!(p[0].revents & POLLIN) || read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		int sig = (int)si.ssi_signo;
		if (sig == SIGUSR1) {
			/* logrotate renamed the files; a log that cannot be
			 * reopened goes on in its old file, and we go on. */
			char err[4608];
			if (log_reopen(err, sizeof(err)) == -1)
				log_err("SIGUSR1: reopening the logs: %s", err);
			else
				log_info("logs reopened");
		} else if (sig == SIGHUP) {
			if (stopping)
				log_info("SIGHUP while stopping: ignored");
			else
				reload(sv);
#ifdef SLUICE_TEST_HOOKS
		} else if (sig == SIGUSR2) {
			wedge(sv);
#endif
		} else if (stopping) {
			log_info("signal %d again: stopping now", sig);
			break;
		} else {
			stopping = 1;
			sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: %d connections", worker_connection_count());
			acceptor_free(sv->acc);
			sv->acc = NULL;
			deadline = loop_clock_ms() + sv->cfg->shutdown_timeout;
			log_info("signal %d: stopping: no new connections; waiting up to %u ms for the %d open", sig,
				 sv->cfg->shutdown_timeout, worker_connection_count());
			worker_drain_begin(dfd);
		}
	}
	close(sfd);
	/* dfd stays open: a worker may still write it while it winds down */
	return 0;
}
