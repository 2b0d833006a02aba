/* tunnel: the splice relay.
 *
 *   from ──splice──> pipe ──splice──> to          (the usual path)
 *   from ──recv───> buf ────send───> to          (fallback, the bytes read
 *                                                  before the relay, and a
 *                                                  burst that gets no pipe)
 *
 * Per call, a direction first empties its user-space buffer, then its pipe,
 * then refills the pipe from the source, until a socket says EAGAIN or a
 * round limit lets the other connections of the worker run.  EAGAIN from
 * splice-in with bytes still in the pipe means "wait for the sink", not
 * "the source is dry": only an empty pipe clears the source's readiness.
 *
 * How much a direction holds (tunnel.h has the rules):
 *
 *   fill:  64 KiB ──sink took it all──> x2 ... 1 MiB
 *            ^                                 │
 *            └──── 2 x what the sink took <────┘ sink blocked
 *
 *   pipe:  sized to the fill when taken (or grown before a splice-in), as
 *          the pool's budget allows; back to the pool once empty after the
 *          sink blocked, or when the source is dry.
 */
#include "sluice/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_BIG (1u << 20)	/* a flowing direction's pipe: fewer, larger splices */
#define FILL_START (64u << 10)	/* a direction's first splice-in: the kernel's default pipe */
#define FILL_MIN (16u << 10)	/* the least a blocked sink cuts the fill to */
#define ROUNDS 8		/* up to 8 MiB per call and direction */

struct idle_pipe {
	int fds[2];
	uint32_t cap;
};

struct pipe_pool {
	uint32_t n, max, keep;		/* idle pipes now; the most ever; the most for now */
	struct idle_pipe *idle;		/* the last released on top */
	uint64_t budget;		/* capacity of all the pool's pipes, in use and idle */
	uint32_t page, dflt, big;	/* one page; the kernel's default pipe; the largest to ask for */
	int (*may_open)(void *arg, int n);
	void *arg;
	stat_t bytes;			/* capacity of the pipes held, in use and idle */
	stat_t fds;			/* their descriptors */
	stat_t nidle;			/* n, for other threads */
};

struct pipe_pool *pipe_pool_new(uint32_t max)
{
	struct pipe_pool *pp = calloc(1, sizeof(*pp));
	if (pp == NULL)
		return NULL;
	pp->max = pp->keep = max;
	pp->idle = calloc(max ? max : 1, sizeof(*pp->idle));
	if (pp->idle == NULL) {
		free(pp);
		return NULL;
	}
	long page = sysconf(_SC_PAGESIZE);
	pp->page = page > 0 ? (uint32_t)page : 4096;
	pp->dflt = 16 * pp->page; /* PIPE_DEF_BUFFERS pages */
	pp->big = PIPE_BIG > pp->dflt ? PIPE_BIG : pp->dflt;
	pp->budget = UINT64_MAX;
	return pp;
}

void pipe_pool_free(struct pipe_pool *pp)
{
	if (pp == NULL)
		return;
	for (uint32_t i = 0; i < pp->n; i++) {
		close(pp->idle[i].fds[0]);
		close(pp->idle[i].fds[1]);
	}
	free(pp->idle);
	free(pp);
}

void pipe_pool_set_budget(struct pipe_pool *pp, uint64_t budget, uint32_t largest)
{
	pp->budget = budget;
	pp->big = PIPE_BIG > pp->dflt ? PIPE_BIG : pp->dflt;
	/* the kernel rounds a size up to a power of two pages: ask for one
	 * that rounding cannot take above largest */
	while (largest && pp->big > largest && pp->big > pp->page)
		pp->big /= 2;
}

void pipe_pool_set_gate(struct pipe_pool *pp, int (*may_open)(void *arg, int n), void *arg)
{
	pp->may_open = may_open;
	pp->arg = arg;
}

static void close_pipe(struct pipe_pool *pp, const int fds[2], uint32_t cap)
{
	close(fds[0]);
	close(fds[1]);
	stat_sub(&pp->bytes, cap);
	stat_sub(&pp->fds, 2);
}

uint32_t pipe_pool_keep(struct pipe_pool *pp, uint32_t keep)
{
	uint32_t closed = 0;
	pp->keep = keep < pp->max ? keep : pp->max;
	while (pp->n > pp->keep) {
		pp->n--;
		close_pipe(pp, pp->idle[pp->n].fds, pp->idle[pp->n].cap);
		stat_sub(&pp->nidle, 1);
		closed += 2;
	}
	return closed;
}

uint32_t pipe_pool_idle(const struct pipe_pool *pp)
{
	return (uint32_t)stat_get(&pp->nidle);
}

uint64_t pipe_pool_fds(const struct pipe_pool *pp)
{
	return stat_get(&pp->fds);
}

uint64_t pipe_pool_bytes(const struct pipe_pool *pp)
{
	return stat_get(&pp->bytes);
}

/* --- sizing ------------------------------------------------------------------------ */

/* The smallest power-of-two size, from a page up to the largest we ask
 * for, that holds want. */
static uint32_t size_for(const struct pipe_pool *pp, uint32_t want)
{
	uint32_t size = pp->page;
	while (size < want && size < pp->big)
		size *= 2;
	return size;
}

/* The capacity a pipe now of `have` bytes (already counted; 0 for none)
 * may have in a direction that splices in up to want at a time: size_for
 * (want), halved while the budget cannot take it.  Pipes above the
 * kernel's default may fill half the budget, smaller ones all of it, and
 * one page is always granted: the budget bounds big and default pipes, and
 * beyond it each moving direction costs a page. */
static uint32_t grant(const struct pipe_pool *pp, uint32_t want, uint32_t have)
{
	uint64_t others = stat_get(&pp->bytes) - have;
	uint32_t size = size_for(pp, want);
	for (; size > pp->page; size /= 2) {
		uint64_t limit = size > pp->dflt ? pp->budget / 2 : pp->budget;
		if (others + size <= limit)
			break;
	}
	return size;
}

/* Resize r's empty pipe.  0, or -1 (errno set) when the kernel refused:
 * EPERM above fs.pipe-max-size or over the user's quota without
 * privilege. */
static int resize(struct pipe_pool *pp, struct relay *r, uint32_t size)
{
	int got = fcntl(r->pipe[1], F_SETPIPE_SZ, (int)size);
	if (got == -1)
		return -1;
	stat_add(&pp->bytes, (uint64_t)(uint32_t)got - r->pipe_cap); /* modulo 2^64: a shrink subtracts */
	r->pipe_cap = (uint32_t)got;
	return 0;
}

/* Size r's held, empty pipe for its fill: grown when the budget allows;
 * one larger than needed is kept as it is (no system call) unless more
 * than half the budget is taken, when it shrinks and its capacity goes to
 * the others. */
static void fit(struct pipe_pool *pp, struct relay *r)
{
	uint32_t size = grant(pp, r->fill, r->pipe_cap);
	if (size > r->pipe_cap) {
		if (!r->no_grow && resize(pp, r, size) == -1)
			r->no_grow = 1; /* until the pipe goes back: not at every fill */
	} else if (size < r->pipe_cap && stat_get(&pp->bytes) > pp->budget / 2) {
		resize(pp, r, size); /* an empty pipe always shrinks */
	}
}

/* Give r a pipe sized for its fill: an idle one of that size if there is
 * one, else the last one released, else a new one (when the gate allows).
 * 0, or -1 with errno set when no pipe can be had now. */
static int pipe_take(struct pipe_pool *pp, struct relay *r)
{
	if (pp->n > 0) {
		uint32_t want = size_for(pp, r->fill), i = pp->n - 1;
		for (uint32_t k = pp->n; k-- > 0;) {
			if (pp->idle[k].cap == want) {
				i = k;
				break;
			}
		}
		struct idle_pipe p = pp->idle[i];
		pp->idle[i] = pp->idle[--pp->n];
		stat_sub(&pp->nidle, 1);
		r->pipe[0] = p.fds[0];
		r->pipe[1] = p.fds[1];
		r->pipe_cap = p.cap;
	} else {
		if (pp->may_open && !pp->may_open(pp->arg, 2)) {
			errno = EMFILE;
			return -1;
		}
		if (pipe2(r->pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
			r->pipe[0] = r->pipe[1] = -1;
			return -1;
		}
		/* 64 KiB, or less for a user over the pipe quota */
		int cap = fcntl(r->pipe[1], F_GETPIPE_SZ);
		r->pipe_cap = cap > 0 ? (uint32_t)cap : pp->dflt;
		stat_add(&pp->bytes, r->pipe_cap);
		stat_add(&pp->fds, 2);
	}
	r->no_grow = 0;
	fit(pp, r);
	return 0;
}

/* Give back the pipe: pooled when empty and the pool has room, unless
 * the budget is exceeded and it is more than a page (kept, a one-page pipe
 * spares the directions beyond the budget a pipe2 and a resize at each
 * stall); closed otherwise. */
static void release_pipe(struct relay *r, struct pipe_pool *pp)
{
	if (r->pipe[0] < 0)
		return;
	if (r->in_pipe == 0 && pp->n < pp->keep &&
	    (stat_get(&pp->bytes) <= pp->budget || r->pipe_cap <= pp->page)) {
		pp->idle[pp->n].fds[0] = r->pipe[0];
		pp->idle[pp->n].fds[1] = r->pipe[1];
		pp->idle[pp->n].cap = r->pipe_cap;
		pp->n++;
		stat_inc(&pp->nidle);
	} else {
		/* bytes left inside: another tunnel must never see them */
		close_pipe(pp, r->pipe, r->pipe_cap);
	}
	r->pipe[0] = r->pipe[1] = -1;
	r->pipe_cap = 0;
	r->in_pipe = 0;
}

/* --- what the kernel allows ----------------------------------------------------------------- */

static int read_number(const char *path, unsigned long long *v)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int ok = fscanf(f, "%llu", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

void pipe_quota_probe(struct pipe_quota *q)
{
	memset(q, 0, sizeof(*q));
	long page = sysconf(_SC_PAGESIZE);
	q->page = page > 0 ? (uint32_t)page : 4096;
	unsigned long long v;
	q->max_size = read_number("/proc/sys/fs/pipe-max-size", &v) == 0 && v > 0 && v < UINT32_MAX ? (uint32_t)v
												: PIPE_BIG;
	if (read_number("/proc/sys/fs/pipe-user-pages-soft", &v) == 0 && v > 0)
		q->user_pages = v;
	else if (read_number("/proc/sys/fs/pipe-user-pages-hard", &v) == 0)
		q->user_pages = v;
	/* The kernel exempts CAP_SYS_RESOURCE and CAP_SYS_ADMIN from the quota
	 * and from pipe-max-size (fs/pipe.c, pipe_is_unprivileged_user). */
	FILE *f = fopen("/proc/self/status", "re");
	if (f == NULL)
		return;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long caps;
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			q->privileged = (caps >> 24 & 1) || (caps >> 21 & 1);
			break;
		}
	}
	fclose(f);
}

uint64_t pipe_budget_per_worker(uint64_t configured, int nworkers, const struct pipe_quota *q, int *lowered)
{
	uint64_t b = configured ? configured : PIPE_MEMORY_DEFAULT;
	*lowered = 0;
	if (!q->privileged && q->user_pages > 0) {
		uint64_t share = q->user_pages * q->page / (uint64_t)(nworkers > 0 ? nworkers : 1) / 4 * 3;
		if (b > share) {
			*lowered = configured != 0;
			b = share;
		}
	}
	return b;
}

/* --- the relay ------------------------------------------------------------------------------ */

void relay_init(struct relay *r, int from, int to, uint8_t *from_rd, uint8_t *to_wr,
		struct buf *pending, int force_copy)
{
	r->from = from;
	r->to = to;
	r->from_rd = from_rd;
	r->to_wr = to_wr;
	r->pipe[0] = r->pipe[1] = -1;
	r->pipe_cap = 0;
	r->in_pipe = 0;
	r->fill = FILL_START;
	r->filled = r->since_fill = 0;
	r->buf = pending;
	r->eof = r->done = 0;
	r->no_splice = (uint8_t)(force_copy != 0);
	r->blocked = r->no_grow = 0;
	r->bounded = r->from_failed = 0;
	r->left = 0;
	r->bytes = r->spliced = 0;
}

void relay_bound(struct relay *r, uint64_t n)
{
	r->bounded = 1;
	r->left = n;
	r->eof = n == 0;
}

/* At most want bytes, and for a bounded relay no more than are left. */
static size_t take(const struct relay *r, size_t want)
{
	return r->bounded && r->left < want ? (size_t)r->left : want;
}

/* n bytes came from the source: a bounded relay that has them all is
 * finished reading. */
static void took(struct relay *r, size_t n)
{
	if (r->bounded) {
		r->left -= n;
		if (r->left == 0)
			r->eof = 1;
	}
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

/* Empty the pipe into the sink.  Same returns as flush_buf.
 *
 * The sink blocking with bytes left sets the next fill to twice what it
 * took of this one; taking a whole fill at once doubles it.  A pipe that
 * empties after its sink blocked goes back to the pool: a slow sink holds
 * capacity only while bytes wait for it, and the next pipe is sized for
 * the new fill. */
static int flush_pipe(struct relay *r, struct pipe_pool *pp, int *moved)
{
	int out = 0;
	while (r->in_pipe > 0) {
		if (!*r->to_wr)
			return 0;
		ssize_t n = splice(r->pipe[0], NULL, r->to, NULL, r->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			r->in_pipe -= (uint32_t)n;
			r->since_fill += (uint32_t)n;
			r->bytes += (uint64_t)n;
			r->spliced += (uint64_t)n;
			*moved = out = 1;
		} else if (n == -1 && errno == EINTR) {
			continue;
		} else if (n == -1 && would_block()) {
			*r->to_wr = 0;
			if (!r->blocked) {
				uint64_t f = 2 * (uint64_t)r->since_fill;
				r->fill = f < FILL_MIN ? FILL_MIN : f > PIPE_BIG ? PIPE_BIG : (uint32_t)f;
				r->blocked = 1;
			}
			return 0;
		} else {
			return -1;
		}
	}
	if (out) {
		if (r->blocked)
			release_pipe(r, pp);
		else if (r->filled >= r->fill / 2 && r->fill < PIPE_BIG)
			r->fill *= 2;
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
		ssize_t n = recv(r->from, b->data + b->end, take(r, buf_room(b)), MSG_DONTWAIT);
		if (n > 0) {
			b->end += (uint32_t)n;
			b->parsed = b->end;
			took(r, (size_t)n);
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
		r->from_failed = 1;
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
	if (r->pipe[0] < 0) {
		/* no pipe now (the fd budget, or the kernel's limits): this
		 * burst is copied; the next one asks again */
		if (pipe_take(pp, r) == -1)
			return fill_buf(r, bp, moved);
	} else if (r->in_pipe == 0 && r->pipe_cap < r->fill && !r->no_grow) {
		fit(pp, r);
	}
	for (;;) {
		ssize_t n = splice(r->from, NULL, r->pipe[1], NULL, take(r, r->fill), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			took(r, (size_t)n);
			r->in_pipe += (uint32_t)n;
			r->filled = (uint32_t)n;
			r->since_fill = 0;
			r->blocked = 0;
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
		r->from_failed = 1;
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
		f = flush_pipe(r, pp, moved);
		if (f <= 0)
			return f < 0 ? RELAY_ERROR : RELAY_IDLE;
		if (r->eof) {
			/* everything that came has gone: pass the end on (a
			 * bounded relay's sink has more to say after it) */
			if (!r->bounded)
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
