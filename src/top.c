/* top: a worker's top talkers and their snapshots (include/sluice/top.h). */
#include "sluice/top.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { NAMES, CLIENTS, NTABLES };

struct top {
	struct topk *t[NTABLES];
	pthread_mutex_t lock;		/* the snapshots, between the worker and a merge */
	struct topk_item snap[NTABLES][TOP_SNAPSHOT];
	size_t nsnap[NTABLES];
	uint64_t rest[NTABLES];
	atomic_uint want;		/* the last generation asked for */
	atomic_uint have;		/* the last one answered */
};

struct top *top_new(void)
{
	struct top *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	for (int i = 0; i < NTABLES; i++)
		if ((t->t[i] = topk_new(TOP_CAPACITY)) == NULL) {
			top_free(t);
			return NULL;
		}
	return t;
}

void top_free(struct top *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < NTABLES; i++)
		topk_free(t->t[i]);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void top_count(struct top *t, const char *name, size_t len, const struct sockaddr *client, uint64_t bytes)
{
	char folded[TOPK_KEY_MAX];
	if (len > sizeof(folded))
		len = sizeof(folded);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		folded[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	/* topk's bound on requests wants bytes >= requests: an exchange that
	 * moved nothing (a connection cut at once) weighs one byte */
	if (bytes == 0)
		bytes = 1;
	topk_add(t->t[NAMES], folded, len, bytes, 1);
	if (client->sa_family == AF_INET) {
		topk_add(t->t[CLIENTS], (const char *)&((const struct sockaddr_in *)client)->sin_addr, 4, bytes, 1);
	} else if (client->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)client)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			topk_add(t->t[CLIENTS], (const char *)a->s6_addr + 12, 4, bytes, 1);
		else
			topk_add(t->t[CLIENTS], (const char *)a->s6_addr, 16, bytes, 1);
	}
}

void top_serve(struct top *t)
{
	unsigned want = atomic_load_explicit(&t->want, memory_order_acquire);
	if (want == atomic_load_explicit(&t->have, memory_order_relaxed))
		return;
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < NTABLES; i++)
		t->nsnap[i] = topk_snapshot(t->t[i], t->snap[i], TOP_SNAPSHOT, &t->rest[i]);
	pthread_mutex_unlock(&t->lock);
	atomic_store_explicit(&t->have, want, memory_order_release);
}

unsigned top_ask(struct top *t)
{
	return atomic_fetch_add_explicit(&t->want, 1, memory_order_acq_rel) + 1;
}

int top_answered(const struct top *t, unsigned gen)
{
	return (int)(atomic_load_explicit(&t->have, memory_order_acquire) - gen) >= 0;
}

/* An address key as text, in place. */
static void client_text(struct topk_item *it)
{
	char text[INET6_ADDRSTRLEN];
	if (it->len != 4 && it->len != 16)
		return;
	if (inet_ntop(it->len == 4 ? AF_INET : AF_INET6, it->key, text, sizeof(text)) == NULL)
		return;
	it->len = (uint8_t)strlen(text);
	memcpy(it->key, text, (size_t)it->len + 1);
}

int top_merge(struct top *const *tops, int ntops, size_t n, struct topk_item *names, size_t *nnames,
	      struct topk_item *clients, size_t *nclients)
{
	struct topk_part *parts = calloc((size_t)ntops, sizeof(*parts));
	if (parts == NULL)
		return -1;
	int rc = 0;
	for (int i = 0; i < ntops; i++)
		pthread_mutex_lock(&tops[i]->lock);
	for (int table = 0; table < NTABLES && rc == 0; table++) {
		for (int i = 0; i < ntops; i++)
			parts[i] = (struct topk_part){ tops[i]->snap[table], tops[i]->nsnap[table], tops[i]->rest[table] };
		ssize_t got = topk_merge(parts, (size_t)ntops, table == NAMES ? names : clients, n, NULL);
		if (got < 0)
			rc = -1;
		else
			*(table == NAMES ? nnames : nclients) = (size_t)got;
	}
	for (int i = 0; i < ntops; i++)
		pthread_mutex_unlock(&tops[i]->lock);
	free(parts);
	for (size_t i = 0; rc == 0 && i < *nclients; i++)
		client_text(&clients[i]);
	return rc;
}
