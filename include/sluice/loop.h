/* loop: the event loop each worker runs, epoll behind a small interface.
 *
 * Sockets are registered once, edge-triggered, for both directions
 * (loop_add); the owner keeps its own "ready" flags and reads or writes until
 * EAGAIN, so the steady state makes no epoll_ctl calls at all.
 *
 * Timers are deadlines on the monotonic millisecond clock kept in a binary
 * min-heap; each timer knows its heap slot, so set and cancel are O(log n).
 */
#ifndef SLUICE_LOOP_H
#define SLUICE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct io;

/* events: EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR as epoll gives them */
typedef void (*io_cb)(struct io *io, uint32_t events);

struct io {
	int fd;
	io_cb cb;
};

struct timer;
typedef void (*timer_cb)(struct timer *t);

struct timer {
	uint64_t deadline;	/* monotonic ms */
	uint32_t slot;		/* heap index + 1; 0 when not armed */
	uint32_t pass;		/* the loop's timer pass when it was set */
	timer_cb cb;
};

/* A new loop, or NULL with errno set. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch io->fd.  edge: edge-triggered (sessions); otherwise level-triggered
 * (eventfd, c-ares sockets).  Returns 0 or -1 with errno set. */
int loop_add(struct loop *l, struct io *io, uint32_t events, int edge);
int loop_mod(struct loop *l, struct io *io, uint32_t events, int edge);
/* Stop watching (closing the fd afterwards is the caller's job). */
void loop_del(struct loop *l, struct io *io);

/* Whether an event with any of mask's bits waits for io later in the batch
 * being dispatched (epoll reported it; its callback has not run yet). */
int loop_pending(const struct loop *l, const struct io *io, uint32_t mask);

/* The loop's clock: monotonic ms, refreshed once per loop_run_once(). */
uint64_t loop_now(const struct loop *l);
uint64_t loop_clock_ms(void);
/* The same clock in microseconds (the JSON log's timing, sd_notify's
 * MONOTONIC_USEC), and the wall clock in ms since the epoch. */
uint64_t loop_clock_us(void);
uint64_t loop_wall_ms(void);

/* Arm (or move) a timer; 0 < t->cb required. */
void timer_set(struct loop *l, struct timer *t, uint64_t deadline);
void timer_cancel(struct loop *l, struct timer *t);
static inline int timer_armed(const struct timer *t) { return t->slot != 0; }

/* Wait for events (at most max_wait_ms; -1 means until the next timer),
 * dispatch them, then fire due timers.  Returns the number of io events
 * dispatched, or -1 on a fatal epoll error. */
int loop_run_once(struct loop *l, int max_wait_ms);

#endif
