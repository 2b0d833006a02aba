/* Unit tests for src/json.c: every output is checked by a strict RFC 8259
 * string parser written here, independently of the escaper, which also
 * requires the decoded text to be valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/json.h"
#include "suites.h"

/* Valid UTF-8 by decoding each code point and checking it, the other way
 * round from json_utf8_seq's table: minimum value per length (no overlong
 * form), no surrogate, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 0 || len > n - i)
			return 0;
		uint32_t cp = len == 1 ? c : c & (0x7f >> len);
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long hex4(const char *p, size_t left)
{
	long v = 0;
	if (left < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static size_t put_utf8(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The contents of a JSON string (what goes between the quotes) decoded into
 * out (room for n bytes is enough: no escape decodes longer than itself).
 * Returns the decoded length, or -1 when s is not valid per RFC 8259
 * section 7 (an unescaped '"', '\\' or control character, an unknown
 * escape, a lone surrogate escape) or its text is not valid UTF-8. */
static long json_decode(const char *s, size_t n, unsigned char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == '"')
			return -1;
		if (c != '\\') {
			out[o++] = c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		char e = s[i + 1];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e != '\0' && simple) {
			out[o++] = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
			i += 2;
			continue;
		}
		if (e != 'u')
			return -1;
		long cp = hex4(s + i + 2, n - i - 2);
		if (cp < 0)
			return -1;
		i += 6;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -1; /* a low surrogate alone */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			long lo = i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' ? hex4(s + i + 2, n - i - 2) : -1;
			if (lo < 0xdc00 || lo > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		}
		o += put_utf8(out + o, (uint32_t)cp);
	}
	return utf8_valid(out, o) ? (long)o : -1;
}

/* Escape with ample room; check the result parses, decodes to expect_dec
 * (when not NULL) and reads expect_esc (when not NULL). */
static void check(const char *src, size_t len, const char *expect_esc, const char *expect_dec, size_t dec_len)
{
	size_t room = 6 * len, used = 12345;
	char *out = malloc(room + 1);
	unsigned char *dec = malloc(room + 1);
	size_t n = json_escape(out, room, src, len, &used);
	ck_assert_uint_eq(used, len);
	long d = json_decode(out, n, dec);
	ck_assert_msg(d >= 0, "not a valid JSON string: %.*s", (int)n, out);
	if (expect_esc) {
		ck_assert_uint_eq(n, strlen(expect_esc));
		ck_assert_msg(memcmp(out, expect_esc, n) == 0, "got %.*s want %s", (int)n, out, expect_esc);
	}
	if (expect_dec) {
		ck_assert_uint_eq((size_t)d, dec_len);
		ck_assert(memcmp(dec, expect_dec, dec_len) == 0);
	}
	free(out);
	free(dec);
}

#define CHECK_ESC(lit, esc) check((lit), sizeof(lit) - 1, (esc), NULL, 0)

START_TEST(every_single_byte_gives_valid_json)
{
	for (int b = 0; b < 256; b++) {
		char c = (char)b;
		if (b < 0x80)
			check(&c, 1, NULL, &c, 1); /* decodes back to itself */
		else
			check(&c, 1, "\\ufffd", NULL, 0);
	}
}
END_TEST

START_TEST(every_byte_pair_gives_valid_json)
{
	for (int a = 0; a < 256; a++)
		for (int b = 0; b < 256; b++) {
			char s[2] = { (char)a, (char)b };
			check(s, 2, NULL, NULL, 0);
		}
}
END_TEST

START_TEST(random_bytes_give_valid_json)
{
	/* biased towards the bytes that matter: leads, continuations, ASCII */
	static const unsigned char pick[] = { 0x00, 0x1f, '"', '\\', 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
					      0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff };
	uint32_t seed = 12345;
	char s[24];
	for (int iter = 0; iter < 100000; iter++) {
		size_t len = 0;
		seed = seed * 1103515245 + 12345;
		size_t want = (seed >> 16) % sizeof(s);
		while (len < want) {
			seed = seed * 1103515245 + 12345;
			s[len++] = (char)pick[(seed >> 16) % sizeof(pick)];
		}
		check(s, len, NULL, NULL, 0);
	}
}
END_TEST

START_TEST(short_forms_and_u00xx)
{
	CHECK_ESC("\"\\/\b\f\n\r\t", "\\\"\\\\/\\b\\f\\n\\r\\t");
	CHECK_ESC("\x01\x1f\x0b", "\\u0001\\u001f\\u000b");
	check("a\0b", 3, "a\\u0000b", "a\0b", 3);
	CHECK_ESC("\x7f", "\x7f"); /* DEL is not a control character to JSON */
	CHECK_ESC("GET /a?b=c&d=<e> HTTP/1.1", "GET /a?b=c&d=<e> HTTP/1.1");
}
END_TEST

START_TEST(utf8_boundaries_pass_through)
{
	static const char *const ok[] = {
		"\x7f",			/* U+007F */
		"\xc2\x80",		/* U+0080 */
		"\xdf\xbf",		/* U+07FF */
		"\xe0\xa0\x80",		/* U+0800 */
		"\xed\x9f\xbf",		/* U+D7FF, below the surrogates */
		"\xee\x80\x80",		/* U+E000, above them */
		"\xef\xbf\xbd",		/* U+FFFD itself */
		"\xef\xbf\xbf",		/* U+FFFF */
		"\xf0\x90\x80\x80",	/* U+10000 */
		"\xf4\x8f\xbf\xbf",	/* U+10FFFF */
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		check(ok[i], strlen(ok[i]), ok[i], ok[i], strlen(ok[i]));
		ck_assert_int_eq(json_utf8_seq(ok[i], strlen(ok[i])) > 0, 1);
	}
}
END_TEST

START_TEST(ill_formed_utf8_becomes_fffd)
{
#define FFFD "\\ufffd"
	/* one \ufffd per maximal subpart, then decoding resumes */
	CHECK_ESC("\x80", FFFD);			/* stray continuation */
	CHECK_ESC("\xbf\x80", FFFD FFFD);
	CHECK_ESC("\xc0\x80", FFFD FFFD);		/* overlong NUL */
	CHECK_ESC("\xc1\xbf", FFFD FFFD);		/* overlong U+007F */
	CHECK_ESC("\xe0\x80\x80", FFFD FFFD FFFD);	/* overlong 3-byte */
	CHECK_ESC("\xe0\x9f\xbf", FFFD FFFD FFFD);
	CHECK_ESC("\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD); /* overlong 4-byte */
	CHECK_ESC("\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD);
	CHECK_ESC("\xed\xa0\x80", FFFD FFFD FFFD);	/* U+D800 as UTF-8 */
	CHECK_ESC("\xed\xbf\xbf", FFFD FFFD FFFD);	/* U+DFFF */
	CHECK_ESC("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* U+110000 */
	CHECK_ESC("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD);
	CHECK_ESC("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD); /* old 5-byte form */
	CHECK_ESC("\xfe\xff", FFFD FFFD);
	CHECK_ESC("\xc3", FFFD);			/* truncated at the end */
	CHECK_ESC("\xe2\x82", FFFD);
	CHECK_ESC("\xf0\x9f\x98", FFFD);
	CHECK_ESC("\xf0\x9f\x98" "A", FFFD "A");	/* truncated before ASCII */
	CHECK_ESC("\xe2\x82\xe2\x82\xac", FFFD "\xe2\x82\xac"); /* before a good one */
	CHECK_ESC("a\xff" "b\"", "a" FFFD "b\\\"");
#undef FFFD
	ck_assert_int_eq(json_utf8_seq("\xf0\x9f\x98", 3), -3);
	ck_assert_int_eq(json_utf8_seq("\xe0\x80", 2), -1);
	ck_assert_int_eq(json_utf8_seq("\xf0\x9f\x98\x80", 4), 4);
}
END_TEST

START_TEST(truncation_keeps_whole_units)
{
	/* ASCII, a short escape, \u00XX, 2/3/4-byte sequences, a replacement */
	static const char src[] = "ab\"\x01\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff\\z";
	size_t len = sizeof(src) - 1, used;
	char full[128], out[128], again[128];
	unsigned char dec[128];
	size_t flen = json_escape(full, sizeof(full), src, len, &used);
	ck_assert_uint_eq(used, len);

	for (size_t room = 0; room <= flen; room++) {
		memset(out, '#', sizeof(out));
		size_t n = json_escape(out, room, src, len, &used);
		ck_assert_uint_le(n, room);
		ck_assert_msg(out[room] == '#', "wrote past room %zu", room);
		ck_assert(memcmp(out, full, n) == 0);		/* a prefix of the whole */
		ck_assert(json_decode(out, n, dec) >= 0);	/* never inside a unit */
		ck_assert_int_eq(used < len, room < flen);
		/* the cut falls where the source was cut: no unit half taken */
		size_t used2;
		ck_assert_uint_eq(json_escape(again, sizeof(again), src, used, &used2), n);
		ck_assert_uint_eq(used2, used);
		ck_assert(memcmp(again, out, n) == 0);
		/* and the next unit did not fit */
		if (used < len)
			ck_assert_uint_gt(json_escape(again, sizeof(again), src, used + 1, NULL), room);
	}
	ck_assert_uint_eq(json_escape(out, 0, src, len, NULL), 0);
}
END_TEST

START_TEST(six_per_byte_never_cuts)
{
	char src[64], out[6 * 64];
	size_t used;
	memset(src, 0x01, sizeof(src)); /* \u0001: the longest escape per byte */
	ck_assert_uint_eq(json_escape(out, sizeof(out), src, sizeof(src), &used), sizeof(out));
	ck_assert_uint_eq(used, sizeof(src));
	memset(src, 0xff, sizeof(src)); /* \ufffd for each */
	ck_assert_uint_eq(json_escape(out, sizeof(out), src, sizeof(src), &used), sizeof(out));
	ck_assert_uint_eq(used, sizeof(src));
}
END_TEST

Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("escape");
	tcase_add_test(tc, every_single_byte_gives_valid_json);
	tcase_add_test(tc, every_byte_pair_gives_valid_json);
	tcase_add_test(tc, random_bytes_give_valid_json);
	tcase_add_test(tc, short_forms_and_u00xx);
	tcase_add_test(tc, utf8_boundaries_pass_through);
	tcase_add_test(tc, ill_formed_utf8_becomes_fffd);
	tcase_add_test(tc, truncation_keeps_whole_units);
	tcase_add_test(tc, six_per_byte_never_cuts);
	suite_add_tcase(s, tc);
	return s;
}
