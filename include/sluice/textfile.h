/* textfile: a whole text file read into memory, for the files a config
 * names (the config itself, htpasswd).  Bounded, and refusing NUL bytes: a
 * binary file given by mistake is an error, not text cut at its first NUL.
 */
#ifndef SLUICE_TEXTFILE_H
#define SLUICE_TEXTFILE_H

#include <stddef.h>

/* The contents of path with a NUL after them (the caller frees), or NULL
 * with "path: why" in err (cannot open, read error, larger than max, a
 * NUL byte, out of memory). */
char *textfile_read(const char *path, size_t max, char *err, size_t errlen);

#endif
