/* The fuzz target for the request-target parsers of src/http.c: any bytes
 * as a CONNECT authority (http_authority_parse), as an absolute-form target
 * (http_target_parse, as is and behind "http://"), and as an origin-form
 * target with a Host value (http_origin_target_parse, split at the first
 * LF), with http_host_value() of each result; promises T1-T5 of
 * tests/common/http_check.h.  A broken one aborts with its name. */
#include "../common/http_check.h"
#include "target.h"

static unsigned long counts[HC_T_OUTCOMES];
static unsigned long inputs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *broken = http_target_check(data, size, counts);
	if (broken != NULL)
		fuzz_fail("authority", broken, size);
	inputs++;
	return 0;
}

static void report(FILE *out)
{
	fprintf(out, "  inputs                       %lu\n  CONNECT authority accepted   %lu\n"
		     "  absolute-form accepted       %lu (as is or behind http://)\n"
		     "  origin-form + Host accepted  %lu\n",
		inputs, counts[HC_T_AUTHORITY], counts[HC_T_ABSOLUTE], counts[HC_T_ORIGIN]);
}

/* Past the 255-byte host and url_max (8k). */
const struct fuzz_target fuzz_target = { "authority", 9000, NULL, report };
