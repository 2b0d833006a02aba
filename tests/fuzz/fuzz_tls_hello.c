/* The fuzz target for src/tls_hello.c: the libFuzzer entry point, also run
 * by tests/fuzz/driver.c in gcc builds.  The promises it checks are listed
 * in tests/common/hello_check.h; a broken one aborts with its name. */
#include <stdio.h>
#include <stdlib.h>

#include "../common/hello_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum tls_hello r;
	const char *broken = tls_hello_check(data, size, &r);
	if (broken != NULL) {
		fprintf(stderr, "fuzz_tls_hello: %s (%zu bytes, result \"%s\")\n", broken, size, tls_hello_text(r));
		abort();
	}
	return 0;
}
