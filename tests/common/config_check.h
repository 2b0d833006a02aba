/* config_check: what config_parse() and config_validate() promise, checked
 * on one text.
 *
 * Used by tests/fuzz/fuzz_config.c (libFuzzer and the gcc driver), and
 * written to be usable in-process by a unit test as hello_check.h is.  For
 * text (what a file holds up to its first NUL; config_load refuses a file
 * with a NUL) and r = config_parse(c, text, name, err, errlen) on a fresh
 * config_defaults():
 *
 *   1. r is 0 or -1.
 *   2. Deterministic: a second parse on fresh defaults gives the same r, a
 *      byte-identical struct config (but for where its policy and address
 *      sets, acl.h, sit in memory: each is in both or in neither) and the
 *      same message.
 *   3. On -1, err is NUL-terminated and reads "NAME:N: ..." with NAME the
 *      name given and N a line of the text; the lines before N parse
 *      (r 0), and the text through line N fails with the same message: the
 *      error names the first bad line.  With a shorter errlen the message
 *      is the same, cut (snprintf's promise).
 *   4. On 0, the text cut at any line boundary and parsed as two pieces
 *      into one config (as defaults, file and command line are applied)
 *      gives the same struct.  config_validate() returns 0 or -1, the same
 *      twice, with a NUL-terminated non-empty message on -1.
 *   5. Whatever r, the struct is sane: counts within their arrays (at
 *      least one connect port on 0), every port of connect_ports 1..65535, every string field NUL-terminated
 *      inside its array, enums in range, listeners of a known family.
 *
 * The text is copied to the end of a heap block of its exact size, so an
 * over-read past its NUL is an ASan error.
 */
#ifndef SLUICE_TEST_COMMON_CONFIG_CHECK_H
#define SLUICE_TEST_COMMON_CONFIG_CHECK_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/config.h"

/* A name with a '%' and a ':' in it: a message that formats the name, or
 * reads the line number after the first colon, shows up. */
#define CONFIG_CHECK_NAME "fuzz%s:.conf"
#define CONFIG_CHECK_ERR 512
#define CONFIG_CHECK_FILL 0x5a

/* Outcomes, for the driver's report. */
enum config_outcome {
	CONFIG_PARSE_ERROR,	/* config_parse -1 */
	CONFIG_INVALID,		/* parsed, config_validate -1 */
	CONFIG_VALID,
	CONFIG_OUTCOMES,
};

static inline int config_check_strz(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Promise 5.  After a -1 the config is half applied: connect_ports may
 * have been emptied by the line that failed. */
static inline const char *config_check_sane(const struct config *c, int r)
{
	if (c->nlisten < 0 || c->nlisten > CONFIG_MAX_LISTEN)
		return "nlisten outside 0..CONFIG_MAX_LISTEN";
	for (int i = 0; i < c->nlisten; i++) {
		const struct listen_cfg *l = &c->listen[i];
		if (!config_check_strz(l->text, sizeof(l->text)))
			return "a listener's text is not NUL-terminated";
		if ((unsigned)l->kind > LISTEN_ADMIN)
			return "a listener's kind is out of range";
		if (l->proxy_protocol > 1)
			return "a listener's proxy_protocol is not 0 or 1";
		if (!(l->addr.ss_family == AF_INET && l->addrlen == sizeof(struct sockaddr_in)) &&
		    !(l->addr.ss_family == AF_INET6 && l->addrlen == sizeof(struct sockaddr_in6)))
			return "a listener's address is neither IPv4 nor IPv6";
	}
	if (c->nconnect_ports < (r == 0) || c->nconnect_ports > CONFIG_MAX_CONNECT_PORTS)
		return "nconnect_ports outside 1..CONFIG_MAX_CONNECT_PORTS";
	for (int i = 0; i < c->nconnect_ports; i++)
		if (c->connect_ports[i] == 0)
			return "connect_ports holds port 0";
	if (!config_check_strz(c->resolver, sizeof(c->resolver)) ||
	    !config_check_strz(c->access_log, sizeof(c->access_log)) ||
	    !config_check_strz(c->error_log, sizeof(c->error_log)) ||
	    !config_check_strz(c->via_name, sizeof(c->via_name)))
		return "a string field is not NUL-terminated";
	if (c->workers < 0 || c->workers > 1024)
		return "workers outside 0..1024";
	if (c->max_connections < 0)
		return "max_connections negative";
	if ((unsigned)c->access_format > ACCESS_JSON)
		return "access_format out of range";
	if ((unsigned)c->log_level > LOG_DEBUG)
		return "log_level out of range";
	if (c->tunnel_splice != 0 && c->tunnel_splice != 1)
		return "tunnel_splice not 0 or 1";
	return NULL;
}

/* The same config, but for the addresses of what it owns on the heap (its
 * policy and address sets, acl.h). */
static inline int config_check_same(const struct config *a, const struct config *b)
{
	static struct config x, y;
	x = *a;
	y = *b;
	x.policy = y.policy = NULL;
	x.proxy_protocol_from = y.proxy_protocol_from = NULL;
	x.admin_allow = y.admin_allow = NULL;
	return (a->policy == NULL) == (b->policy == NULL) &&
	       (a->proxy_protocol_from == NULL) == (b->proxy_protocol_from == NULL) &&
	       (a->admin_allow == NULL) == (b->admin_allow == NULL) && memcmp(&x, &y, sizeof(x)) == 0;
}

/* config_parse of text on fresh defaults into c (what it held before is
 * freed), err filled first. */
static inline int config_check_parse(struct config *c, const char *text, char *err, size_t errlen)
{
	config_clear(c);
	config_defaults(c);
	memset(err, CONFIG_CHECK_FILL, CONFIG_CHECK_ERR);
	return config_parse(c, text, CONFIG_CHECK_NAME, err, errlen);
}

/* A NUL-terminated copy of p[0..n) at the end of a block of its size. */
static inline char *config_check_copy(const char *p, size_t n)
{
	char *t = malloc(n + 1);
	if (t != NULL) {
		memcpy(t, p, n);
		t[n] = '\0';
	}
	return t;
}

/* NULL when every promise holds for data[0..size), else the one broken.
 * *outcome gets what the text came to. */
static inline const char *config_check(const uint8_t *data, size_t size, enum config_outcome *outcome)
{
	/* a config and its twin are 9 kB each: static, not on the stack */
	static struct config a, b;
	static char err[CONFIG_CHECK_ERR], err2[CONFIG_CHECK_ERR];
	const char *broken = NULL;
	const size_t namelen = strlen(CONFIG_CHECK_NAME);

	size_t len = strnlen((const char *)data, size);	/* the text ends at a NUL */
	char *text = config_check_copy((const char *)data, len);
	if (text == NULL)
		return NULL;
	*outcome = CONFIG_PARSE_ERROR;

	int r = config_check_parse(&a, text, err, sizeof(err));
	if (r != 0 && r != -1) {
		broken = "config_parse returned neither 0 nor -1";
		goto done;
	}
	if ((broken = config_check_sane(&a, r)) != NULL)
		goto done;
	if (config_check_parse(&b, text, err2, sizeof(err2)) != r || !config_check_same(&a, &b)) {
		broken = "a second parse of the same text differs";
		goto done;
	}

	if (r == -1) {
		if (!config_check_strz(err, sizeof(err))) {
			broken = "error message not NUL-terminated";
			goto done;
		}
		if (strcmp(err, err2) != 0) {
			broken = "a second parse gives another message";
			goto done;
		}
		/* "NAME:N: " */
		const char *p = err + namelen;
		unsigned long line = 0;
		if (strncmp(err, CONFIG_CHECK_NAME, namelen) != 0 || *p++ != ':' || !(*p >= '1' && *p <= '9')) {
			broken = "error message does not start with \"name:line\"";
			goto done;
		}
		while (*p >= '0' && *p <= '9')
			line = line * 10 + (unsigned long)(*p++ - '0');
		if (p[0] != ':' || p[1] != ' ' || p[2] == '\0') {
			broken = "error message does not start with \"name:line: \" and a reason";
			goto done;
		}
		/* where line N starts and ends */
		size_t start = 0;
		for (unsigned long n = 1; n < line; n++) {
			const char *lf = memchr(text + start, '\n', len - start);
			if (lf == NULL) {
				broken = "error names a line past the end of the text";
				goto done;
			}
			start = (size_t)(lf - text) + 1;
		}
		if (start == len && line > 1) {
			broken = "error names a line past the end of the text";
			goto done;
		}
		const char *lf = memchr(text + start, '\n', len - start);
		size_t stop = lf ? (size_t)(lf - text) + 1 : len;
		char *before = config_check_copy(text, start), *through = config_check_copy(text, stop);
		if (before && through) {
			if (config_check_parse(&b, before, err2, sizeof(err2)) != 0)
				broken = "the lines before the one an error names do not parse";
			else if (config_check_parse(&b, through, err2, sizeof(err2)) != -1 || strcmp(err, err2) != 0)
				broken = "the text through the line an error names parses, or fails otherwise";
		}
		free(before);
		free(through);
		if (broken)
			goto done;
		/* snprintf's promise, with an err of cut bytes */
		size_t elen = strlen(err), cut = 1 + (size_t)(len * 2654435761u % elen);
		if (config_check_parse(&b, text, err2, cut) != -1 || err2[cut - 1] != '\0' ||
		    strncmp(err, err2, cut - 1) != 0 || (uint8_t)err2[cut] != CONFIG_CHECK_FILL) {
			broken = "with a shorter errlen the message is not the same message cut";
			goto done;
		}
		goto done;
	}

	/* the same text in two pieces, cut at a line boundary */
	size_t cut = len > 0 ? (size_t)(len * 2654435761u % len) : 0;
	while (cut > 0 && text[cut - 1] != '\n')
		cut--;
	char *first = config_check_copy(text, cut);
	if (first) {
		config_clear(&b);
		config_defaults(&b);
		if (config_parse(&b, first, CONFIG_CHECK_NAME, err2, sizeof(err2)) != 0 ||
		    config_parse(&b, text + cut, CONFIG_CHECK_NAME, err2, sizeof(err2)) != 0 ||
		    !config_check_same(&a, &b))
			broken = "the text parsed in two pieces gives another config";
		free(first);
		if (broken)
			goto done;
	}

	memset(err, CONFIG_CHECK_FILL, sizeof(err));
	int v = config_validate(&a, err, sizeof(err));
	if (v != 0 && v != -1) {
		broken = "config_validate returned neither 0 nor -1";
		goto done;
	}
	if (config_validate(&a, err2, sizeof(err2)) != v) {
		broken = "config_validate differs on a second call";
		goto done;
	}
	if (v == -1 && (!config_check_strz(err, sizeof(err)) || err[0] == '\0')) {
		broken = "config_validate failed without a NUL-terminated message";
		goto done;
	}
	*outcome = v == 0 ? CONFIG_VALID : CONFIG_INVALID;
done:
	free(text);
	config_clear(&a);
	config_clear(&b);
	return broken;
}

#endif
