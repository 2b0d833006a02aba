/* htpasswd: the users of an htpasswd file (as Apache's `htpasswd` writes
 * it), and checking a password against one.
 *
 * Every hash htpasswd writes is taken, and checked by a maintained
 * library, never by code of ours: apr1-MD5 (its default, "$apr1$") and
 * SHA-1 ("{SHA}") by apr-util's apr_password_validate; bcrypt (-B,
 * "$2y$"), SHA-256 and SHA-512 crypt (-2 and -5, "$5$" and "$6$") by
 * libcrypt's crypt_r.  A line holding anything else (a plain-text
 * password, -p; the old crypt DES, -d) is refused with the file and line,
 * as is a user named twice.
 *
 * Loading is cheap; checking is slow on purpose (bcrypt: tens of ms) and
 * must never run on a reactor thread.  A loaded table is read-only: any
 * number of threads may check against it at once.
 */
#ifndef SLUICE_HTPASSWD_H
#define SLUICE_HTPASSWD_H

#include <stddef.h>

#define HTPASSWD_USER_MAX 255	/* longest user name taken */

struct htpasswd;

/* Read path.  NULL with "path:line: what" (or "path: why") in err. */
struct htpasswd *htpasswd_load(const char *path, char *err, size_t errlen);
void htpasswd_free(struct htpasswd *h);

/* How many users the file names. */
size_t htpasswd_count(const struct htpasswd *h);

/* 1 when user is in the file and password is theirs, else 0 (an unknown
 * user costs a hash check too, so that the time an answer takes tells
 * little about which names exist). */
int htpasswd_check(const struct htpasswd *h, const char *user, const char *password);

#endif
