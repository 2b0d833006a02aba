/* parent: parent proxies' health and the order to try them in (see
 * include/sluice/parent.h).
 *
 * The slots are a fixed array that only grows: a name, once published,
 * never changes, so readers need no lock; making a slot takes a mutex
 * (config loading, never the request path).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sluice/parent.h"

struct slot {
	char name[PARENT_NAME_MAX];
	char where[300];		/* host:port, as last configured */
	_Atomic uint64_t down_until;	/* loop ms; 0: up */
	_Atomic uint32_t hold;		/* the last hold, ms; 0: none */
};

static struct slot slots[PARENT_SLOTS];
static atomic_int nslots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

int parent_slot(const char *name, const char *where)
{
	if (strlen(name) >= PARENT_NAME_MAX)
		return -1;
	pthread_mutex_lock(&slots_lock);
	int n = atomic_load_explicit(&nslots, memory_order_relaxed), i;
	for (i = 0; i < n; i++)
		if (strcmp(slots[i].name, name) == 0)
			break;
	if (i == n) {
		if (n == PARENT_SLOTS) {
			pthread_mutex_unlock(&slots_lock);
			return -1;
		}
		snprintf(slots[n].name, sizeof(slots[n].name), "%s", name);
		atomic_store_explicit(&nslots, n + 1, memory_order_release);
	}
	if (strcmp(slots[i].where, where) != 0) {
		/* a name moved to another proxy: what was known is not its */
		snprintf(slots[i].where, sizeof(slots[i].where), "%s", where);
		atomic_store_explicit(&slots[i].down_until, 0, memory_order_relaxed);
		atomic_store_explicit(&slots[i].hold, 0, memory_order_relaxed);
	}
	pthread_mutex_unlock(&slots_lock);
	return i;
}

const char *parent_slot_name(int slot)
{
	if (slot < 0 || slot >= atomic_load_explicit(&nslots, memory_order_acquire))
		return NULL;
	return slots[slot].name;
}

static uint64_t load64(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

int parent_failed(int slot, uint64_t now)
{
	struct slot *s = &slots[slot];
	uint64_t until = load64(&s->down_until);
	uint32_t hold = atomic_load_explicit(&s->hold, memory_order_relaxed);
	if (until > now) {
		/* connects already under way when it went down, or every way
		 * out was down: the same hold again */
		atomic_store_explicit(&s->down_until, now + hold, memory_order_relaxed);
		return 0;
	}
	/* failing again within a hold after the last one ended: it is not
	 * back, wait twice as long */
	if (hold && until && now - until < hold)
		hold = hold * 2 > PARENT_DOWN_MAX_MS ? PARENT_DOWN_MAX_MS : hold * 2;
	else
		hold = PARENT_DOWN_MS;
	atomic_store_explicit(&s->hold, hold, memory_order_relaxed);
	atomic_store_explicit(&s->down_until, now + hold, memory_order_relaxed);
	return 1;
}

int parent_ok(int slot)
{
	struct slot *s = &slots[slot];
	if (load64(&s->down_until) == 0)
		return 0; /* the common case: one load */
	atomic_store_explicit(&s->down_until, 0, memory_order_relaxed);
	atomic_store_explicit(&s->hold, 0, memory_order_relaxed);
	return 1;
}

int parent_down(int slot, uint64_t now)
{
	return load64(&slots[slot].down_until) > now;
}

/* A 32-bit mix (murmur3's finaliser): rendezvous scores need every bit of
 * the key and the name to move the result. */
static uint32_t mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

int parent_order(const struct parent_pick *p, int n, int sticky, uint32_t key_hash, uint32_t turn, int direct,
		 uint64_t now, uint8_t *hops)
{
	uint8_t up[16], down[16];
	int nup = 0, ndown = 0, k = 0;
	if (n > 16)
		n = 16;
	for (int i = 0; i < n; i++) {
		if (parent_down(p[i].slot, now))
			down[ndown++] = (uint8_t)i;
		else
			up[nup++] = (uint8_t)i;
	}
	if (sticky) {
		/* weighted rendezvous: score = -w / ln(u), u in (0, 1) from the
		 * name and the parent; highest first */
		double score[16];
		for (int i = 0; i < nup; i++) {
			double u = ((double)mix(key_hash ^ p[up[i]].name_hash) + 0.5) / 4294967296.0;
			score[i] = -(double)p[up[i]].weight / log(u);
		}
		for (int i = 1; i < nup; i++) /* insertion sort: at most 16 */
			for (int j = i; j > 0 && score[j] > score[j - 1]; j--) {
				double ts = score[j];
				score[j] = score[j - 1];
				score[j - 1] = ts;
				uint8_t tu = up[j];
				up[j] = up[j - 1];
				up[j - 1] = tu;
			}
		for (int i = 0; i < nup; i++)
			hops[k++] = up[i];
	} else if (nup) {
		uint64_t total = 0;
		for (int i = 0; i < nup; i++)
			total += p[up[i]].weight;
		uint64_t t = turn % total;
		int first = 0;
		for (uint64_t sum = 0; first < nup; first++) {
			sum += p[up[first]].weight;
			if (t < sum)
				break;
		}
		for (int i = 0; i < nup; i++)
			hops[k++] = up[(first + i) % nup];
	}
	if (direct)
		hops[k++] = PARENT_DIRECT;
	for (int i = 1; i < ndown; i++) /* the soonest back first */
		for (int j = i; j > 0 && load64(&slots[p[down[j]].slot].down_until) <
					     load64(&slots[p[down[j - 1]].slot].down_until); j--) {
			uint8_t t = down[j];
			down[j] = down[j - 1];
			down[j - 1] = t;
		}
	for (int i = 0; i < ndown; i++)
		hops[k++] = down[i];
	return k;
}
