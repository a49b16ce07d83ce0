/* utf8.c - see utf8.h. */
#include "core/utf8.h"

#include <stdint.h>

/*
 * Sequence length announced by lead byte c (0: never valid), narrowing
 * [*lo, *hi], the range of the second byte, to refuse overlong forms,
 * surrogates and code points above U+10FFFF (Unicode table 3-7).
 */
static size_t
utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
	if (c == 0x00)
		return 0; /* U+0000: MQTT-1.5.3-2 (5.0 MQTT-1.5.4-2) */
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0; /* stray continuation or overlong 2-byte form */
	if (c < 0xE0)
		return 2;
	if (c == 0xE0)
		*lo = 0xA0; /* overlong 3-byte form */
	if (c == 0xED)
		*hi = 0x9F; /* U+D800..U+DFFF: MQTT-1.5.3-1 (5.0 1.5.4-1) */
	if (c < 0xF0)
		return 3;
	if (c == 0xF0)
		*lo = 0x90; /* overlong 4-byte form */
	if (c == 0xF4)
		*hi = 0x8F; /* above U+10FFFF */
	return c < 0xF5 ? 4 : 0;
}

/* Length of the well-formed sequence at s (left bytes remain), 0 if none. */
static size_t
utf8_seq_len(const uint8_t *s, size_t left)
{
	uint8_t lo = 0x80, hi = 0xBF;
	size_t n = utf8_lead(s[0], &lo, &hi);

	if (n == 0 || n > left)
		return 0;
	if (n > 1 && (s[1] < lo || s[1] > hi))
		return 0;
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	}
	return n;
}

bool
utf8_is_valid(const char *p, size_t len)
{
	const uint8_t *s = (const uint8_t *)p;
	size_t i = 0;

	while (i < len) {
		/* printable ASCII is the common case */
		bool ascii = s[i] >= 0x01 && s[i] <= 0x7F;
		size_t n = ascii ? 1 : utf8_seq_len(s + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}
