/* buf: bounded byte buffers and a per-worker free-list.
 *
 * A buffer holds one direction's bytes.  Three offsets split it:
 *
 *     0        start       parsed         end           cap
 *     |  spent  | to send   | not parsed   |   room      |
 *
 * [start, parsed) has been framed by the parser and may go to the sink;
 * [parsed, end) is waiting for the parser.  Output-only buffers (rewritten
 * heads, local replies) keep parsed == end.
 *
 * Buffers are never resized: a full buffer means "stop reading the source".
 * Idle connections hold none: buffers go back to the pool as soon as they
 * are empty, so memory follows the number of busy connections.
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	struct buf *next;	/* free-list link */
	/* data has cap + 1 bytes: the spare one takes buf_printf's NUL */
	uint32_t cap;
	uint32_t start;
	uint32_t parsed;
	uint32_t end;
	char data[];
};

struct buf_pool {
	struct buf *free;
	uint32_t size;		/* capacity of every buffer */
	uint32_t nfree;
	uint32_t max_free;	/* buffers above this are freed, not kept */
	uint32_t max_used;	/* buffers handed out at once; 0: no limit */
	uint64_t allocated;	/* live buffers (handed out or free), for stats and tests */
};

void buf_pool_init(struct buf_pool *pool, uint32_t size, uint32_t max_free);
/* Hand out at most max_used buffers at once (0: as many as memory allows). */
void buf_pool_limit(struct buf_pool *pool, uint32_t max_used);
void buf_pool_drain(struct buf_pool *pool);

/* An empty buffer, or NULL when out of memory or at the pool's limit. */
struct buf *buf_get(struct buf_pool *pool);
/* Give a buffer back; NULL is accepted.  Under AddressSanitizer a buffer on
 * the free-list is poisoned: a write through a pointer kept after buf_put
 * is reported, not silently taken by the buffer's next user. */
void buf_put(struct buf_pool *pool, struct buf *b);

static inline uint32_t buf_pending(const struct buf *b) { return b->parsed - b->start; }
static inline uint32_t buf_unparsed(const struct buf *b) { return b->end - b->parsed; }
static inline uint32_t buf_room(const struct buf *b) { return b->cap - b->end; }
static inline int buf_empty(const struct buf *b) { return b->start == b->end; }

/* Move the live bytes [start, end) to the front, making all room contiguous.
 * Returns how far they moved (callers that keep offsets subtract it). */
uint32_t buf_compact(struct buf *b);

/* Append len bytes; returns 0, or -1 (nothing written) when they do not fit. */
static inline int buf_append(struct buf *b, const void *p, size_t len)
{
	/* inline: the heads are written in pieces, nine or so a request */
	if (len > buf_room(b))
		return -1;
	memcpy(b->data + b->end, p, len);
	b->end += (uint32_t)len;
	b->parsed = b->end;
	return 0;
}
/* Append formatted text; returns 0, or -1 when it does not fit. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
