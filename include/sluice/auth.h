/* auth: proxy authentication (Basic, RFC 9110 11) against an htpasswd
 * file, with the slow part, the hash check, off the reactor threads.
 *
 *   worker: auth_cache_find ──hit──> the user, or a failure seen lately
 *      └ miss: auth_submit ──> an auth thread: htpasswd_check
 *                                  └──worker_post──> job->done, on the worker
 *
 * One table of users for the process (auth_start), re-read when the file
 * changes: an auth thread looks every 2 s, and a file that fails to load
 * leaves the previous users in place (the error log says why).  Each
 * worker keeps its own cache of answers (struct auth_cache, no locks),
 * keyed by the whole Proxy-Authorization value, and of the checks in
 * flight, so that a burst of connections with one login waits for one
 * check: successes for
 * auth_cache_ttl, failures for AUTH_FAIL_TTL_MS, none from before the file
 * changed.  A client address with AUTH_GUARD_FAILS failures within
 * AUTH_GUARD_WINDOW_MS is answered AUTH_GUARD_DELAY_MS late from then on
 * (brute force), other clients not at all.
 */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/dns.h"		/* union sockaddr_any */
#include "sluice/htpasswd.h"
#include "sluice/worker.h"

#define AUTH_VALUE_MAX 512	/* longest Proxy-Authorization value taken */
#define AUTH_PASSWORD_MAX 255
#define AUTH_FAIL_TTL_MS 5000
#define AUTH_GUARD_FAILS 10
#define AUTH_GUARD_WINDOW_MS 60000
#define AUTH_GUARD_DELAY_MS 1000
#define AUTH_QUEUE_MAX 4096	/* checks waiting for a thread, all workers together */

/* One check, from a worker to an auth thread and back. */
struct auth_job {
	struct worker_msg msg;			/* how the answer comes back */
	void *owner;				/* the askers (the first of a list the
						   caller keeps); NULL: all gave up */
	struct worker *w;
	atomic_int abandoned;			/* set by the worker when no asker is
						   left: the thread skips the check */
	unsigned gen;				/* auth_generation() of the answer */
	int ok;					/* the answer */
	int unchecked;				/* ok is no answer: never checked */
	char value[AUTH_VALUE_MAX + 1];		/* for the cache */
	char user[HTPASSWD_USER_MAX + 1];
	char password[AUTH_PASSWORD_MAX + 1];
};

/* Load path and start that many checking threads.  0, or -1 with err ("path:line:
 * what" for a bad line).  auth_stop: join them; jobs still queued go back
 * to their workers unanswered (ok 0). */
int auth_start(const char *path, int threads, char *err, size_t errlen);
void auth_stop(void);
/* Read the users' file again now (SIGHUP), not at the next look. */
void auth_reload(void);

/* Changes whenever the users change (a reloaded file). */
unsigned auth_generation(void);

/* Hand job (value, user, password, w, msg.run, owner set) to an auth
 * thread; its answer comes back through worker_post.  0, or -1 (the job
 * is still the caller's) when AUTH_QUEUE_MAX checks wait already. */
int auth_submit(struct auth_job *job);

/* "Basic base64(user:password)" (the scheme without case; RFC 7617).
 * 0 with user and password filled, or -1 with why. */
int auth_parse_basic(const char *v, size_t len, char *user, size_t usize, char *password, size_t psize,
		     const char **why);

/* The brute-force guard (any thread). */
void auth_client_failed(const union sockaddr_any *client, uint64_t now_ms);
int auth_client_slowed(const union sockaddr_any *client, uint64_t now_ms);

/* --- a worker's cache ------------------------------------------------------- */

struct auth_cache;

/* Room for size answers (the oldest go first); NULL when out of memory. */
struct auth_cache *auth_cache_new(uint32_t size);
void auth_cache_free(struct auth_cache *c);

/* The answer for value: 1 good (*user: the name, valid until the next
 * call on c), 0 bad, -1 not known (never seen, expired, or from before
 * generation gen), AUTH_PENDING when a check of it is in flight (*job:
 * the one to wait for). */
#define AUTH_PENDING 2
int auth_cache_find(struct auth_cache *c, const char *value, size_t len, uint64_t now_ms, unsigned gen,
		    const char **user, struct auth_job **job);
/* Note that job checks value, until ttl_ms from now or until the answer
 * is put: others asking meanwhile wait for it instead of asking again. */
void auth_cache_pending(struct auth_cache *c, const char *value, size_t len, struct auth_job *job, uint64_t now_ms,
			uint32_t ttl_ms);
/* Forget what is known of value (a check that came back unchecked). */
void auth_cache_forget(struct auth_cache *c, const char *value, size_t len);
/* Remember an answer for ttl_ms. */
void auth_cache_put(struct auth_cache *c, const char *value, size_t len, const char *user, int ok, uint64_t now_ms,
		    uint32_t ttl_ms, unsigned gen);

#endif
