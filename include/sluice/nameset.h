/* nameset: a set of short byte strings (host names, user names, address
 * prefixes), built once while a config loads and then only read, by any
 * number of threads without locks.
 *
 * Open addressing over one array of (hash, offset) slots, the strings
 * packed in one arena: a million names cost about 30 MB and one look-up
 * costs one hash and, almost always, one comparison, however many names
 * the set holds.  Bytes compare exactly: callers normalise (case, trailing
 * dots) before adding and before looking up.
 */
#ifndef SLUICE_NAMESET_H
#define SLUICE_NAMESET_H

#include <stddef.h>

#define NAMESET_KEY_MAX 1024	/* longest string a set holds */

struct nameset;

/* An empty set; NULL when out of memory.  nameset_free(NULL) is a no-op. */
struct nameset *nameset_new(void);
void nameset_free(struct nameset *s);

/* Add a copy of key[0..len).  1: added, 0: already there, -1: out of
 * memory or longer than NAMESET_KEY_MAX. */
int nameset_add(struct nameset *s, const void *key, size_t len);

/* Is key[0..len) in the set?  NULL s: an empty set. */
int nameset_has(const struct nameset *s, const void *key, size_t len);

/* How many strings the set holds. */
size_t nameset_count(const struct nameset *s);

#endif
