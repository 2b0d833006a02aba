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
 * Pipe memory is bounded per worker (the pool's budget, bytes of pipe
 * capacity in use and idle): a pipe holds at most its capacity, so the
 * budget bounds what stalled tunnels pin in the kernel too.
 *
 *   - A direction splices in at most `fill` bytes at a time: 64 KiB at
 *     first, doubled (up to 1 MiB) each time the sink takes a whole fill
 *     without blocking, and cut to twice what the sink took when it blocks.
 *     So a direction never puts much more into its pipe than its sink took
 *     recently.
 *   - Its pipe is sized to the fill: larger than the kernel's default
 *     (64 KiB) only while all pipes together stay within half the budget,
 *     the default while they stay within the budget, one page beyond it.
 *   - A direction whose sink blocked gives its pipe back as soon as the
 *     pipe is empty, and the next one it takes is sized afresh.
 *
 * Descriptors: the pool asks its owner before it opens a pipe (the
 * worker's fd budget); without one, that burst is copied through a buffer.
 *
 * EOF on one side becomes shutdown(SHUT_WR) on the other once that
 * direction's pipe is drained; the tunnel is done when both directions are.
 */
#ifndef SLUICE_TUNNEL_H
#define SLUICE_TUNNEL_H

#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/stats.h"

#define PIPE_MEMORY_DEFAULT (64u << 20) /* per worker, when tunnel_pipe_memory is 0 (auto) */

struct pipe_pool;

/* A pool keeping at most max idle pipes (each with its two fds), with no
 * memory budget and no descriptor gate until they are set. */
struct pipe_pool *pipe_pool_new(uint32_t max);
void pipe_pool_free(struct pipe_pool *pp);

/* Bound the capacity of the pool's pipes, in use and idle together, to
 * budget bytes; largest: the biggest pipe to ask the kernel for (0: 1 MiB;
 * an unprivileged process may not go above fs.pipe-max-size). */
void pipe_pool_set_budget(struct pipe_pool *pp, uint64_t budget, uint32_t largest);

/* may_open(arg, n): may n more descriptors be opened now?  Asked before
 * each new pipe; NULL (the default): always. */
void pipe_pool_set_gate(struct pipe_pool *pp, int (*may_open)(void *arg, int n), void *arg);

/* Keep at most keep idle pipes from now on (at most the pool's max);
 * the ones beyond are closed.  Returns the descriptors closed. */
uint32_t pipe_pool_keep(struct pipe_pool *pp, uint32_t keep);

/* Any thread (stats.h): idle pipes; descriptors held by the pool's pipes,
 * in use and idle; their capacity in bytes. */
uint32_t pipe_pool_idle(const struct pipe_pool *pp);
uint64_t pipe_pool_fds(const struct pipe_pool *pp);
uint64_t pipe_pool_bytes(const struct pipe_pool *pp);

/* What the kernel lets this process do with pipes. */
struct pipe_quota {
	int privileged;		/* CAP_SYS_RESOURCE or CAP_SYS_ADMIN: no per-user quota */
	uint64_t user_pages;	/* fs.pipe-user-pages-soft (else -hard); 0: no quota */
	uint32_t max_size;	/* fs.pipe-max-size: the largest pipe without privilege */
	uint32_t page;		/* bytes in a page */
};

/* Read the above from /proc (missing files: no quota, 1 MiB). */
void pipe_quota_probe(struct pipe_quota *q);

/* The pipe budget of each of nworkers workers: configured bytes (0: the
 * default), within an unprivileged user's quota shared by the workers
 * (three quarters of each share: pipes beyond the budget take a page
 * each, and the user's other processes have pipes too).  *lowered is set
 * when the quota cut a configured value. */
uint64_t pipe_budget_per_worker(uint64_t configured, int nworkers, const struct pipe_quota *q, int *lowered);

/* One direction: from -> to.  The readiness flags belong to the caller's
 * sockets (set on epoll events, cleared here on EAGAIN); the pipe and the
 * buffer are the relay's own. */
struct relay {
	int from, to;
	uint8_t *from_rd, *to_wr;
	int pipe[2];		/* -1 when none is held */
	uint32_t pipe_cap;	/* its capacity, bytes */
	uint32_t in_pipe;	/* bytes in the pipe */
	uint32_t fill;		/* the most one splice-in may take */
	uint32_t filled;	/* what the last splice-in took */
	uint32_t since_fill;	/* what the sink took since then */
	struct buf *buf;	/* bytes read before the relay began go out first,
				   and the recv/send fallback moves bytes through it;
				   NULL while idle */
	uint8_t eof;		/* from has ended */
	uint8_t done;		/* ... and every byte reached to, which was shut */
	uint8_t no_splice;	/* recv/send instead */
	uint8_t blocked;	/* the sink blocked since the last splice-in */
	uint8_t no_grow;	/* the kernel refused to grow this pipe */
	uint8_t bounded;	/* `from` gives `left` more bytes, then the relay
				   is done without shutting `to` (relay_bound) */
	uint8_t from_failed;	/* RELAY_ERROR came from reading `from` */
	uint64_t left;		/* bounded: bytes still to read from `from` */
	uint64_t bytes;		/* delivered to `to` */
	uint64_t spliced;	/* ... of them through the pipe */
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

/* Read exactly n more bytes from `from` (never one beyond: the bytes after
 * them are the next message's), then be done without shutting `to` down.
 * `from` ending sooner is done too, with r->left > 0: a truncation, which
 * the caller tells its peer. */
void relay_bound(struct relay *r, uint64_t n);

/* Move what can move now without blocking.  Buffers for the fallback come
 * from bp; pipes from pp.  *moved is set when any byte moved. */
enum relay_result relay_move(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp, int *moved);

/* Give back the pipe (closed if it still holds bytes) and the buffer. */
void relay_release(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp);

#endif
