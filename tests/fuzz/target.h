/* target: what a fuzz target tells the gcc driver (driver.c) besides its
 * libFuzzer entry point.
 *
 * Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput, which
 * aborts with the name of the broken promise, and one struct fuzz_target
 * named fuzz_target.  libFuzzer builds ignore the struct; the driver uses
 * it to cut, mutate and count inputs.
 */
#ifndef SLUICE_TEST_FUZZ_TARGET_H
#define SLUICE_TEST_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/mutate_text.h"

struct fuzz_target {
	const char *name;
	size_t max_len;		/* inputs are cut to this many bytes */
	/* One mutation of buf[0..len) with room for cap; returns the new
	 * length.  NULL: the text mutations of mutate_text.h. */
	size_t (*mutate)(struct fuzz_rng *r, const struct fuzz_dict *d, const struct fuzz_input *seeds,
			 size_t nseeds, uint8_t *buf, size_t len, size_t cap);
	/* What the inputs came to (outcome counts), after a driver run; may be NULL. */
	void (*report)(FILE *out);
};

extern const struct fuzz_target fuzz_target;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with the name of a broken promise: the driver and libFuzzer both
 * save the input that did it. */
static inline void fuzz_fail(const char *target, const char *broken, size_t size)
{
	fprintf(stderr, "fuzz_%s: %s (%zu bytes)\n", target, broken, size);
	abort();
}

#endif
