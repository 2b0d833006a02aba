/* config_snapshot: the refcounted snapshots of the config (config.h,
 * "snapshots"): made, shared, published, freed by the last reference;
 * and what a reload keeps from the running one (config_keep_restart_only).
 * Part of the config module.
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/config.h"

/* The current snapshot.  The lock is taken only to publish and to take a
 * reference to the current one (once per worker and reload), never per
 * request: between the load of the pointer and the increment of its count,
 * a publisher must not drop the last reference. */
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;
static atomic_uint generation;
static atomic_uint live;

struct config *config_new(void)
{
	struct config *c = malloc(sizeof(*c));
	if (c == NULL)
		return NULL;
	config_defaults(c);
	atomic_init(&c->refs, 1);
	atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
	return c;
}

const struct config *config_ref(const struct config *c)
{
	/* a config on the stack or in static storage has no count to keep */
	assert(atomic_load_explicit(&c->refs, memory_order_relaxed) > 0);
	/* the count is bookkeeping, not configuration: a snapshot is const to
	 * its readers, and every snapshot was made writable by config_new */
	atomic_fetch_add_explicit(&((struct config *)c)->refs, 1, memory_order_relaxed);
	return c;
}

void config_unref(const struct config *c)
{
	if (c == NULL)
		return;
	struct config *m = (struct config *)c;
	/* release: our reads of it happen before the free; acquire: the
	 * freeing thread sees everyone's reads done.  (In the operation, not
	 * as a separate acquire fence, which ThreadSanitizer does not see: it
	 * reported the free racing a worker's last read.  On x86 the same
	 * locked instruction either way.) */
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	config_clear(m);
	free(m);
	atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
}

void config_publish(struct config *c)
{
	pthread_mutex_lock(&current_lock);
	struct config *old = current;
	current = c;
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
	pthread_mutex_unlock(&current_lock);
	config_unref(old);
}

const struct config *config_acquire(void)
{
	pthread_mutex_lock(&current_lock);
	const struct config *c = current ? config_ref(current) : NULL;
	pthread_mutex_unlock(&current_lock);
	return c;
}

unsigned config_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}

unsigned config_live(void)
{
	return atomic_load_explicit(&live, memory_order_relaxed);
}

/* What each worker, the acceptor or the logs set up once from the config
 * they started with (worker.c worker_init, dns.c dns_new, main.c). */
#define RESTART_FIELDS(X)                                                                                     \
	X(workers) X(max_connections) X(max_connections_per_client) X(buffer_size) X(worker_buffers_max)     \
	X(upstream_idle_timeout) X(upstream_pool_max) X(dns_timeout) X(dns_cache_max_ttl) X(dns_negative_ttl) \
	X(dns_cache_size) X(tunnel_pipe_memory) X(auth_cache_size) X(auth_threads) X(access_format)          \
	X(log_level)
#define RESTART_STRINGS(X) X(resolver) X(access_log) X(error_log) X(auth_basic)

void config_keep_restart_only(struct config *nw, const struct config *old, char *changed, size_t len)
{
	size_t used = 0;
	changed[0] = '\0';
#define NOTE(name)                                                                                            \
	do {                                                                                                  \
		int k = snprintf(changed + used, len - used, "%s%s", used ? ", " : "", #name);               \
		if (k > 0 && (size_t)k < len - used)                                                          \
			used += (size_t)k;                                                                    \
		else                                                                                          \
			changed[used] = '\0'; /* no name cut in half */                                      \
	} while (0);
#define KEEP(f)                                                                                               \
	if (nw->f != old->f) {                                                                                \
		NOTE(f) nw->f = old->f;                                                                       \
	}
#define KEEP_STR(f)                                                                                           \
	if (strcmp(nw->f, old->f) != 0) {                                                                     \
		NOTE(f) memcpy(nw->f, old->f, sizeof(nw->f));                                                 \
	}
	RESTART_FIELDS(KEEP)
	RESTART_STRINGS(KEEP_STR)
#undef KEEP_STR
#undef KEEP
#undef NOTE
}
