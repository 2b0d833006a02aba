#include "sluice/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_pool_init(struct buf_pool *pool, uint32_t size, uint32_t max_free)
{
	pool->free = NULL;
	pool->size = size;
	pool->nfree = 0;
	pool->max_free = max_free;
	pool->allocated = 0;
}

void buf_pool_drain(struct buf_pool *pool)
{
	while (pool->free) {
		struct buf *b = pool->free;
		pool->free = b->next;
		free(b);
		pool->allocated--;
	}
	pool->nfree = 0;
}

struct buf *buf_get(struct buf_pool *pool)
{
	struct buf *b = pool->free;
	if (b) {
		pool->free = b->next;
		pool->nfree--;
	} else {
		b = malloc(sizeof(*b) + pool->size + 1); /* +1: vsnprintf's NUL */
		if (b == NULL)
			return NULL;
		b->cap = pool->size;
		pool->allocated++;
	}
	b->next = NULL;
	b->start = b->parsed = b->end = 0;
	return b;
}

void buf_put(struct buf_pool *pool, struct buf *b)
{
	if (b == NULL)
		return;
	if (pool->nfree >= pool->max_free || b->cap != pool->size) {
		free(b);
		pool->allocated--;
		return;
	}
	b->next = pool->free;
	pool->free = b;
	pool->nfree++;
}

uint32_t buf_compact(struct buf *b)
{
	uint32_t shift = b->start;
	if (shift == 0)
		return 0;
	memmove(b->data, b->data + shift, b->end - shift);
	b->start = 0;
	b->parsed -= shift;
	b->end -= shift;
	return shift;
}

int buf_append(struct buf *b, const void *p, size_t len)
{
	if (len > buf_room(b))
		return -1;
	memcpy(b->data + b->end, p, len);
	b->end += (uint32_t)len;
	b->parsed = b->end;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* the spare byte past cap takes the NUL, so text may fill the room */
	int n = vsnprintf(b->data + b->end, buf_room(b) + 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (uint32_t)n > buf_room(b))
		return -1;
	b->end += (uint32_t)n;
	b->parsed = b->end;
	return 0;
}
