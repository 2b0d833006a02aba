/* Unit tests for src/tls_hello.c: SNI from real ClientHellos (whole, cut
 * short, cut into records), every refusal, the size limit, and an
 * in-process run of the fuzz mutations (tests/common/mutate.h, shared with
 * tests/fuzz/) against the parser's promises (tests/common/hello_check.h).
 *
 * The real hellos were captured on loopback with tests/fuzz/capture-hello.pl
 * (OpenSSL 3.0.19, curl 7.88.1); tests/fuzz/corpus/tls_hello/ has the same bytes. */
#include <stdio.h>
#include <string.h>

#include "../common/hello_check.h"
#include "../common/mutate.h"
#include "sluice/tls_hello.h"
#include "suites.h"

/* openssl s_client -connect 127.0.0.1:PORT -servername www.example.test (TLS 1.3) */
static const uint8_t hello_tls13[322] = {
	0x16, 0x03, 0x01, 0x01, 0x3d, 0x01, 0x00, 0x01, 0x39, 0x03, 0x03, 0xed,
	0x5d, 0xe3, 0x6a, 0x83, 0x06, 0x15, 0x68, 0x51, 0x39, 0xff, 0x8a, 0x51,
	0x55, 0x2a, 0xb2, 0x42, 0x93, 0x3d, 0x6b, 0x7f, 0x8f, 0xc3, 0x10, 0xa0,
	0x63, 0x9d, 0xf7, 0x51, 0x65, 0x57, 0xee, 0x20, 0x3f, 0x73, 0x83, 0x07,
	0xd7, 0xc8, 0x8b, 0xbd, 0xc0, 0x81, 0xa4, 0xcd, 0xab, 0x0a, 0x9a, 0xb6,
	0xc2, 0x8c, 0x56, 0xa2, 0x7c, 0x3d, 0xea, 0x15, 0x5a, 0x9e, 0x57, 0xe6,
	0xec, 0xc2, 0xe0, 0xb2, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb2,
	0x00, 0x00, 0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x77, 0x77, 0x77,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x74, 0x65, 0x73,
	0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
	0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00,
	0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00,
	0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
	0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
	0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08,
	0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03,
	0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00,
	0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d,
	0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d,
	0x00, 0x20, 0x53, 0x98, 0x4c, 0x01, 0x4a, 0x5c, 0x9c, 0x93, 0xff, 0x00,
	0x75, 0x0a, 0x90, 0x3f, 0xdb, 0x60, 0xef, 0x6e, 0x9d, 0x35, 0x4b, 0x83,
	0x35, 0x0b, 0x0e, 0xdf, 0x66, 0xa6, 0xed, 0x0e, 0xde, 0x05,
};

/* the same with -tls1_2: no key share, no session id */
static const uint8_t hello_tls12[213] = {
	0x16, 0x03, 0x01, 0x00, 0xd0, 0x01, 0x00, 0x00, 0xcc, 0x03, 0x03, 0xe2,
	0xf5, 0x01, 0x64, 0x6e, 0x58, 0xb0, 0x3c, 0x55, 0x3f, 0x6c, 0x7b, 0xfb,
	0x93, 0xca, 0xa9, 0xa4, 0xfc, 0x87, 0x53, 0xd9, 0x4b, 0xb6, 0x6c, 0x4c,
	0x21, 0xd2, 0x65, 0x6a, 0xdf, 0xab, 0x5e, 0x00, 0x00, 0x38, 0xc0, 0x2c,
	0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
	0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23,
	0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09,
	0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
	0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6b, 0x00, 0x00,
	0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x77, 0x77, 0x77, 0x2e, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x74, 0x65, 0x73, 0x74, 0x00,
	0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c, 0x00,
	0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00,
	0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00,
	0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08,
	0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08,
	0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03,
	0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* curl -k --resolve www.example.test:PORT:127.0.0.1 https://www.example.test:PORT/ (padded to 512 bytes) */
static const uint8_t hello_curl[517] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x81,
	0x10, 0x94, 0x7a, 0x78, 0xa3, 0x89, 0x97, 0x63, 0xc3, 0xf8, 0xaf, 0xe0,
	0x50, 0x73, 0xe6, 0x12, 0xa1, 0x5a, 0xc5, 0x23, 0xfb, 0x8c, 0xcd, 0x1c,
	0xf1, 0x3e, 0x6f, 0x00, 0x86, 0xe8, 0xe7, 0x20, 0x5e, 0xdc, 0xa6, 0x17,
	0x4a, 0xf2, 0x70, 0x8f, 0x8f, 0x32, 0xcd, 0xbf, 0x7e, 0x04, 0x95, 0x6c,
	0x2d, 0x5d, 0xca, 0x03, 0x48, 0x9d, 0xe5, 0x3a, 0x77, 0x74, 0xbc, 0x7c,
	0x91, 0xfe, 0x91, 0xf6, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
	0x00, 0x00, 0x00, 0x15, 0x00, 0x13, 0x00, 0x00, 0x10, 0x77, 0x77, 0x77,
	0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x74, 0x65, 0x73,
	0x74, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00,
	0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00,
	0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00,
	0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74, 0x74,
	0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00,
	0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04,
	0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08,
	0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05,
	0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05,
	0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03,
	0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33,
	0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x49, 0xd2, 0x9a, 0xf3,
	0x5e, 0x7d, 0xdc, 0xbf, 0x4f, 0x99, 0xc9, 0x71, 0x64, 0x0c, 0xe2, 0x1d,
	0x22, 0x89, 0x3c, 0x35, 0x7e, 0xa3, 0x78, 0x32, 0x80, 0x4f, 0x66, 0x14,
	0x76, 0x07, 0xc6, 0x31, 0x00, 0x15, 0x00, 0xad, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00,
};

/* openssl s_client -connect 127.0.0.1:PORT -noservername */
static const uint8_t hello_nosni[297] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0xe7,
	0x11, 0x6f, 0x70, 0x53, 0x40, 0xe6, 0x0d, 0xcf, 0x47, 0xe0, 0x8e, 0x97,
	0x00, 0xde, 0x46, 0x89, 0x63, 0xf1, 0xa9, 0x07, 0xcc, 0x54, 0x97, 0xc9,
	0xe0, 0x5c, 0x67, 0x74, 0x49, 0x92, 0x9e, 0x20, 0xfb, 0x24, 0xc2, 0x10,
	0xb0, 0x3f, 0xc1, 0x94, 0xaa, 0x39, 0xb9, 0x93, 0xce, 0x59, 0x02, 0x9e,
	0xe6, 0xa1, 0x00, 0x23, 0x10, 0x81, 0x1b, 0x74, 0x4c, 0xfa, 0x59, 0x7e,
	0x92, 0x10, 0x2e, 0xbc, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0xf6, 0xd5, 0xd8, 0x88, 0xfa, 0xdb, 0xee, 0x61, 0xd9, 0xa7, 0xe4,
	0x7e, 0x98, 0x92, 0x87, 0xc5, 0x8d, 0x0f, 0x28, 0x64, 0x7c, 0x79, 0x4e,
	0xbd, 0x18, 0x48, 0x51, 0xdf, 0x91, 0xd4, 0x16, 0x3d,
};

#define SNI "www.example.test"
#define ONE_RECORD 16384 /* a fragment size that keeps any hello in one record */

struct real {
	const char *what;
	const uint8_t *p;
	size_t len;
};

static const struct real with_sni[] = {
	{ "openssl TLS 1.3", hello_tls13, sizeof(hello_tls13) },
	{ "openssl TLS 1.2", hello_tls12, sizeof(hello_tls12) },
	{ "curl", hello_curl, sizeof(hello_curl) },
};

static const struct real all_real[] = {
	{ "openssl TLS 1.3", hello_tls13, sizeof(hello_tls13) },
	{ "openssl TLS 1.2", hello_tls12, sizeof(hello_tls12) },
	{ "curl", hello_curl, sizeof(hello_curl) },
	{ "openssl, no SNI", hello_nosni, sizeof(hello_nosni) },
};

#define NREAL(a) (sizeof(a) / sizeof((a)[0]))

/* An SSLv2-compatible CLIENT-HELLO offering TLS 1.0 (RFC 5246 E.2). */
static const uint8_t hello_sslv2[48] = {
	0x80, 0x2e,					/* 2-byte header: 46 bytes follow */
	0x01, 0x03, 0x01,				/* CLIENT-HELLO, version 3.1 */
	0x00, 0x15, 0x00, 0x00, 0x00, 0x10,		/* cipher specs 21, session id 0, challenge 16 */
	0x00, 0x00, 0x39, 0x00, 0x00, 0x38, 0x00, 0x00, 0x35, 0x00, 0x00, 0x16,
	0x00, 0x00, 0x13, 0x00, 0x00, 0x0a, 0x07, 0x00, 0xc0,
	0x5a, 0x11, 0x2c, 0x7e, 0x01, 0x99, 0x42, 0xd3, 0x6b, 0x0f, 0xe4, 0x21,
	0x8c, 0x33, 0x70, 0x1d,
};

static enum tls_hello parse(const uint8_t *p, size_t len, char name[256])
{
	return tls_hello_parse(p, len, name, 256);
}

/* --- building hellos ---------------------------------------------------------- */

/* Bytes being put together. */
struct bytes {
	uint8_t b[2 * TLS_HELLO_MAX];
	size_t n;
};

static void put(struct bytes *s, const void *p, size_t n)
{
	ck_assert_uint_le(s->n + n, sizeof(s->b));
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void put_u(struct bytes *s, size_t v, unsigned width)
{
	uint8_t b[4];
	field_put(b, 0, width, v);
	put(s, b, width);
}

static void add_ext(struct bytes *e, unsigned type, const void *data, size_t n)
{
	put_u(e, type, 2);
	put_u(e, n, 2);
	put(e, data, n);
}

/* A server_name extension with entries of the given types and names. */
static void add_sni_entries(struct bytes *e, size_t n, const uint8_t types[], const char *const names[])
{
	static struct bytes list, data;
	list.n = data.n = 0;
	for (size_t i = 0; i < n; i++) {
		put_u(&list, types[i], 1);
		put_u(&list, strlen(names[i]), 2);
		put(&list, names[i], strlen(names[i]));
	}
	put_u(&data, list.n, 2);
	put(&data, list.b, list.n);
	add_ext(e, 0, data.b, data.n);
}

static void add_sni(struct bytes *e, const char *name)
{
	add_sni_entries(e, 1, (const uint8_t[]){ 0 }, (const char *const[]){ name });
}

/* A ClientHello message, handshake header included: TLS 1.2 layout, no
 * session id, one cipher suite, null compression, then the extension block
 * exts, or no block at all when exts is NULL. */
static void make_msg(struct bytes *m, const struct bytes *exts)
{
	static const uint8_t fixed[] = {
		0x03, 0x03,					    /* legacy_version */
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* random */
		17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
		0,						    /* session id */
		0x00, 0x02, 0xc0, 0x2f,				    /* cipher suites */
		0x01, 0x00,					    /* compression */
	};
	size_t body = sizeof(fixed) + (exts != NULL ? 2 + exts->n : 0);
	m->n = 0;
	put_u(m, 1, 1);
	put_u(m, body, 3);
	put(m, fixed, sizeof(fixed));
	if (exts != NULL) {
		put_u(m, exts->n, 2);
		put(m, exts->b, exts->n);
	}
}

/* The message m framed in records of frag bytes. */
static void frame(struct bytes *out, const struct bytes *m, size_t frag)
{
	out->n = tls_frame(m->b, m->n, frag, out->b, sizeof(out->b));
	ck_assert_uint_le(out->n, sizeof(out->b));
}

/* A whole hello in one record. */
static void make_hello(struct bytes *out, const struct bytes *exts)
{
	static struct bytes m;
	make_msg(&m, exts);
	frame(out, &m, ONE_RECORD);
}

/* A real hello's handshake message, without its record header. */
static void real_msg(struct bytes *m, const struct real *r)
{
	m->n = tls_unframe(r->p, r->len, m->b, sizeof(m->b));
	ck_assert_uint_eq(m->n, r->len - 5);
}

/* A copy of a real hello to change. */
static void real_copy(struct bytes *out, const struct real *r)
{
	out->n = 0;
	put(out, r->p, r->len);
}

/* Where the first s sits in b. */
static size_t find(const struct bytes *b, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i + n <= b->n; i++)
		if (memcmp(b->b + i, s, n) == 0)
			return i;
	ck_abort_msg("\"%s\" not found", s);
	return 0;
}

/* --- real hellos ------------------------------------------------------------ */

START_TEST(real_hellos_give_their_sni)
{
	for (size_t i = 0; i < NREAL(with_sni); i++) {
		char name[256] = "";
		ck_assert_msg(parse(with_sni[i].p, with_sni[i].len, name) == TLS_HELLO_SNI, "%s", with_sni[i].what);
		ck_assert_str_eq(name, SNI);
	}
}
END_TEST

START_TEST(real_hello_without_sni_gives_no_sni)
{
	char name[256];
	ck_assert_int_eq(parse(hello_nosni, sizeof(hello_nosni), name), TLS_HELLO_NO_SNI);
}
END_TEST

START_TEST(every_truncation_of_a_real_hello_needs_more)
{
	for (size_t i = 0; i < NREAL(all_real); i++)
		for (size_t k = 0; k < all_real[i].len; k++) {
			char name[256];
			enum tls_hello r = parse(all_real[i].p, k, name);
			ck_assert_msg(r == TLS_HELLO_MORE, "%s cut at %zu: %s", all_real[i].what, k, tls_hello_text(r));
		}
}
END_TEST

/* Each real hello re-framed in records of 1, 7 and 100 bytes: the same
 * SNI, and every truncation of the new stream still needs more. */
START_TEST(real_hellos_split_into_records_give_the_same_answer)
{
	static const size_t frags[] = { 1, 7, 100 };
	static struct bytes m, s;
	for (size_t i = 0; i < NREAL(all_real); i++)
		for (size_t f = 0; f < 3; f++) {
			real_msg(&m, &all_real[i]);
			frame(&s, &m, frags[f]);
			char name[256] = "";
			enum tls_hello want = i < NREAL(with_sni) ? TLS_HELLO_SNI : TLS_HELLO_NO_SNI;
			enum tls_hello r = parse(s.b, s.n, name);
			ck_assert_msg(r == want, "%s in %zu-byte records: %s", all_real[i].what, frags[f],
				      tls_hello_text(r));
			if (want == TLS_HELLO_SNI)
				ck_assert_str_eq(name, SNI);
			for (size_t k = 0; k < s.n; k++) {
				r = parse(s.b, k, name);
				ck_assert_msg(r == TLS_HELLO_MORE, "%s in %zu-byte records, cut at %zu: %s",
					      all_real[i].what, frags[f], k, tls_hello_text(r));
			}
		}
}
END_TEST

/* A TLS 1.3 client may send ChangeCipherSpec and early data right after its
 * hello; a caller may hand over more than TLS_HELLO_MAX bytes. */
START_TEST(bytes_after_the_hello_are_not_read)
{
	static const uint8_t after[] = { 20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 3, 'a', 'b', 'c', 21, 3, 3, 0, 2, 2, 40 };
	static struct bytes s;
	char name[256];
	real_copy(&s, &with_sni[0]);
	put(&s, after, sizeof(after));
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, SNI);

	real_copy(&s, &with_sni[2]);
	while (s.n < TLS_HELLO_MAX + 1000)
		put(&s, "\x17\x03\x03\x00\x00", 5);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, SNI);
}
END_TEST

/* --- records -------------------------------------------------------------------- */

START_TEST(zero_length_record_in_a_split_hello_is_malformed)
{
	static struct bytes m, s, z;
	real_msg(&m, &with_sni[0]);
	frame(&s, &m, 100);
	/* after the first record (5 + 100 bytes), an empty handshake record */
	put(&z, s.b, 105);
	put(&z, "\x16\x03\x01\x00\x00", 5);
	put(&z, s.b + 105, s.n - 105);
	char name[256];
	ck_assert_int_eq(parse(z.b, z.n, name), TLS_HELLO_MALFORMED);
	/* decided with the empty record's header, not at the end */
	ck_assert_int_eq(parse(z.b, 110, name), TLS_HELLO_MALFORMED);
	ck_assert_int_eq(parse(z.b, 109, name), TLS_HELLO_MORE);
}
END_TEST

START_TEST(zero_length_first_record_is_malformed)
{
	static struct bytes s;
	put(&s, "\x16\x03\x01\x00\x00", 5);
	put(&s, hello_tls13, sizeof(hello_tls13));
	char name[256];
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(alert_after_a_partial_hello_is_malformed)
{
	static struct bytes m, s, a;
	real_msg(&m, &with_sni[2]);
	frame(&s, &m, 100);
	put(&a, s.b, 105);
	put(&a, "\x15\x03\x03\x00\x02\x02\x28", 7);	/* alert: fatal handshake_failure */
	char name[256];
	ck_assert_int_eq(parse(a.b, a.n, name), TLS_HELLO_MALFORMED);
	ck_assert_int_eq(parse(a.b, 106, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(later_record_of_another_version_is_malformed)
{
	static struct bytes m, s;
	real_msg(&m, &with_sni[0]);
	frame(&s, &m, 100);
	s.b[105 + 1] = 2;
	char name[256];
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(record_minor_version_is_not_checked)
{
	static struct bytes s;
	char name[256];
	real_copy(&s, &with_sni[0]);
	for (unsigned minor = 0; minor < 256; minor += 51) {
		s.b[2] = (uint8_t)minor;
		ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	}
}
END_TEST

START_TEST(record_longer_than_16384_is_malformed)
{
	static const uint8_t head[] = { 22, 3, 1, 0x40, 0x01, 1, 0, 0x40, 0x00 };
	char name[256];
	ck_assert_int_eq(parse(head, sizeof(head), name), TLS_HELLO_MALFORMED);
	ck_assert_int_eq(parse(head, 5, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(record_going_past_the_hello_is_malformed)
{
	static struct bytes s;
	char name[256];
	real_copy(&s, &with_sni[1]);
	put(&s, "\x0e\x00\x00\x00", 4);	/* a ServerHelloDone, say, in the same record */
	field_put(s.b, 3, 2, field_get(s.b, 3, 2) + 4);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	/* known from the lengths, before the bytes */
	ck_assert_int_eq(parse(s.b, 9, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(other_handshake_message_is_malformed)
{
	static struct bytes s;
	char name[256];
	real_copy(&s, &with_sni[0]);
	s.b[5] = 2;	/* ServerHello */
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	ck_assert_int_eq(parse(s.b, 6, name), TLS_HELLO_MALFORMED);
}
END_TEST

/* The handshake header may itself be cut over records. */
START_TEST(handshake_header_over_four_records)
{
	static struct bytes m, s;
	real_msg(&m, &with_sni[1]);
	for (size_t i = 0; i < 4; i++) {
		put(&s, "\x16\x03\x01\x00\x01", 5);
		put(&s, m.b + i, 1);
	}
	put_u(&s, 0x160301, 3);
	put_u(&s, m.n - 4, 2);
	put(&s, m.b + 4, m.n - 4);
	char name[256];
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, SNI);
}
END_TEST

/* --- not TLS -------------------------------------------------------------------- */

START_TEST(http_request_is_not_tls)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n";
	char name[256];
	ck_assert_int_eq(parse((const uint8_t *)get, strlen(get), name), TLS_HELLO_NOT_TLS);
	ck_assert_int_eq(parse((const uint8_t *)get, 1, name), TLS_HELLO_NOT_TLS);
}
END_TEST

START_TEST(application_data_record_first_is_not_tls)
{
	static const uint8_t data[] = { 23, 3, 3, 0, 5, 'h', 'e', 'l', 'l', 'o' };
	char name[256];
	ck_assert_int_eq(parse(data, sizeof(data), name), TLS_HELLO_NOT_TLS);
}
END_TEST

START_TEST(handshake_byte_then_other_version_is_not_tls)
{
	static const uint8_t data[] = { 22, 2, 0, 0, 5 };
	char name[256];
	ck_assert_int_eq(parse(data, sizeof(data), name), TLS_HELLO_NOT_TLS);
	ck_assert_int_eq(parse(data, 2, name), TLS_HELLO_NOT_TLS);
}
END_TEST

START_TEST(too_few_bytes_to_decide_need_more)
{
	char name[256];
	ck_assert_int_eq(parse(NULL, 0, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse((const uint8_t *)"\x16", 1, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse((const uint8_t *)"\x16\x03", 2, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse((const uint8_t *)"\x80", 1, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse((const uint8_t *)"\x80\x2e", 2, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse((const uint8_t *)"\x80\x2e\x01", 3, name), TLS_HELLO_MORE);
}
END_TEST

/* --- SSLv2 ------------------------------------------------------------------------ */

START_TEST(sslv2_hello_is_recognised_from_four_bytes)
{
	char name[256];
	ck_assert_int_eq(parse(hello_sslv2, sizeof(hello_sslv2), name), TLS_HELLO_SSLV2);
	ck_assert_int_eq(parse(hello_sslv2, 4, name), TLS_HELLO_SSLV2);
	static const uint8_t v2[] = { 0x80, 0x2e, 0x01, 0x00, 0x02 };	/* SSL 2.0 itself */
	ck_assert_int_eq(parse(v2, sizeof(v2), name), TLS_HELLO_SSLV2);
}
END_TEST

START_TEST(sslv2_header_without_client_hello_is_not_tls)
{
	char name[256];
	static const uint8_t server[] = { 0x80, 0x2e, 0x04, 0x00, 0x02 };	/* SERVER-HELLO */
	ck_assert_int_eq(parse(server, sizeof(server), name), TLS_HELLO_NOT_TLS);
	ck_assert_int_eq(parse(server, 3, name), TLS_HELLO_NOT_TLS);
	static const uint8_t v4[] = { 0x80, 0x2e, 0x01, 0x04, 0x00 };
	ck_assert_int_eq(parse(v4, sizeof(v4), name), TLS_HELLO_NOT_TLS);
	static const uint8_t high[] = { 0xff, 0xff, 0xff, 0xff };
	ck_assert_int_eq(parse(high, sizeof(high), name), TLS_HELLO_NOT_TLS);
}
END_TEST

/* --- size ------------------------------------------------------------------------- */

START_TEST(declared_handshake_length_over_max_is_too_big)
{
	static struct bytes s;
	char name[256];
	real_copy(&s, &with_sni[0]);
	field_put(s.b, 6, 3, 20000);
	ck_assert_int_eq(parse(s.b, 9, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, 8, name), TLS_HELLO_MORE);
	field_put(s.b, 6, 3, 0xffffff);
	ck_assert_int_eq(parse(s.b, 9, name), TLS_HELLO_TOO_BIG);
}
END_TEST

/* How long a message of n bytes is in records of frag bytes. */
static size_t framed_len(size_t n, size_t frag)
{
	return n + 5 * ((n + frag - 1) / frag);
}

/* A hello with SNI, padded until it takes total bytes of stream (or the
 * fewest above, when record headers jump over total) in frag-byte records. */
static void padded(struct bytes *s, size_t total, size_t frag)
{
	static struct bytes e, m, pad;
	e.n = 0;
	add_sni(&e, SNI);
	make_msg(&m, &e);
	size_t base = m.n + 4;	/* with the padding extension's header */
	pad.n = 0;
	while (framed_len(base + pad.n, frag) < total)
		put_u(&pad, 0, 1);
	add_ext(&e, 21, pad.b, pad.n);
	make_msg(&m, &e);
	frame(s, &m, frag);
	ck_assert_uint_ge(s->n, total);
}

START_TEST(largest_hello_that_fits_is_read)
{
	static struct bytes s;
	char name[256];
	padded(&s, TLS_HELLO_MAX, ONE_RECORD);
	ck_assert_uint_eq(s.n, TLS_HELLO_MAX);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, SNI);
	ck_assert_int_eq(parse(s.b, s.n - 1, name), TLS_HELLO_MORE);
	/* and in three records */
	padded(&s, TLS_HELLO_MAX, 8000);
	ck_assert_uint_eq(s.n, TLS_HELLO_MAX);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_int_eq(parse(s.b, s.n - 1, name), TLS_HELLO_MORE);
}
END_TEST

START_TEST(one_byte_more_is_too_big_from_the_headers)
{
	static struct bytes s;
	char name[256];
	padded(&s, TLS_HELLO_MAX + 1, ONE_RECORD);
	ck_assert_uint_eq(s.n, TLS_HELLO_MAX + 1);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, 9, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, 8, name), TLS_HELLO_MORE);
}
END_TEST

/* Over several records, each header narrows where the hello can end: here
 * the first leaves room for the rest in one more record, the second does
 * not. */
START_TEST(too_big_over_records_is_known_at_the_first_header_that_shows_it)
{
	static struct bytes s;
	char name[256];
	padded(&s, TLS_HELLO_MAX + 1, 8000);
	ck_assert_uint_eq(s.n, TLS_HELLO_MAX + 1);
	ck_assert_int_eq(parse(s.b, 8009, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse(s.b, 8010, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_TOO_BIG);
	/* in small records, by TLS_HELLO_MAX bytes at the latest */
	padded(&s, TLS_HELLO_MAX + 1, 100);
	ck_assert_int_eq(parse(s.b, TLS_HELLO_MAX, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_TOO_BIG);
	for (size_t k = 0; k < TLS_HELLO_MAX; k += 97) {
		enum tls_hello r = parse(s.b, k, name);
		ck_assert_msg(r == TLS_HELLO_MORE || r == TLS_HELLO_TOO_BIG, "cut at %zu: %s", k, tls_hello_text(r));
	}
}
END_TEST

/* The largest one-record hello, cut into two records: the extra header
 * makes it too big, and the first record's header says so. */
START_TEST(largest_hello_in_two_records_is_too_big)
{
	static struct bytes s, m;
	char name[256];
	padded(&s, TLS_HELLO_MAX, ONE_RECORD);
	m.n = tls_unframe(s.b, s.n, m.b, sizeof(m.b));
	frame(&s, &m, m.n - 1);
	ck_assert_uint_eq(s.n, TLS_HELLO_MAX + 5);
	ck_assert_int_eq(parse(s.b, 9, name), TLS_HELLO_TOO_BIG);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_TOO_BIG);
}
END_TEST

/* --- lengths -------------------------------------------------------------------- */

/* Every length field of every real hello, one too large and one too small:
 * never an answer with a name, and where the result is determined by the
 * layout, that result. */
START_TEST(each_length_field_off_by_one_is_refused)
{
	static struct bytes s;
	for (size_t i = 0; i < NREAL(all_real); i++) {
		struct hello_fields hf;
		hello_fields(all_real[i].p, all_real[i].len, &hf);
		ck_assert_uint_ge(hf.n, 8);
		for (size_t f = 0; f < hf.n; f++)
			for (int d = -1; d <= 1; d += 2) {
				const struct hello_field *x = &hf.f[f];
				size_t mask = x->width == 3 ? 0xffffff : x->width == 2 ? 0xffff : 0xff;
				real_copy(&s, &all_real[i]);
				field_put(s.b, x->off, x->width, (x->value + (size_t)d) & mask);
				char name[256];
				enum tls_hello r = parse(s.b, s.n, name);
				enum tls_hello want = TLS_HELLO_MALFORMED;
				/* a message one byte longer than its record waits
				 * for the next record */
				if (x->level == 1 && d > 0)
					want = TLS_HELLO_MORE;
				/* a record one byte short leaves the hello's last
				 * byte where the next record's type should be */
				if (x->level == 0 && d < 0 && all_real[i].p[all_real[i].len - 1] == 22)
					want = TLS_HELLO_MORE;
				ck_assert_msg(r == want, "%s: field at %zu %+d: %s, not %s", all_real[i].what, x->off,
					      d, tls_hello_text(r), tls_hello_text(want));
			}
	}
}
END_TEST

/* --- the body --------------------------------------------------------------------- */

START_TEST(hello_without_extensions_has_no_sni)
{
	static struct bytes s;
	char name[256];
	make_hello(&s, NULL);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_NO_SNI);
}
END_TEST

START_TEST(empty_extension_block_has_no_sni)
{
	static struct bytes s, e;
	char name[256];
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_NO_SNI);
}
END_TEST

START_TEST(built_hello_gives_its_sni)
{
	static struct bytes s, e;
	char name[256];
	add_ext(&e, 11, "\x01\x00", 2);
	add_sni(&e, "a.b");
	add_ext(&e, 23, "", 0);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, "a.b");
}
END_TEST

/* The extension block must end where the message does. */
START_TEST(extension_block_not_filling_the_message_is_malformed)
{
	static struct bytes s, e, m;
	char name[256];
	add_sni(&e, SNI);
	make_msg(&m, &e);
	put_u(&m, 0, 1);	/* a stray byte after the block */
	field_put(m.b, 1, 3, m.n - 4);
	frame(&s, &m, ONE_RECORD);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	/* and a lone byte where the block's length should be */
	make_msg(&m, NULL);
	put_u(&m, 0, 1);
	field_put(m.b, 1, 3, m.n - 4);
	frame(&s, &m, ONE_RECORD);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(duplicate_server_name_extension_is_malformed)
{
	static struct bytes s, e;
	char name[256];
	add_sni(&e, SNI);
	add_ext(&e, 10, "\x00\x02\x00\x1d", 4);
	add_sni(&e, "other.example");
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(second_host_name_entry_is_malformed)
{
	static struct bytes s, e;
	char name[256];
	add_sni_entries(&e, 2, (const uint8_t[]){ 0, 0 }, (const char *const[]){ SNI, "other.example" });
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(other_name_types_are_skipped)
{
	static struct bytes s, e;
	char name[256];
	add_sni_entries(&e, 3, (const uint8_t[]){ 7, 0, 9 }, (const char *const[]){ "x y", SNI, "\x01" });
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, SNI);

	e.n = 0;
	add_sni_entries(&e, 1, (const uint8_t[]){ 1 }, (const char *const[]){ SNI });
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_NO_SNI);
}
END_TEST

/* The empty server_name is what a server sends back; from a client, and
 * an empty list, it is wrong. */
START_TEST(empty_server_name_is_malformed)
{
	static struct bytes s, e;
	char name[256];
	add_ext(&e, 0, "", 0);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	e.n = 0;
	add_ext(&e, 0, "\x00\x00", 2);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

/* server_name_list must fill its extension: a stray byte after it, with
 * every length outside consistent, is malformed. */
START_TEST(server_name_list_not_filling_the_extension_is_malformed)
{
	static struct bytes s, e;
	char name[256];
	static const char data[] = "\x00\x06\x00\x00\x03" "a.b" "\x00";
	add_ext(&e, 0, data, sizeof(data) - 1);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	e.n = 0;
	add_ext(&e, 0, data, sizeof(data) - 2);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, "a.b");
}
END_TEST

/* legacy_version, session id, cipher suites and compression, each bent. */
START_TEST(bad_fixed_fields_are_malformed)
{
	static struct bytes s, e;
	char name[256];
	add_sni(&e, SNI);
	const size_t version = 9, sid = 9 + 2 + 32, suites = sid + 1, comp = suites + 4;

	make_hello(&s, &e);
	s.b[version] = 2;
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);

	/* a session id of 33 bytes, everything around it consistent; 32 is fine */
	static uint8_t sid_bytes[33];
	struct hello_fields hf;
	make_hello(&s, &e);
	hello_fields(s.b, s.n, &hf);
	ck_assert_uint_eq(hf.f[2].off, sid);
	s.n = hello_resize(s.b, s.n, sizeof(s.b), &hf, 2, sid + 1, 33, sid_bytes);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	make_hello(&s, &e);
	s.n = hello_resize(s.b, s.n, sizeof(s.b), &hf, 2, sid + 1, 32, sid_bytes);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);

	/* cipher suites: one and a half, and none (the bytes shift but the
	 * lengths around them stay right) */
	make_hello(&s, &e);
	ck_assert_uint_eq(hf.f[3].off, suites);
	s.n = hello_resize(s.b, s.n, sizeof(s.b), &hf, 2, suites + 2, 1, (const uint8_t *)"\x13");
	ck_assert_uint_eq(field_get(s.b, suites, 2), 3);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
	make_hello(&s, &e);
	s.n = hello_resize(s.b, s.n, sizeof(s.b), &hf, 2, suites + 2, -2, NULL);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);

	/* no compression method */
	make_hello(&s, &e);
	ck_assert_uint_eq(hf.f[4].off, comp);
	s.n = hello_resize(s.b, s.n, sizeof(s.b), &hf, 2, comp + 1, -1, NULL);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

/* --- names -------------------------------------------------------------------------- */

START_TEST(name_with_a_bad_byte_is_malformed)
{
	static const uint8_t bad[] = { 0, ' ', '/', ':', '*', '@', 0x7f, 0x80, 0xc3, 0xff, '\n' };
	static struct bytes s;
	for (size_t i = 0; i < sizeof(bad); i++)
		for (size_t where = 0; where < strlen(SNI); where += strlen(SNI) - 1) {
			real_copy(&s, &with_sni[2]);
			s.b[find(&s, SNI) + where] = bad[i];
			char name[256] = "untouched";
			ck_assert_msg(parse(s.b, s.n, name) == TLS_HELLO_MALFORMED, "byte 0x%02x at %zu", bad[i],
				      where);
			ck_assert_str_eq(name, "untouched");
		}
}
END_TEST

START_TEST(underscore_and_digits_are_allowed)
{
	static struct bytes s, e;
	char name[256];
	add_sni(&e, "_dmarc.host-1.example.");
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, "_dmarc.host-1.example.");
}
END_TEST

START_TEST(uppercase_name_is_lowercased)
{
	static struct bytes s;
	char name[256];
	for (size_t i = 0; i < NREAL(with_sni); i++) {
		real_copy(&s, &with_sni[i]);
		memcpy(s.b + find(&s, SNI), "WWW.Example.TEST", strlen(SNI));
		ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
		ck_assert_str_eq(name, SNI);
	}
}
END_TEST

START_TEST(name_of_255_bytes_is_read_256_is_malformed)
{
	static struct bytes s, e;
	char long_name[300], name[256];
	memset(long_name, 'a', sizeof(long_name));
	long_name[255] = '\0';
	add_sni(&e, long_name);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_SNI);
	ck_assert_str_eq(name, long_name);

	long_name[255] = 'a';
	long_name[256] = '\0';
	e.n = 0;
	add_sni(&e, long_name);
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(empty_name_is_malformed)
{
	static struct bytes s, e;
	char name[256];
	add_sni(&e, "");
	make_hello(&s, &e);
	ck_assert_int_eq(parse(s.b, s.n, name), TLS_HELLO_MALFORMED);
}
END_TEST

START_TEST(name_that_does_not_fit_namecap_is_malformed)
{
	char name[256];
	memset(name, 'x', sizeof(name));
	ck_assert_int_eq(tls_hello_parse(hello_curl, sizeof(hello_curl), name, strlen(SNI)), TLS_HELLO_MALFORMED);
	ck_assert_int_eq(name[0], 'x');
	ck_assert_int_eq(tls_hello_parse(hello_curl, sizeof(hello_curl), name, strlen(SNI) + 1), TLS_HELLO_SNI);
	ck_assert_str_eq(name, SNI);
}
END_TEST

/* The caller's name buffer is written only with an answer. */
START_TEST(name_is_untouched_unless_sni)
{
	char name[256] = "untouched";
	ck_assert_int_eq(parse(hello_nosni, sizeof(hello_nosni), name), TLS_HELLO_NO_SNI);
	ck_assert_int_eq(parse(hello_curl, 100, name), TLS_HELLO_MORE);
	ck_assert_int_eq(parse(hello_sslv2, sizeof(hello_sslv2), name), TLS_HELLO_SSLV2);
	ck_assert_str_eq(name, "untouched");
}
END_TEST

START_TEST(result_texts)
{
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_MORE), "incomplete hello");
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_SNI), "sni");
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_NO_SNI), "no SNI");
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_NOT_TLS), "not TLS");
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_SSLV2), "SSLv2 hello");
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_TOO_BIG), "hello too big");
	ck_assert_str_eq(tls_hello_text(TLS_HELLO_MALFORMED), "malformed hello");
}
END_TEST

/* --- fuzz ------------------------------------------------------------------------ */

#define FUZZ_ITERATIONS 20000

/* The mutations of `make fuzz`, fewer of them, checked against the same
 * promises (tests/common/hello_check.h).  Every kind of result must turn up,
 * or the mutations are not reaching the parser's corners. */
START_TEST(mutations_keep_every_promise)
{
	static struct bytes split, m;
	real_msg(&m, &with_sni[2]);
	frame(&split, &m, 7);
	const struct fuzz_input seeds[] = {
		{ hello_tls13, sizeof(hello_tls13) }, { hello_tls12, sizeof(hello_tls12) },
		{ hello_curl, sizeof(hello_curl) },   { hello_nosni, sizeof(hello_nosni) },
		{ hello_sslv2, sizeof(hello_sslv2) }, { split.b, split.n },
	};
	static uint8_t buf[TLS_HELLO_MAX + 4096];
	unsigned long counts[TLS_HELLO_MALFORMED + 1] = { 0 };
	struct fuzz_rng rng;
	fuzz_seed(&rng, 20240601);
	size_t len = 0;
	for (unsigned long i = 0; i < FUZZ_ITERATIONS; i++) {
		len = fuzz_generate(&rng, seeds, sizeof(seeds) / sizeof(seeds[0]), buf, len, sizeof(buf));
		enum tls_hello r;
		const char *broken = tls_hello_check(buf, len, &r);
		ck_assert_msg(broken == NULL, "input %lu (%zu bytes): %s", i, len, broken);
		counts[r]++;
	}
	for (int r = 0; r <= TLS_HELLO_MALFORMED; r++)
		ck_assert_msg(counts[r] > 0, "no \"%s\" in %d inputs", tls_hello_text((enum tls_hello)r),
			      FUZZ_ITERATIONS);
}
END_TEST

Suite *tls_hello_suite(void)
{
	Suite *s = suite_create("tls_hello");
	TCase *tc = tcase_create("real hellos");
	tcase_add_test(tc, real_hellos_give_their_sni);
	tcase_add_test(tc, real_hello_without_sni_gives_no_sni);
	tcase_add_test(tc, every_truncation_of_a_real_hello_needs_more);
	tcase_add_test(tc, real_hellos_split_into_records_give_the_same_answer);
	tcase_add_test(tc, bytes_after_the_hello_are_not_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_test(tc, zero_length_record_in_a_split_hello_is_malformed);
	tcase_add_test(tc, zero_length_first_record_is_malformed);
	tcase_add_test(tc, alert_after_a_partial_hello_is_malformed);
	tcase_add_test(tc, later_record_of_another_version_is_malformed);
	tcase_add_test(tc, record_minor_version_is_not_checked);
	tcase_add_test(tc, record_longer_than_16384_is_malformed);
	tcase_add_test(tc, record_going_past_the_hello_is_malformed);
	tcase_add_test(tc, other_handshake_message_is_malformed);
	tcase_add_test(tc, handshake_header_over_four_records);
	suite_add_tcase(s, tc);

	tc = tcase_create("not TLS");
	tcase_add_test(tc, http_request_is_not_tls);
	tcase_add_test(tc, application_data_record_first_is_not_tls);
	tcase_add_test(tc, handshake_byte_then_other_version_is_not_tls);
	tcase_add_test(tc, too_few_bytes_to_decide_need_more);
	tcase_add_test(tc, sslv2_hello_is_recognised_from_four_bytes);
	tcase_add_test(tc, sslv2_header_without_client_hello_is_not_tls);
	suite_add_tcase(s, tc);

	tc = tcase_create("size");
	tcase_add_test(tc, declared_handshake_length_over_max_is_too_big);
	tcase_add_test(tc, largest_hello_that_fits_is_read);
	tcase_add_test(tc, one_byte_more_is_too_big_from_the_headers);
	tcase_add_test(tc, too_big_over_records_is_known_at_the_first_header_that_shows_it);
	tcase_add_test(tc, largest_hello_in_two_records_is_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("body");
	tcase_add_test(tc, each_length_field_off_by_one_is_refused);
	tcase_add_test(tc, hello_without_extensions_has_no_sni);
	tcase_add_test(tc, empty_extension_block_has_no_sni);
	tcase_add_test(tc, built_hello_gives_its_sni);
	tcase_add_test(tc, extension_block_not_filling_the_message_is_malformed);
	tcase_add_test(tc, duplicate_server_name_extension_is_malformed);
	tcase_add_test(tc, second_host_name_entry_is_malformed);
	tcase_add_test(tc, other_name_types_are_skipped);
	tcase_add_test(tc, empty_server_name_is_malformed);
	tcase_add_test(tc, server_name_list_not_filling_the_extension_is_malformed);
	tcase_add_test(tc, bad_fixed_fields_are_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, name_with_a_bad_byte_is_malformed);
	tcase_add_test(tc, underscore_and_digits_are_allowed);
	tcase_add_test(tc, uppercase_name_is_lowercased);
	tcase_add_test(tc, name_of_255_bytes_is_read_256_is_malformed);
	tcase_add_test(tc, empty_name_is_malformed);
	tcase_add_test(tc, name_that_does_not_fit_namecap_is_malformed);
	tcase_add_test(tc, name_is_untouched_unless_sni);
	tcase_add_test(tc, result_texts);
	suite_add_tcase(s, tc);

	tc = tcase_create("fuzz");
	/* the ASan build runs this several times slower */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mutations_keep_every_promise);
	suite_add_tcase(s, tc);
	return s;
}
