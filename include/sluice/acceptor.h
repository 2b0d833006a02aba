/* acceptor: the listening sockets and the thread that accepts on them.
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

/* Bind and listen on every address cfg (a snapshot: config_new) lists; the
 * acceptor keeps a reference to cfg until acceptor_free.  NULL with err
 * filled. */
struct acceptor *acceptor_new(const struct config *cfg, char *err, size_t errlen);
/* Start the accept thread handing sockets to workers[0..n), within
 * worker_limits() (set before). */
int acceptor_start(struct acceptor *a, struct worker *workers, int n);
/* The addresses the listeners are bound to, in listen-line order (a port 0
 * in a listen line is the port the kernel chose): *addrs, and how many.
 * Set by acceptor_new before any worker runs; the loop guard reads it. */
int acceptor_bound(const union sockaddr_any **addrs);
/* Stop accepting, join the thread, close the listeners, free. */
void acceptor_free(struct acceptor *a);

#endif
