#include "sluice/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

struct loop {
	int epfd;
	uint64_t now;
	struct timer **heap;
	uint32_t nheap, capheap;
	uint32_t pass;		/* bumped before each round of firing timers */
	int batch_next, batch_len;	/* events[batch_next, batch_len): not yet dispatched */
	struct epoll_event events[MAX_EVENTS];
};

uint64_t loop_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t loop_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t loop_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd == -1) {
		free(l);
		return NULL;
	}
	l->now = loop_clock_ms();
	return l;
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->heap);
	free(l);
}

static int ctl(struct loop *l, int op, struct io *io, uint32_t events, int edge)
{
	struct epoll_event ev = { .events = events | (edge ? EPOLLET : 0), .data.ptr = io };
	return epoll_ctl(l->epfd, op, io->fd, &ev);
}

int loop_add(struct loop *l, struct io *io, uint32_t events, int edge)
{
	return ctl(l, EPOLL_CTL_ADD, io, events, edge);
}

int loop_mod(struct loop *l, struct io *io, uint32_t events, int edge)
{
	return ctl(l, EPOLL_CTL_MOD, io, events, edge);
}

void loop_del(struct loop *l, struct io *io)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

int loop_pending(const struct loop *l, const struct io *io, uint32_t mask)
{
	for (int i = l->batch_next; i < l->batch_len; i++)
		if (l->events[i].data.ptr == io && (l->events[i].events & mask))
			return 1;
	return 0;
}

uint64_t loop_now(const struct loop *l)
{
	return l->now;
}

/* --- timer heap -------------------------------------------------------------- */

static void heap_place(struct loop *l, uint32_t i, struct timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

static void heap_up(struct loop *l, uint32_t i)
{
	struct timer *t = l->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (l->heap[parent]->deadline <= t->deadline)
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, t);
}

static void heap_down(struct loop *l, uint32_t i)
{
	struct timer *t = l->heap[i];
	for (;;) {
		uint32_t child = 2 * i + 1;
		if (child >= l->nheap)
			break;
		if (child + 1 < l->nheap && l->heap[child + 1]->deadline < l->heap[child]->deadline)
			child++;
		if (l->heap[child]->deadline >= t->deadline)
			break;
		heap_place(l, i, l->heap[child]);
		i = child;
	}
	heap_place(l, i, t);
}

void timer_cancel(struct loop *l, struct timer *t)
{
	if (t->slot == 0)
		return;
	uint32_t i = t->slot - 1;
	t->slot = 0;
	struct timer *last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	heap_place(l, i, last);
	heap_up(l, i);
	heap_down(l, last->slot - 1);
}

void timer_set(struct loop *l, struct timer *t, uint64_t deadline)
{
	t->pass = l->pass;
	if (t->slot != 0) {
		uint64_t old = t->deadline;
		t->deadline = deadline;
		if (deadline < old)
			heap_up(l, t->slot - 1);
		else
			heap_down(l, t->slot - 1);
		return;
	}
	if (l->nheap == l->capheap) {
		uint32_t cap = l->capheap ? l->capheap * 2 : 256;
		struct timer **h = realloc(l->heap, cap * sizeof(*h));
		if (h == NULL)
			abort(); /* cannot keep a deadline: safer to die than hang forever */
		l->heap = h;
		l->capheap = cap;
	}
	t->deadline = deadline;
	heap_place(l, l->nheap++, t);
	heap_up(l, l->nheap - 1);
}

static int next_timeout(const struct loop *l, int max_wait_ms)
{
	if (l->nheap == 0)
		return max_wait_ms;
	uint64_t d = l->heap[0]->deadline;
	int wait = d <= l->now ? 0 : (d - l->now > 60000 ? 60000 : (int)(d - l->now));
	if (max_wait_ms >= 0 && max_wait_ms < wait)
		wait = max_wait_ms;
	return wait;
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
	int n = epoll_wait(l->epfd, l->events, MAX_EVENTS, next_timeout(l, max_wait_ms));
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	l->now = loop_clock_ms();
	l->batch_len = n;
	for (int i = 0; i < n; i++) {
		struct io *io = l->events[i].data.ptr;
		l->batch_next = i + 1;
		/* closed earlier in this batch; its memory lives until the batch ends */
		if (io->fd >= 0)
			io->cb(io, l->events[i].events);
	}
	l->batch_next = l->batch_len = 0;
	/* A timer set from a timer callback waits for the next round, even when
	 * already due: a callback that re-arms itself "now" cannot keep the
	 * loop from returning to epoll. */
	l->pass++;
	while (l->nheap > 0 && l->heap[0]->deadline <= l->now && l->heap[0]->pass != l->pass) {
		struct timer *t = l->heap[0];
		timer_cancel(l, t);
		t->cb(t);
	}
	return n;
}
