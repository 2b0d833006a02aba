/* driver: run a fuzz target where there is no libFuzzer (gcc builds).
 *
 *   fuzz_NAME [-dict=FILE] SEED ITERATIONS PATH...
 *
 * Each PATH is a seed file or a directory of them (read in name order).
 * The seeds run as they are, then ITERATIONS inputs made from them: the
 * target's own mutations (struct fuzz_target in target.h) or those of
 * tests/common/mutate_text.h with the tokens of FILE, a libFuzzer
 * dictionary.  The same SEED, seed files and dictionary give the same
 * inputs, so a failure seen once is seen again.  When the target aborts or
 * a sanitizer stops the run, the input is saved to $FUZZ_CRASH_FILE
 * (default fuzz-crash.bin) and `fuzz_NAME 0 0 that-file` replays it alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

#include "target.h"

#define MAX_SEEDS 256
#define MAX_ITERATIONS 100000000UL

static struct fuzz_input seeds[MAX_SEEDS];
static size_t nseeds;
static struct fuzz_dict dict;

/* The input being run, for the crash handlers. */
static const uint8_t *current;
static size_t current_len;
static const char *crash_file = "fuzz-crash.bin";

/* Async-signal-safe: open and write only. */
static void save_current(void)
{
	if (current == NULL)
		return;
	int fd = open(crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1)
		return;
	for (size_t off = 0; off < current_len;) {
		ssize_t n = write(fd, current + off, current_len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	static const char msg[] = "fuzz driver: input saved to the crash file\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		return;
}

static void on_abort(int sig)
{
	save_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The whole file, cut to max_len; NULL on error (reported). */
static uint8_t *slurp(const char *path, size_t max_len, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "fuzz_%s: open %s: %s\n", fuzz_target.name, path, strerror(errno));
		return NULL;
	}
	uint8_t *p = malloc(max_len + 1);
	if (p == NULL) {
		fclose(f);
		return NULL;
	}
	*len = fread(p, 1, max_len, f);
	fclose(f);
	return p;
}

static int add_seed(const char *path)
{
	if (nseeds == MAX_SEEDS) {
		fprintf(stderr, "fuzz_%s: more than %d seeds, %s left out\n", fuzz_target.name, MAX_SEEDS, path);
		return 0;
	}
	size_t n;
	uint8_t *p = slurp(path, fuzz_target.max_len, &n);
	if (p == NULL)
		return -1;
	seeds[nseeds++] = (struct fuzz_input){ p, n };
	return 0;
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int add_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) == -1) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", fuzz_target.name, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return add_seed(path);
	struct dirent **names;
	int n = scandir(path, &names, not_hidden, alphasort);
	if (n == -1) {
		fprintf(stderr, "fuzz_%s: scandir %s: %s\n", fuzz_target.name, path, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char file[4096];
		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (rc == 0)
			rc = add_seed(file);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A libFuzzer dictionary: one token a line, name="value" or "value", with
 * \\, \" and \xAB escapes; '#' lines are comments. */
static int load_dict(const char *path)
{
	size_t len;
	uint8_t *text = slurp(path, 1 << 20, &len);
	if (text == NULL)
		return -1;
	text[len] = '\0';
	int lineno = 0;
	for (char *line = (char *)text, *next; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		char *q = strchr(line, '"');
		char *end = q ? strrchr(line, '"') : NULL;
		if (q == NULL || end == q) {
			fprintf(stderr, "fuzz_%s: %s:%d: not a token\n", fuzz_target.name, path, lineno);
			goto fail;
		}
		if (dict.n == FUZZ_DICT_MAX)
			break;
		uint8_t *tok = dict.tok[dict.n];
		size_t n = 0;
		for (char *c = q + 1; c < end && n < FUZZ_TOKEN_MAX; c++) {
			if (*c != '\\' || c + 1 >= end) {
				tok[n++] = (uint8_t)*c;
			} else if (c[1] == 'x' && c + 3 < end && hexval(c[2]) >= 0 && hexval(c[3]) >= 0) {
				tok[n++] = (uint8_t)(hexval(c[2]) * 16 + hexval(c[3]));
				c += 3;
			} else {
				tok[n++] = (uint8_t)c[1];
				c++;
			}
		}
		dict.len[dict.n++] = (uint8_t)n;
	}
	free(text);
	return 0;
fail:
	free(text);
	return -1;
}

static void run(const uint8_t *p, size_t len)
{
	current = p;
	current_len = len;
	LLVMFuzzerTestOneInput(p, len);
}

int main(int argc, char **argv)
{
	const char *name = fuzz_target.name;
	int a = 1;
	if (a < argc && strncmp(argv[a], "-dict=", 6) == 0) {
		if (load_dict(argv[a] + 6) == -1)
			return 2;
		a++;
	}
	if (argc - a < 3) {
		fprintf(stderr, "usage: %s [-dict=FILE] SEED ITERATIONS PATH...\n", argv[0]);
		return 2;
	}
	char *end;
	unsigned long long seed = strtoull(argv[a], &end, 0);
	if (*end != '\0') {
		fprintf(stderr, "fuzz_%s: bad seed %s\n", name, argv[a]);
		return 2;
	}
	unsigned long iterations = strtoul(argv[a + 1], &end, 0);
	if (*end != '\0' || iterations > MAX_ITERATIONS) {
		fprintf(stderr, "fuzz_%s: iterations must be a number up to %lu\n", name, MAX_ITERATIONS);
		return 2;
	}
	for (int i = a + 2; i < argc; i++)
		if (add_path(argv[i]) == -1)
			return 2;
	if (nseeds == 0) {
		fprintf(stderr, "fuzz_%s: no seeds\n", name);
		return 2;
	}
	if (getenv("FUZZ_CRASH_FILE") != NULL)
		crash_file = getenv("FUZZ_CRASH_FILE");
	signal(SIGABRT, on_abort);
#ifdef __SANITIZE_ADDRESS__
	__sanitizer_set_death_callback(save_current);
#endif

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < nseeds; i++)
		run(seeds[i].p, seeds[i].len);

	size_t cap = fuzz_target.max_len;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return 2;
	struct fuzz_rng rng;
	fuzz_seed(&rng, seed);
	size_t len = 0;
	for (unsigned long i = 0; i < iterations; i++) {
		/* mostly a fresh copy of a seed, sometimes the last input again,
		 * so that mutations stack deeper; then 1..4 mutations */
		if (len == 0 || fuzz_below(&rng, 4) != 0) {
			const struct fuzz_input *s = &seeds[fuzz_below(&rng, nseeds)];
			len = s->len;
			memcpy(buf, s->p, len);
		}
		for (size_t n = 1 + fuzz_below(&rng, 4); n > 0; n--)
			len = fuzz_target.mutate ? fuzz_target.mutate(&rng, &dict, seeds, nseeds, buf, len, cap)
						 : text_mutate(&rng, &dict, seeds, nseeds, buf, len, cap);
		run(buf, len);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("fuzz_%s: seed %llu, %zu seeds + %lu mutated inputs in %.2f s, all promises kept\n", name, seed,
	       nseeds, iterations, secs);
	if (fuzz_target.report)
		fuzz_target.report(stdout);
	free(buf);
	for (size_t i = 0; i < nseeds; i++)
		free((void *)seeds[i].p);
	return 0;
}
