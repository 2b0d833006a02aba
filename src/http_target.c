/* http_target: request targets taken apart (part of the http module,
 * include/sluice/http.h): absolute-form URLs, CONNECT authorities,
 * origin-form targets with their Host, and the Host value written back.
 * Pure: no allocation, every length checked. */
#include "sluice/fmt.h"
#include "sluice/http.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int is_host_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* host[:port] or [v6][:port] in p..end into out (port 80 when absent,
 * unless need_port). */
static int parse_authority(const char *p, const char *auth_end, struct http_target *out, const char **why,
			   int need_port)
{
	const char *host_end;
	if (p < auth_end && *p == '[') {
		const char *close = memchr(p, ']', (size_t)(auth_end - p));
		if (close == NULL || (size_t)(close - p - 1) >= sizeof(out->host) || close == p + 1) {
			*why = "bad IPv6 literal in URL";
			return -1;
		}
		for (const char *c = p + 1; c < close; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.') {
				*why = "bad IPv6 literal in URL";
				return -1;
			}
		memcpy(out->host, p + 1, (size_t)(close - p - 1));
		out->ipv6 = 1;
		host_end = close + 1;
		if (host_end < auth_end && *host_end != ':') {
			*why = "bad authority in URL";
			return -1;
		}
	} else {
		host_end = memchr(p, ':', (size_t)(auth_end - p));
		if (host_end == NULL)
			host_end = auth_end;
		if (host_end == p || (size_t)(host_end - p) >= sizeof(out->host)) {
			*why = "bad host in URL";
			return -1;
		}
		for (const char *c = p; c < host_end; c++)
			if (!is_host_char((unsigned char)*c)) {
				*why = "bad host in URL";
				return -1;
			}
		memcpy(out->host, p, (size_t)(host_end - p));
	}
	out->port = 80;
	if (need_port && (host_end == auth_end || host_end + 1 == auth_end)) {
		*why = "CONNECT target has no port";
		return -1;
	}
	if (host_end < auth_end) { /* ":port", possibly empty */
		unsigned long port = 0;
		const char *c = host_end + 1;
		if (c == auth_end)
			return 0;
		for (; c < auth_end; c++) {
			if (!isdigit((unsigned char)*c) || (port = port * 10 + (unsigned long)(*c - '0')) > 65535) {
				*why = "bad port in URL";
				return -1;
			}
		}
		if (port == 0) {
			*why = "bad port in URL";
			return -1;
		}
		out->port = (uint16_t)port;
	}
	return 0;
}

int http_authority_parse(const char *t, size_t len, struct http_target *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (len == 0 || memchr(t, '/', len) || memchr(t, '@', len)) {
		*why = "CONNECT target is not host:port";
		return -1;
	}
	if (parse_authority(t, t + len, out, why, 1) == -1)
		return -1;
	out->path = "";
	return 0;
}

int http_target_parse(const char *t, size_t len, struct http_target *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (len < 7 || strncasecmp(t, "http://", 7) != 0) {
		*why = len >= 8 && strncasecmp(t, "https://", 8) == 0 ? "https URLs go through CONNECT"
			: len > 0 && t[0] == '/' ? "origin-form request to a forward proxy"
			: "request target is not an http:// URL";
		return -1;
	}
	const char *p = t + 7, *end = t + len;
	const char *auth_end = p;
	while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
		auth_end++;
	if (memchr(p, '@', (size_t)(auth_end - p))) {
		*why = "user information in URL";
		return -1;
	}
	if (parse_authority(p, auth_end, out, why, 0) == -1)
		return -1;
	if (auth_end == end || *auth_end == '#') {
		out->path = "/";
		out->path_len = 1;
	} else if (*auth_end == '?') {
		out->path = "/";
		out->path_len = 1;
		const char *frag = memchr(auth_end, '#', (size_t)(end - auth_end));
		out->query = auth_end;
		out->query_len = (uint32_t)((frag ? frag : end) - auth_end);
	} else {
		const char *frag = memchr(auth_end, '#', (size_t)(end - auth_end));
		out->path = auth_end;
		out->path_len = (uint32_t)((frag ? frag : end) - auth_end);
	}
	return 0;
}

int http_origin_target_parse(const char *t, size_t len, const char *host, size_t host_len,
			     struct http_target *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (!(len == 1 && t[0] == '*') && (len == 0 || t[0] != '/')) {
		*why = "request target is not origin-form";
		return -1;
	}
	if (host_len == 0) {
		*why = "empty Host";
		return -1;
	}
	if (memchr(host, '@', host_len)) {
		*why = "user information in Host";
		return -1;
	}
	if (parse_authority(host, host + host_len, out, why, 0) == -1) {
		*why = "bad Host";
		return -1;
	}
	out->path = t;
	out->path_len = (uint32_t)len;
	return 0;
}

/* Built by hand: this runs once per request, and snprintf was a tenth of
 * sluice's instructions per request. */
size_t http_host_value(const struct http_target *t, char *dst, size_t room)
{
	size_t hl = strlen(t->host);
	if (room < hl + 2 + 1 + 5 + 1)
		return 0;
	size_t n = 0;
	if (t->ipv6)
		dst[n++] = '[';
	memcpy(dst + n, t->host, hl);
	n += hl;
	if (t->ipv6)
		dst[n++] = ']';
	if (t->port != 80) {
		dst[n++] = ':';
		n += fmt_u64(dst + n, t->port);
	}
	dst[n] = '\0';
	return n;
}
