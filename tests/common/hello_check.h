/* hello_check: what tls_hello_parse() promises, checked on one input.
 *
 * Shared by the fuzz target (tests/fuzz/fuzz_tls_hello.c, for libFuzzer and
 * the gcc driver) and the in-process fuzz test of the unit suite.  For
 * r = tls_hello_parse(data, size):
 *
 *   1. r is one of the enum's values, and the same on a second call.
 *   2. On TLS_HELLO_SNI, name is NUL-terminated, 1..255 characters of
 *      [a-z0-9._-]; with namecap one byte too small for it the answer is
 *      TLS_HELLO_MALFORMED, with namecap just enough it is the same name.
 *      On any other result name is untouched.
 *   3. r is never TLS_HELLO_MORE when size >= TLS_HELLO_MAX.
 *   4. Results are final: for any prefix data[0..k), the result is
 *      TLS_HELLO_MORE or r itself (on SNI, with the same name); and if r is
 *      not TLS_HELLO_MORE, bytes appended after data change nothing.  (A
 *      prefix can reach a terminal result earlier than the whole input, but
 *      never a different one.)  Some prefixes are checked per input, not all
 *      of them: every prefix would make each input cost O(size^2).
 *   5. Framing does not matter: a complete hello (SNI or no SNI) cut into
 *      records of another size gives the same result, or TLS_HELLO_TOO_BIG
 *      when the new framing no longer fits in TLS_HELLO_MAX bytes.
 *
 * Every call gets its bytes in a copy that ends where a static array ends,
 * so that under ASan a read one byte past len is an error, even for the
 * prefixes and whatever buffer the caller keeps inputs in.
 */
#ifndef SLUICE_TEST_COMMON_HELLO_CHECK_H
#define SLUICE_TEST_COMMON_HELLO_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mutate.h"
#include "sluice/tls_hello.h"

#define HELLO_CHECK_NAME 256
#define HELLO_CHECK_FILL 0xa5	/* in name before each call, to see writes */

/* One call with a freshly filled name; says whether name was written. */
static inline enum tls_hello hello_call(const uint8_t *p, size_t len, char *name, size_t namecap,
					int *written)
{
	memset(name, HELLO_CHECK_FILL, HELLO_CHECK_NAME);
	enum tls_hello r = tls_hello_parse(p, len, name, namecap);
	*written = 0;
	for (size_t i = 0; i < HELLO_CHECK_NAME; i++)
		if ((uint8_t)name[i] != HELLO_CHECK_FILL)
			*written = 1;
	return r;
}

/* FNV-1a, to pick prefix lengths and a framing from the input itself:
 * the checks stay deterministic whoever calls them. */
static inline uint64_t hello_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Room for a copy of len bytes that ends where a static array does: any
 * read past len then lands in ASan's redzone, whatever buffer the caller
 * had the input in.  NULL when len does not fit. */
static inline uint8_t *hello_at_end(size_t len)
{
	static uint8_t room[2 * TLS_HELLO_MAX];
	return len <= sizeof(room) ? room + sizeof(room) - len : NULL;
}

/* tls_hello_parse on a copy of p[0..len) that ends where its array ends. */
static inline enum tls_hello hello_call_exact(const uint8_t *p, size_t len, char *name, size_t namecap,
					      int *written)
{
	uint8_t *copy = hello_at_end(len);
	if (copy == NULL)
		return hello_call(p, len, name, namecap, written);
	memmove(copy, p, len);
	return hello_call(copy, len, name, namecap, written);
}

/* NULL when every promise holds for data[0..size), else the one broken.
 * *res gets the result. */
static inline const char *tls_hello_check(const uint8_t *data, size_t size, enum tls_hello *res)
{
	static uint8_t msg[TLS_HELLO_MAX];
	char name[HELLO_CHECK_NAME], again[HELLO_CHECK_NAME];
	int written, written2;

	enum tls_hello r = hello_call_exact(data, size, name, sizeof(name), &written);
	*res = r;
	if ((unsigned)r > TLS_HELLO_MALFORMED)
		return "result out of range";
	if (hello_call_exact(data, size, again, sizeof(again), &written2) != r ||
	    memcmp(name, again, sizeof(name)) != 0)
		return "second call differs";

	size_t nlen = 0;
	if (r == TLS_HELLO_SNI) {
		nlen = strnlen(name, sizeof(name));
		if (nlen == 0 || nlen > 255)
			return "SNI name empty, too long or not NUL-terminated";
		for (size_t i = 0; i < nlen; i++) {
			char c = name[i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
				return "SNI name has a character outside [a-z0-9._-]";
		}
		if (hello_call_exact(data, size, again, nlen, &written2) != TLS_HELLO_MALFORMED || written2)
			return "a name that does not fit namecap is not malformed";
		if (hello_call_exact(data, size, again, nlen + 1, &written2) != TLS_HELLO_SNI ||
		    strcmp(again, name) != 0)
			return "a name that just fits namecap is not the same";
	} else if (written) {
		return "name written without SNI";
	}

	if (r == TLS_HELLO_MORE && size >= TLS_HELLO_MAX)
		return "MORE with TLS_HELLO_MAX bytes or more";

	uint64_t h = hello_hash(data, size);
	size_t stop = size < TLS_HELLO_MAX ? size : TLS_HELLO_MAX;	/* past it, nothing counts */
	if (stop > 0) {
		size_t cuts[4] = { stop - 1, stop / 2, (size_t)(h % stop), (size_t)((h >> 32) % stop) };
		for (size_t i = 0; i < 4; i++) {
			enum tls_hello pr = hello_call_exact(data, cuts[i], again, sizeof(again), &written2);
			if (pr == TLS_HELLO_MORE)
				continue;
			if (pr != r)
				return "a prefix has a different terminal result";
			if (r == TLS_HELLO_SNI && strcmp(again, name) != 0)
				return "a prefix has a different name";
		}
	}

	if (r != TLS_HELLO_MORE && size < TLS_HELLO_MAX) {
		static const uint8_t tail[] = { 20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 5, 'h', 'e', 'l', 'l', 'o' };
		uint8_t *longer = hello_at_end(size + sizeof(tail));
		memmove(longer, data, size);
		memcpy(longer + size, tail, sizeof(tail));
		enum tls_hello er = hello_call(longer, size + sizeof(tail), again, sizeof(again), &written2);
		if (er != r || (r == TLS_HELLO_SNI && strcmp(again, name) != 0))
			return "bytes after a final result change it";
	}

	if (r == TLS_HELLO_SNI || r == TLS_HELLO_NO_SNI) {
		size_t n = tls_unframe(data, size, msg, sizeof(msg));
		size_t frag = 1 + (size_t)(h >> 16) % 700;
		size_t whole = tls_frame(msg, n, frag, NULL, 0);
		size_t len = whole < TLS_HELLO_MAX ? whole : TLS_HELLO_MAX;	/* enough to decide */
		uint8_t *framed = hello_at_end(len);
		tls_frame(msg, n, frag, framed, len);
		enum tls_hello fr = hello_call(framed, len, again, sizeof(again), &written2);
		if (whole > TLS_HELLO_MAX ? fr != TLS_HELLO_TOO_BIG
					  : fr != r || (r == TLS_HELLO_SNI && strcmp(again, name) != 0))
			return "another framing of the same hello gives another result";
	}
	return NULL;
}

#endif
