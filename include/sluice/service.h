/* service: the running proxy's life as a system service, on the main
 * thread once the workers and the acceptor run.
 *
 *   SIGHUP          reload: build and validate a new snapshot, keep the
 *                   listeners it still names, publish it (sd_notify
 *                   RELOADING=1, then READY=1); a config that fails leaves
 *                   the running one, and STATUS= says why
 *   SIGTERM/SIGINT  graceful stop (STOPPING=1): stop accepting, let every
 *                   exchange in flight finish with Connection: close, close
 *                   idle connections, give tunnels shutdown_timeout; a
 *                   second signal stops at once
 *   SIGUSR1         reopen both logs (logrotate)
 *
 * With WATCHDOG_USEC set (the unit's WatchdogSec=), WATCHDOG=1 goes out
 * every half period only while every worker's loop turned within it, so
 * systemd restarts a service with a wedged worker.  STATUS= carries one
 * line: connections, tunnels, requests per second.
 */
#ifndef SLUICE_SERVICE_H
#define SLUICE_SERVICE_H

#include <signal.h>
#include <stddef.h>

#include "sluice/acceptor.h"
#include "sluice/config.h"
#include "sluice/worker.h"

struct service {
	struct acceptor *acc;
	struct worker *workers;
	int nworkers;
	const struct config *cfg;	/* main's reference to the current snapshot */
	const char *source;		/* the config file, for messages */
	/* A validated snapshot built the way start-up built its own (defaults,
	 * the file and everything it names, the command line); NULL with
	 * "file:line: what" in err. */
	struct config *(*build)(void *arg, char *err, size_t errlen);
	void *build_arg;
};

/* Reloads so far and the last one's outcome (main thread writes; any
 * thread reads). */
struct service_stats {
	stat_t reloads_ok, reloads_failed;
	stat_t last_reload_ok;		/* 1: the last reload applied (or none yet) */
	stat_t last_reload_ms;		/* wall clock of the last one; 0: none */
	stat_t start_ms;		/* wall clock when the service began */
};
const struct service_stats *service_stats(void);

/* Before any thread starts: block the signals the service takes (threads
 * inherit the mask; only service_run takes them). */
void service_block_signals(sigset_t *set);

/* From the moment the workers and the acceptor run: tells systemd READY=1,
 * then serves signals, the watchdog and the status line until stopped.
 * Returns with the acceptor freed (sv->acc NULL) and the workers still to
 * be stopped; 0 for a stop asked for. */
int service_run(struct service *sv, const sigset_t *set);

/* The watchdog's half period and the workers' tick for it, from
 * WATCHDOG_USEC (0 when unset); call before the workers start. */
uint64_t service_watchdog_setup(void);

#endif
