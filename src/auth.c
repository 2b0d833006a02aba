/* auth: the users, the threads that check passwords, and the brute-force
 * guard (include/sluice/auth.h).
 *
 *   auth_submit ──> queue ──> checker thread: htpasswd_check on the
 *   current table (a reference held while it checks) ──> worker_post
 *
 * A checker that finds the queue empty waits at most LOOK_MS; whichever
 * checker wakes after that long looks at the file (stat: inode, size,
 * mtime) and, when it changed, loads it outside the lock and swaps it in.
 * The old table goes when its last check ends.
 */
#include "sluice/auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "sluice/client_limit.h"
#include "sluice/hash.h"
#include "sluice/log.h"

#define LOOK_MS 2000

struct table {
	struct htpasswd *users;
	int refs;		/* checks in progress, and 1 while current */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct auth_job *head, **tail;	/* jobs waiting, linked by msg.next */
	unsigned queued;		/* how many (AUTH_QUEUE_MAX at most) */
	int stopping;
	pthread_t *threads;
	int nthreads;
	char path[4096];
	struct table *current;
	struct stat seen;	/* the file as last loaded (or refused) */
	uint64_t next_look;	/* monotonic ms */
} A = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static atomic_uint generation;

unsigned auth_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void table_unref(struct table *t)
{
	if (--t->refs == 0) {
		htpasswd_free(t->users);
		free(t);
	}
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Called without the lock held: is the file new?  Then load and swap. */
static void look_at_file(void)
{
	struct stat st;
	if (stat(A.path, &st) == -1) {
		pthread_mutex_lock(&A.lock);
		int warn = A.seen.st_ino != 0;
		memset(&A.seen, 0, sizeof(A.seen));
		pthread_mutex_unlock(&A.lock);
		if (warn)
			log_warn("auth_basic %s: %s; keeping the users loaded before", A.path, strerror(errno));
		return;
	}
	pthread_mutex_lock(&A.lock);
	int changed = !same_file(&st, &A.seen);
	if (changed)
		A.seen = st; /* a file that fails to load is not tried again until it changes */
	pthread_mutex_unlock(&A.lock);
	if (!changed)
		return;
	char err[4400];
	struct htpasswd *h = htpasswd_load(A.path, err, sizeof(err));
	struct table *t = h ? calloc(1, sizeof(*t)) : NULL;
	if (t == NULL) {
		htpasswd_free(h);
		log_err("auth_basic: %s; keeping the users loaded before", h ? "out of memory" : err);
		return;
	}
	t->users = h;
	t->refs = 1;
	pthread_mutex_lock(&A.lock);
	struct table *old = A.current;
	A.current = t;
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
	if (old)
		table_unref(old);
	pthread_mutex_unlock(&A.lock);
	log_info("auth_basic %s: %zu users loaded", A.path, htpasswd_count(h));
}

void auth_reload(void)
{
	pthread_mutex_lock(&A.lock);
	memset(&A.seen, 0, sizeof(A.seen)); /* read it even if it looks the same */
	A.next_look = 0;
	pthread_cond_signal(&A.cond);
	pthread_mutex_unlock(&A.lock);
}

static void *checker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&A.lock);
	for (;;) {
		uint64_t now = now_ms();
		if (now >= A.next_look) {
			A.next_look = now + LOOK_MS;
			pthread_mutex_unlock(&A.lock);
			look_at_file();
			pthread_mutex_lock(&A.lock);
			continue;
		}
		if (A.head == NULL) {
			if (A.stopping)
				break;
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			uint64_t wait = A.next_look - now;
			until.tv_sec += (time_t)(wait / 1000);
			until.tv_nsec += (long)(wait % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&A.cond, &A.lock, &until);
			continue;
		}
		struct auth_job *job = A.head;
		A.head = (struct auth_job *)job->msg.next;
		if (A.head == NULL)
			A.tail = &A.head;
		A.queued--;
		if (atomic_load_explicit(&job->abandoned, memory_order_relaxed)) {
			/* nobody waits for it: no hash worked out for nothing
			 * (a client reconnecting with new credentials over and
			 * over cannot keep the threads busy) */
			pthread_mutex_unlock(&A.lock);
			job->ok = 0;
			job->unchecked = 1;
			worker_post(job->w, &job->msg);
			pthread_mutex_lock(&A.lock);
			continue;
		}
		struct table *t = A.current;
		t->refs++;
		job->gen = auth_generation();
		pthread_mutex_unlock(&A.lock);
		job->ok = htpasswd_check(t->users, job->user, job->password);
		explicit_bzero(job->password, sizeof(job->password));
		pthread_mutex_lock(&A.lock);
		table_unref(t);
		pthread_mutex_unlock(&A.lock);
		worker_post(job->w, &job->msg);
		pthread_mutex_lock(&A.lock);
	}
	pthread_mutex_unlock(&A.lock);
	return NULL;
}

int auth_start(const char *path, int threads, char *err, size_t errlen)
{
	snprintf(A.path, sizeof(A.path), "%s", path);
	struct htpasswd *h = htpasswd_load(path, err, errlen);
	if (h == NULL)
		return -1;
	struct stat st;
	if (stat(path, &st) == 0)
		A.seen = st;
	A.current = calloc(1, sizeof(*A.current));
	A.threads = calloc((size_t)threads, sizeof(*A.threads));
	if (A.current == NULL || A.threads == NULL) {
		htpasswd_free(h);
		free(A.current);
		free(A.threads);
		A.current = NULL;
		A.threads = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	A.current->users = h;
	A.current->refs = 1;
	A.head = NULL;
	A.tail = &A.head;
	A.stopping = 0;
	A.next_look = now_ms() + LOOK_MS;
	atomic_fetch_add_explicit(&generation, 1, memory_order_release);
	for (A.nthreads = 0; A.nthreads < threads; A.nthreads++) {
		int r = pthread_create(&A.threads[A.nthreads], NULL, checker, NULL);
		if (r != 0) {
			snprintf(err, errlen, "pthread_create: %s", strerror(r));
			auth_stop();
			return -1;
		}
		pthread_setname_np(A.threads[A.nthreads], "sluice-auth");
	}
	log_info("auth_basic %s: %zu users, %d checking threads", path, htpasswd_count(h), threads);
	return 0;
}

void auth_stop(void)
{
	pthread_mutex_lock(&A.lock);
	A.stopping = 1;
	/* what was never checked goes back unanswered */
	struct auth_job *job = A.head;
	A.head = NULL;
	A.tail = &A.head;
	A.queued = 0;
	pthread_cond_broadcast(&A.cond);
	pthread_mutex_unlock(&A.lock);
	while (job) {
		struct auth_job *next = (struct auth_job *)job->msg.next;
		job->ok = 0;
		job->unchecked = 1;
		worker_post(job->w, &job->msg);
		job = next;
	}
	for (int i = 0; i < A.nthreads; i++)
		pthread_join(A.threads[i], NULL);
	free(A.threads);
	A.threads = NULL;
	A.nthreads = 0;
	if (A.current)
		table_unref(A.current);
	A.current = NULL;
}

int auth_submit(struct auth_job *job)
{
	job->msg.next = NULL;
	pthread_mutex_lock(&A.lock);
	if (A.queued >= AUTH_QUEUE_MAX || A.stopping || A.nthreads == 0) {
		pthread_mutex_unlock(&A.lock);
		return -1;
	}
	A.queued++;
	*A.tail = job;
	A.tail = (struct auth_job **)&job->msg.next;
	pthread_cond_signal(&A.cond);
	pthread_mutex_unlock(&A.lock);
	return 0;
}

/* --- Basic credentials (RFC 7617) ---------------------------------------------------- */

static int b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 with padding: out gets at most outsize - 1 bytes and a
 * NUL.  The length, or -1. */
static int unbase64(const char *in, size_t len, char *out, size_t outsize)
{
	if (len == 0 || len % 4 != 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad || (v[k] = b64(c)) < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		unsigned char bytes[3] = { (unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w };
		for (int k = 0; k < 3 - pad; k++) {
			if (n + 1 >= outsize)
				return -1;
			out[n++] = (char)bytes[k];
		}
	}
	out[n] = '\0';
	return (int)n;
}

int auth_parse_basic(const char *v, size_t len, char *user, size_t usize, char *password, size_t psize,
		     const char **why)
{
	*why = "malformed Proxy-Authorization";
	if (len > AUTH_VALUE_MAX) {
		*why = "Proxy-Authorization too long";
		return -1;
	}
	if (len < 6 || strncasecmp(v, "Basic", 5) != 0 || (v[5] != ' ' && v[5] != '\t')) {
		*why = "Proxy-Authorization is not Basic";
		return -1;
	}
	size_t i = 5;
	while (i < len && (v[i] == ' ' || v[i] == '\t'))
		i++;
	char plain[AUTH_VALUE_MAX];
	int n = unbase64(v + i, len - i, plain, sizeof(plain));
	if (n < 0)
		return -1;
	char *colon = memchr(plain, ':', (size_t)n);
	if (colon == NULL || colon == plain)
		return -1;
	size_t ul = (size_t)(colon - plain), pl = (size_t)n - ul - 1;
	if (ul >= usize || pl >= psize)
		return -1;
	for (int k = 0; k < n; k++)
		if ((unsigned char)plain[k] < 0x20 || plain[k] == 0x7f)
			return -1; /* RFC 7617 2: no control characters */
	memcpy(user, plain, ul);
	user[ul] = '\0';
	memcpy(password, colon + 1, pl);
	password[pl] = '\0';
	explicit_bzero(plain, sizeof(plain));
	return 0;
}

/* --- the brute-force guard ------------------------------------------------------------ */

#define GUARD_SLOTS 1024

struct guard {
	uint8_t addr[16];
	uint32_t fails;
	uint64_t since;	/* ms the window began */
};

static struct {
	pthread_mutex_t lock;
	struct guard slot[GUARD_SLOTS];
} G = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct guard *guard_of(const union sockaddr_any *c, int make, uint64_t now)
{
	uint8_t key[16];
	client_key(c, key);
	struct guard *g = &G.slot[hash_bytes(key, 16) % GUARD_SLOTS];
	if (memcmp(g->addr, key, 16) == 0)
		return g;
	/* another address's slot: taken over once its window is over */
	if (!make || (g->fails && now - g->since < AUTH_GUARD_WINDOW_MS))
		return NULL;
	memcpy(g->addr, key, 16);
	g->fails = 0;
	g->since = now;
	return g;
}

void auth_client_failed(const union sockaddr_any *client, uint64_t now)
{
	pthread_mutex_lock(&G.lock);
	struct guard *g = guard_of(client, 1, now);
	if (g) {
		if (now - g->since >= AUTH_GUARD_WINDOW_MS) {
			g->since = now;
			g->fails = 0;
		}
		g->fails++;
	}
	pthread_mutex_unlock(&G.lock);
}

int auth_client_slowed(const union sockaddr_any *client, uint64_t now)
{
	pthread_mutex_lock(&G.lock);
	struct guard *g = guard_of(client, 0, now);
	int slowed = g && now - g->since < AUTH_GUARD_WINDOW_MS && g->fails >= AUTH_GUARD_FAILS;
	pthread_mutex_unlock(&G.lock);
	return slowed;
}
