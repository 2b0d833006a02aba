/* sluice: a forward HTTP proxy.  See README.md and ../DESIGN.md.
 *
 * The main thread parses the command line and config, opens the listeners
 * and logs, starts the workers and the acceptor, then waits for signals:
 * SIGTERM/SIGINT stop, SIGUSR1 reopens the logs.
 */
#include "sluice/main.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "sluice/acceptor.h"
#include "sluice/config.h"
#include "sluice/log.h"
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

/* Many idle keep-alive clients need many fds: take the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static struct config cfg;
	const char *path = NULL, *listen_arg = NULL, *resolver = NULL;
	int check_only = 0, workers_arg = 0, debug = 0;
	char err[4608];
	int c;
	while ((c = getopt(argc, argv, "c:tw:l:r:dhV")) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': check_only = 1; break;
		case 'w':
			workers_arg = atoi(optarg);
			if (workers_arg < 1 || workers_arg > 1024) {
				fprintf(stderr, "sluice: -w wants a number from 1 to 1024\n");
				return 2;
			}
			break;
		case 'l': listen_arg = optarg; break;
		case 'r': resolver = optarg; break;
		case 'd': debug = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sluice %s\n", SLUICE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	config_defaults(&cfg);
	if (path && config_load(&cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "sluice: %s\n", err);
		return 1;
	}
	if (listen_arg) {
		if (config_parse_listen(listen_arg, &cfg.listen[0]) == -1) {
			fprintf(stderr, "sluice: -l %s: want IPv4:PORT or [IPv6]:PORT\n", listen_arg);
			return 2;
		}
		cfg.nlisten = 1;
	}
	if (cfg.nlisten == 0) {
		config_parse_listen("127.0.0.1:3128", &cfg.listen[0]);
		cfg.nlisten = 1;
	}
	if (resolver)
		snprintf(cfg.resolver, sizeof(cfg.resolver), "%s", resolver);
	if (workers_arg)
		cfg.workers = workers_arg;
	if (debug)
		cfg.log_level = LOG_DEBUG;
	if (config_validate(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "sluice: %s%s%s\n", path ? path : "", path ? ": " : "", err);
		return 1;
	}
	if (check_only) {
		printf("sluice: %s: configuration ok\n", path ? path : "built-in defaults");
		return 0;
	}

	if (log_open(cfg.log_level, cfg.error_log) == -1) {
		fprintf(stderr, "sluice: error_log %s: %s\n", cfg.error_log, strerror(errno));
		return 1;
	}
	int access_fd;
	if (access_log_open(cfg.access_log, &access_fd) == -1) {
		log_err("access_log %s: %s", cfg.access_log, strerror(errno));
		return 1;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	/* Workers and the acceptor inherit this mask; only the main thread
	 * takes signals, synchronously, in sigwaitinfo below. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	struct acceptor *acc = acceptor_new(&cfg, err, sizeof(err));
	if (acc == NULL) {
		log_err("%s", err);
		return 1;
	}
	int nworkers = cfg.workers > 0 ? cfg.workers : cpu_count();
	struct worker *workers = calloc((size_t)nworkers, sizeof(*workers));
	if (workers == NULL) {
		log_err("out of memory");
		return 1;
	}
	int started = 0;
	for (int i = 0; i < nworkers; i++) {
		if (worker_init(&workers[i], i, &cfg, access_fd, err, sizeof(err)) == -1) {
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
		goto stop;
	}
	log_info("sluice %s running with %d worker%s", SLUICE_VERSION, nworkers, nworkers == 1 ? "" : "s");
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s with %d workers\nMAINPID=%d", cfg.listen[0].text,
		   nworkers, (int)getpid());

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig == -1)
			continue;
		if (sig == SIGUSR1) {
			/* logrotate renamed the files; a log that cannot be
			 * reopened goes on in its old file, and we go on. */
			if (log_reopen(err, sizeof(err)) == -1)
				log_err("SIGUSR1: reopening the logs: %s", err);
			else
				log_info("logs reopened");
			continue;
		}
		if (sig == SIGHUP) {
			log_info("SIGHUP: configuration reload is not implemented yet; ignoring");
			continue;
		}
		log_info("signal %d: stopping", sig);
		break;
	}
	sd_notify(0, "STOPPING=1");
stop:
	acceptor_free(acc);
	for (int i = 0; i < started; i++) {
		worker_stop(&workers[i]);
		worker_destroy(&workers[i]);
	}
	free(workers);
	access_log_close();
	return started == nworkers ? 0 : 1;
}
