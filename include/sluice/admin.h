/* admin: the admin listener's connections ("admin ADDRESS:PORT"), served by
 * the workers like any other connection, never proxied.
 *
 *   GET /metrics   Prometheus text exposition (metrics.h: every worker's
 *                  counters added up at scrape time)
 *   GET /healthz   200 "ok" while every worker's loop turns, 503 with the
 *                  reason otherwise (also while stopping)
 *
 * One request per connection (the answer says Connection: close); only GET
 * and HEAD; a head over 4 KiB gets 431; any other path 404.  Only clients
 * in admin_allow (loopback by default) get an answer: anyone else is closed
 * unanswered.  A connection gets header_timeout to send its request.
 */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

struct worker;
struct handoff;

/* Take over an accepted admin connection (w's thread).  0, or -1 with the
 * socket closed and nothing registered. */
int admin_start(struct worker *w, const struct handoff *h);

#endif
