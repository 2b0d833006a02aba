#include "sluice/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* everything after the free-list link */
#define POISON(b) ASAN_POISON_MEMORY_REGION(&(b)->cap, sizeof(*(b)) - offsetof(struct buf, cap) + (b)->cap + 1)
#define UNPOISON(b, cap_) ASAN_UNPOISON_MEMORY_REGION(&(b)->cap, sizeof(*(b)) - offsetof(struct buf, cap) + (cap_) + 1)
#else
#define POISON(b) ((void)0)
#define UNPOISON(b, cap_) ((void)0)
#endif

void buf_pool_init(struct buf_pool *pool, uint32_t size, uint32_t max_free)
{
	pool->free = NULL;
	pool->size = size;
	pool->nfree = 0;
	pool->max_free = max_free;
	pool->max_used = 0;
	pool->allocated = 0;
}

void buf_pool_limit(struct buf_pool *pool, uint32_t max_used)
{
	pool->max_used = max_used;
}

void buf_pool_drain(struct buf_pool *pool)
{
	while (pool->free) {
		struct buf *b = pool->free;
		pool->free = b->next;
		UNPOISON(b, pool->size);
		free(b);
		pool->allocated--;
	}
	pool->nfree = 0;
}

struct buf *buf_get(struct buf_pool *pool)
{
	if (pool->max_used && pool->allocated - pool->nfree >= pool->max_used)
		return NULL;
	struct buf *b = pool->free;
	if (b) {
		pool->free = b->next;
		pool->nfree--;
		UNPOISON(b, pool->size);
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
	POISON(b);
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
