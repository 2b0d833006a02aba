/* The fuzz target for the config grammar (src/config.c): config_parse() on
 * any text, then config_validate(), against the promises listed in
 * tests/common/config_check.h; a broken one aborts with its name. */
#include "../common/config_check.h"
#include "target.h"

static unsigned long counts[CONFIG_OUTCOMES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum config_outcome o = CONFIG_PARSE_ERROR;
	const char *broken = config_check(data, size, &o);
	if (broken != NULL)
		fuzz_fail("config", broken, size);
	counts[o]++;
	return 0;
}

static void report(FILE *out)
{
	fprintf(out, "  parse error       %lu\n  parsed, invalid   %lu\n  parsed, valid     %lu\n",
		counts[CONFIG_PARSE_ERROR], counts[CONFIG_INVALID], counts[CONFIG_VALID]);
}

/* Several lines up to the 4352-byte line limit, and past it. */
const struct fuzz_target fuzz_target = { "config", 20000, NULL, report };
