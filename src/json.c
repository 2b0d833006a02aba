/* json: RFC 8259 string escaping of arbitrary bytes (see json.h for the
 * mapping).  Pure, allocation-free; runs once per field of every JSON
 * access-log line, so plain ASCII takes a short path. */
#include "sluice/json.h"

#include <string.h>

/* Unicode table 3-7, "Well-Formed UTF-8 Byte Sequences": the lead byte fixes
 * the length and the range of the second byte (narrower than 80..BF after
 * E0, ED, F0 and F4, which is what rules out overlong forms, surrogates and
 * code points past U+10FFFF); every later byte is 80..BF. */
int json_utf8_seq(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return -1; /* continuation byte, overlong lead C0/C1, or past U+10FFFF */
	if (c < 0xe0) {
		need = 2;
	} else if (c < 0xf0) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0; /* below: overlong */
		else if (c == 0xed)
			hi = 0x9f; /* above: UTF-16 surrogates */
	} else {
		need = 4;
		if (c == 0xf0)
			lo = 0x90; /* below: overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above: past U+10FFFF */
	}
	for (size_t i = 1; i < need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi)
			return -(int)i; /* the lead and the i - 1 bytes that fitted */
		lo = 0x80;
		hi = 0xbf;
	}
	return (int)need;
}

/* The escape for a byte below 0x20, '"' or '\\'; NULL for bytes that go
 * out as they are.  The short forms are the ones RFC 8259 section 7 names. */
static const char *short_escape(unsigned char c)
{
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	}
	return NULL;
}

size_t json_escape(char *dst, size_t room, const char *src, size_t len, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	size_t in = 0, out = 0;

	while (in < len) {
		unsigned char c = (unsigned char)src[in];
		char tmp[6];
		const char *unit = tmp;
		size_t ulen, ilen;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			if (out == room)
				break;
			dst[out++] = (char)c;
			in++;
			continue;
		}
		if (c >= 0x80) {
			int k = json_utf8_seq(src + in, len - in);
			if (k > 0) {
				unit = src + in;
				ulen = ilen = (size_t)k;
			} else {
				unit = "\\ufffd";
				ulen = 6;
				ilen = (size_t)-k;
			}
		} else if ((unit = short_escape(c)) != NULL) {
			ulen = 2;
			ilen = 1;
		} else {
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[c >> 4];
			tmp[5] = hex[c & 15];
			unit = tmp;
			ulen = 6;
			ilen = 1;
		}
		/* whole units only: a cut output must still be valid */
		if (ulen > room - out)
			break;
		memcpy(dst + out, unit, ulen);
		out += ulen;
		in += ilen;
	}
	if (used)
		*used = in;
	return out;
}
