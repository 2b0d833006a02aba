/* tunnel: the splice relay.
 *
 *   from ──splice──> pipe ──splice──> to          (the usual path)
 *   from ──recv───> buf ────send───> to          (fallback, and the bytes
 *                                                  read before the relay)
 *
 * Per call, a direction first empties its user-space buffer, then its pipe,
 * then refills the pipe from the source, until a socket says EAGAIN or a
 * round limit lets the other connections of the worker run.  EAGAIN from
 * splice-in with bytes still in the pipe means "wait for the sink", not
 * "the source is dry": only an empty pipe clears the source's readiness.
 */
#include "sluice/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Pipes are grown to PIPE_SIZE (when the kernel allows): fewer, larger
 * splices per byte.  The bytes sit in the kernel either way. */
#define PIPE_SIZE (1 << 20)
#define SPLICE_CHUNK PIPE_SIZE
#define ROUNDS 8 /* up to 8 MiB per call and direction */

struct pipe_pool {
	uint32_t n, max;
	int (*fds)[2];
};

struct pipe_pool *pipe_pool_new(uint32_t max)
{
	struct pipe_pool *pp = calloc(1, sizeof(*pp));
	if (pp == NULL)
		return NULL;
	pp->max = max;
	pp->fds = calloc(max ? max : 1, sizeof(*pp->fds));
	if (pp->fds == NULL) {
		free(pp);
		return NULL;
	}
	return pp;
}

void pipe_pool_free(struct pipe_pool *pp)
{
	if (pp == NULL)
		return;
	for (uint32_t i = 0; i < pp->n; i++) {
		close(pp->fds[i][0]);
		close(pp->fds[i][1]);
	}
	free(pp->fds);
	free(pp);
}

uint32_t pipe_pool_idle(const struct pipe_pool *pp)
{
	return pp->n;
}

static int pipe_get(struct pipe_pool *pp, int fds[2])
{
	if (pp->n > 0) {
		pp->n--;
		fds[0] = pp->fds[pp->n][0];
		fds[1] = pp->fds[pp->n][1];
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort: 64 KiB otherwise */
	return 0;
}

/* Give back the pipe: pooled when empty, closed otherwise. */
static void release_pipe(struct relay *r, struct pipe_pool *pp)
{
	if (r->pipe[0] < 0)
		return;
	if (r->in_pipe == 0 && pp->n < pp->max) {
		pp->fds[pp->n][0] = r->pipe[0];
		pp->fds[pp->n][1] = r->pipe[1];
		pp->n++;
	} else {
		/* bytes left inside: another tunnel must never see them */
		close(r->pipe[0]);
		close(r->pipe[1]);
	}
	r->pipe[0] = r->pipe[1] = -1;
	r->in_pipe = 0;
}

void relay_init(struct relay *r, int from, int to, uint8_t *from_rd, uint8_t *to_wr,
		struct buf *pending, int force_copy)
{
	r->from = from;
	r->to = to;
	r->from_rd = from_rd;
	r->to_wr = to_wr;
	r->pipe[0] = r->pipe[1] = -1;
	r->in_pipe = 0;
	r->buf = pending;
	r->eof = r->done = 0;
	r->no_splice = (uint8_t)(force_copy != 0);
	r->bytes = 0;
}

static int would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* Send the user-space bytes.  1: all sent; 0: the sink is full; -1: error. */
static int flush_buf(struct relay *r, int *moved)
{
	struct buf *b = r->buf;
	while (b && b->start < b->end) {
		if (!*r->to_wr)
			return 0;
		ssize_t n = send(r->to, b->data + b->start, b->end - b->start, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			b->start += (uint32_t)n;
			r->bytes += (uint64_t)n;
			*moved = 1;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && would_block()) {
			*r->to_wr = 0;
			return 0;
		} else {
			return -1;
		}
	}
	if (b)
		b->start = b->parsed = b->end = 0;
	return 1;
}

/* Empty the pipe into the sink.  Same returns as flush_buf. */
static int flush_pipe(struct relay *r, int *moved)
{
	while (r->in_pipe > 0) {
		if (!*r->to_wr)
			return 0;
		ssize_t n = splice(r->pipe[0], NULL, r->to, NULL, r->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			r->in_pipe -= (uint32_t)n;
			r->bytes += (uint64_t)n;
			*moved = 1;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && would_block()) {
			*r->to_wr = 0;
			return 0;
		} else {
			return -1;
		}
	}
	return 1;
}

/* Read from the source into the buffer (fallback path).
 * 1: read something; 0: nothing now; -1: error. */
static int fill_buf(struct relay *r, struct buf_pool *bp, int *moved)
{
	if (r->buf == NULL && (r->buf = buf_get(bp)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	struct buf *b = r->buf;
	for (;;) {
		ssize_t n = recv(r->from, b->data + b->end, buf_room(b), MSG_DONTWAIT);
		if (n > 0) {
			b->end += (uint32_t)n;
			b->parsed = b->end;
			*moved = 1;
			return 1;
		}
		if (n == 0) {
			r->eof = 1;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (would_block()) {
			*r->from_rd = 0;
			return 0;
		}
		return -1;
	}
}

static int at_urgent_mark(const struct relay *r)
{
	int at_mark = 0;
	return ioctl(r->from, SIOCATMARK, &at_mark) == 0 && at_mark;
}

/* Refill the pipe from the source.  Same returns as fill_buf. */
static int fill_pipe(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp, int *moved)
{
	if (r->pipe[0] < 0 && pipe_get(pp, r->pipe) == -1) {
		/* out of fds or pipe quota: this direction copies instead */
		r->pipe[0] = r->pipe[1] = -1;
		r->no_splice = 1;
		return 1;
	}
	for (;;) {
		ssize_t n = splice(r->from, NULL, r->pipe[1], NULL, SPLICE_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			r->in_pipe += (uint32_t)n;
			*moved = 1;
			return 1;
		}
		if (n == 0) {
			/* TCP splice cannot pass an urgent mark: there it says EAGAIN,
			 * or 0 once the FIN is in too.  One recv steps over it. */
			if (r->in_pipe > 0)
				return 0; /* the pipe's bytes go first; then ask again */
			if (at_urgent_mark(r))
				return fill_buf(r, bp, moved);
			r->eof = 1;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (would_block()) {
			if (r->in_pipe > 0)
				return 0; /* the sink is slow, not the source dry */
			if (at_urgent_mark(r))
				return fill_buf(r, bp, moved);
			/* the source is dry: an idle tunnel holds no pipe */
			*r->from_rd = 0;
			release_pipe(r, pp);
			return 0;
		}
		if (errno == EINVAL || errno == ENOSYS) {
			/* this socket cannot splice: copy from now on */
			r->no_splice = 1;
			release_pipe(r, pp);
			return 1;
		}
		return -1;
	}
}

static enum relay_result move(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp, int *moved)
{
	for (int round = 0; round < ROUNDS; round++) {
		if (r->done)
			return RELAY_IDLE;
		int f = flush_buf(r, moved);
		if (f <= 0)
			return f < 0 ? RELAY_ERROR : RELAY_IDLE;
		f = flush_pipe(r, moved);
		if (f <= 0)
			return f < 0 ? RELAY_ERROR : RELAY_IDLE;
		if (r->eof) {
			/* everything that came has gone: pass the end on */
			shutdown(r->to, SHUT_WR);
			r->done = 1;
			*moved = 1;
			release_pipe(r, pp);
			return RELAY_IDLE;
		}
		if (!*r->from_rd)
			return RELAY_IDLE;
		f = r->no_splice ? fill_buf(r, bp, moved) : fill_pipe(r, pp, bp, moved);
		if (f < 0)
			return RELAY_ERROR;
		if (f == 0 && (r->in_pipe == 0 || !*r->to_wr))
			return RELAY_IDLE;
	}
	return RELAY_MORE;
}

enum relay_result relay_move(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp, int *moved)
{
	enum relay_result res = move(r, pp, bp, moved);
	/* an empty buffer is not kept across idle time: idle tunnels hold none */
	if (res == RELAY_IDLE && r->buf && buf_empty(r->buf)) {
		buf_put(bp, r->buf);
		r->buf = NULL;
	}
	return res;
}

void relay_release(struct relay *r, struct pipe_pool *pp, struct buf_pool *bp)
{
	release_pipe(r, pp);
	buf_put(bp, r->buf);
	r->buf = NULL;
}
