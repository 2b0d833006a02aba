/* Unit tests for src/config.c: defaults, values, every directive, the
 * "name:line: directive: reason" errors, listen addresses, validation and
 * loading from a file. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/acl.h"
#include "sluice/config.h"
#include "suites.h"

/* Defaults, then text under the name "t.conf"; err holds the message. */
static int parse(struct config *c, const char *text, char *err, size_t errlen)
{
	config_defaults(c);
	err[0] = '\0';
	return config_parse(c, text, "t.conf", err, errlen);
}

static uint32_t duration(const char *s)
{
	uint32_t ms = 12345;
	ck_assert_msg(config_parse_duration(s, &ms) == 0, "duration \"%s\" refused", s);
	return ms;
}

static void bad_duration(const char *s)
{
	uint32_t ms = 12345;
	ck_assert_msg(config_parse_duration(s, &ms) == -1, "duration \"%s\" accepted", s);
	ck_assert_uint_eq(ms, 12345);
}

static uint32_t size(const char *s)
{
	uint32_t n = 12345;
	ck_assert_msg(config_parse_size(s, &n) == 0, "size \"%s\" refused", s);
	return n;
}

static void bad_size(const char *s)
{
	uint32_t n = 12345;
	ck_assert_msg(config_parse_size(s, &n) == -1, "size \"%s\" accepted", s);
	ck_assert_uint_eq(n, 12345);
}

static uint16_t port_of(const struct listen_cfg *l)
{
	if (l->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
}

static uint32_t ipv4_of(const struct listen_cfg *l)
{
	ck_assert_int_eq(l->addr.ss_family, AF_INET);
	return ntohl(((const struct sockaddr_in *)&l->addr)->sin_addr.s_addr);
}

/* --- defaults ---------------------------------------------------------------- */

START_TEST(defaults)
{
	struct config c;
	memset(&c, 0xA5, sizeof(c));
	config_defaults(&c);
	ck_assert_int_eq(c.nlisten, 0);
	ck_assert_str_eq(c.listen[0].text, "127.0.0.1:3128");
	ck_assert_uint_eq(ipv4_of(&c.listen[0]), INADDR_LOOPBACK);
	ck_assert_uint_eq(port_of(&c.listen[0]), 3128);
	ck_assert_int_eq(c.workers, 0);
	ck_assert_int_eq(c.max_connections, 10000);
	ck_assert_uint_eq(c.buffer_size, 16384);
	ck_assert_uint_eq(c.header_max, 16384);
	ck_assert_uint_eq(c.url_max, 8192);
	ck_assert_uint_eq(c.max_headers, 100);
	ck_assert_uint_eq(c.header_timeout, 30000);
	ck_assert_uint_eq(c.keepalive_timeout, 60000);
	ck_assert_uint_eq(c.dns_timeout, 5000);
	ck_assert_uint_eq(c.connect_timeout, 10000);
	ck_assert_uint_eq(c.response_timeout, 60000);
	ck_assert_uint_eq(c.idle_timeout, 120000);
	ck_assert_uint_eq(c.upstream_idle_timeout, 30000);
	ck_assert_uint_eq(c.upstream_pool_max, 1024);
	ck_assert_uint_eq(c.worker_buffers_max, 0);
	ck_assert_str_eq(c.resolver, "");
	ck_assert_uint_eq(c.dns_cache_max_ttl, 3600);
	ck_assert_uint_eq(c.dns_negative_ttl, 10);
	ck_assert_uint_eq(c.dns_cache_size, 4096);
	ck_assert_str_eq(c.access_log, "stderr");
	ck_assert_int_eq(c.access_format, ACCESS_SQUID);
	ck_assert_str_eq(c.error_log, "stderr");
	ck_assert_int_eq(c.log_level, LOG_INFO);
	ck_assert_str_eq(c.via_name, "sluice");
	ck_assert_uint_eq(c.shutdown_timeout, 30000);
	ck_assert_ptr_null(c.proxy_protocol_from);
}
END_TEST

START_TEST(defaults_pass_validation)
{
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

/* --- values ------------------------------------------------------------------- */

START_TEST(durations_with_units)
{
	ck_assert_uint_eq(duration("500ms"), 500);
	ck_assert_uint_eq(duration("30s"), 30000);
	ck_assert_uint_eq(duration("2m"), 120000);
	ck_assert_uint_eq(duration("1h"), 3600000);
	ck_assert_uint_eq(duration("0ms"), 0);
}
END_TEST

START_TEST(bare_duration_is_seconds)
{
	ck_assert_uint_eq(duration("45"), 45000);
	ck_assert_uint_eq(duration("0"), 0);
}
END_TEST

START_TEST(duration_limits)
{
	ck_assert_uint_eq(duration("4294967295ms"), 4294967295u);
	ck_assert_uint_eq(duration("4294967s"), 4294967000u);
	bad_duration("4294967296ms");
	bad_duration("4294968s");
	bad_duration("1194h");
	ck_assert_uint_eq(duration("1193h"), 1193u * 3600000u);
	bad_duration("99999999999999999999999");
}
END_TEST

START_TEST(bad_durations)
{
	bad_duration("");
	bad_duration("s");
	bad_duration("10x");
	bad_duration("-5");
	bad_duration("+5");
	bad_duration(" 5");
	bad_duration("1.5s");
	bad_duration("30 s");
	bad_duration("10sec");
	bad_duration("5d");
}
END_TEST

START_TEST(sizes_with_units)
{
	ck_assert_uint_eq(size("16k"), 16384);
	ck_assert_uint_eq(size("16K"), 16384);
	ck_assert_uint_eq(size("1m"), 1048576);
	ck_assert_uint_eq(size("100"), 100);
	ck_assert_uint_eq(size("0"), 0);
	ck_assert_uint_eq(size("4194303k"), 4194303u * 1024u);
}
END_TEST

START_TEST(bad_sizes)
{
	bad_size("");
	bad_size("k");
	bad_size("1g");
	bad_size("-1");
	bad_size("16kb");
	bad_size("1.5k");
	bad_size("4194304k");
	bad_size("4096m");
	bad_size("4294967296");
}
END_TEST

/* --- directives ----------------------------------------------------------------- */

START_TEST(every_directive_is_applied)
{
	struct config c;
	char err[256];
	const char *text =
		"listen 0.0.0.0:8080\n"
		"listen [::1]:8081\n"
		"workers 4\n"
		"max_connections 500\n"
		"buffer_size 32k\n"
		"header_max 8k\n"
		"url_max 2048\n"
		"max_headers 64\n"
		"header_timeout 5s\n"
		"keepalive_timeout 2m\n"
		"dns_timeout 1500ms\n"
		"connect_timeout 3\n"
		"response_timeout 1h\n"
		"idle_timeout 90s\n"
		"upstream_idle_timeout 15s\n"
		"upstream_pool_max 64\n"
		"worker_buffers_max 5000\n"
		"resolver 127.0.0.1:5353,[::1]:53\n"
		"dns_cache_max_ttl 2m\n"
		"dns_negative_ttl 30\n"
		"dns_cache_size 128\n"
		"access_log /var/log/sluice/access.log\n"
		"access_log_format combined\n"
		"error_log /var/log/sluice/error.log\n"
		"log_level debug\n"
		"via_name proxy-1\n";
	ck_assert_msg(parse(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.nlisten, 2);
	ck_assert_str_eq(c.listen[0].text, "0.0.0.0:8080");
	ck_assert_uint_eq(ipv4_of(&c.listen[0]), INADDR_ANY);
	ck_assert_uint_eq(port_of(&c.listen[0]), 8080);
	ck_assert_str_eq(c.listen[1].text, "[::1]:8081");
	ck_assert_int_eq(c.listen[1].addr.ss_family, AF_INET6);
	ck_assert_uint_eq(port_of(&c.listen[1]), 8081);
	ck_assert_int_eq(c.workers, 4);
	ck_assert_int_eq(c.max_connections, 500);
	ck_assert_uint_eq(c.buffer_size, 32768);
	ck_assert_uint_eq(c.header_max, 8192);
	ck_assert_uint_eq(c.url_max, 2048);
	ck_assert_uint_eq(c.max_headers, 64);
	ck_assert_uint_eq(c.header_timeout, 5000);
	ck_assert_uint_eq(c.keepalive_timeout, 120000);
	ck_assert_uint_eq(c.dns_timeout, 1500);
	ck_assert_uint_eq(c.connect_timeout, 3000);
	ck_assert_uint_eq(c.response_timeout, 3600000);
	ck_assert_uint_eq(c.idle_timeout, 90000);
	ck_assert_uint_eq(c.upstream_idle_timeout, 15000);
	ck_assert_uint_eq(c.upstream_pool_max, 64);
	ck_assert_uint_eq(c.worker_buffers_max, 5000);
	ck_assert_str_eq(c.resolver, "127.0.0.1:5353,[::1]:53");
	/* the *_ttl directives take durations but are kept in seconds */
	ck_assert_uint_eq(c.dns_cache_max_ttl, 120);
	ck_assert_uint_eq(c.dns_negative_ttl, 30);
	ck_assert_uint_eq(c.dns_cache_size, 128);
	ck_assert_str_eq(c.access_log, "/var/log/sluice/access.log");
	ck_assert_int_eq(c.access_format, ACCESS_COMBINED);
	ck_assert_str_eq(c.error_log, "/var/log/sluice/error.log");
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	ck_assert_str_eq(c.via_name, "proxy-1");
}
END_TEST

START_TEST(workers_auto_is_zero)
{
	struct config c;
	char err[256];
	ck_assert_msg(parse(&c, "workers 3\nworkers auto\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.workers, 0);
}
END_TEST

START_TEST(other_enum_values)
{
	struct config c;
	char err[256];
	ck_assert_msg(parse(&c, "access_log_format combined\naccess_log_format squid\nlog_level warn\n"
				"access_log off\n",
			    err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(c.access_format, ACCESS_SQUID);
	ck_assert_int_eq(c.log_level, LOG_WARN);
	ck_assert_str_eq(c.access_log, "off");
	ck_assert_msg(parse(&c, "log_level error\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.log_level, LOG_ERR);
}
END_TEST

START_TEST(on_off_directives)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	ck_assert_int_eq(c.defer_accept, 1);
	ck_assert_int_eq(c.tunnel_splice, 1);
	ck_assert_msg(parse(&c, "defer_accept off\ntunnel_splice off\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.defer_accept, 0);
	ck_assert_int_eq(c.tunnel_splice, 0);
	ck_assert_msg(parse(&c, "defer_accept on\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.defer_accept, 1);
	ck_assert_int_eq(parse(&c, "defer_accept yes\n", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "defer_accept wants on or off"));
	ck_assert_int_eq(parse(&c, "defer_accept on off\n", err, sizeof(err)), -1);
	ck_assert_int_eq(parse(&c, "defer_accept\n", err, sizeof(err)), -1);
}
END_TEST

START_TEST(later_lines_override_earlier_ones)
{
	struct config c;
	char err[256];
	ck_assert_msg(parse(&c, "buffer_size 8k\nbuffer_size 64k\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.buffer_size, 65536);
}
END_TEST

START_TEST(comments_and_blank_lines_are_ignored)
{
	struct config c;
	char err[256];
	const char *text = "# sluice\n"
			   "\n"
			   "   \n"
			   "\t# indented comment\n"
			   "  buffer_size\t 32k   # trailing comment\n"
			   "via_name a#b\n"
			   "#via_name ignored\n"
			   "\n";
	ck_assert_msg(parse(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.buffer_size, 32768);
	ck_assert_str_eq(c.via_name, "a");
}
END_TEST

START_TEST(crlf_and_missing_final_newline_are_accepted)
{
	struct config c;
	char err[256];
	ck_assert_msg(parse(&c, "buffer_size 32k\r\nheader_max 4k", err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.buffer_size, 32768);
	ck_assert_uint_eq(c.header_max, 4096);
}
END_TEST

START_TEST(empty_text_changes_nothing)
{
	struct config c, d;
	char err[256];
	ck_assert_int_eq(parse(&c, "", err, sizeof(err)), 0);
	config_defaults(&d);
	ck_assert_int_eq(memcmp(&c, &d, sizeof(c)), 0);
}
END_TEST

/* --- errors --------------------------------------------------------------------- */

START_TEST(unknown_directive_names_file_and_line)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "buffer_size 16k\n# a comment\nfrobnicate yes\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:3: frobnicate: unknown directive");
}
END_TEST

/* Exposes a bug: an unknown name is reported by its value count instead. */
START_TEST(unknown_directive_without_value_is_called_unknown)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "\n\nfrobnicate\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:3: frobnicate: unknown directive");
}
END_TEST

START_TEST(bad_duration_value_names_directive)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "workers 2\nheader_timeout soon\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:2: header_timeout: a duration such as 30s");
}
END_TEST

START_TEST(bad_size_value_names_directive)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "buffer_size 16q\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: buffer_size: a size such as 16k");
}
END_TEST

START_TEST(bad_count_value_names_directive)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "max_connections 10k\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: max_connections: a number");
	ck_assert_int_eq(parse(&c, "max_connections 2147483648\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: max_connections: a number");
}
END_TEST

START_TEST(two_values_for_one_are_refused)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "buffer_size 16k 32k\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: buffer_size: expects exactly one value");
}
END_TEST

START_TEST(missing_value_is_refused)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "# x\nvia_name\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:2: via_name: expects exactly one value");
}
END_TEST

START_TEST(many_values_are_refused)
{
	struct config c;
	char err[256];
	/* more words than a line may hold (acl lists) */
	char text[2 * CONFIG_MAX_VALUES + 64] = "\nlisten";
	for (int i = 0; i < CONFIG_MAX_VALUES + 1; i++)
		strcat(text, " 1");
	strcat(text, "\n");
	ck_assert_int_eq(parse(&c, text, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:2: too many values");
	ck_assert_int_eq(parse(&c, "listen 1.2.3.4:1 1.2.3.4:2\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: listen: after the address: transparent or transparent-tls, and "
			      "proxy-protocol, each once");
	ck_assert_int_eq(parse(&c, "listen 1.2.3.4:1 transparent proxy-protocol tls\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: listen: listen takes ADDRESS:PORT [transparent|transparent-tls] "
			      "[proxy-protocol]");
}
END_TEST

START_TEST(bad_listen_value_is_refused)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "listen localhost:3128\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: listen: want IPv4:PORT, [IPv6]:PORT or *:PORT");
}
END_TEST

START_TEST(listen_kinds)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "listen 127.0.0.1:3128\nlisten 0.0.0.0:3129 transparent\n"
				   "listen [::]:3130 transparent-tls\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.nlisten, 3);
	ck_assert_int_eq(c.listen[0].kind, LISTEN_FORWARD);
	ck_assert_int_eq(c.listen[1].kind, LISTEN_TRANSPARENT);
	ck_assert_int_eq(c.listen[2].kind, LISTEN_TRANSPARENT_TLS);
	ck_assert_int_eq(c.listen[2].addr.ss_family, AF_INET6);
	ck_assert_str_eq(config_listen_kind_name(c.listen[1].kind), "transparent");
	ck_assert_str_eq(config_listen_kind_name(c.listen[2].kind), "transparent-tls");
	ck_assert_int_eq(config_listen_kind("Transparent"), -1);
}
END_TEST

START_TEST(listen_proxy_protocol)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "listen 127.0.0.1:3128 proxy-protocol\nlisten 127.0.0.1:3127\n"
				   "proxy_protocol_from 10.0.0.0/8 192.168.1.5 ::1\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.listen[0].proxy_protocol, 1);
	ck_assert_int_eq(c.listen[0].kind, LISTEN_FORWARD);
	ck_assert_int_eq(c.listen[1].proxy_protocol, 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	struct sockaddr_in in = { .sin_family = AF_INET };
	inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
	ck_assert(addrset_match(c.proxy_protocol_from, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.168.1.6", &in.sin_addr);
	ck_assert(!addrset_match(c.proxy_protocol_from, (struct sockaddr *)&in));
	config_clear(&c);

	/* who may send the header is never left to a default */
	ck_assert_int_eq(parse(&c, "listen 127.0.0.1:3128 proxy-protocol\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "listen 127.0.0.1:3128 proxy-protocol: proxy_protocol_from must name the load "
			      "balancers allowed to send the header");
	ck_assert_int_eq(parse(&c, "listen 0.0.0.0:3129 proxy-protocol transparent\nproxy_protocol_from 10.0.0.1\n",
			       err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "listen 0.0.0.0:3129: proxy-protocol is for forward listeners only");
	config_clear(&c);
	ck_assert_int_eq(parse(&c, "listen 1.2.3.4:1 proxy-protocol proxy-protocol\n", err, sizeof(err)), -1);
	ck_assert_int_eq(parse(&c, "\nproxy_protocol_from 10.0.0.1/8\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:2: proxy_protocol_from: host bits set: the address is not the start of "
			      "its prefix");
	config_clear(&c);
	ck_assert_int_eq(parse(&c, "proxy_protocol_from\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: proxy_protocol_from: proxy_protocol_from takes addresses or CIDRs");
}
END_TEST

START_TEST(listen_same_address_twice_is_refused)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "listen 127.0.0.1:3128\nlisten 127.0.0.1:3128 transparent\n", err, sizeof(err)),
			 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "listen 127.0.0.1:3128: the same address twice");
	/* port 0: a port of its own each time */
	ck_assert_int_eq(parse(&c, "listen 127.0.0.1:0\nlisten 127.0.0.1:0 transparent\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(listener_by_id)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "listen 127.0.0.1:1\nlisten 127.0.0.1:2\n", err, sizeof(err)), 0);
	c.listen[0].id = 7;
	c.listen[1].id = 9;
	ck_assert_ptr_eq(config_listener(&c, 9), &c.listen[1]);
	ck_assert_ptr_eq(config_listener(&c, 7), &c.listen[0]);
	ck_assert_ptr_null(config_listener(&c, 8));
}
END_TEST

START_TEST(reload_keeps_what_needs_a_restart)
{
	struct config old, nw;
	char err[256], changed[256];
	ck_assert_int_eq(parse(&old, "workers 2\nbuffer_size 16k\nvia_name a\nresolver 127.0.0.1:53\n", err,
			       sizeof(err)), 0);
	ck_assert_int_eq(parse(&nw, "workers 4\nbuffer_size 32k\nvia_name b\nresolver 127.0.0.1:53\n"
				    "shutdown_timeout 5s\n", err, sizeof(err)), 0);
	config_keep_restart_only(&nw, &old, changed, sizeof(changed));
	ck_assert_str_eq(changed, "workers, buffer_size");
	ck_assert_int_eq(nw.workers, 2);
	ck_assert_uint_eq(nw.buffer_size, 16384);
	ck_assert_str_eq(nw.via_name, "b");		/* applies at once */
	ck_assert_uint_eq(nw.shutdown_timeout, 5000);
	ck_assert_int_eq(parse(&nw, "workers 2\nbuffer_size 16k\nresolver 127.0.0.1:53\n", err, sizeof(err)), 0);
	config_keep_restart_only(&nw, &old, changed, sizeof(changed));
	ck_assert_str_eq(changed, "");
	ck_assert_int_eq(parse(&nw, "resolver 127.0.0.2:53\naccess_log off\n", err, sizeof(err)), 0);
	config_keep_restart_only(&nw, &old, changed, sizeof(changed));
	ck_assert_str_eq(changed, "workers, resolver, access_log");
	ck_assert_str_eq(nw.resolver, "127.0.0.1:53");
	ck_assert_str_eq(nw.access_log, "stderr");
	/* a list too short for every name: cut, never overrun */
	ck_assert_int_eq(parse(&nw, "workers 3\nbuffer_size 8k\n", err, sizeof(err)), 0);
	config_keep_restart_only(&nw, &old, changed, 10);
	ck_assert_str_eq(changed, "workers");
}
END_TEST

START_TEST(transparent_tls_needs_a_buffer_for_a_whole_hello)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "listen 0.0.0.0:3130 transparent-tls\nbuffer_size 8k\nheader_max 4k\n"
				   "url_max 2k\n", err, sizeof(err)), 0);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "a transparent-tls listener needs buffer_size 16k or more");
	c.listen[0].kind = LISTEN_TRANSPARENT;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(too_many_listen_directives_are_refused)
{
	struct config c;
	char err[256], text[2048] = "";
	for (int i = 0; i <= CONFIG_MAX_LISTEN; i++) {
		size_t n = strlen(text);
		snprintf(text + n, sizeof(text) - n, "listen 127.0.0.1:%d\n", 8000 + i);
	}
	ck_assert_int_eq(parse(&c, text, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:17: listen: too many listen directives");
	ck_assert_int_eq(c.nlisten, CONFIG_MAX_LISTEN);
}
END_TEST

START_TEST(bad_workers_are_refused)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "workers 0\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: workers: workers wants auto or a number from 1 to 1024");
	ck_assert_int_eq(parse(&c, "workers 1025\n", err, sizeof(err)), -1);
	ck_assert_int_eq(parse(&c, "workers many\n", err, sizeof(err)), -1);
	ck_assert_msg(parse(&c, "workers 1024\n", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.workers, 1024);
}
END_TEST

START_TEST(bad_enum_values_are_refused)
{
	struct config c;
	char err[256];
	ck_assert_int_eq(parse(&c, "log_level loud\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: log_level: log_level wants error, warn, info or debug");
	ck_assert_int_eq(parse(&c, "access_log_format xml\n", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: access_log_format: access_log_format wants squid, combined or json");
	ck_assert_int_eq(parse(&c, "access_log_format json\n", err, sizeof(err)), 0);
	ck_assert_int_eq(c.access_format, ACCESS_JSON);
}
END_TEST

/* A resolver c-ares would refuse is refused at its line, not later. */
/* via_name goes into every Via header: no byte that could split it. */
START_TEST(via_name_is_a_token)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	snprintf(c.via_name, sizeof(c.via_name), "gw-1.example:3128");
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
	static const char *const bad[] = { "a\x01b", "a,b", "a\"b", "a;b", "caf\xc3\xa9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(c.via_name, sizeof(c.via_name), "%s", bad[i]);
		ck_assert_msg(config_validate(&c, err, sizeof(err)) == -1, "via_name %s taken", bad[i]);
	}
}
END_TEST

START_TEST(bad_resolver_names_its_line)
{
	struct config c;
	char err[512];
	ck_assert_int_eq(parse(&c, "workers 2\nresolver 127.0.0.1,not-an-address\n", err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "t.conf:2: resolver: ", 20) == 0 && strstr(err, "\"not-an-address\""), "%s", err);
	ck_assert_int_eq(parse(&c, "resolver [::1]:0\n", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "the port must be 1 to 65535") != NULL, "%s", err);
	ck_assert_int_eq(parse(&c, "resolver [::1],127.0.0.1:5353\n", err, sizeof(err)), 0);
}
END_TEST

START_TEST(too_long_string_is_refused)
{
	struct config c;
	char err[256], text[128];
	char name[65];
	memset(name, 'v', 64);
	name[64] = '\0';
	snprintf(text, sizeof(text), "via_name %s\n", name);
	ck_assert_int_eq(parse(&c, text, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: via_name: a token");
	ck_assert_str_eq(c.via_name, "sluice");
	name[63] = '\0';
	snprintf(text, sizeof(text), "via_name %s\n", name);
	ck_assert_msg(parse(&c, text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c.via_name, name);
}
END_TEST

/* --- listen addresses ----------------------------------------------------------- */

START_TEST(listen_ipv4)
{
	struct listen_cfg l;
	ck_assert_int_eq(config_parse_listen("192.0.2.7:3128", &l), 0);
	ck_assert_uint_eq(ipv4_of(&l), 0xC0000207u);
	ck_assert_uint_eq(port_of(&l), 3128);
	ck_assert_uint_eq(l.addrlen, sizeof(struct sockaddr_in));
	ck_assert_str_eq(l.text, "192.0.2.7:3128");
}
END_TEST

START_TEST(listen_ipv6)
{
	struct listen_cfg l;
	ck_assert_int_eq(config_parse_listen("[::1]:8080", &l), 0);
	ck_assert_int_eq(l.addr.ss_family, AF_INET6);
	ck_assert_uint_eq(l.addrlen, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(memcmp(&((struct sockaddr_in6 *)&l.addr)->sin6_addr, &in6addr_loopback,
				sizeof(in6addr_loopback)),
			 0);
	ck_assert_uint_eq(port_of(&l), 8080);
	ck_assert_str_eq(l.text, "[::1]:8080");
}
END_TEST

START_TEST(listen_ipv6_any)
{
	struct listen_cfg l;
	ck_assert_int_eq(config_parse_listen("[::]:80", &l), 0);
	ck_assert_int_eq(l.addr.ss_family, AF_INET6);
	ck_assert_int_eq(memcmp(&((struct sockaddr_in6 *)&l.addr)->sin6_addr, &in6addr_any, sizeof(in6addr_any)),
			 0);
	ck_assert_uint_eq(port_of(&l), 80);
}
END_TEST

START_TEST(listen_star_and_empty_host_mean_all_ipv4)
{
	struct listen_cfg l;
	ck_assert_int_eq(config_parse_listen("*:3128", &l), 0);
	ck_assert_uint_eq(ipv4_of(&l), INADDR_ANY);
	ck_assert_uint_eq(port_of(&l), 3128);
	ck_assert_int_eq(config_parse_listen(":3129", &l), 0);
	ck_assert_uint_eq(ipv4_of(&l), INADDR_ANY);
	ck_assert_uint_eq(port_of(&l), 3129);
}
END_TEST

START_TEST(listen_port_zero_is_allowed)
{
	struct listen_cfg l;
	ck_assert_int_eq(config_parse_listen("127.0.0.1:0", &l), 0);
	ck_assert_uint_eq(port_of(&l), 0);
	ck_assert_int_eq(config_parse_listen("127.0.0.1:65535", &l), 0);
	ck_assert_uint_eq(port_of(&l), 65535);
}
END_TEST

START_TEST(bad_listen_forms_are_refused)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http",
		"127.0.0.1:80x", "localhost:80", "256.1.1.1:80", "[::1]", "[::1]:", "[::1]8080",
		"[::1:8080", "[nope]:80", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct listen_cfg l;
		ck_assert_msg(config_parse_listen(bad[i], &l) == -1, "\"%s\" accepted", bad[i]);
	}
}
END_TEST

/* --- validation ----------------------------------------------------------------- */

START_TEST(validate_header_max_above_buffer_size)
{
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	c.buffer_size = 8192;
	c.header_max = 8193;
	c.url_max = 4096;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "header_max must be at least 256 and at most buffer_size (8192)");
	c.header_max = 8192;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(validate_url_max_above_header_max)
{
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	c.header_max = 4096;
	c.url_max = 4097;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "url_max must be at least 16 and at most header_max (4096)");
	c.url_max = 4096;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(validate_zero_timeouts)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	uint32_t *fields[] = { &c.header_timeout, &c.keepalive_timeout, &c.dns_timeout,
			       &c.connect_timeout, &c.response_timeout, &c.idle_timeout };
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint32_t saved = *fields[i];
		*fields[i] = 0;
		err[0] = '\0';
		ck_assert_msg(config_validate(&c, err, sizeof(err)) == -1, "zero timeout %zu accepted", i);
		ck_assert_str_eq(err, "timeouts must be greater than zero");
		*fields[i] = saved;
	}
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(validate_buffer_size_bounds)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	c.buffer_size = 1023;
	c.header_max = 512;
	c.url_max = 256;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "buffer_size must be between 1k and 16m");
	c.buffer_size = 1024;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(validate_max_headers_bounds)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	c.max_headers = 7;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "max_headers must be between 8 and 1000");
	c.max_headers = 1001;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	c.max_headers = 8;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), 0);
}
END_TEST

START_TEST(validate_max_connections)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	c.max_connections = 0;
	ck_assert_int_eq(config_validate(&c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "max_connections must be at least 1");
}
END_TEST

/* --- files ---------------------------------------------------------------------- */

START_TEST(load_missing_file_names_the_path)
{
	struct config c;
	char err[512] = "";
	config_defaults(&c);
	ck_assert_int_eq(config_load(&c, "/nonexistent-sluice-test/sluice.conf", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent-sluice-test/sluice.conf: cannot open: No such file or directory");
}
END_TEST

/* Writes text to a fresh temporary file; path receives its name. */
static void temp_file(char *path, size_t len, const char *text)
{
	snprintf(path, len, "/tmp/sluice-unit-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
}

START_TEST(load_applies_the_file)
{
	struct config c;
	char path[64], err[512] = "";
	temp_file(path, sizeof(path), "# test\nbuffer_size 64k\nvia_name from-file\n");
	config_defaults(&c);
	int r = config_load(&c, path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_uint_eq(c.buffer_size, 65536);
	ck_assert_str_eq(c.via_name, "from-file");
}
END_TEST

START_TEST(load_errors_name_the_path_and_line)
{
	struct config c;
	char path[64], want[128], err[512] = "";
	temp_file(path, sizeof(path), "buffer_size 64k\n\nidle_timeout forever\n");
	config_defaults(&c);
	int r = config_load(&c, path, err, sizeof(err));
	unlink(path);
	ck_assert_int_eq(r, -1);
	snprintf(want, sizeof(want), "%s:3: idle_timeout: a duration such as 120s", path);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(load_large_file)
{
	/* more than one read's worth, so the reader must grow its buffer */
	struct config c;
	char path[64], err[512] = "";
	size_t cap = 64 * 1024, n = 0;
	char *text = malloc(cap);
	ck_assert_ptr_nonnull(text);
	while (n + 64 < cap - 32)
		n += (size_t)snprintf(text + n, cap - n, "# filler line number %zu\n", n);
	snprintf(text + n, cap - n, "url_max 1k\n");
	temp_file(path, sizeof(path), text);
	free(text);
	config_defaults(&c);
	int r = config_load(&c, path, err, sizeof(err));
	unlink(path);
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_uint_eq(c.url_max, 1024);
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, defaults_pass_validation);
	tcase_add_test(tc, on_off_directives);
	tcase_add_test(tc, durations_with_units);
	tcase_add_test(tc, bare_duration_is_seconds);
	tcase_add_test(tc, duration_limits);
	tcase_add_test(tc, bad_durations);
	tcase_add_test(tc, sizes_with_units);
	tcase_add_test(tc, bad_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("directives");
	tcase_add_test(tc, every_directive_is_applied);
	tcase_add_test(tc, listen_proxy_protocol);
	tcase_add_test(tc, listen_same_address_twice_is_refused);
	tcase_add_test(tc, listener_by_id);
	tcase_add_test(tc, reload_keeps_what_needs_a_restart);
	tcase_add_test(tc, workers_auto_is_zero);
	tcase_add_test(tc, other_enum_values);
	tcase_add_test(tc, later_lines_override_earlier_ones);
	tcase_add_test(tc, comments_and_blank_lines_are_ignored);
	tcase_add_test(tc, crlf_and_missing_final_newline_are_accepted);
	tcase_add_test(tc, empty_text_changes_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, unknown_directive_names_file_and_line);
	tcase_add_test(tc, unknown_directive_without_value_is_called_unknown);
	tcase_add_test(tc, bad_duration_value_names_directive);
	tcase_add_test(tc, bad_size_value_names_directive);
	tcase_add_test(tc, bad_count_value_names_directive);
	tcase_add_test(tc, two_values_for_one_are_refused);
	tcase_add_test(tc, missing_value_is_refused);
	tcase_add_test(tc, many_values_are_refused);
	tcase_add_test(tc, bad_listen_value_is_refused);
	tcase_add_test(tc, too_many_listen_directives_are_refused);
	tcase_add_test(tc, bad_workers_are_refused);
	tcase_add_test(tc, bad_enum_values_are_refused);
	tcase_add_test(tc, bad_resolver_names_its_line);
	tcase_add_test(tc, via_name_is_a_token);
	tcase_add_test(tc, too_long_string_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen");
	tcase_add_test(tc, listen_ipv4);
	tcase_add_test(tc, listen_kinds);
	tcase_add_test(tc, transparent_tls_needs_a_buffer_for_a_whole_hello);
	tcase_add_test(tc, listen_ipv6);
	tcase_add_test(tc, listen_ipv6_any);
	tcase_add_test(tc, listen_star_and_empty_host_mean_all_ipv4);
	tcase_add_test(tc, listen_port_zero_is_allowed);
	tcase_add_test(tc, bad_listen_forms_are_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_test(tc, validate_header_max_above_buffer_size);
	tcase_add_test(tc, validate_url_max_above_header_max);
	tcase_add_test(tc, validate_zero_timeouts);
	tcase_add_test(tc, validate_buffer_size_bounds);
	tcase_add_test(tc, validate_max_headers_bounds);
	tcase_add_test(tc, validate_max_connections);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_test(tc, load_missing_file_names_the_path);
	tcase_add_test(tc, load_applies_the_file);
	tcase_add_test(tc, load_errors_name_the_path_and_line);
	tcase_add_test(tc, load_large_file);
	suite_add_tcase(s, tc);

	config_snapshot_add_tcases(s);
	return s;
}
