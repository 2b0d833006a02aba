/* The fuzz target for the response-head path of src/http.c, as exchange.c
 * on_response_head() drives it: http_head_parse() on any bytes, then
 * http_mark_hop_by_hop() and http_write_response() in every enum
 * http_conn_mode, with and without keep_upgrade, each result parsed again;
 * and the same on the head llhttp frames from those bytes, with llhttp
 * reading the rewritten head.  Promises H1-H3, S1-S2, L3 of
 * tests/common/http_check.h; a broken one aborts with its name. */
#include "../common/http_check.h"
#include "target.h"

static unsigned long counts[HC_S_OUTCOMES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *broken = http_response_check(data, size, counts);
	if (broken != NULL)
		fuzz_fail("response", broken, size);
	return 0;
}

static void report(FILE *out)
{
	fprintf(out, "  refused by http_head_parse     %lu\n  rewritten in every mode        %lu\n"
		     "  framed by llhttp               %lu\n  ... rewritten, llhttp agrees   %lu\n",
		counts[HC_S_REFUSED], counts[HC_S_REWRITTEN], counts[HC_S_LLHTTP_HEAD], counts[HC_S_LLHTTP_REWRITTEN]);
}

/* header_max is 16k by default */
const struct fuzz_target fuzz_target = { "response", 17000, NULL, report };
