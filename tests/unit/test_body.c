/* Unit tests for src/body.c: Content-Length and chunked framing, the
 * canonical form chunked bodies are re-emitted in, every malformation the
 * issue tracker and RFC 9112 7.1 name refused with its reason, and the same
 * output whatever sizes the input arrives in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/body.h"
#include "suites.h"

#define CAP 4096

static struct buf *new_buf(uint32_t cap)
{
	struct buf *b = calloc(1, sizeof(*b) + cap + 1);
	ck_assert_ptr_nonnull(b);
	b->cap = cap;
	return b;
}

/* What a framing run produced: the bytes ready to send, what was left
 * unframed, and how it ended. */
struct run {
	char out[CAP * 4];
	size_t out_len;
	char rest[CAP];
	size_t rest_len;
	enum body_result res;
	const char *why;
};

/* Frame in[0..len) arriving in pieces of at most step bytes, sending
 * (removing) what is framed after each call, as the session does. */
static void frame(struct run *r, enum body_kind kind, uint64_t length, int emit, const char *in, size_t len,
		  size_t step)
{
	struct body bd;
	struct buf *b = new_buf(CAP);
	memset(r, 0, sizeof(*r));
	body_init(&bd, kind, length, emit, 512);
	size_t fed = 0;
	r->res = BODY_MORE;
	while (r->res == BODY_MORE && fed < len) {
		size_t n = len - fed < step ? len - fed : step;
		if (n > buf_room(b))
			n = buf_room(b);
		ck_assert_uint_gt(n, 0);
		memcpy(b->data + b->end, in + fed, n);
		b->end += (uint32_t)n;
		fed += n;
		uint32_t end_before = b->end;
		r->res = body_frame(&bd, b, &r->why);
		ck_assert_uint_le(b->end, end_before); /* framing never grows */
		ck_assert_uint_le(b->parsed, b->end);
		memcpy(r->out + r->out_len, b->data + b->start, b->parsed - b->start);
		r->out_len += b->parsed - b->start;
		b->start = b->parsed;
		buf_compact(b);
	}
	r->rest_len = b->end - b->parsed + (len - fed);
	memcpy(r->rest, b->data + b->parsed, b->end - b->parsed);
	memcpy(r->rest + (b->end - b->parsed), in + fed, len - fed);
	free(b);
}

#define S(lit) lit, sizeof(lit) - 1

static void expect_out(const struct run *r, const char *want, size_t want_len)
{
	ck_assert_msg(r->out_len == want_len && memcmp(r->out, want, want_len) == 0, "framed %zu bytes: '%.*s'",
		      r->out_len, (int)r->out_len, r->out);
}

/* --- Content-Length and the others ------------------------------------------------ */

START_TEST(length_stops_at_its_end)
{
	struct run r;
	frame(&r, BODY_LENGTH, 5, 1, S("helloGET / HTTP/1.1\r\n"), 3);
	ck_assert_int_eq(r.res, BODY_DONE);
	expect_out(&r, S("hello"));
	ck_assert_uint_eq(r.rest_len, 16);
	ck_assert_int_eq(memcmp(r.rest, "GET / HTTP/1.1\r\n", 16), 0);
}
END_TEST

START_TEST(zero_length_and_none_are_done_at_once)
{
	struct body b;
	body_init(&b, BODY_LENGTH, 0, 1, 512);
	ck_assert(body_done(&b));
	body_init(&b, BODY_NONE, 0, 1, 512);
	ck_assert(body_done(&b));
	body_init(&b, BODY_CHUNKED, 0, 1, 512);
	ck_assert(!body_done(&b));
	body_init(&b, BODY_UNTIL_CLOSE, 0, 1, 512);
	ck_assert(!body_done(&b));
}
END_TEST

START_TEST(until_close_takes_everything)
{
	struct run r;
	frame(&r, BODY_UNTIL_CLOSE, 0, 1, S("0\r\n\r\nanything at all"), 4);
	ck_assert_int_eq(r.res, BODY_MORE);
	expect_out(&r, S("0\r\n\r\nanything at all"));
}
END_TEST

/* --- chunked: canonical output ------------------------------------------------------ */

START_TEST(canonical_input_goes_through_unchanged)
{
	static const char in[] = "5\r\nhello\r\na\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n";
	for (size_t step = 1; step <= sizeof(in); step++) {
		struct run r;
		frame(&r, BODY_CHUNKED, 0, 1, in, sizeof(in) - 1, step);
		ck_assert_int_eq(r.res, BODY_DONE);
		expect_out(&r, in, sizeof(in) - 1);
		ck_assert_uint_eq(r.rest_len, 0);
	}
}
END_TEST

START_TEST(framing_is_rewritten_canonical)
{
	static const char in[] = "005;a=b ; c ;d=\"q \\\" x\"\r\nhello\r\n0A\r\n0123456789\r\n"
				 "0000\r\nX-T: 1\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\nX-U:\r\n\r\nNEXT";
	static const char want[] = "5\r\nhello\r\na\r\n0123456789\r\n0\r\nX-T: 1\r\nX-U:\r\n\r\n";
	for (size_t step = 1; step <= sizeof(in); step++) {
		struct run r;
		frame(&r, BODY_CHUNKED, 0, 1, in, sizeof(in) - 1, step);
		ck_assert_int_eq(r.res, BODY_DONE);
		expect_out(&r, want, sizeof(want) - 1);
		ck_assert_uint_eq(r.rest_len, 4);
		ck_assert_int_eq(memcmp(r.rest, "NEXT", 4), 0);
	}
}
END_TEST

START_TEST(sixteen_hex_digits_are_the_limit)
{
	struct run r;
	frame(&r, BODY_CHUNKED, 0, 1, S("0000000000000001\r\nx\r\n0\r\n\r\n"), 7);
	ck_assert_int_eq(r.res, BODY_DONE);
	expect_out(&r, S("1\r\nx\r\n0\r\n\r\n"));
	frame(&r, BODY_CHUNKED, 0, 1, S("00000000000000001\r\nx\r\n0\r\n\r\n"), 7);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size too long");
	frame(&r, BODY_CHUNKED, 0, 1, S("ffffffffffffffff1\r\n"), 64);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size too long");
}
END_TEST

/* Sizes stay below 2^31: what a peer keeping them in a signed 32-bit
 * number reads the same way. */
START_TEST(sizes_stay_below_two_to_the_31)
{
	struct run r;
	frame(&r, BODY_CHUNKED, 0, 1, S("7fffffff\r\nabc"), 64);
	ck_assert_int_eq(r.res, BODY_MORE);
	expect_out(&r, S("7fffffff\r\nabc"));
	frame(&r, BODY_CHUNKED, 0, 1, S("80000000\r\nabc"), 64);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size too large");
	frame(&r, BODY_CHUNKED, 0, 1, S("000000100000000\r\n"), 3);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size too large");
	frame(&r, BODY_CHUNKED, 0, 1, S("ffffffffffffffff\r\n"), 64);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size too large");
}
END_TEST

/* The last chunk leaves with its whole trailer section or not at all: a
 * sender that stops inside it leaves nothing of it framed. */
START_TEST(last_chunk_waits_for_its_trailer_section)
{
	static const char *const cut[] = {
		"5\r\nhello\r\n0\r\n",
		"5\r\nhello\r\n0\r\n\r",
		"5\r\nhello\r\n0\r\nX-T: 1",
		"5\r\nhello\r\n0\r\nX-T: 1\r\n",
		"5\r\nhello\r\n0;e=1\r\nX-T: 1\r\nX-U: 2\r\n\r",
	};
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		for (size_t step = 1; step <= strlen(cut[i]); step++) {
			struct run r;
			frame(&r, BODY_CHUNKED, 0, 1, cut[i], strlen(cut[i]), step);
			ck_assert_int_eq(r.res, BODY_MORE);
			expect_out(&r, S("5\r\nhello\r\n"));
		}
	}
	/* a malformed line inside an unfinished section is refused at once */
	struct run r;
	frame(&r, BODY_CHUNKED, 0, 1, S("0\r\nX-T 1\r\nX-U: 2"), 4);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "malformed trailer field");
}
END_TEST

/* A buffer filled by an unfinished last chunk and trailer section (a
 * trailer_max as large as the buffer) is an error, not a stall. */
START_TEST(a_full_buffer_of_trailer_is_refused)
{
	struct body bd;
	struct buf *b = new_buf(256);
	body_init(&bd, BODY_CHUNKED, 0, 1, 256);
	memcpy(b->data, "0\r\n", 3);
	b->end = 3;
	while (b->end + 6 <= b->cap) {
		memcpy(b->data + b->end, "X: 1\r\n", 6);
		b->end += 6;
	}
	memset(b->data + b->end, 'a', b->cap - b->end);
	b->end = b->cap;
	const char *why = NULL;
	ck_assert_int_eq(body_frame(&bd, b, &why), BODY_ERROR);
	ck_assert_str_eq(why, "trailer section too large");
	free(b);
}
END_TEST

START_TEST(decoded_for_http10_clients)
{
	struct run r;
	frame(&r, BODY_CHUNKED, 0, 0, S("5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"), 2);
	ck_assert_int_eq(r.res, BODY_DONE);
	expect_out(&r, S("helloabc"));
}
END_TEST

START_TEST(big_chunks_stream_through)
{
	size_t n = 3 * CAP;
	char *in = malloc(n + 64);
	int k = sprintf(in, "%zx\r\n", n);
	for (size_t i = 0; i < n; i++)
		in[k + i] = (char)('a' + i % 26);
	memcpy(in + k + n, "\r\n0\r\n\r\n", 7);
	struct run r;
	frame(&r, BODY_CHUNKED, 0, 1, in, k + n + 7, 1000);
	ck_assert_int_eq(r.res, BODY_DONE);
	expect_out(&r, in, k + n + 7);
	free(in);
}
END_TEST

/* --- chunked: refused ------------------------------------------------------------------ */

static void refused(const char *in, size_t len, const char *why)
{
	for (size_t step = 1; step <= len; step++) {
		struct run r;
		frame(&r, BODY_CHUNKED, 0, 1, in, len, step);
		ck_assert_msg(r.res == BODY_ERROR, "'%.*s' (step %zu): not refused", (int)len, in, step);
		ck_assert_str_eq(r.why, why);
	}
}
#define REFUSED(lit, why) refused(lit, sizeof(lit) - 1, why)

START_TEST(two_bytes_after_data_must_be_crlf)
{
	REFUSED("1\r\nAXY0\r\n\r\n", "chunk data not followed by CRLF"); /* lenient llhttp skipped "XY" */
	REFUSED("1\r\nA\n10\r\n\r\n", "chunk data not followed by CRLF"); /* a bare LF: 16 bytes more for some */
	REFUSED("1\r\nA\r\r\n0\r\n\r\n", "chunk data not followed by CRLF");
}
END_TEST

START_TEST(size_lines_end_in_crlf)
{
	REFUSED("1\rxA\r\n0\r\n\r\n", "bare CR in chunked framing");
	REFUSED("1\nA\r\n0\r\n\r\n", "chunk size line not ended by CRLF");
	REFUSED("\r\nA\r\n0\r\n\r\n", "invalid chunk size");
	REFUSED("1\rx", "bare CR in chunked framing");
}
END_TEST

START_TEST(sizes_are_hex_digits_only)
{
	REFUSED("0x1\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("+1\r\nA\r\n0\r\n\r\n", "invalid chunk size");
	REFUSED(" 1\r\nA\r\n0\r\n\r\n", "invalid chunk size");
	REFUSED("1 \r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("-1\r\nA\r\n0\r\n\r\n", "invalid chunk size");
	REFUSED("g\r\n", "invalid chunk size");
}
END_TEST

START_TEST(extensions_are_checked)
{
	REFUSED("1;\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("1;a\nb\r\nA\r\n0\r\n\r\n", "chunk size line not ended by CRLF");
	REFUSED("1;a=\"x\r\ny\"\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("1;a=\"x\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("1;a=b c\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("1;a=\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
	REFUSED("1;a\x01\r\nA\r\n0\r\n\r\n", "invalid chunk extension");
}
END_TEST

START_TEST(trailers_are_checked_like_fields)
{
	REFUSED("0\r\nX-T 1\r\n\r\n", "malformed trailer field");
	REFUSED("0\r\nX-T : 1\r\n\r\n", "malformed trailer field");
	REFUSED("0\r\n folded\r\n\r\n", "malformed trailer field");
	REFUSED("0\r\nX-T: a\x01" "b\r\n\r\n", "malformed trailer field");
	REFUSED("0\r\nX-T: 1\n\r\n", "trailer line not ended by CRLF");
	REFUSED("0\r\n\rx", "bare CR in chunked framing"); /* lenient llhttp took any byte after this CR */
	REFUSED("0\r\nX: a\rb", "bare CR in chunked framing");
}
END_TEST

START_TEST(lines_are_bounded)
{
	char in[BODY_CHUNK_LINE_MAX + 16];
	memset(in, '0', sizeof(in));
	struct run r;
	frame(&r, BODY_CHUNKED, 0, 1, in, sizeof(in), 256);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size line too long"); /* no line end in sight */
	in[0] = '1';
	in[1] = ';';
	memset(in + 2, 'a', sizeof(in) - 2);
	frame(&r, BODY_CHUNKED, 0, 1, in, sizeof(in), 256);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "chunk size line too long");
	/* trailers: at most trailer_max (512 here) in all */
	char t[1024] = "0\r\n";
	for (int i = 0; i < 40; i++)
		strcat(t, "X-Long-Trailer: 1\r\n");
	strcat(t, "\r\n");
	frame(&r, BODY_CHUNKED, 0, 1, t, strlen(t), 64);
	ck_assert_int_eq(r.res, BODY_ERROR);
	ck_assert_str_eq(r.why, "trailer section too large");
}
END_TEST

/* Random valid chunked bodies, framed in random pieces: the output is the
 * canonical form of the same chunks, and framing the output again changes
 * nothing (what sluice sends, a strict parser reads the same way). */
START_TEST(random_bodies_frame_to_their_canonical_form)
{
	srand(7);
	static char in[CAP * 3], want[CAP * 3];
	for (int iter = 0; iter < 300; iter++) {
		size_t n = 0, w = 0;
		int chunks = rand() % 5;
		for (int c = 0; c < chunks; c++) {
			unsigned size = 1 + (unsigned)rand() % 300;
			int zeros = rand() % 3;
			n += (size_t)sprintf(in + n, "%0*X%s\r\n", zeros + 1, size, rand() % 2 ? ";ext=1" : "");
			w += (size_t)sprintf(want + w, "%x\r\n", size);
			for (unsigned i = 0; i < size; i++)
				in[n++] = want[w++] = (char)(rand() & 0xff);
			memcpy(in + n, "\r\n", 2), n += 2;
			memcpy(want + w, "\r\n", 2), w += 2;
		}
		const char *trailer = rand() % 2 ? "A: b\r\n" : "";
		n += (size_t)sprintf(in + n, "0\r\n%s\r\n", trailer);
		w += (size_t)sprintf(want + w, "0\r\n%s\r\n", trailer);
		struct run r, again;
		frame(&r, BODY_CHUNKED, 0, 1, in, n, 1 + (size_t)rand() % 200);
		ck_assert_int_eq(r.res, BODY_DONE);
		expect_out(&r, want, w);
		frame(&again, BODY_CHUNKED, 0, 1, r.out, r.out_len, 1 + (size_t)rand() % 200);
		ck_assert_int_eq(again.res, BODY_DONE);
		expect_out(&again, r.out, r.out_len);
	}
}
END_TEST

Suite *body_suite(void)
{
	Suite *s = suite_create("body");
	TCase *tc = tcase_create("length");
	tcase_add_test(tc, length_stops_at_its_end);
	tcase_add_test(tc, zero_length_and_none_are_done_at_once);
	tcase_add_test(tc, until_close_takes_everything);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunked");
	tcase_add_test(tc, canonical_input_goes_through_unchanged);
	tcase_add_test(tc, framing_is_rewritten_canonical);
	tcase_add_test(tc, sixteen_hex_digits_are_the_limit);
	tcase_add_test(tc, sizes_stay_below_two_to_the_31);
	tcase_add_test(tc, last_chunk_waits_for_its_trailer_section);
	tcase_add_test(tc, a_full_buffer_of_trailer_is_refused);
	tcase_add_test(tc, decoded_for_http10_clients);
	tcase_add_test(tc, big_chunks_stream_through);
	tcase_add_test(tc, random_bodies_frame_to_their_canonical_form);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_test(tc, two_bytes_after_data_must_be_crlf);
	tcase_add_test(tc, size_lines_end_in_crlf);
	tcase_add_test(tc, sizes_are_hex_digits_only);
	tcase_add_test(tc, extensions_are_checked);
	tcase_add_test(tc, trailers_are_checked_like_fields);
	tcase_add_test(tc, lines_are_bounded);
	suite_add_tcase(s, tc);
	return s;
}
