/* client_limit: connections per client address (include/sluice/client_limit.h).
 *
 *   buckets[hash(addr) & mask] ──> entry ──> entry ...   (chains)
 *   free ──> entry ──> ...       (max_clients entries, allocated once)
 *
 * An entry lives while its address has a connection: taken from the free
 * list on the first, back on it when the count drops to zero.  There are
 * never more entries in use than connections, so the table is sized once.
 */
#include "sluice/client_limit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/hash.h"

struct entry {
	struct entry *next;
	uint8_t addr[16];	/* IPv6, or v4-mapped IPv4 */
	uint32_t count;
};

static struct {
	pthread_mutex_t lock;
	uint32_t per_client;	/* 0: off */
	struct entry **buckets;
	uint32_t mask;
	struct entry *entries, *free;
} t = { .lock = PTHREAD_MUTEX_INITIALIZER };

int client_limit_init(uint32_t per_client, uint32_t max_clients)
{
	client_limit_free();
	if (per_client == 0)
		return 0;
	uint32_t n = 64;
	while (n < max_clients * 2u && n < (1u << 30))
		n *= 2;
	t.buckets = calloc(n, sizeof(*t.buckets));
	t.entries = calloc((size_t)max_clients + 1, sizeof(*t.entries));
	if (t.buckets == NULL || t.entries == NULL) {
		client_limit_free();
		return -1;
	}
	for (uint32_t i = 0; i <= max_clients; i++) {
		t.entries[i].next = t.free;
		t.free = &t.entries[i];
	}
	t.mask = n - 1;
	t.per_client = per_client;
	return 0;
}

void client_limit_free(void)
{
	free(t.buckets);
	free(t.entries);
	t.buckets = NULL;
	t.entries = t.free = NULL;
	t.per_client = 0;
}

/* The entry of key, and where the pointer to it is; NULL when none. */
static struct entry *find(const uint8_t key[16], struct entry ***link)
{
	struct entry **l = &t.buckets[hash_bytes(key, 16) & t.mask];
	for (; *l; l = &(*l)->next)
		if (memcmp((*l)->addr, key, 16) == 0)
			break;
	*link = l;
	return *l;
}

int client_limit_take(const union sockaddr_any *peer)
{
	if (t.per_client == 0)
		return 1;
	uint8_t key[16];
	client_key(peer, key);
	int ok = 1;
	pthread_mutex_lock(&t.lock);
	struct entry **link, *e = find(key, &link);
	if (e) {
		if (e->count >= t.per_client)
			ok = 0;
		else
			e->count++;
	} else if ((e = t.free) != NULL) {
		t.free = e->next;
		memcpy(e->addr, key, 16);
		e->count = 1;
		e->next = NULL;
		*link = e;
	} /* else more connections than planned: the global limit decides */
	pthread_mutex_unlock(&t.lock);
	return ok;
}

void client_limit_give(const union sockaddr_any *peer)
{
	if (t.per_client == 0)
		return;
	uint8_t key[16];
	client_key(peer, key);
	pthread_mutex_lock(&t.lock);
	struct entry **link, *e = find(key, &link);
	if (e && --e->count == 0) {
		*link = e->next;
		e->next = t.free;
		t.free = e;
	}
	pthread_mutex_unlock(&t.lock);
}
