/* The fuzz target for the request-head path of src/http.c, as exchange.c
 * on_request_head() drives it: http_head_parse() on any bytes, then
 * http_mark_hop_by_hop(), http_target_parse() of the target,
 * http_write_request() and http_write_trace(), each result parsed again;
 * and the same on the head llhttp frames from those bytes, with llhttp
 * reading the rewritten head.  Promises H1-H3, R1-R6, L1-L2 of
 * tests/common/http_check.h; a broken one aborts with its name. */
#include "../common/http_check.h"
#include "target.h"

static unsigned long counts[HC_R_OUTCOMES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *broken = http_request_check(data, size, counts);
	if (broken != NULL)
		fuzz_fail("request", broken, size);
	return 0;
}

static void report(FILE *out)
{
	fprintf(out, "  refused by http_head_parse     %lu\n  parsed, no absolute target     %lu\n"
		     "  rewritten and re-parsed        %lu\n  framed by llhttp               %lu\n"
		     "  ... rewritten, llhttp agrees   %lu\n",
		counts[HC_R_REFUSED], counts[HC_R_NO_TARGET], counts[HC_R_REWRITTEN], counts[HC_R_LLHTTP_HEAD],
		counts[HC_R_LLHTTP_REWRITTEN]);
}

/* header_max is 16k by default */
const struct fuzz_target fuzz_target = { "request", 17000, NULL, report };
