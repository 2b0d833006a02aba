/* Unit tests that the documentation keeps up with src/config.c: every
 * directive the parser accepts (config_directive_name) has an entry in the
 * man page doc/sluice.conf.5 that states its default, and a directive line,
 * commented or not, in the example config systemd/sluice.conf; the man page
 * has no entry for a directive the parser does not know; and the example
 * config loads as it is shipped.
 *
 * A man page entry is the mdoc line that introduces it, ".It Ic NAME ..."
 * (sluice.conf.5 uses ".It Ic" for directives only), up to the next such
 * line or section.  A directive line of the example config is "NAME value"
 * at the start of a line, or the same behind '#' that config_parse accepts
 * on its own: prose that merely starts with a directive's name does not
 * count.
 *
 * The paths are relative: build/unit runs from the repository root (make
 * unit, make test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/config.h"
#include "suites.h"

#define MAN_PAGE "doc/sluice.conf.5"
#define EXAMPLE_CONFIG "systemd/sluice.conf"
#define DOC_MAX (1u << 20)

/* The whole of a small text file, NUL-terminated; fails the test (naming
 * the file) when it cannot be read.  The caller frees it. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: cannot open (run build/unit from the repository root)", path);
	char *text = malloc(DOC_MAX + 1);
	ck_assert_ptr_nonnull(text);
	size_t n = fread(text, 1, DOC_MAX, f);
	int more = fgetc(f) != EOF;
	fclose(f);
	ck_assert_msg(!more, "%s: larger than %u bytes", path, DOC_MAX);
	text[n] = '\0';
	return text;
}

/* Does line (up to its newline) start with word, followed by a blank or
 * the end of the line? */
static int starts_with_word(const char *line, const char *word)
{
	size_t len = strlen(word);
	return strncmp(line, word, len) == 0 &&
	       (line[len] == ' ' || line[len] == '\t' || line[len] == '\n' || line[len] == '\0');
}

static const char *next_line(const char *p)
{
	const char *eol = strchr(p, '\n');
	return eol ? eol + 1 : p + strlen(p);
}

/* An entry of the man page starts with this macro line. */
static int is_entry(const char *line)
{
	return strncmp(line, ".It Ic ", 7) == 0;
}

/* The ".It Ic NAME" line of name in the man page, or NULL. */
static const char *man_entry(const char *man, const char *name)
{
	for (const char *p = man; *p; p = next_line(p))
		if (is_entry(p) && starts_with_word(p + 7, name))
			return p;
	return NULL;
}

/* Append ", name" (or "name" first) to a list of names; bounded. */
static void note(char *list, size_t len, const char *name)
{
	size_t used = strlen(list);
	snprintf(list + used, len - used, "%s%s", used ? ", " : "", name);
}

START_TEST(every_directive_has_a_man_page_entry)
{
	char *man = slurp(MAN_PAGE);
	char missing[4096] = "";
	size_t n = 0;
	for (const char *name; (name = config_directive_name(n)) != NULL; n++)
		if (man_entry(man, name) == NULL)
			note(missing, sizeof(missing), name);
	ck_assert_msg(n >= 30, "config_directive_name lists only %zu directives", n);
	ck_assert_msg(missing[0] == '\0', "%s has no entry (\".It Ic NAME\") for: %s", MAN_PAGE, missing);
	free(man);
}
END_TEST

/* From an entry's line to the next entry or (sub)section: "Default:" is in
 * there. */
START_TEST(every_man_page_entry_states_a_default)
{
	char *man = slurp(MAN_PAGE);
	char missing[4096] = "";
	const char *name;
	for (size_t i = 0; (name = config_directive_name(i)) != NULL; i++) {
		const char *entry = man_entry(man, name);
		if (entry == NULL)
			continue; /* the test above names it */
		const char *end = next_line(entry);
		while (*end && !is_entry(end) && strncmp(end, ".Ss ", 4) != 0 && strncmp(end, ".Sh ", 4) != 0)
			end = next_line(end);
		const char *dflt = strstr(next_line(entry), "Default:");
		if (dflt == NULL || dflt >= end)
			note(missing, sizeof(missing), name);
	}
	ck_assert_msg(missing[0] == '\0', "%s: no \"Default:\" in the entry of: %s", MAN_PAGE, missing);
	free(man);
}
END_TEST

/* The other way round: the man page documents nothing the parser refuses
 * (a directive renamed or removed). */
START_TEST(man_page_documents_only_real_directives)
{
	char *man = slurp(MAN_PAGE);
	char stale[4096] = "";
	int entries = 0;
	for (const char *p = man; *p; p = next_line(p)) {
		if (!is_entry(p))
			continue;
		entries++;
		char word[64];
		size_t len = strcspn(p + 7, " \t\n");
		snprintf(word, sizeof(word), "%.*s", (int)(len < sizeof(word) ? len : sizeof(word) - 1), p + 7);
		int known = 0;
		const char *name;
		for (size_t i = 0; !known && (name = config_directive_name(i)) != NULL; i++)
			known = strcmp(name, word) == 0;
		if (!known)
			note(stale, sizeof(stale), word);
	}
	ck_assert_msg(entries > 0, "%s: no \".It Ic\" entry at all", MAN_PAGE);
	ck_assert_msg(stale[0] == '\0', "%s documents directives the parser does not accept: %s", MAN_PAGE, stale);
	free(man);
}
END_TEST

/* Is this line of the example config (up to its newline) a directive line
 * for name: "name ..." as it stands, or "# name ..." that parses alone? */
static int example_line_sets(const char *line, const char *name)
{
	if (starts_with_word(line, name))
		return 1;
	if (line[0] != '#')
		return 0;
	const char *p = line + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!starts_with_word(p, name))
		return 0;
	char text[4400];
	size_t len = strcspn(p, "\n");
	if (len >= sizeof(text))
		return 0;
	memcpy(text, p, len);
	text[len] = '\0';
	struct config c;
	char err[4608];
	config_defaults(&c);
	int r = config_parse(&c, text, EXAMPLE_CONFIG, err, sizeof(err));
	config_clear(&c);
	return r == 0;
}

START_TEST(every_directive_is_in_the_example_config)
{
	char *conf = slurp(EXAMPLE_CONFIG);
	char missing[4096] = "";
	const char *name;
	for (size_t i = 0; (name = config_directive_name(i)) != NULL; i++) {
		int found = 0;
		for (const char *p = conf; *p && !found; p = next_line(p))
			found = example_line_sets(p, name);
		if (!found)
			note(missing, sizeof(missing), name);
	}
	ck_assert_msg(missing[0] == '\0', "%s has no directive line (commented or not) for: %s", EXAMPLE_CONFIG,
		      missing);
	free(conf);
}
END_TEST

/* The pattern above must not take prose for a directive line. */
START_TEST(prose_is_not_a_directive_line)
{
	ck_assert(example_line_sets("listen 127.0.0.1:3128\n", "listen"));
	ck_assert(example_line_sets("#   listen 0.0.0.0:3129 transparent\n", "listen"));
	ck_assert(example_line_sets("# resolver 127.0.0.1:53\n", "resolver"));
	ck_assert(!example_line_sets("# resolver: servers to ask instead of /etc/resolv.conf\n", "resolver"));
	ck_assert(!example_line_sets("# auth_basic FILE: an htpasswd file\n", "auth_basic"));
	ck_assert(!example_line_sets("# listen here, said the proxy\n", "listen"));
	ck_assert(!example_line_sets("listener 1\n", "listen"));
	ck_assert(!example_line_sets("# a listen 127.0.0.1:1\n", "listen"));
}
END_TEST

/* make install puts the example config in place as /etc/sluice/sluice.conf:
 * it must load, with everything it names, and validate. */
START_TEST(example_config_loads)
{
	struct config c;
	char err[4608] = "";
	config_defaults(&c);
	ck_assert_msg(config_load(&c, EXAMPLE_CONFIG, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(config_complete(&c, err, sizeof(err)) == 0, "%s: %s", EXAMPLE_CONFIG, err);
	ck_assert_msg(config_validate(&c, err, sizeof(err)) == 0, "%s: %s", EXAMPLE_CONFIG, err);
	config_clear(&c);
}
END_TEST

Suite *config_docs_suite(void)
{
	Suite *s = suite_create("config_docs");
	TCase *tc = tcase_create("man page");
	tcase_add_test(tc, every_directive_has_a_man_page_entry);
	tcase_add_test(tc, every_man_page_entry_states_a_default);
	tcase_add_test(tc, man_page_documents_only_real_directives);
	suite_add_tcase(s, tc);

	tc = tcase_create("example config");
	tcase_add_test(tc, every_directive_is_in_the_example_config);
	tcase_add_test(tc, prose_is_not_a_directive_line);
	tcase_add_test(tc, example_config_loads);
	suite_add_tcase(s, tc);
	return s;
}
