/* htpasswd: an htpasswd file's users, checked by the libraries that own
 * each hash (include/sluice/htpasswd.h).
 *
 * The users are kept sorted by name in one array, each pointing at its
 * "name\0hash\0" in one block of text: a look-up is a binary search, and
 * the table is never changed after loading (a changed file is a new
 * table).
 */
#include "sluice/htpasswd.h"

#include <apr_general.h>
#include <apr_md5.h>
#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/textfile.h"

struct user {
	const char *name;
	const char *hash;
};

struct htpasswd {
	struct user *users;
	size_t n;
	char *text;	/* the names and hashes the users point into */
};

enum kind { H_NONE, H_APR, H_CRYPT };

/* The hashes htpasswd writes: apr-util checks its own (-m, -s), libcrypt
 * the crypt family (-B, -2, -5). */
static enum kind kind_of(const char *h)
{
	if (strncmp(h, "$apr1$", 6) == 0 || strncmp(h, "{SHA}", 5) == 0)
		return H_APR;
	if (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2a$", 4) == 0 ||
	    strncmp(h, "$5$", 3) == 0 || strncmp(h, "$6$", 3) == 0)
		return H_CRYPT;
	return H_NONE;
}

static pthread_once_t apr_once = PTHREAD_ONCE_INIT;
static int apr_ok;

static void start_apr(void)
{
	apr_ok = apr_initialize() == APR_SUCCESS;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct user *)a)->name, ((const struct user *)b)->name);
}

struct htpasswd *htpasswd_load(const char *path, char *err, size_t errlen)
{
	pthread_once(&apr_once, start_apr);
	if (!apr_ok) {
		snprintf(err, errlen, "apr_initialize failed");
		return NULL;
	}
	struct htpasswd *h = calloc(1, sizeof(*h));
	if (h == NULL || (h->text = textfile_read(path, 64u << 20, err, errlen)) == NULL)
		goto fail;
	size_t cap = 0;
	int lineno = 0;
	for (char *line = h->text, *next; *line; line = next) {
		lineno++;
		char *nl = strchr(line, '\n');
		next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = '\0';
		size_t len = strlen(line);
		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		char *colon = strchr(line, ':');
		if (colon == NULL || colon == line || (size_t)(colon - line) > HTPASSWD_USER_MAX) {
			snprintf(err, errlen, "%s:%d: not \"user:hash\"", path, lineno);
			goto fail;
		}
		*colon = '\0';
		const char *hash = colon + 1;
		if (kind_of(hash) == H_NONE) {
			snprintf(err, errlen,
				 "%s:%d: user %s: not a hash htpasswd writes with -m, -B, -2, -5 or -s (a plain-text "
				 "password, or crypt DES?)",
				 path, lineno, line);
			goto fail;
		}
		if (h->n == cap) {
			cap = cap ? cap * 2 : 64;
			struct user *u = realloc(h->users, cap * sizeof(*u));
			if (u == NULL) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			h->users = u;
		}
		h->users[h->n++] = (struct user){ line, hash };
	}
	qsort(h->users, h->n, sizeof(*h->users), by_name);
	for (size_t i = 1; i < h->n; i++) {
		if (strcmp(h->users[i - 1].name, h->users[i].name) == 0) {
			snprintf(err, errlen, "%s: user %s is named twice", path, h->users[i].name);
			goto fail;
		}
	}
	return h;
fail:
	htpasswd_free(h);
	return NULL;
}

void htpasswd_free(struct htpasswd *h)
{
	if (h == NULL)
		return;
	free(h->users);
	free(h->text);
	free(h);
}

size_t htpasswd_count(const struct htpasswd *h)
{
	return h->n;
}

/* Equal strings, in time that does not depend on where they differ. */
static int same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static int check_crypt(const char *password, const char *hash)
{
	/* 32 KiB of scratch: not on the stack of whichever thread asks */
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return 0;
	const char *out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	int ok = out != NULL && same_secret(out, hash);
	free(cd);
	return ok;
}

int htpasswd_check(const struct htpasswd *h, const char *user, const char *password)
{
	struct user key = { user, NULL };
	const struct user *u = bsearch(&key, h->users, h->n, sizeof(*h->users), by_name);
	if (u == NULL) {
		/* as slow as a wrong password, so that probing for user names
		 * learns nothing from the time an answer takes */
		check_crypt(password, "$5$rounds=5000$sluice$");
		return 0;
	}
	if (kind_of(u->hash) == H_APR)
		return apr_password_validate(password, u->hash) == APR_SUCCESS;
	return check_crypt(password, u->hash);
}
