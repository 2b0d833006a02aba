/* sluice: a forward HTTP proxy.  See README.md and src/ARCHITECTURE.md.
 *
 * The main thread parses the command line, builds and publishes the config
 * snapshot, opens the logs and listeners (or takes systemd's), starts the
 * workers and the acceptor, then runs the service (service.c: signals,
 * reload, graceful stop, the watchdog) until it stops.
 */
#include "sluice/main.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "sluice/acceptor.h"
#include "sluice/auth.h"
#include "sluice/client_limit.h"
#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/service.h"
#include "sluice/worker.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice [-c FILE] [-t] [-w N] [-l ADDR:PORT] [-r SERVERS] [-d] [-h] [-V]\n"
		"  -c FILE        read the config file (directives: systemd/sluice.conf)\n"
		"  -t             check the config and exit\n"
		"  -w N           worker threads (default: one per CPU)\n"
		"  -l ADDR:PORT   listen here instead of the config's listeners\n"
		"  -r SERVERS     DNS servers, e.g. 127.0.0.1:5353 (default: /etc/resolv.conf)\n"
		"  -d             debug logging\n"
		"  -h             this help\n"
		"  -V             version\n"
		"Without -c, sluice runs on built-in defaults: listen 127.0.0.1:3128.\n");
}

static int cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Many idle keep-alive clients need many fds: take the hard limit.
 * Returns the limit in force then, for the fd budget (worker.h). */
static long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)INT_MAX ? INT_MAX : (long)rl.rlim_cur;
}

/* What the command line asks for, applied over the config file. */
struct options {
	const char *path;		/* -c; NULL: built-in defaults */
	struct listen_cfg listen;	/* -l, when has_listen */
	int has_listen;
	const char *resolver;		/* -r */
	int workers;			/* -w; 0: as configured */
	int debug;			/* -d */
};

/* A validated snapshot: defaults, then the file, then the command line.
 * NULL with "what is wrong" in err.  A reload builds its snapshot the same
 * way (struct service.build). */
static struct config *build_config(void *arg, char *err, size_t errlen)
{
	const struct options *o = arg;
	struct config *snap = config_new();
	if (snap == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (o->path && config_load(snap, o->path, err, errlen) == -1)
		goto fail;
	if (o->has_listen) {
		snap->listen[0] = o->listen;
		snap->nlisten = 1;
	}
	if (snap->nlisten == 0) {
		config_parse_listen("127.0.0.1:3128", &snap->listen[0]);
		snap->nlisten = 1;
	}
	if (o->resolver)
		snprintf(snap->resolver, sizeof(snap->resolver), "%s", o->resolver);
	if (o->workers)
		snap->workers = o->workers;
	if (o->debug)
		snap->log_level = LOG_DEBUG;
	char why[4096];
	if (config_complete(snap, why, sizeof(why)) == -1 || config_validate(snap, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s%s%s", o->path ? o->path : "", o->path ? ": " : "", why);
		goto fail;
	}
	return snap;
fail:
	config_unref(snap);
	return NULL;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	int check_only = 0;
	char err[4608];
	int c;
	while ((c = getopt(argc, argv, "c:tw:l:r:dhV")) != -1) {
		switch (c) {
		case 'c': o.path = optarg; break;
		case 't': check_only = 1; break;
		case 'w':
			o.workers = atoi(optarg);
			if (o.workers < 1 || o.workers > 1024) {
				fprintf(stderr, "sluice: -w wants a number from 1 to 1024\n");
				return 2;
			}
			break;
		case 'l':
			if (config_parse_listen(optarg, &o.listen) == -1) {
				fprintf(stderr, "sluice: -l %s: want IPv4:PORT or [IPv6]:PORT\n", optarg);
				return 2;
			}
			o.has_listen = 1;
			break;
		case 'r': o.resolver = optarg; break;
		case 'd': o.debug = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sluice %s\n", SLUICE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct config *snap = build_config(&o, err, sizeof(err));
	if (snap == NULL) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("sluice: %s: configuration ok\n", o.path ? o.path : "built-in defaults");
		config_unref(snap);
		return 0;
	}
	if (log_open(snap->log_level, snap->error_log) == -1) {
		fprintf(stderr, "sluice: error_log %s: %s\n", snap->error_log, strerror(errno));
		config_unref(snap);
		return 1;
	}
	int access_fd;
	if (access_log_open(snap->access_log, &access_fd) == -1) {
		log_err("access_log %s: %s", snap->access_log, strerror(errno));
		config_unref(snap);
		return 1;
	}
	long nofile = raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	/* Workers and the acceptor inherit this mask; only the main thread
	 * takes signals (service_run). */
	sigset_t set;
	service_block_signals(&set);

	/* systemd's sockets (socket activation), matched to listen lines by
	 * address; the acceptor writes each line's listener into snap, so it
	 * is published after */
	int ninherited = sd_listen_fds(1);
	if (ninherited < 0) {
		log_err("sd_listen_fds: %s", strerror(-ninherited));
		config_unref(snap);
		return 1;
	}
	int inherited[CONFIG_MAX_LISTEN + 1];
	for (int i = 0; i < ninherited && i <= CONFIG_MAX_LISTEN; i++)
		inherited[i] = SD_LISTEN_FDS_START + i;
	struct acceptor *acc = acceptor_new(snap, inherited, ninherited, err, sizeof(err));
	if (acc == NULL) {
		log_err("%s", err);
		config_unref(snap);
		return 1;
	}
	config_publish(snap);
	const struct config *cfg = config_acquire(); /* main's own, until exit */

	int nworkers = cfg->workers > 0 ? cfg->workers : cpu_count();
	struct worker *workers = calloc((size_t)nworkers, sizeof(*workers));
	if (workers == NULL) {
		log_err("out of memory");
		return 1;
	}
	struct worker_limits lim;
	if (worker_limits_plan(cfg, nworkers, nofile, &lim, err, sizeof(err)) == -1) {
		log_err("%s", err);
		return 1;
	}
	worker_limits_set(workers, nworkers, &lim);
	if (client_limit_init(cfg->max_connections_per_client, (uint32_t)lim.max_connections) == -1) {
		log_err("out of memory");
		return 1;
	}
	if (cfg->auth_basic[0] && auth_start(cfg->auth_basic, (int)cfg->auth_threads, err, sizeof(err)) == -1) {
		log_err("auth_basic: %s", err);
		return 1;
	}
	uint64_t wd = service_watchdog_setup();
	int started = 0, failed = 0;
	for (int i = 0; i < nworkers; i++) {
		if (worker_init(&workers[i], i, cfg, access_fd, err, sizeof(err)) == -1) {
			log_err("worker %d: %s", i, err);
			goto stop;
		}
		if (worker_start(&workers[i]) == -1) {
			log_err("worker %d: pthread_create: %s", i, strerror(errno));
			worker_destroy(&workers[i]);
			goto stop;
		}
		started++;
	}
	if (acceptor_start(acc, workers, nworkers) == -1) {
		log_err("acceptor: pthread_create: %s", strerror(errno));
		failed = 1;
		goto stop;
	}
	log_info("sluice %s running with %d worker%s%s", SLUICE_VERSION, nworkers, nworkers == 1 ? "" : "s",
		 wd ? " (watchdog on)" : "");
	struct service sv = {
		.acc = acc,
		.workers = workers,
		.nworkers = nworkers,
		.cfg = cfg,
		.source = o.path ? o.path : "built-in defaults",
		.build = build_config,
		.build_arg = &o,
	};
	failed = service_run(&sv, &set);
	acc = sv.acc;
	cfg = sv.cfg;
stop:
	acceptor_free(acc);
	for (int i = 0; i < started; i++)
		worker_stop(&workers[i]);
	/* checks still queued go back to their workers, which free them */
	if (cfg->auth_basic[0])
		auth_stop();
	for (int i = 0; i < started; i++)
		worker_destroy(&workers[i]);
	free(workers);
	client_limit_free();
	access_log_close();
	config_unref(cfg);
	config_publish(NULL);
	return failed || started != nworkers ? 1 : 0;
}
