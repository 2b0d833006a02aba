/* body: sluice's own framing of message bodies, the one source of truth.
 *
 * llhttp only finds where a head ends; after that a body is framed here, by
 * the rules of RFC 9112 6 and 7, in the buffer it arrived in:
 *
 *   BODY_LENGTH        Content-Length bytes, then the message ends;
 *   BODY_CHUNKED       every chunk-size line, chunk and trailer checked
 *                      strictly and written again in canonical form over
 *                      the bytes read (never longer than what it replaces),
 *                      so a peer that reads framing more loosely than we do
 *                      cannot be shown anything but what sluice framed;
 *   BODY_UNTIL_CLOSE   everything until the sender closes (responses);
 *   BODY_NONE          no body.
 *
 * Canonical chunked framing: "<size in lower-case hex, no leading zeros>"
 * CRLF, the data, CRLF; chunk extensions are checked and dropped; the last
 * chunk is "0" CRLF, then the trailer fields kept (each checked like a
 * header field; framing and hop-by-hop fields dropped), then CRLF.
 * Anything else is an error with a short reason: a request gets 400, a
 * response is cut, and neither connection is used again.
 *
 * With emit off (an HTTP/1.0 client getting a chunked response) only the
 * data is written: the body arrives decoded and ends with the connection.
 *
 * Pure: no I/O, no allocation.  Bytes of well-formed canonical input are
 * never moved (the framing rewritten over itself is the same bytes), so
 * the common case costs a scan of the framing lines only.
 */
#ifndef SLUICE_BODY_H
#define SLUICE_BODY_H

#include <stdint.h>

#include "sluice/buf.h"

enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE };

enum body_result {
	BODY_MORE,	/* framed all it could; the rest needs more bytes */
	BODY_DONE,	/* the message ended: bytes after it are the next message's */
	BODY_ERROR,	/* malformed framing: *why says what */
};

/* Longest chunk-size line accepted, extensions included (RFC 9112 sets no
 * bound; a peer that never ends the line must not hold a buffer for ever). */
#define BODY_CHUNK_LINE_MAX 1024

/* Largest chunk size accepted: below 2^31, as HAProxy does, so a peer
 * that keeps a chunk size in 32 bits (signed) reads the same number as
 * sluice, and a chunk cannot announce more than any real sender needs. */
#define BODY_CHUNK_MAX 0x7fffffffu

struct body {
	uint8_t kind;		/* enum body_kind */
	uint8_t state;		/* chunked: where in the framing (body.c) */
	uint8_t emit;		/* chunked: write framing (0: data only) */
	uint8_t done;
	uint64_t left;		/* LENGTH: bytes to come; CHUNKED: of this chunk */
	uint32_t trailer_max;	/* the longest trailer section allowed */
};

/* Start framing a body.  length: for BODY_LENGTH; trailer_max bounds the
 * trailer section (header_max). */
void body_init(struct body *b, enum body_kind kind, uint64_t length, int emit, uint32_t trailer_max);

/* Frame the bytes in buf [parsed, end): on return [start, parsed) holds
 * what may be sent (framed, canonical), and [parsed, end) what is not
 * framed yet (a line still arriving, or the next message's bytes after
 * BODY_DONE).  Framing can shrink: end may move down, never up.  A full
 * buffer holding only an unfinished line (or last chunk and trailer
 * section) is an error, never a stall: a size line is refused past
 * BODY_CHUNK_LINE_MAX, which is below the smallest buffer_size (1k), and
 * a trailer section past trailer_max or when it fills the buffer alone.
 * BODY_UNTIL_CLOSE never ends here: the caller ends it at the sender's
 * EOF, and at any EOF before BODY_DONE what is left is a truncation. */
enum body_result body_frame(struct body *b, struct buf *buf, const char **why);

/* The message needs no more bytes (a zero length counts). */
static inline int body_done(const struct body *b)
{
	return b->done;
}

#endif
