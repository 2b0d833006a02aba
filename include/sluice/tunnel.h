/* tunnel: the byte relay behind CONNECT and Upgrade, and the pipe pool.
 *
 * Each direction splices socket -> pipe -> socket (SPLICE_F_MOVE |
 * SPLICE_F_NONBLOCK): the bytes never enter user space.  Bytes that were
 * already read (a ClientHello behind the CONNECT head, frames behind a 101)
 * are sent first from the caller's buffer.  Where splice is refused for a
 * socket, that direction falls back to recv/send through a buffer.
 *
 * A pipe is taken from the worker's pool only while a direction has bytes
 * to move and goes back as soon as it is empty, so an idle tunnel holds
 * none; a pipe that still holds bytes is closed, never pooled.
 *
 * EOF on one side becomes shutdown(SHUT_WR) on the other once that
 * direction's pipe is drained; the tunnel is done when both directions are.
 */
#ifndef SLUICE_TUNNEL_H
#define SLUICE_TUNNEL_H

#include <stdint.h>

#include "sluice/buf.h"

struct pipe_pool;

/* A pool keeping at most max idle pipes (each with its two fds). */
struct pipe_pool *pipe_pool_new(uint32_t max);
void pipe_pool_free(struct pipe_pool *pp);
uint32_t pipe_pool_idle(const struct pipe_pool *pp);

/* One direction: from -> to.  The readiness flags belong to the caller's
 * sockets (set on epoll events, cleared here on EAGAIN); the pipe and the
 * buffer are the relay's own. */
struct relay {
	int from, to;
	uint8_t *from_rd, *to_wr;
	int pipe[2];		/* -1 when none is held */
	uint32_t in_pipe;	/* bytes in the pipe */
	struct buf *buf;	/* bytes read before the relay began go out first,
				   and the recv/send fallback moves bytes through it;
				   NULL while idle */
	uint8_t eof;		/* from has ended */
	uint8_t done;		/* ... and every byte reached to, which was shut */
	uint8_t no_splice;	/* recv/send instead */
	uint64_t bytes;		/* delivered to `to` */
};

enum relay_result {
	RELAY_IDLE,	/* nothing more can move until an event */
	RELAY_MORE,	/* stopped to let others run: call again soon */
	RELAY_ERROR,	/* a socket failed (errno set): close the tunnel */
};

/* Set up a direction.  pending: bytes already read from `from` in
 * [start, end), or NULL; the relay owns that buffer from now on.
 * force_copy: never splice (tests, and sockets that refuse it). */
void relay_init(struct relay *r, int from, int to, uint8_t *from_rd, uint8_t *to_wr,
		struct buf *pending, int force_copy);

/* Move what can move now without blocking.  Buffers for the fallback come
 * from bp; pipes from pp.  *moved is set when any byte moved. */
enum relay_result relay_move(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp, int *moved);

/* Give back the pipe (closed if it still holds bytes) and the buffer. */
void relay_release(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp);

#endif
