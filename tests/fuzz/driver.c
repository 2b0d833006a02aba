/* driver: run the fuzz target where there is no libFuzzer (gcc builds).
 *
 *   fuzz_tls_hello SEED ITERATIONS PATH...
 *
 * Each PATH is a seed file or a directory of them (read in name order).
 * The seeds run as they are, then ITERATIONS inputs made from them by
 * tests/common/mutate.h: the same SEED and seed files give the same inputs,
 * so a failure seen once is seen again.  When the target aborts or a
 * sanitizer stops the run, the input is saved to $FUZZ_CRASH_FILE (default
 * fuzz-crash.bin) and `fuzz_tls_hello 0 0 that-file` replays it alone.
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

#include "../common/mutate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 64
#define MAX_ITERATIONS 100000000UL
/* Room for inputs past TLS_HELLO_MAX: the parser must ignore what is beyond. */
#define INPUT_CAP (TLS_HELLO_MAX + 4096)

static uint8_t seed_bytes[MAX_SEEDS][INPUT_CAP];
static struct fuzz_input seeds[MAX_SEEDS];
static size_t nseeds;

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
	static const char msg[] = "fuzz_tls_hello: input saved to the crash file\n";
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		return;
}

static void on_abort(int sig)
{
	save_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int add_seed(const char *path)
{
	if (nseeds == MAX_SEEDS) {
		fprintf(stderr, "fuzz_tls_hello: more than %d seeds, %s left out\n", MAX_SEEDS, path);
		return 0;
	}
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "fuzz_tls_hello: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(seed_bytes[nseeds], 1, INPUT_CAP, f);
	fclose(f);
	seeds[nseeds] = (struct fuzz_input){ seed_bytes[nseeds], n };
	nseeds++;
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
		fprintf(stderr, "fuzz_tls_hello: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return add_seed(path);
	struct dirent **names;
	int n = scandir(path, &names, not_hidden, alphasort);
	if (n == -1) {
		fprintf(stderr, "fuzz_tls_hello: scandir %s: %s\n", path, strerror(errno));
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

static void run(const uint8_t *p, size_t len, unsigned long counts[])
{
	char name[256];
	current = p;
	current_len = len;
	LLVMFuzzerTestOneInput(p, len);
	counts[tls_hello_parse(p, len, name, sizeof(name))]++;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s SEED ITERATIONS PATH...\n", argv[0]);
		return 2;
	}
	char *end;
	unsigned long long seed = strtoull(argv[1], &end, 0);
	if (*end != '\0') {
		fprintf(stderr, "fuzz_tls_hello: bad seed %s\n", argv[1]);
		return 2;
	}
	unsigned long iterations = strtoul(argv[2], &end, 0);
	if (*end != '\0' || iterations > MAX_ITERATIONS) {
		fprintf(stderr, "fuzz_tls_hello: iterations must be a number up to %lu\n", MAX_ITERATIONS);
		return 2;
	}
	for (int i = 3; i < argc; i++)
		if (add_path(argv[i]) == -1)
			return 2;
	if (nseeds == 0) {
		fprintf(stderr, "fuzz_tls_hello: no seeds\n");
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
	unsigned long counts[TLS_HELLO_MALFORMED + 1] = { 0 };
	for (size_t i = 0; i < nseeds; i++)
		run(seeds[i].p, seeds[i].len, counts);

	static uint8_t buf[INPUT_CAP];
	struct fuzz_rng rng;
	fuzz_seed(&rng, seed);
	size_t len = 0;
	for (unsigned long i = 0; i < iterations; i++) {
		len = fuzz_generate(&rng, seeds, nseeds, buf, len, sizeof(buf));
		run(buf, len, counts);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("fuzz_tls_hello: seed %llu, %zu seeds + %lu mutated inputs in %.2f s, all promises kept\n", seed,
	       nseeds, iterations, secs);
	for (int r = 0; r <= TLS_HELLO_MALFORMED; r++)
		printf("  %-17s %lu\n", tls_hello_text((enum tls_hello)r), counts[r]);
	return 0;
}
