/* session: one client connection and the server connection serving it.
 *
 * The worker starts a session for each socket the acceptor hands it; from
 * then on the session is driven by its sockets' events and its timer, and
 * ends by itself (worker_conn_closed tells the worker, which frees it after
 * the batch of events).  Its parts (session.c, exchange.c, route.c,
 * transparent.c, record.c), its states and the flow of bytes are described
 * in src/session_int.h and src/ARCHITECTURE.md.
 */
#ifndef SLUICE_SESSION_H
#define SLUICE_SESSION_H

#include "sluice/config.h"
#include "sluice/dns.h"

struct worker;
struct session;
struct handoff;

/* Take ownership of an accepted, non-blocking client socket (h: its
 * listener's id and kind, whether a PROXY header comes first, the peer);
 * the session takes a reference to the worker's newest config snapshot
 * (between exchanges it moves to a newer one) and registers with the worker
 * (worker_conn_add).  Returns 0, or -1 (fd closed, nothing registered) when
 * out of memory, when epoll refuses it, or when a redirected TLS connection
 * was not redirected at all or goes to the gateway itself. */
int session_start(struct worker *w, const struct handoff *h);

/* Free what the session module keeps in w for reuse; its sessions are gone. */
void session_worker_done(struct worker *w);

/* The session states' names for the metrics (metrics.h states[i]), NULL
 * past the last. */
const char *session_state_name(unsigned i);

#endif
