/* proxy_auth: a request's Proxy-Authorization checked (include/sluice/auth.h
 * has the threads and the cache).
 *
 *   request head ──no auth_basic, or a transparent listener──> the rules
 *        │ no or malformed credentials ──> 407
 *        │ in the worker's cache: good ──> the rules (x.user); bad ──> 407
 *        └ not there ──auth_submit──> S_AUTH ──answer (on_checked)──> cache, then
 *                                      │          the rules or 407
 *                                      └ auth_timeout ──> 503
 *
 * A 407 for a client that failed too often lately waits in S_AUTH for
 * AUTH_GUARD_DELAY_MS first (the brute-force guard); nobody else waits.
 *
 * Part of the session module (see session_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_int.h"
#include "sluice/log.h"

/* The 407 itself: the realm to log in to, and the connection kept when
 * nothing of the request is left unread (a client retries on it). */
static void reply_407(struct session *s, const char *why)
{
	char extra[200];
	snprintf(extra, sizeof(extra), "Proxy-Authenticate: Basic realm=\"%s\"\r\n", s->cfg->auth_realm);
	s->x->rec.denied = 1;
	exchange_reply(s, 407, why, extra, 1);
}

/* Refuse now, or after AUTH_GUARD_DELAY_MS for a client that failed too
 * often lately. */
static void refuse(struct session *s, const char *why)
{
	uint64_t now = loop_now(s->w->loop);
	stat_inc(&s->w->m.auth_failed);
	if (auth_client_slowed(&s->peer, now)) {
		s->x->rec.reason = why;
		s->x->auth_late = 1;
		session_state(s, S_AUTH);
		s->phase_start = now;
		return;
	}
	reply_407(s, why);
}

static void take_user(struct session *s, const char *user)
{
	/* both hold at most HTPASSWD_USER_MAX bytes: no need for snprintf's
	 * cost on every request */
	size_t n = strnlen(user, sizeof(s->x->user) - 1);
	memcpy(s->x->user, user, n);
	s->x->user[n] = '\0';
	s->x->rec.user = s->x->user;
}

/* Wait in S_AUTH for job's answer (with whoever waits for it already). */
static void wait_for_check(struct session *s, struct auth_job *job, uint64_t now)
{
	/* a check everyone had given up on is wanted again (a thread that
	 * skipped it already sends it back unchecked: on_checked asks anew) */
	atomic_store_explicit(&job->abandoned, 0, memory_order_relaxed);
	s->x->auth_next = job->owner;
	job->owner = s;
	s->x->auth_job = job;
	session_state(s, S_AUTH);
	s->phase_start = now;
}

/* An auth thread's answer, on the worker's thread: into the cache (the
 * pending check it replaces was noted there), then to every session
 * waiting for it. */
static void on_checked(struct worker *w, struct worker_msg *m)
{
	struct auth_job *job = (struct auth_job *)m;
	uint64_t now = loop_now(w->loop);
	if (job->unchecked) {
		/* skipped while nobody waited (or the threads stopped): someone
		 * may wait again since; its turn comes anew */
		if (w->auth_cache)
			auth_cache_forget(w->auth_cache, job->value, strlen(job->value));
		if (job->owner != NULL) {
			job->unchecked = 0;
			atomic_store_explicit(&job->abandoned, 0, memory_order_relaxed);
			if (auth_submit(job) == 0) {
				auth_cache_pending(w->auth_cache, job->value, strlen(job->value), job, now,
						   w->cfg->auth_timeout);
				return;
			}
			for (struct session *s = job->owner, *next; s; s = next) {
				next = s->x->auth_next;
				s->x->auth_job = NULL;
				s->x->auth_next = NULL;
				if (s->state != S_AUTH)
					continue; /* (not expected: exchange_reply cancels) */
				exchange_error(s, 503, "too many logins waiting to be checked");
				session_pump(s);
			}
		}
		explicit_bzero(job->password, sizeof(job->password));
		free(job);
		return;
	}
	if (w->auth_cache)
		auth_cache_put(w->auth_cache, job->value, strlen(job->value), job->user, job->ok, now,
			       job->ok ? w->cfg->auth_cache_ttl : AUTH_FAIL_TTL_MS, job->gen);
	if (!job->ok && job->owner) {
		char a[80];
		struct session *first = job->owner;
		log_info("client %s: user %s: wrong user or password", log_addr(&first->peer.sa, a, sizeof(a)),
			 job->user);
	}
	for (struct session *s = job->owner, *next; s; s = next) {
		next = s->x->auth_next;
		s->x->auth_job = NULL;
		s->x->auth_next = NULL;
		/* a session that answered or closed meanwhile left the list
		 * (exchange_reply, session_close); one still on it and not
		 * waiting any more must not be routed by a late "good" */
		if (s->state != S_AUTH)
			continue;
		if (job->ok) {
			stat_inc(&w->m.auth_ok);
			take_user(s, job->user);
			exchange_checks_done(s);
		} else {
			auth_client_failed(&s->peer, now);
			refuse(s, "wrong user or password");
		}
		session_pump(s);
	}
	explicit_bzero(job->password, sizeof(job->password));
	free(job);
}

int proxy_auth_check(struct session *s, const struct http_head *h)
{
	const struct config *cfg = s->cfg;
	if (cfg->auth_basic[0] == '\0' || s->tp)
		return 0; /* no way to ask a redirected client for a login */
	int i = http_find(h, "Proxy-Authorization");
	if (i < 0) {
		refuse(s, "proxy authentication required");
		return -1;
	}
	const char *v = h->raw + h->hdr[i].value.off;
	size_t len = h->hdr[i].value.len;
	if (len > AUTH_VALUE_MAX) {
		refuse(s, "Proxy-Authorization too long");
		return -1;
	}
	uint64_t now = loop_now(s->w->loop);
	const char *user;
	struct auth_job *pending;
	int known = auth_cache_find(s->w->auth_cache, v, len, now, auth_generation(), &user, &pending);
	if (known == AUTH_PENDING) {
		wait_for_check(s, pending, now); /* the same login is being checked: its answer is ours */
		return 1;
	}
	if (known == 1) {
		stat_inc(&s->w->m.auth_cached);
		take_user(s, user);
		return 0;
	}
	if (known == 0) {
		auth_client_failed(&s->peer, now);
		refuse(s, "wrong user or password");
		return -1;
	}
	struct auth_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		exchange_error(s, 503, "out of memory");
		return -1;
	}
	const char *why;
	if (auth_parse_basic(v, len, job->user, sizeof(job->user), job->password, sizeof(job->password), &why) == -1) {
		free(job);
		refuse(s, why);
		return -1;
	}
	memcpy(job->value, v, len);
	job->value[len] = '\0';
	job->msg.run = on_checked;
	job->w = s->w;
	if (auth_submit(job) == -1) {
		/* the threads are that far behind: no more waiting in line */
		explicit_bzero(job->password, sizeof(job->password));
		free(job);
		exchange_error(s, 503, "too many logins waiting to be checked");
		return -1;
	}
	wait_for_check(s, job, now);
	auth_cache_pending(s->w->auth_cache, v, len, job, now, cfg->auth_timeout);
	return 1;
}

void proxy_auth_timeout(struct session *s)
{
	if (s->x->auth_late) {
		s->x->auth_late = 0;
		reply_407(s, s->x->rec.reason ? s->x->rec.reason : "wrong user or password");
		return;
	}
	proxy_auth_cancel(s);
	exchange_error(s, 503, "the login could not be checked in time");
}

void proxy_auth_cancel(struct session *s)
{
	if (s->x == NULL)
		return;
	struct auth_job *job = s->x->auth_job;
	if (job) {
		/* off the job's list of waiters; with none left, its answer
		 * still fills the cache, and the worker frees it */
		struct session **pp = (struct session **)&job->owner;
		while (*pp && *pp != s)
			pp = &(*pp)->x->auth_next;
		if (*pp)
			*pp = s->x->auth_next;
		if (job->owner == NULL)
			atomic_store_explicit(&job->abandoned, 1, memory_order_relaxed);
		s->x->auth_job = NULL;
		s->x->auth_next = NULL;
	}
	s->x->auth_late = 0;
}
