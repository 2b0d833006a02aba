/* The fuzz target for src/tls_hello.c: the libFuzzer entry point, also run
 * by tests/fuzz/driver.c in gcc builds.  The promises it checks are listed
 * in tests/common/hello_check.h; a broken one aborts with its name. */
#include <stdio.h>
#include <stdlib.h>

#include "../common/hello_check.h"
#include "target.h"

static unsigned long counts[TLS_HELLO_MALFORMED + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum tls_hello r;
	const char *broken = tls_hello_check(data, size, &r);
	if (broken != NULL) {
		fprintf(stderr, "fuzz_tls_hello: %s (%zu bytes, result \"%s\")\n", broken, size, tls_hello_text(r));
		abort();
	}
	counts[r]++;
	return 0;
}

/* The layout-aware mutations of mutate.h (no dictionary). */
static size_t mutate(struct fuzz_rng *r, const struct fuzz_dict *d, const struct fuzz_input *seeds, size_t nseeds,
		     uint8_t *buf, size_t len, size_t cap)
{
	return fuzz_mutate(r, buf, len, cap);
}

static void report(FILE *out)
{
	for (int r = 0; r <= TLS_HELLO_MALFORMED; r++)
		fprintf(out, "  %-17s %lu\n", tls_hello_text((enum tls_hello)r), counts[r]);
}

/* Room for inputs past TLS_HELLO_MAX: the parser must ignore what is beyond. */
const struct fuzz_target fuzz_target = { "tls_hello", TLS_HELLO_MAX + 4096, mutate, report };
