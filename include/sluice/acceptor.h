/* acceptor: the listening sockets and the thread that accepts on them.
 *
 * The sockets are opened from the listen lines, or taken from systemd
 * (socket activation), and kept across reloads while a listen line names
 * their address, each with an id that sessions use to find their listen
 * line in whichever config snapshot they hold.
 *
 * Accepted sockets go round-robin to the workers.  At max_connections
 * (lowered at start to fit RLIMIT_NOFILE, worker.h) or out of room in the
 * fd budget the acceptor stops watching its listeners for a moment instead
 * of spinning on an accept that cannot succeed; out of room, it first asks
 * the workers to close idle descriptors (worker_fds_reclaim), so idle
 * pooled connections never keep a client out.  EMFILE/ENFILE from accept
 * (a limit lowered under it) pause it too.
 */
#ifndef SLUICE_ACCEPTOR_H
#define SLUICE_ACCEPTOR_H

#include "sluice/config.h"
#include "sluice/worker.h"

struct acceptor;

/* Listen on every address cfg (a snapshot not yet published) lists: the
 * sockets systemd passed (inherited[0..n), sd_listen_fds) where one is
 * bound to a listen line's address, new ones for the rest.  Writes each
 * line's listener id and bound address into cfg (listen_cfg.id, .bound).
 * The acceptor keeps a reference to cfg until acceptor_free.  NULL with
 * err filled, naming a passed socket that matches no listen line. */
struct acceptor *acceptor_new(struct config *cfg, const int *inherited, int ninherited, char *err, size_t errlen);
/* Start the accept thread handing sockets to workers[0..n), within
 * worker_limits() (set before). */
int acceptor_start(struct acceptor *a, struct worker *workers, int n);

/* A reload, in two steps around publishing cfg (main thread only):
 * acceptor_prepare matches cfg's listen lines to the sockets open now by
 * address (kept: no connection refused, no backlog lost), opens the new
 * ones and fills cfg's ids and bound addresses; 0, or -1 with err (then
 * nothing changed: a bind failed, or a socket systemd passed would lose
 * its line).  Then acceptor_commit puts the plan in place: a listener no
 * line names any more is closed once every connection in its backlog was
 * handed off. */
int acceptor_prepare(struct acceptor *a, struct config *cfg, char *err, size_t errlen);
void acceptor_commit(struct acceptor *a);

/* Why accepting paused or a client was turned away (written by the accept
 * thread, readable from any: stats.h). */
struct acceptor_stats {
	stat_t paused_connections;	/* at max_connections */
	stat_t paused_fds;		/* out of room in the fd budget */
	stat_t paused_errors;		/* accept4 failed: EMFILE, ENFILE, ENOBUFS, ENOMEM */
	stat_t refused_per_client;	/* over max_connections_per_client */
};
const struct acceptor_stats *acceptor_stats(void);

/* Stop accepting, join the thread, close the listeners, free. */
void acceptor_free(struct acceptor *a);

#endif
