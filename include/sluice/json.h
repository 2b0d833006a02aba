/* json: the contents of a JSON string (RFC 8259) made from any bytes.
 *
 * The access log puts client-supplied URLs and headers into JSON, so every
 * output must be valid JSON whatever the input:
 *
 *   "  \                      ->  \"  \\
 *   0x08 0x09 0x0a 0x0c 0x0d  ->  \b \t \n \f \r
 *   other bytes 0x00-0x1f     ->  \u00XX (lower-case hex)
 *   0x20-0x7f (DEL too)       ->  as they are ('/' is not escaped)
 *   a well-formed UTF-8 sequence (U+0080..U+10FFFF, no surrogate)
 *                             ->  as it is
 *   an ill-formed sequence    ->  \ufffd, one for each maximal subpart
 *
 * "Maximal subpart" is Unicode's recommended practice (chapter 3, "U+FFFD
 * substitution of maximal subparts"): a lead byte and the continuation bytes
 * that could still have begun a well-formed sequence make one \ufffd, and
 * decoding resumes at the first byte that could not.  So E0 80 80 (overlong)
 * gives three, F0 9F 98 cut short at the end gives one, ED A0 80 (a
 * surrogate) gives three, a stray 0x80 gives one.  The replacement is
 * written as the escape \ufffd rather than the raw bytes EF BF BD so that
 * a reader of the log can tell a replaced byte from a real U+FFFD.
 */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stddef.h>

/* Escape src[0, len) into dst, writing at most room bytes and only whole
 * units: an escape or a UTF-8 sequence is written entirely or not at all,
 * so a cut output is still valid JSON string contents.  No quotes around
 * it, no NUL after it.  Returns the bytes written; *used (when not NULL) is
 * set to the source bytes consumed, which is less than len exactly when the
 * output was cut for lack of room.  An escaped byte takes at most 6 bytes
 * of output, so room >= 6 * len never cuts. */
size_t json_escape(char *dst, size_t room, const char *src, size_t len, size_t *used);

/* The UTF-8 decoder behind json_escape, for other writers that must emit
 * valid UTF-8 (the Prometheus exposition).  Looks at s[0, n), n > 0:
 * returns k > 0 when s starts with a well-formed sequence of k bytes (ASCII
 * included), or -k when its first k bytes are an ill-formed maximal
 * subpart, to be replaced by one U+FFFD. */
int json_utf8_seq(const char *s, size_t n);

#endif
