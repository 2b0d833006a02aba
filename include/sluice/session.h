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

/* Take ownership of an accepted, non-blocking client socket that arrived on
 * listen line number listener, of the given kind; the session takes a reference to the
 * worker's current config snapshot and registers with the worker
 * (worker_conn_add).  Returns 0, or -1 (fd closed, nothing registered) when
 * out of memory, when epoll refuses it, or when a redirected TLS connection
 * was not redirected at all or goes to the gateway itself. */
int session_start(struct worker *w, int fd, const union sockaddr_any *peer, int listener, enum listen_kind kind);

#endif
