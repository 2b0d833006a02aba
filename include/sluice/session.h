/* session: one client connection and the upstream connection serving it.
 * The state machine and the flow of bytes are described in src/session.c.
 */
#ifndef SLUICE_SESSION_H
#define SLUICE_SESSION_H

#include "sluice/config.h"
#include "sluice/dns.h"

struct worker;
struct session;

/* Take ownership of an accepted, non-blocking client socket that arrived on
 * a listener of the given kind.  Returns 0, or -1 (fd closed) when out of
 * memory, when epoll refuses it, or when a redirected TLS connection was not
 * redirected at all. */
int session_start(struct worker *w, int fd, const union sockaddr_any *peer, enum listen_kind kind);

/* Close a session now (worker shutdown); freed by session_reap(). */
void session_abort(struct session *s);
/* Free the sessions closed during the last batch of events. */
void session_reap(struct worker *w);

#endif
