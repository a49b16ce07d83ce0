/*
 * test_mqtt_codec.c - the MQTT codec against byte vectors.
 *
 * Valid vectors for every packet type and version are decoded, re-encoded
 * and compared byte for byte; every strict prefix is fed to the framer
 * (MORE) and every truncated body to the decoder (never a crash, never a
 * read past the frame: each frame sits in an exact-size heap copy so ASan
 * sees an over-read). Malformed vectors check the reason code. A property
 * matrix puts each MQTT 5 property, alone and twice, into each packet
 * type and checks it against an independent copy of 5.0 table 2-4.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocols/mqtt/mqtt_codec.h"

struct vec {
	const char *name;
	uint8_t version; /* session version for decode; 0 for CONNECT */
	const uint8_t *b;
	size_t len;
	uint8_t rc; /* expected reason code for bad vectors */
};

#define BYTES(...) \
	(const uint8_t[]) \
	{ \
		__VA_ARGS__ \
	}
#define VEC(n, v, ...) \
	{ \
		n, v, BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)), 0 \
	}
#define BAD(n, v, rc, ...) \
	{ \
		n, v, BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)), rc \
	}

#define MQTT_ 'M', 'Q', 'T', 'T'
#define MQISDP 'M', 'Q', 'I', 's', 'd', 'p'

/* ---- valid vectors: decode -> encode gives the same bytes ---- */

static const struct vec good[] = {
    VEC("connect 3.1", 0, 0x10, 0x11, 0x00, 0x06, MQISDP, 0x03, 0x02, 0x00,
        0x3C, 0x00, 0x03, 'a', 'b', 'c'),
    VEC("connect 3.1 password only", 0, 0x10, 0x13, 0x00, 0x06, MQISDP, 0x03,
        0x42, 0x00, 0x3C, 0x00, 0x01, 'c', 0x00, 0x02, 'p', 'w'),
    VEC("connect 3.1.1 empty id", 0, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04, 0x02,
        0x00, 0x00, 0x00, 0x00),
    VEC("connect 3.1.1 full", 0, 0x10, 0x1C, 0x00, 0x04, MQTT_, 0x04, 0xEE,
        0x00, 0x3C, 0x00, 0x02, 'i', 'd', 0x00, 0x01, 't', 0x00, 0x02, 'w', 'p',
        0x00, 0x01, 'u', 0x00, 0x02, 'p', 'w'),
    VEC("connect 5.0 full", 0, 0x10, 0x60, 0x00, 0x04, MQTT_, 0x05, 0xCE, 0x00,
        0x3C,
        /* properties */
        0x23, 0x11, 0x00, 0x00, 0x00, 0x78, 0x15, 0x00, 0x01, 'm', 0x16, 0x00,
        0x01, 'd', 0x17, 0x01, 0x19, 0x01, 0x21, 0x00, 0x10, 0x22, 0x00, 0x0A,
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x27, 0x00, 0x00, 0x10, 0x00,
        /* client id */
        0x00, 0x02, 'i', 'd',
        /* will properties */
        0x1F, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x0A, 0x03, 0x00, 0x01, 't',
        0x08, 0x00, 0x01, 'r', 0x09, 0x00, 0x01, 'c', 0x18, 0x00, 0x00, 0x00,
        0x05, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',
        /* will topic, will payload, user name, password */
        0x00, 0x01, 'w', 0x00, 0x02, 'x', 'y', 0x00, 0x01, 'u', 0x00, 0x02, 'p',
        'w'),
    VEC("connect 5.0 password only", 0, 0x10, 0x10, 0x00, 0x04, MQTT_, 0x05,
        0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 'p'),
    VEC("connack 3.1", 3, 0x20, 0x02, 0x00, 0x00),
    VEC("connack 3.1.1 session", 4, 0x20, 0x02, 0x01, 0x00),
    VEC("connack 3.1.1 refused", 4, 0x20, 0x02, 0x00, 0x05),
    VEC("connack 5.0 bare", 5, 0x20, 0x03, 0x00, 0x00, 0x00),
    VEC("connack 5.0 full", 5, 0x20, 0x38, 0x01, 0x00, 0x35, 0x11, 0x00, 0x00,
        0x00, 0x3C, 0x12, 0x00, 0x02, 'c', 'i', 0x13, 0x00, 0x1E, 0x1A, 0x00,
        0x01, 'r', 0x1C, 0x00, 0x01, 's', 0x1F, 0x00, 0x01, 'o', 0x21, 0x00,
        0x14, 0x22, 0x00, 0x05, 0x24, 0x01, 0x25, 0x00, 0x26, 0x00, 0x01, 'k',
        0x00, 0x01, 'v', 0x27, 0x00, 0x01, 0x00, 0x00, 0x28, 0x01, 0x29, 0x00,
        0x2A, 0x01),
    VEC("connack 5.0 auth", 5, 0x20, 0x0B, 0x00, 0x00, 0x08, 0x15, 0x00, 0x01,
        'm', 0x16, 0x00, 0x01, 'd'),
    VEC("publish 3.1 qos1", 3, 0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x01, 'p'),
    VEC("publish 3.1.1 qos0", 4, 0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h',
        'i'),
    VEC("publish 3.1.1 qos1 retain", 4, 0x33, 0x06, 0x00, 0x01, 't', 0x00, 0x0A,
        'x'),
    VEC("publish 3.1.1 qos2 dup empty", 4, 0x3C, 0x05, 0x00, 0x01, 't', 0x00,
        0x0B),
    VEC("publish 5.0 no props", 5, 0x30, 0x05, 0x00, 0x01, 't', 0x00, 'p'),
    VEC("publish 5.0 alias only", 5, 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00,
        0x01, 'x'),
    VEC("publish 5.0 full", 5, 0x32, 0x3C, 0x00, 0x01, 't', 0x00, 0x07, 0x34,
        0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x3C, 0x03, 0x00, 0x04, 't', 'e',
        'x', 't', 0x08, 0x00, 0x01, 'r', 0x09, 0x00, 0x02, 0x01, 0x02, 0x0B,
        0x05, 0x0B, 0x80, 0x01, 0x23, 0x00, 0x03, 0x26, 0x00, 0x01, 'a', 0x00,
        0x01, '1', 0x26, 0x00, 0x01, 'b', 0x00, 0x01, '2', 0x26, 0x00, 0x01,
        'a', 0x00, 0x01, '3', 'h', 'i'),
    VEC("puback 3.1", 3, 0x40, 0x02, 0x00, 0x01),
    VEC("puback 3.1.1", 4, 0x40, 0x02, 0x00, 0x01),
    VEC("pubrec 3.1.1", 4, 0x50, 0x02, 0x00, 0x02),
    VEC("pubrel 3.1.1", 4, 0x62, 0x02, 0x00, 0x03),
    VEC("pubcomp 3.1.1", 4, 0x70, 0x02, 0x00, 0x04),
    VEC("puback 5.0 short", 5, 0x40, 0x02, 0x00, 0x01),
    VEC("puback 5.0 rc only", 5, 0x40, 0x03, 0x00, 0x01, 0x10),
    VEC("puback 5.0 props", 5, 0x40, 0x11, 0x00, 0x01, 0x80, 0x0D, 0x1F, 0x00,
        0x03, 'b', 'a', 'd', 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'),
    VEC("pubrec 5.0 rc 0 props", 5, 0x50, 0x08, 0x00, 0x02, 0x00, 0x04, 0x1F,
        0x00, 0x01, 'x'),
    VEC("pubrel 5.0 rc only", 5, 0x62, 0x03, 0x00, 0x03, 0x92),
    VEC("pubcomp 5.0 short", 5, 0x70, 0x02, 0x00, 0x04),
    VEC("subscribe 3.1", 3, 0x82, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b',
        0x01, 0x00, 0x01, '#', 0x02),
    VEC("subscribe 3.1.1", 4, 0x82, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b',
        0x01, 0x00, 0x01, '#', 0x02),
    VEC("subscribe 5.0", 5, 0x82, 0x1F, 0x00, 0x0A, 0x09, 0x0B, 0x07, 0x26,
        0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x00, 0x03, 'a', '/', 'b', 0x2D, 0x00,
        0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', 0x02),
    VEC("suback 3.1.1", 4, 0x90, 0x05, 0x00, 0x0A, 0x01, 0x02, 0x80),
    VEC("suback 5.0", 5, 0x90, 0x0A, 0x00, 0x0A, 0x04, 0x1F, 0x00, 0x01, 'r',
        0x01, 0x02, 0x87),
    VEC("unsubscribe 3.1.1", 4, 0xA2, 0x0A, 0x00, 0x0B, 0x00, 0x03, 'a', '/',
        'b', 0x00, 0x01, '#'),
    VEC("unsubscribe 5.0", 5, 0xA2, 0x0F, 0x00, 0x0B, 0x07, 0x26, 0x00, 0x01,
        'k', 0x00, 0x01, 'v', 0x00, 0x03, 'a', '/', 'b'),
    VEC("unsuback 3.1.1", 4, 0xB0, 0x02, 0x00, 0x0B),
    VEC("unsuback 5.0", 5, 0xB0, 0x05, 0x00, 0x0B, 0x00, 0x00, 0x11),
    VEC("pingreq 3.1.1", 4, 0xC0, 0x00),
    VEC("pingresp 3.1.1", 4, 0xD0, 0x00),
    VEC("pingreq 5.0", 5, 0xC0, 0x00),
    VEC("pingresp 5.0", 5, 0xD0, 0x00),
    VEC("disconnect 3.1", 3, 0xE0, 0x00),
    VEC("disconnect 3.1.1", 4, 0xE0, 0x00),
    VEC("disconnect 5.0 short", 5, 0xE0, 0x00),
    VEC("disconnect 5.0 rc only", 5, 0xE0, 0x01, 0x8E),
    VEC("disconnect 5.0 props", 5, 0xE0, 0x0F, 0x04, 0x0D, 0x11, 0x00, 0x00,
        0x00, 0x00, 0x1C, 0x00, 0x01, 's', 0x1F, 0x00, 0x01, 'r'),
    VEC("auth 5.0 short", 5, 0xF0, 0x00),
    VEC("auth 5.0 props", 5, 0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x01, 'm',
        0x16, 0x00, 0x01, 'd'),
};

/* ---- helpers ---- */

static uint8_t *
dup_bytes(const uint8_t *b, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, b, len);
	return p;
}

/*
 * Decode from an exact-size heap copy so ASan catches any over-read; the
 * copy backs pkt's slices until the caller frees *copy.
 */
static int
decode_copy(const uint8_t *b, size_t len, uint8_t version,
    struct mqtt_packet *pkt, uint8_t *rc, uint8_t **copy)
{
	*copy = dup_bytes(b, len);
	return mqtt_decode(*copy, len, version, pkt, rc);
}

/* The same when only the status, rc and scalar fields matter. */
static int
decode_exact(const uint8_t *b, size_t len, uint8_t version,
    struct mqtt_packet *pkt, uint8_t *rc)
{
	uint8_t *copy;
	int st = decode_copy(b, len, version, pkt, rc, &copy);

	free(copy);
	return st;
}

/* Every properties block a decoded packet of this type holds. */
static size_t
pkt_props(struct mqtt_packet *pkt, struct mqtt_props **out)
{
	switch (pkt->type) {
	case MQTT_CONNECT:
		out[0] = &pkt->u.connect.props;
		out[1] = &pkt->u.connect.will_props;
		return 2;
	case MQTT_CONNACK:
		out[0] = &pkt->u.connack.props;
		return 1;
	case MQTT_PUBLISH:
		out[0] = &pkt->u.publish.props;
		return 1;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		out[0] = &pkt->u.ack.props;
		return 1;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		out[0] = &pkt->u.subscribe.props;
		return 1;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		out[0] = &pkt->u.suback.props;
		return 1;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		out[0] = &pkt->u.disconnect.props;
		return 1;
	default:
		return 0;
	}
}

/* Give decoded user pairs the packed form the encoder takes. */
static void
users_pack(struct mqtt_packet *pkt, uint8_t **bufs)
{
	struct mqtt_props *pr[2];
	size_t n = pkt_props(pkt, pr);

	for (size_t i = 0; i < 2; i++)
		bufs[i] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (pr[i]->user_count == 0)
			continue;
		bufs[i] = malloc(pr[i]->user_len);
		assert_non_null(bufs[i]);
		mqtt_props_user_copy(pr[i], bufs[i]);
		pr[i]->user = bufs[i];
	}
}

static uint8_t
enc_version(const struct mqtt_packet *pkt, uint8_t dec_version)
{
	return pkt->type == MQTT_CONNECT ? pkt->u.connect.version : dec_version;
}

/* Decode b, re-encode, and demand identical bytes. */
static void
round_trip(const char *name, const uint8_t *b, size_t len, uint8_t version)
{
	struct mqtt_packet pkt;
	uint8_t rc = 0xFF, *bufs[2], *out, *copy;
	size_t n;

	if (decode_copy(b, len, version, &pkt, &rc, &copy) != MQTT_OK)
		fail_msg("%s: decode rc 0x%02x", name, rc);
	users_pack(&pkt, bufs);
	n = mqtt_encode_len(&pkt, enc_version(&pkt, version));
	assert_int_equal(n, len);
	out = malloc(n);
	assert_non_null(out);
	assert_int_equal(
	    mqtt_encode(out, n, &pkt, enc_version(&pkt, version)), n);
	if (memcmp(out, b, n) != 0)
		fail_msg("%s: re-encoded bytes differ", name);
	free(out);
	free(copy);
	free(bufs[0]);
	free(bufs[1]);
}

static const struct vec *
find_good(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		if (strcmp(good[i].name, name) == 0)
			return &good[i];
	}
	fail_msg("no vector %s", name);
	return NULL;
}

/* ---- round trips ---- */

static void
test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		round_trip(
		    good[i].name, good[i].b, good[i].len, good[i].version);
}

/* ---- framing ---- */

static void
frame_prefixes(const struct vec *v)
{
	uint8_t *b = dup_bytes(v->b, v->len);
	size_t fl, hdr = 1;

	while (hdr < v->len && (v->b[hdr] & 0x80))
		hdr++;
	hdr++; /* type byte + remaining length bytes */
	for (size_t k = 0; k < v->len; k++) {
		fl = 99;
		if (mqtt_frame_len(b, k, &fl) != MQTT_MORE)
			fail_msg("%s: prefix %zu not MORE", v->name, k);
		assert_int_equal(fl, k >= hdr ? v->len : 0);
	}
	assert_int_equal(mqtt_frame_len(b, v->len, &fl), MQTT_OK);
	assert_int_equal(fl, v->len);
	free(b);
}

static void
test_split_frame_len(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		frame_prefixes(&good[i]);
}

static void
test_frame_len_trailing(void **state)
{
	uint8_t two[] = {0xC0, 0x00, 0xD0, 0x00};
	size_t fl;

	(void)state;
	assert_int_equal(mqtt_frame_len(two, sizeof(two), &fl), MQTT_OK);
	assert_int_equal(fl, 2);
	assert_int_equal(mqtt_frame_len(two + 2, 2, &fl), MQTT_OK);
	assert_int_equal(fl, 2);
}

static void
test_frame_len_varint(void **state)
{
	const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
	const uint8_t four[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
	const uint8_t nonmin[] = {0xC0, 0x80, 0x80, 0x00};
	size_t fl;

	(void)state;
	assert_int_equal(mqtt_frame_len(five, sizeof(five), &fl), MQTT_ERR);
	/* the fourth byte with its continuation bit is already an error */
	assert_int_equal(mqtt_frame_len(five, 5, &fl), MQTT_ERR);
	assert_int_equal(mqtt_frame_len(four, sizeof(four), &fl), MQTT_MORE);
	assert_int_equal(fl, 5 + MQTT_MAX_REMAINING);
	assert_int_equal(mqtt_frame_len(nonmin, sizeof(nonmin), &fl), MQTT_OK);
	assert_int_equal(fl, 4);
}

/* ---- truncation: every shorter body, with a consistent header ---- */

static size_t
frame_with_body(uint8_t *out, uint8_t first, const uint8_t *body, size_t len)
{
	size_t n = 1;

	out[0] = first;
	n += mqtt_varint_put(out + 1, (uint32_t)len);
	memcpy(out + n, body, len);
	return n + len;
}

static void
truncations(const struct vec *v)
{
	size_t fl, hdr;
	uint8_t buf[512], rc;
	struct mqtt_packet pkt;

	assert_int_equal(mqtt_frame_len(v->b, v->len, &fl), MQTT_OK);
	hdr = 2;
	while (v->b[hdr - 1] & 0x80)
		hdr++;
	for (size_t k = 0; k + hdr < v->len; k++) {
		size_t n = frame_with_body(buf, v->b[0], v->b + hdr, k);

		if (decode_exact(buf, n, v->version, &pkt, &rc) == MQTT_OK)
			continue; /* e.g. a shorter payload, a 5.0 short form */
		if (rc != MQTT_RC_MALFORMED && rc != MQTT_RC_PROTOCOL_ERROR)
			fail_msg("%s: body %zu rc 0x%02x", v->name, k, rc);
		/* the same prefix with the original header: length mismatch */
		assert_int_equal(
		    decode_exact(v->b, hdr + k, v->version, &pkt, &rc),
		    MQTT_ERR);
		assert_int_equal(rc, MQTT_RC_MALFORMED);
	}
}

static void
test_split_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++)
		truncations(&good[i]);
}

/* ---- malformed and forbidden input ---- */

#define MAL MQTT_RC_MALFORMED
#define PROTO MQTT_RC_PROTOCOL_ERROR
#define UNSUP MQTT_RC_UNSUPPORTED_VERSION

static const struct vec bad[] = {
    /* fixed header */
    BAD("rl 5 bytes", 4, MAL, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01),
    BAD("rl beyond frame", 4, MAL, 0x30, 0x05, 0x00, 0x01, 't'),
    BAD("rl short of frame", 4, MAL, 0x40, 0x02, 0x00, 0x01, 0x00),
    BAD("empty frame byte", 4, MAL, 0xC0),
    BAD("type 0", 4, PROTO, 0x00, 0x00),
    BAD("auth in 3.1.1", 4, PROTO, 0xF0, 0x00),
    BAD("auth in 3.1", 3, PROTO, 0xF0, 0x00),
    BAD("not connect first", 0, PROTO, 0xC0, 0x00),
    BAD("connect flags", 0, MAL, 0x11, 0x0C, 0x00, 0x04, MQTT_, 0x04, 0x02,
        0x00, 0x00, 0x00, 0x00),
    BAD("connack flags", 4, MAL, 0x21, 0x02, 0x00, 0x00),
    BAD("puback flags", 4, MAL, 0x41, 0x02, 0x00, 0x01),
    BAD("pubrec flags", 5, MAL, 0x52, 0x02, 0x00, 0x01),
    BAD("pubrel flags 0", 4, MAL, 0x60, 0x02, 0x00, 0x01),
    BAD("pubcomp flags", 4, MAL, 0x78, 0x02, 0x00, 0x01),
    BAD("subscribe flags 0", 4, MAL, 0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a',
        0x00),
    BAD("subscribe flags 3", 5, MAL, 0x83, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01,
        'a', 0x00),
    BAD("suback flags", 4, MAL, 0x92, 0x03, 0x00, 0x01, 0x00),
    BAD("unsubscribe flags", 4, MAL, 0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'),
    BAD("unsuback flags", 4, MAL, 0xB1, 0x02, 0x00, 0x01),
    BAD("pingreq flags", 4, MAL, 0xC1, 0x00),
    BAD("pingresp flags", 5, MAL, 0xD8, 0x00),
    BAD("disconnect flags", 4, MAL, 0xE2, 0x00),
    BAD("auth flags", 5, MAL, 0xF1, 0x00),
    /* CONNECT */
    BAD("bad name", 0, UNSUP, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04,
        0x02, 0x00, 0x00, 0x00, 0x00),
    BAD("MQTT level 3", 0, UNSUP, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x03, 0x02,
        0x00, 0x00, 0x00, 0x00),
    BAD("MQIsdp level 4", 0, UNSUP, 0x10, 0x0E, 0x00, 0x06, MQISDP, 0x04, 0x02,
        0x00, 0x00, 0x00, 0x00),
    BAD("MQTT level 6", 0, UNSUP, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x06, 0x02,
        0x00, 0x00, 0x00, 0x00),
    BAD("name truncated", 0, MAL, 0x10, 0x04, 0x00, 0x04, 'M', 'Q'),
    BAD("connect reserved", 0, MAL, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04, 0x03,
        0x00, 0x00, 0x00, 0x00),
    BAD("will qos 3", 0, MAL, 0x10, 0x11, 0x00, 0x04, MQTT_, 0x04, 0x1E, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 't', 0x00, 0x00),
    BAD("will qos no will", 0, PROTO, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04, 0x0A,
        0x00, 0x00, 0x00, 0x00),
    BAD("will retain no will", 0, PROTO, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04,
        0x22, 0x00, 0x00, 0x00, 0x00),
    BAD("will qos no will 5.0", 0, PROTO, 0x10, 0x0D, 0x00, 0x04, MQTT_, 0x05,
        0x12, 0x00, 0x00, 0x00, 0x00, 0x00),
    BAD("password no user 3.1.1", 0, PROTO, 0x10, 0x0F, 0x00, 0x04, MQTT_, 0x04,
        0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 'p'),
    BAD("client id truncated", 0, MAL, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04,
        0x02, 0x00, 0x00, 0x00, 0x05),
    BAD("client id utf8", 0, MAL, 0x10, 0x0D, 0x00, 0x04, MQTT_, 0x04, 0x02,
        0x00, 0x00, 0x00, 0x01, 0xFF),
    BAD("will topic missing", 0, MAL, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04, 0x06,
        0x00, 0x00, 0x00, 0x00),
    BAD("user missing", 0, MAL, 0x10, 0x0C, 0x00, 0x04, MQTT_, 0x04, 0x82, 0x00,
        0x00, 0x00, 0x00),
    BAD("password missing", 0, MAL, 0x10, 0x0F, 0x00, 0x04, MQTT_, 0x04, 0xC2,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 'u'),
    BAD("connect trailing", 0, MAL, 0x10, 0x0D, 0x00, 0x04, MQTT_, 0x04, 0x02,
        0x00, 0x00, 0x00, 0x00, 0xFF),
    BAD("connect 5.0 no props", 0, MAL, 0x10, 0x0A, 0x00, 0x04, MQTT_, 0x05,
        0x02, 0x00, 0x00),
    BAD("auth data no method", 0, PROTO, 0x10, 0x11, 0x00, 0x04, MQTT_, 0x05,
        0x02, 0x00, 0x00, 0x04, 0x16, 0x00, 0x01, 'd', 0x00, 0x00),
    BAD("will props truncated", 0, MAL, 0x10, 0x0F, 0x00, 0x04, MQTT_, 0x05,
        0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x01),
    /* CONNACK */
    BAD("connack reserved", 4, MAL, 0x20, 0x02, 0x02, 0x00),
    BAD("connack session + error", 4, PROTO, 0x20, 0x02, 0x01, 0x05),
    BAD("connack 3.1.1 long", 4, MAL, 0x20, 0x03, 0x00, 0x00, 0x00),
    BAD("connack 5.0 no props", 5, MAL, 0x20, 0x02, 0x00, 0x00),
    BAD("connack short", 4, MAL, 0x20, 0x01, 0x00),
    /* PUBLISH */
    BAD("qos 3", 4, MAL, 0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01),
    BAD("dup qos 0", 4, PROTO, 0x38, 0x03, 0x00, 0x01, 't'),
    BAD("publish pid 0", 4, PROTO, 0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00),
    BAD("publish pid missing", 4, MAL, 0x32, 0x04, 0x00, 0x01, 't', 0x00),
    BAD("topic truncated", 4, MAL, 0x30, 0x03, 0x00, 0x05, 't'),
    BAD("topic length missing", 4, MAL, 0x30, 0x01, 0x00),
    BAD("empty topic 3.1.1", 4, PROTO, 0x30, 0x02, 0x00, 0x00),
    BAD("empty topic 5.0", 5, PROTO, 0x30, 0x03, 0x00, 0x00, 0x00),
    BAD("topic overlong nul", 4, MAL, 0x30, 0x04, 0x00, 0x02, 0xC0, 0x80),
    BAD("topic U+0000", 4, MAL, 0x30, 0x04, 0x00, 0x02, 'a', 0x00),
    BAD("topic surrogate", 4, MAL, 0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80),
    BAD("topic stray continuation", 5, MAL, 0x30, 0x04, 0x00, 0x01, 0x80, 0x00),
    BAD("topic cut sequence", 4, MAL, 0x30, 0x04, 0x00, 0x02, 0xE2, 0x82),
    BAD("props beyond packet", 5, MAL, 0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01),
    BAD("props length 5 bytes", 5, MAL, 0x30, 0x08, 0x00, 0x01, 't', 0xFF, 0xFF,
        0xFF, 0xFF, 0x01),
    BAD("props length missing", 5, MAL, 0x30, 0x03, 0x00, 0x01, 't'),
    BAD("prop value truncated", 5, MAL, 0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x02,
        0x00),
    BAD("prop string truncated", 5, MAL, 0x30, 0x08, 0x00, 0x01, 't', 0x04,
        0x03, 0x00, 0x05, 'a'),
    BAD("prop string utf8", 5, MAL, 0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x03,
        0x00, 0x01, 0xFE),
    BAD("user key utf8", 5, MAL, 0x30, 0x0B, 0x00, 0x01, 't', 0x07, 0x26, 0x00,
        0x01, 0x00, 0x00, 0x01, 'v'),
    BAD("user value missing", 5, MAL, 0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x26,
        0x00, 0x01, 'k', 0x00),
    BAD("unknown prop", 5, MAL, 0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x04, 0x00),
    BAD("prop id 2-byte", 5, MAL, 0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x81, 0x01,
        0x00),
    BAD("prop id truncated varint", 5, MAL, 0x30, 0x05, 0x00, 0x01, 't', 0x01,
        0x81),
    BAD("sub id varint 5 bytes", 5, MAL, 0x30, 0x0A, 0x00, 0x01, 't', 0x06,
        0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01),
    /* acks */
    BAD("puback 3.1.1 long", 4, MAL, 0x40, 0x03, 0x00, 0x01, 0x00),
    BAD("puback short", 4, MAL, 0x40, 0x01, 0x00),
    BAD("puback empty", 5, MAL, 0x40, 0x00),
    BAD("puback pid 0", 4, PROTO, 0x40, 0x02, 0x00, 0x00),
    BAD("pubrel pid 0 5.0", 5, PROTO, 0x62, 0x02, 0x00, 0x00),
    BAD("puback props truncated", 5, MAL, 0x40, 0x05, 0x00, 0x01, 0x00, 0x05,
        0x1F),
    BAD("pubcomp prop beyond", 5, MAL, 0x70, 0x06, 0x00, 0x01, 0x00, 0x01, 0x1F,
        0x00),
    /* SUBSCRIBE, UNSUBSCRIBE */
    BAD("subscribe empty", 4, PROTO, 0x82, 0x02, 0x00, 0x01),
    BAD("subscribe empty 5.0", 5, PROTO, 0x82, 0x03, 0x00, 0x01, 0x00),
    BAD("subscribe pid 0", 4, PROTO, 0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a',
        0x00),
    BAD("subscribe qos 3", 4, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a',
        0x03),
    BAD("subscribe 3.1.1 nl bit", 4, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01,
        'a', 0x04),
    BAD("subscribe 3.1.1 top bit", 4, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01,
        'a', 0x80),
    BAD("subscribe 3.1 qos 3", 3, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a',
        0x03),
    BAD("subscribe no options", 4, MAL, 0x82, 0x05, 0x00, 0x01, 0x00, 0x01,
        'a'),
    BAD("subscribe second bad", 4, MAL, 0x82, 0x0A, 0x00, 0x01, 0x00, 0x01, 'a',
        0x00, 0x00, 0x01, 'b', 0x03),
    BAD("subscribe filter utf8", 4, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01,
        0xFF, 0x00),
    BAD("subscribe filter cut", 4, MAL, 0x82, 0x06, 0x00, 0x01, 0x00, 0x04, 'a',
        0x00),
    BAD("subscribe 5.0 bit 6", 5, MAL, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01,
        'a', 0x40),
    BAD("subscribe 5.0 bit 7", 5, MAL, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01,
        'a', 0x80),
    BAD("subscribe 5.0 qos 3", 5, PROTO, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00,
        0x01, 'a', 0x03),
    BAD("subscribe 5.0 rh 3", 5, PROTO, 0x82, 0x07, 0x00, 0x01, 0x00, 0x00,
        0x01, 'a', 0x30),
    BAD("no local on shared", 5, PROTO, 0x82, 0x10, 0x00, 0x01, 0x00, 0x00,
        0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'a', 0x04),
    BAD("unsubscribe empty", 4, PROTO, 0xA2, 0x02, 0x00, 0x01),
    BAD("unsubscribe empty 5.0", 5, PROTO, 0xA2, 0x03, 0x00, 0x01, 0x00),
    BAD("unsubscribe pid 0", 4, PROTO, 0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'),
    BAD("unsubscribe cut", 4, MAL, 0xA2, 0x05, 0x00, 0x01, 0x00, 0x05, 'a'),
    BAD("unsubscribe utf8", 5, MAL, 0xA2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01,
        0xC1),
    /* SUBACK, UNSUBACK */
    BAD("suback 3.1.1 code 3", 4, PROTO, 0x90, 0x03, 0x00, 0x01, 0x03),
    BAD("suback empty", 4, PROTO, 0x90, 0x02, 0x00, 0x01),
    BAD("suback empty 5.0", 5, PROTO, 0x90, 0x03, 0x00, 0x01, 0x00),
    BAD("suback pid 0", 4, PROTO, 0x90, 0x03, 0x00, 0x00, 0x00),
    BAD("unsuback 3.1.1 long", 4, MAL, 0xB0, 0x03, 0x00, 0x01, 0x00),
    BAD("unsuback 5.0 no codes", 5, PROTO, 0xB0, 0x03, 0x00, 0x01, 0x00),
    BAD("unsuback pid 0", 4, PROTO, 0xB0, 0x02, 0x00, 0x00),
    /* PINGREQ, PINGRESP, DISCONNECT, AUTH */
    BAD("pingreq body", 4, MAL, 0xC0, 0x01, 0x00),
    BAD("pingresp body", 5, MAL, 0xD0, 0x01, 0x00),
    BAD("disconnect 3.1.1 body", 4, MAL, 0xE0, 0x01, 0x00),
    BAD("disconnect props cut", 5, MAL, 0xE0, 0x03, 0x00, 0x05, 0x11),
    BAD("disconnect prop wrong", 5, MAL, 0xE0, 0x04, 0x00, 0x02, 0x17, 0x01),
    BAD("auth data no method", 5, PROTO, 0xF0, 0x06, 0x18, 0x04, 0x16, 0x00,
        0x01, 'd'),
    BAD("auth props cut", 5, MAL, 0xF0, 0x03, 0x18, 0x02, 0x15),
};

static void
test_bad(void **state)
{
	struct mqtt_packet pkt;
	uint8_t rc;
	int st;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		rc = 0;
		st = decode_exact(
		    bad[i].b, bad[i].len, bad[i].version, &pkt, &rc);
		if (st != MQTT_ERR || rc != bad[i].rc)
			fail_msg("%s: st %d rc 0x%02x, want 0x%02x",
			    bad[i].name, st, rc, bad[i].rc);
	}
}

static void
test_unsupported_sets_version(void **state)
{
	const uint8_t b[] = {
	    0x10, 0x0C, 0x00, 0x04, MQTT_, 0x07, 0x02, 0x00, 0x00, 0x00, 0x00};
	const uint8_t old[] = {
	    0x10, 0x0E, 0x00, 0x06, MQISDP, 0x05, 0x02, 0x00, 0x00, 0x00, 0x00};
	struct mqtt_packet pkt;
	uint8_t rc;

	(void)state;
	assert_int_equal(decode_exact(b, sizeof(b), 0, &pkt, &rc), MQTT_ERR);
	assert_int_equal(rc, MQTT_RC_UNSUPPORTED_VERSION);
	assert_int_equal(pkt.type, MQTT_CONNECT);
	assert_int_equal(pkt.u.connect.version, 7);
	assert_int_equal(pkt.u.connect.proto_name.len, 4);
	assert_int_equal(
	    decode_exact(old, sizeof(old), 0, &pkt, &rc), MQTT_ERR);
	assert_int_equal(rc, MQTT_RC_UNSUPPORTED_VERSION);
	assert_int_equal(pkt.u.connect.version, 5);
}

/* A malformed 5.0 CONNECT still tells the adapter it was 5.0. */
static void
test_connect_error_keeps_version(void **state)
{
	const uint8_t b[] = {0x10, 0x0D, 0x00, 0x04, MQTT_, 0x05, 0x02, 0x00,
	    0x00, 0x02, 0x21, 0x00};
	const uint8_t flags[] = {0x12, 0x0D, 0x00, 0x04, MQTT_, 0x05, 0x02,
	    0x00, 0x00, 0x00, 0x00, 0x00};
	struct mqtt_packet pkt;
	uint8_t rc;

	(void)state;
	assert_int_equal(decode_exact(b, sizeof(b), 0, &pkt, &rc), MQTT_ERR);
	assert_int_equal(rc, MQTT_RC_MALFORMED);
	assert_int_equal(pkt.type, MQTT_CONNECT);
	assert_int_equal(pkt.u.connect.version, MQTT_V5);
	/* bad fixed-header flags too */
	assert_int_equal(
	    decode_exact(flags, sizeof(flags), 0, &pkt, &rc), MQTT_ERR);
	assert_int_equal(rc, MQTT_RC_MALFORMED);
	assert_int_equal(pkt.u.connect.version, MQTT_V5);
}

/* 3.1 predates the fixed flag rule: Mosquitto accepts DUP on these. */
static void
test_v31_lenient_flags(void **state)
{
	const uint8_t sub[] = {0x8A, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x01};
	struct mqtt_packet pkt;
	uint8_t rc;

	(void)state;
	assert_int_equal(decode_exact(sub, sizeof(sub), 3, &pkt, &rc), MQTT_OK);
	assert_int_equal(pkt.u.subscribe.count, 1);
	assert_int_equal(
	    decode_exact(sub, sizeof(sub), 4, &pkt, &rc), MQTT_ERR);
	assert_int_equal(rc, MQTT_RC_MALFORMED);
}

static void
test_nonminimal_lengths(void **state)
{
	const uint8_t ping[] = {0xC0, 0x80, 0x00};
	const uint8_t pub[] = {
	    0x30, 0x86, 0x00, 0x00, 0x01, 't', 0x80, 0x00, 'p'};
	struct mqtt_packet pkt;
	uint8_t rc;

	(void)state;
	assert_int_equal(
	    decode_exact(ping, sizeof(ping), 4, &pkt, &rc), MQTT_OK);
	assert_int_equal(pkt.type, MQTT_PINGREQ);
	assert_int_equal(decode_exact(pub, sizeof(pub), 5, &pkt, &rc), MQTT_OK);
	assert_int_equal(pkt.u.publish.payload.len, 1);
}

/* ---- the property matrix ---- */

enum ctx {
	C_CONNECT,
	C_WILL,
	C_CONNACK,
	C_PUBLISH,
	C_PUBACK,
	C_PUBREC,
	C_PUBREL,
	C_PUBCOMP,
	C_SUBSCRIBE,
	C_SUBACK,
	C_UNSUBSCRIBE,
	C_UNSUBACK,
	C_DISCONNECT,
	C_AUTH,
	C_COUNT
};

#define B(c) (1u << C_##c)
#define ACKS (B(PUBACK) | B(PUBREC) | B(PUBREL) | B(PUBCOMP))
#define ALL ((1u << C_COUNT) - 1)

/* An independent transcription of MQTT 5.0 table 2-4. */
struct prop_case {
	uint8_t id;
	unsigned allowed;
	const uint8_t *val;
	size_t len;
};

#define PC(id, allowed, ...) \
	{ \
		id, allowed, BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)) \
	}

static const struct prop_case props_table[] = {
    PC(0x01, B(PUBLISH) | B(WILL), 0x01),
    PC(0x02, B(PUBLISH) | B(WILL), 0x00, 0x00, 0x00, 0x0A),
    PC(0x03, B(PUBLISH) | B(WILL), 0x00, 0x01, 'a'),
    PC(0x08, B(PUBLISH) | B(WILL), 0x00, 0x01, 'a'),
    PC(0x09, B(PUBLISH) | B(WILL), 0x00, 0x01, 0xFF),
    PC(0x0B, B(PUBLISH) | B(SUBSCRIBE), 0x01),
    PC(0x11, B(CONNECT) | B(CONNACK) | B(DISCONNECT), 0x00, 0x00, 0x00, 0x0A),
    PC(0x12, B(CONNACK), 0x00, 0x01, 'a'),
    PC(0x13, B(CONNACK), 0x00, 0x0A),
    PC(0x15, B(CONNECT) | B(CONNACK) | B(AUTH), 0x00, 0x01, 'a'),
    PC(0x17, B(CONNECT), 0x01),
    PC(0x18, B(WILL), 0x00, 0x00, 0x00, 0x0A),
    PC(0x19, B(CONNECT), 0x01),
    PC(0x1A, B(CONNACK), 0x00, 0x01, 'a'),
    PC(0x1C, B(CONNACK) | B(DISCONNECT), 0x00, 0x01, 'a'),
    PC(0x1F,
        B(CONNACK) | ACKS | B(SUBACK) | B(UNSUBACK) | B(DISCONNECT) | B(AUTH),
        0x00, 0x01, 'a'),
    PC(0x21, B(CONNECT) | B(CONNACK), 0x00, 0x0A),
    PC(0x22, B(CONNECT) | B(CONNACK), 0x00, 0x0A),
    PC(0x23, B(PUBLISH), 0x00, 0x0A),
    PC(0x24, B(CONNACK), 0x01),
    PC(0x25, B(CONNACK), 0x01),
    PC(0x26, ALL, 0x00, 0x01, 'k', 0x00, 0x01, 'v'),
    PC(0x27, B(CONNECT) | B(CONNACK), 0x00, 0x00, 0x01, 0x00),
    PC(0x28, B(CONNACK), 0x01),
    PC(0x29, B(CONNACK), 0x01),
    PC(0x2A, B(CONNACK), 0x01),
    /* authentication data, with the method it needs in front */
    PC(0x16, B(CONNECT) | B(CONNACK) | B(AUTH), 0x00, 0x01, 'd'),
};

struct buf {
	uint8_t b[600];
	size_t n;
};

static void
put(struct buf *w, const uint8_t *p, size_t n)
{
	assert_true(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

#define PUT(w, ...) put(w, BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)))

static void
put_props(struct buf *w, const struct buf *props)
{
	uint8_t v[4];

	put(w, v, mqtt_varint_put(v, (uint32_t)props->n));
	put(w, props->b, props->n);
}

static const uint8_t ctx_first[C_COUNT] = {0x10, 0x10, 0x20, 0x30, 0x40, 0x50,
    0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0, 0xE0, 0xF0};

static void
build_connect(struct buf *body, const struct buf *props, bool will)
{
	PUT(body, 0x00, 0x04, MQTT_, 0x05, will ? 0x06 : 0x02, 0x00, 0x00);
	if (!will) {
		put_props(body, props);
		PUT(body, 0x00, 0x00);
		return;
	}
	PUT(body, 0x00, 0x00, 0x00);
	put_props(body, props);
	PUT(body, 0x00, 0x01, 't', 0x00, 0x00);
}

/* Body of a packet of context c that carries the given property block. */
static void
build_body(struct buf *body, enum ctx c, const struct buf *props)
{
	if (c == C_CONNECT || c == C_WILL) {
		build_connect(body, props, c == C_WILL);
		return;
	}
	if (c == C_CONNACK || c == C_DISCONNECT || c == C_AUTH)
		PUT(body, 0x00);
	else if (c == C_PUBLISH)
		PUT(body, 0x00, 0x01, 't');
	else
		PUT(body, 0x00, 0x01);
	if (c == C_CONNACK || (c >= C_PUBACK && c <= C_PUBCOMP))
		PUT(body, 0x00);
	put_props(body, props);
	if (c == C_SUBSCRIBE)
		PUT(body, 0x00, 0x01, 'a', 0x00);
	else if (c == C_UNSUBSCRIBE)
		PUT(body, 0x00, 0x01, 'a');
	else if (c == C_SUBACK || c == C_UNSUBACK)
		PUT(body, 0x00);
}

static void
build(struct buf *out, enum ctx c, const struct buf *props)
{
	struct buf body = {.n = 0};
	uint8_t v[4];

	build_body(&body, c, props);
	out->n = 0;
	put(out, &ctx_first[c], 1);
	put(out, v, mqtt_varint_put(v, (uint32_t)body.n));
	put(out, body.b, body.n);
}

static uint8_t
ctx_version(enum ctx c)
{
	return c == C_CONNECT || c == C_WILL ? 0 : MQTT_V5;
}

/* The block holding the case's property `times` times. */
static void
prop_block(struct buf *props, const struct prop_case *pc, int times)
{
	props->n = 0;
	if (pc->id == 0x16)
		PUT(props, 0x15, 0x00, 0x01, 'm');
	for (int i = 0; i < times; i++) {
		put(props, &pc->id, 1);
		put(props, pc->val, pc->len);
	}
}

static void
check_prop(const struct prop_case *pc, enum ctx c, int times, uint8_t want)
{
	struct buf props, pkt;
	struct mqtt_packet p;
	uint8_t rc = 0;
	int st;

	prop_block(&props, pc, times);
	build(&pkt, c, &props);
	st = decode_exact(pkt.b, pkt.n, ctx_version(c), &p, &rc);
	if (want == 0 && st != MQTT_OK)
		fail_msg(
		    "prop 0x%02x x%d ctx %d: rc 0x%02x", pc->id, times, c, rc);
	if (want != 0 && (st != MQTT_ERR || rc != want))
		fail_msg("prop 0x%02x x%d ctx %d: rc 0x%02x want 0x%02x",
		    pc->id, times, c, rc, want);
	if (want == 0)
		round_trip("prop matrix", pkt.b, pkt.n, ctx_version(c));
}

static void
test_prop_allowed(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(props_table); i++) {
		const struct prop_case *pc = &props_table[i];

		for (int c = 0; c < C_COUNT; c++)
			check_prop(/* 5.0 2.2.2.2: not valid here = malformed */
			    pc, c, 1, (pc->allowed & (1u << c)) ? 0 : MAL);
	}
}

static bool
repeatable(uint8_t id, enum ctx c)
{
	return id == 0x26 || (id == 0x0B && c == C_PUBLISH);
}

static void
test_prop_duplicates(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(props_table); i++) {
		const struct prop_case *pc = &props_table[i];

		for (int c = 0; c < C_COUNT; c++) {
			if (!(pc->allowed & (1u << c)))
				continue;
			check_prop(pc, c, 2, repeatable(pc->id, c) ? 0 : PROTO);
		}
	}
}

/* Values out of range, each in a packet that may carry the property. */
static const struct prop_case bad_values[] = {
    PC(0x01, B(PUBLISH), 0x02),
    PC(0x01, B(WILL), 0xFF),
    PC(0x0B, B(PUBLISH), 0x00),
    PC(0x0B, B(SUBSCRIBE), 0x00),
    PC(0x17, B(CONNECT), 0x02),
    PC(0x19, B(CONNECT), 0x02),
    PC(0x21, B(CONNECT), 0x00, 0x00),
    PC(0x21, B(CONNACK), 0x00, 0x00),
    PC(0x23, B(PUBLISH), 0x00, 0x00),
    PC(0x24, B(CONNACK), 0x02),
    PC(0x25, B(CONNACK), 0x02),
    PC(0x27, B(CONNECT), 0x00, 0x00, 0x00, 0x00),
    PC(0x27, B(CONNACK), 0x00, 0x00, 0x00, 0x00),
    PC(0x28, B(CONNACK), 0x02),
    PC(0x29, B(CONNACK), 0x80),
    PC(0x2A, B(CONNACK), 0x02),
};

/* Edge values that are fine. */
static const struct prop_case edge_values[] = {
    PC(0x01, B(PUBLISH), 0x00),
    PC(0x0B, B(SUBSCRIBE), 0xFF, 0xFF, 0xFF, 0x7F),
    PC(0x17, B(CONNECT), 0x00),
    PC(0x21, B(CONNACK), 0xFF, 0xFF),
    PC(0x22, B(CONNECT), 0x00, 0x00),
    PC(0x23, B(PUBLISH), 0xFF, 0xFF),
    PC(0x24, B(CONNACK), 0x00),
    PC(0x27, B(CONNACK), 0xFF, 0xFF, 0xFF, 0xFF),
    PC(0x26, B(PUBLISH), 0x00, 0x00, 0x00, 0x00),
    PC(0x03, B(PUBLISH), 0x00, 0x00),
    PC(0x09, B(PUBLISH), 0x00, 0x00),
};

static int
first_ctx(unsigned mask)
{
	return __builtin_ctz(mask);
}

static void
test_prop_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad_values); i++)
		check_prop(
		    &bad_values[i], first_ctx(bad_values[i].allowed), 1, PROTO);
	for (size_t i = 0; i < ARRAY_LEN(edge_values); i++)
		check_prop(
		    &edge_values[i], first_ctx(edge_values[i].allowed), 1, 0);
}

/* Decoded values land in the right fields. */
static void
test_prop_fields(void **state)
{
	struct mqtt_packet pkt;
	const struct vec *v = find_good("connack 5.0 full");
	const struct mqtt_props *p;
	uint8_t rc;

	(void)state;
	assert_int_equal(mqtt_decode(v->b, v->len, 5, &pkt, &rc), MQTT_OK);
	p = &pkt.u.connack.props;
	assert_true(pkt.u.connack.session_present);
	assert_int_equal(p->session_expiry, 60);
	assert_int_equal(p->assigned_client_id.len, 2);
	assert_memory_equal(p->assigned_client_id.p, "ci", 2);
	assert_int_equal(p->server_keep_alive, 30);
	assert_int_equal(p->receive_max, 20);
	assert_int_equal(p->topic_alias_max, 5);
	assert_int_equal(p->max_qos, 1);
	assert_int_equal(p->retain_available, 0);
	assert_true(p->present & MQTT_PBIT(MQTT_PROP_RETAIN_AVAILABLE));
	assert_int_equal(p->max_packet_size, 65536);
	assert_int_equal(p->wildcard_available, 1);
	assert_int_equal(p->sub_id_available, 0);
	assert_int_equal(p->shared_available, 1);
	assert_int_equal(p->user_count, 1);
	assert_int_equal(p->user_len, 6);
	assert_false(p->present & MQTT_PBIT(MQTT_PROP_AUTH_METHOD));
}

static void
test_publish_fields(void **state)
{
	struct mqtt_packet pkt;
	const struct vec *v = find_good("publish 5.0 full");
	const struct mqtt_publish *pub;
	uint8_t rc;

	(void)state;
	assert_int_equal(mqtt_decode(v->b, v->len, 5, &pkt, &rc), MQTT_OK);
	pub = &pkt.u.publish;
	assert_int_equal(pub->qos, 1);
	assert_false(pub->dup);
	assert_int_equal(pub->packet_id, 7);
	assert_int_equal(pub->topic.len, 1);
	assert_int_equal(pub->payload.len, 2);
	assert_memory_equal(pub->payload.p, "hi", 2);
	assert_int_equal(pub->props.payload_format, 1);
	assert_int_equal(pub->props.message_expiry, 60);
	assert_int_equal(pub->props.content_type.len, 4);
	assert_int_equal(pub->props.correlation_data.len, 2);
	assert_int_equal(pub->props.sub_id_count, 2);
	assert_int_equal(pub->props.sub_ids[0], 5);
	assert_int_equal(pub->props.sub_ids[1], 128);
	assert_int_equal(pub->props.topic_alias, 3);
}

/* ---- user properties: order and repeats survive ---- */

static void
test_user_props_order(void **state)
{
	const uint8_t want[] = {0x00, 0x01, 'a', 0x00, 0x01, '1', 0x00, 0x01,
	    'b', 0x00, 0x01, '2', 0x00, 0x01, 'a', 0x00, 0x01, '3'};
	const struct vec *v = find_good("publish 5.0 full");
	struct mqtt_packet pkt;
	uint8_t rc, got[sizeof(want)], out[128];
	size_t n;

	(void)state;
	assert_int_equal(mqtt_decode(v->b, v->len, 5, &pkt, &rc), MQTT_OK);
	assert_int_equal(pkt.u.publish.props.user_count, 3);
	assert_int_equal(pkt.u.publish.props.user_len, sizeof(want));
	mqtt_props_user_copy(&pkt.u.publish.props, got);
	assert_memory_equal(got, want, sizeof(want));
	pkt.u.publish.props.user = got;
	n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V5);
	assert_int_equal(n, v->len);
	assert_memory_equal(out, v->b, n);
}

/* ---- subscription identifiers ---- */

static void
sub_id_publish(struct buf *out, unsigned count)
{
	struct buf props = {.n = 0};
	struct buf body = {.n = 0};
	uint8_t v[4];

	for (unsigned i = 0; i < count; i++)
		PUT(&props, 0x0B, (uint8_t)(i + 1));
	PUT(&body, 0x00, 0x01, 't');
	put_props(&body, &props);
	out->n = 0;
	PUT(out, 0x30);
	put(out, v, mqtt_varint_put(v, (uint32_t)body.n));
	put(out, body.b, body.n);
}

static void
test_sub_ids(void **state)
{
	struct buf pkt;
	struct mqtt_packet p;
	uint8_t rc;

	(void)state;
	sub_id_publish(&pkt, MQTT_MAX_SUB_IDS);
	assert_int_equal(decode_exact(pkt.b, pkt.n, 5, &p, &rc), MQTT_OK);
	assert_int_equal(p.u.publish.props.sub_id_count, MQTT_MAX_SUB_IDS);
	assert_int_equal(
	    p.u.publish.props.sub_ids[MQTT_MAX_SUB_IDS - 1], MQTT_MAX_SUB_IDS);
	round_trip("32 sub ids", pkt.b, pkt.n, 5);
	sub_id_publish(&pkt, MQTT_MAX_SUB_IDS + 1);
	assert_int_equal(decode_exact(pkt.b, pkt.n, 5, &p, &rc), MQTT_ERR);
	assert_int_equal(rc, MQTT_RC_IMPL_SPECIFIC);
}

/* ---- encoding from structs ---- */

static void
fill_publish(struct mqtt_publish *pub, const uint8_t *payload, size_t len)
{
	static const uint8_t user[] = {0x00, 0x01, 'k', 0x00, 0x02, 'v', 'w'};

	memset(pub, 0, sizeof(*pub));
	pub->qos = 2;
	pub->dup = true;
	pub->retain = true;
	pub->topic.p = "a/b";
	pub->topic.len = 3;
	pub->packet_id = 0x1234;
	pub->payload.p = payload;
	pub->payload.len = len;
	pub->props.present = MQTT_PBIT(MQTT_PROP_CONTENT_TYPE) |
	    MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID);
	pub->props.content_type.p = "text/plain";
	pub->props.content_type.len = 10;
	pub->props.sub_ids[0] = 268435455;
	pub->props.sub_ids[1] = 1;
	pub->props.sub_id_count = 2;
	pub->props.user = user;
	pub->props.user_len = sizeof(user);
	pub->props.user_count = 1;
}

static void
header_plus_payload(uint8_t version, size_t plen)
{
	uint8_t *payload = malloc(plen + 1), hdr[64], *full, *joined;
	struct mqtt_packet pkt = {.type = MQTT_PUBLISH};
	size_t total = 0, hlen, n;

	assert_non_null(payload);
	memset(payload, 'x', plen);
	fill_publish(&pkt.u.publish, payload, plen);
	assert_int_equal(
	    mqtt_encode_publish_header(hdr, 2, &pkt.u.publish, version, &total),
	    0);
	hlen = mqtt_encode_publish_header(
	    hdr, sizeof(hdr), &pkt.u.publish, version, &total);
	assert_true(hlen > 0);
	assert_int_equal(total, hlen + plen);
	n = mqtt_encode_len(&pkt, version);
	assert_int_equal(n, total);
	full = malloc(n);
	joined = malloc(n);
	assert_int_equal(mqtt_encode(full, n, &pkt, version), n);
	memcpy(joined, hdr, hlen);
	memcpy(joined + hlen, payload, plen);
	assert_memory_equal(joined, full, n);
	round_trip("publish from struct", full, n, version);
	free(full);
	free(joined);
	free(payload);
}

static void
test_publish_header(void **state)
{
	static const size_t sizes[] = {0, 1, 100, 200, 20000, 3000000};

	(void)state;
	for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
		for (size_t i = 0; i < ARRAY_LEN(sizes); i++)
			header_plus_payload(v, sizes[i]);
	}
}

static void
test_encode_cap(void **state)
{
	uint8_t out[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		struct mqtt_packet pkt;
		uint8_t rc, *bufs[2], v = good[i].version;

		assert_int_equal(
		    mqtt_decode(good[i].b, good[i].len, v, &pkt, &rc), MQTT_OK);
		users_pack(&pkt, bufs);
		v = enc_version(&pkt, v);
		for (size_t cap = 0; cap < good[i].len; cap++)
			assert_int_equal(mqtt_encode(out, cap, &pkt, v), 0);
		assert_int_equal(
		    mqtt_encode(out, sizeof(out), &pkt, v), good[i].len);
		free(bufs[0]);
		free(bufs[1]);
	}
}

static void
test_encode_short_forms(void **state)
{
	struct mqtt_packet pkt;
	uint8_t out[16];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_PUBACK;
	pkt.u.ack.packet_id = 9;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 5), 4);
	pkt.u.ack.rc = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 5), 5);
	assert_int_equal(out[4], 0x10);
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 4), 4);
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_DISCONNECT;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 5), 2);
	pkt.u.disconnect.rc = MQTT_RC_SESSION_TAKEN_OVER;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 5), 3);
	assert_memory_equal(out, BYTES(0xE0, 0x01, 0x8E), 3);
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 4), 2);
	pkt.type = MQTT_AUTH;
	pkt.u.disconnect.rc = MQTT_RC_CONTINUE_AUTH;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 5), 4);
	assert_memory_equal(out, BYTES(0xF0, 0x02, 0x18, 0x00), 4);
}

static void
test_encode_connect(void **state)
{
	static const uint8_t user[] = {0x00, 0x01, 'a', 0x00, 0x00};
	struct mqtt_packet pkt, back;
	uint8_t out[128], rc;
	size_t n;

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_CONNECT;
	pkt.u.connect.clean = true;
	pkt.u.connect.keep_alive = 60;
	pkt.u.connect.client_id.p = "dev1";
	pkt.u.connect.client_id.len = 4;
	pkt.u.connect.has_will = true;
	pkt.u.connect.will_qos = 2;
	pkt.u.connect.will_topic.p = "lwt";
	pkt.u.connect.will_topic.len = 3;
	pkt.u.connect.will_props.present = MQTT_PBIT(MQTT_PROP_WILL_DELAY);
	pkt.u.connect.will_props.will_delay = 30;
	pkt.u.connect.props.user = user;
	pkt.u.connect.props.user_len = sizeof(user);
	pkt.u.connect.props.user_count = 1;
	for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
		n = mqtt_encode(out, sizeof(out), &pkt, v);
		assert_int_equal(n, mqtt_encode_len(&pkt, v));
		assert_int_equal(decode_exact(out, n, 0, &back, &rc), MQTT_OK);
		assert_int_equal(back.u.connect.version, v);
		assert_true(back.u.connect.clean);
		assert_int_equal(back.u.connect.will_qos, 2);
		assert_int_equal(back.u.connect.keep_alive, 60);
		assert_int_equal(back.u.connect.will_props.will_delay,
		    v == MQTT_V5 ? 30 : 0);
		assert_int_equal(
		    back.u.connect.props.user_count, v == MQTT_V5 ? 1 : 0);
	}
}

static void
build_sub_list(uint8_t *list, size_t *len, uint8_t version)
{
	struct mqtt_sub_opts o1 = {1, true, true, 2};
	struct mqtt_sub_opts o2 = {2, false, false, 0};
	size_t n = 0;

	assert_int_equal(mqtt_sub_append(list, 3, "a/+", &o1, version), 0);
	n += mqtt_sub_append(list + n, 64 - n, "a/+", &o1, version);
	n += mqtt_sub_append(list + n, 64 - n, "#", &o2, version);
	assert_int_equal(n, 6 + 4);
	*len = n;
}

static void
walk_subs(const struct mqtt_subscribe *s, uint8_t version)
{
	struct mqtt_str f;
	struct mqtt_sub_opts o;
	size_t off = 0;

	assert_true(mqtt_sub_next(s, version, &off, &f, &o));
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.p, "a/+", 3);
	assert_int_equal(o.qos, 1);
	assert_int_equal(o.no_local, version == MQTT_V5);
	assert_int_equal(o.retain_as_published, version == MQTT_V5);
	assert_int_equal(o.retain_handling, version == MQTT_V5 ? 2 : 0);
	assert_true(mqtt_sub_next(s, version, &off, &f, &o));
	assert_int_equal(f.len, 1);
	assert_int_equal(o.qos, 2);
	assert_false(mqtt_sub_next(s, version, &off, &f, &o));
}

static void
test_subscribe_build(void **state)
{
	uint8_t list[64], out[128], rc;
	struct mqtt_packet pkt, back;
	size_t n;

	(void)state;
	for (uint8_t v = MQTT_V31; v <= MQTT_V5; v++) {
		memset(&pkt, 0, sizeof(pkt));
		pkt.type = MQTT_SUBSCRIBE;
		pkt.u.subscribe.packet_id = 5;
		build_sub_list(list, &pkt.u.subscribe.list_len, v);
		pkt.u.subscribe.list = list;
		pkt.u.subscribe.props.present =
		    v == MQTT_V5 ? MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID) : 0;
		pkt.u.subscribe.props.sub_ids[0] = 77;
		pkt.u.subscribe.props.sub_id_count = 1;
		n = mqtt_encode(out, sizeof(out), &pkt, v);
		assert_int_equal(out[0], 0x82);
		assert_int_equal(mqtt_decode(out, n, v, &back, &rc), MQTT_OK);
		assert_int_equal(back.u.subscribe.count, 2);
		walk_subs(&back.u.subscribe, v);
		if (v == MQTT_V5)
			assert_int_equal(back.u.subscribe.props.sub_ids[0], 77);
	}
}

static void
test_unsubscribe_build(void **state)
{
	uint8_t list[32], out[64], rc;
	struct mqtt_packet pkt, back;
	struct mqtt_str f;
	size_t off = 0, n = 0;

	(void)state;
	assert_int_equal(mqtt_unsub_append(list, 4, "a/b"), 0);
	n += mqtt_unsub_append(list + n, sizeof(list) - n, "a/b");
	n += mqtt_unsub_append(list + n, sizeof(list) - n, "c");
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_UNSUBSCRIBE;
	pkt.u.subscribe.packet_id = 6;
	pkt.u.subscribe.list = list;
	pkt.u.subscribe.list_len = n;
	n = mqtt_encode(out, sizeof(out), &pkt, MQTT_V5);
	assert_int_equal(out[0], 0xA2);
	assert_int_equal(mqtt_decode(out, n, 5, &back, &rc), MQTT_OK);
	assert_int_equal(back.u.subscribe.count, 2);
	assert_true(mqtt_unsub_next(&back.u.subscribe, &off, &f));
	assert_memory_equal(f.p, "a/b", 3);
	assert_true(mqtt_unsub_next(&back.u.subscribe, &off, &f));
	assert_int_equal(f.len, 1);
	assert_false(mqtt_unsub_next(&back.u.subscribe, &off, &f));
}

static void
test_suback_encode(void **state)
{
	static const uint8_t codes[] = {0x00, 0x80};
	struct mqtt_packet pkt;
	uint8_t out[16];

	(void)state;
	memset(&pkt, 0, sizeof(pkt));
	pkt.type = MQTT_UNSUBACK;
	pkt.u.suback.packet_id = 3;
	pkt.u.suback.codes = codes;
	pkt.u.suback.count = 2;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 4), 4);
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 5), 7);
	pkt.type = MQTT_SUBACK;
	assert_int_equal(mqtt_encode(out, sizeof(out), &pkt, 4), 6);
	assert_memory_equal(out, BYTES(0x90, 0x04, 0x00, 0x03, 0x00, 0x80), 6);
}

/* ---- helpers: varint, UTF-8, tables ---- */

static void
test_varint(void **state)
{
	static const struct {
		uint32_t v;
		size_t len;
	} t[] = {{0, 1}, {127, 1}, {128, 2}, {16383, 2}, {16384, 3},
	    {2097151, 3}, {2097152, 4}, {MQTT_MAX_REMAINING, 4}};
	uint8_t b[8] = {0x30};
	size_t fl;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		assert_int_equal(mqtt_varint_len(t[i].v), t[i].len);
		assert_int_equal(mqtt_varint_put(b + 1, t[i].v), t[i].len);
		assert_int_equal(mqtt_frame_len(b, 1 + t[i].len, &fl),
		    t[i].v ? MQTT_MORE : MQTT_OK);
		assert_int_equal(fl, 1 + t[i].len + t[i].v);
	}
	mqtt_varint_put(b + 1, 321);
	assert_memory_equal(b + 1, BYTES(0xC1, 0x02), 2);
}

struct utf8_case {
	const char *s;
	size_t len;
	bool ok;
};

#define U8(lit, ok) \
	{ \
		lit, sizeof(lit) - 1, ok \
	}

static const struct utf8_case utf8_cases[] = {
    U8("", true), U8("plain/ascii", true), U8("\xC2\xA9", true), /* U+00A9 */
    U8("\xE2\x82\xAC", true), /* U+20AC */
    U8("\xED\x9F\xBF", true), /* U+D7FF */
    U8("\xEE\x80\x80", true), /* U+E000 */
    U8("\xEF\xBF\xBF", true), /* U+FFFF: a non-character, allowed */
    U8("\xF0\x90\x80\x80", true), /* U+10000 */
    U8("\xF4\x8F\xBF\xBF", true), /* U+10FFFF */
    U8("\x7F\x01", true), /* controls: SHOULD NOT, not MUST */
    U8("a\x00"
       "b",
        false), /* U+0000 */
    U8("\xC0\x80", false), /* overlong U+0000 */
    U8("\xC1\xBF", false), /* overlong */
    U8("\xE0\x9F\xBF", false), /* overlong */
    U8("\xF0\x8F\xBF\xBF", false), /* overlong */
    U8("\xED\xA0\x80", false), /* U+D800 */
    U8("\xED\xBF\xBF", false), /* U+DFFF */
    U8("\xED\xA0\x80\xED\xB0\x80", false), /* CESU pair */
    U8("\xF4\x90\x80\x80", false), /* U+110000 */
    U8("\xF5\x80\x80\x80", false), U8("\xFF", false), U8("\x80", false),
    U8("\xC2", false), /* cut */
    U8("\xE2\x82", false), /* cut */
    U8("\xF0\x90\x80", false), /* cut */
    U8("\xE2\x28\xA1", false), /* bad continuation */
    U8("\xF0\x90\x28\xBC", false), /* bad third byte */
};

static void
test_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];

		if (mqtt_utf8_is_valid(c->s, c->len) != c->ok)
			fail_msg("utf8 case %zu", i);
	}
	assert_true(mqtt_utf8_is_valid(NULL, 0));
}

static void
test_tables(void **state)
{
	(void)state;
	assert_string_equal(mqtt_type_name(MQTT_PUBLISH), "PUBLISH");
	assert_string_equal(mqtt_type_name(MQTT_AUTH), "AUTH");
	assert_string_equal(mqtt_type_name(0), "?");
	assert_string_equal(mqtt_type_name(16), "?");
	assert_string_equal(
	    mqtt_rc_text(MQTT_RC_MALFORMED), "malformed packet");
	assert_string_equal(mqtt_rc_text(0x05), "unknown reason");
	assert_int_equal(mqtt_connack_rc_v3(MQTT_RC_SUCCESS), 0);
	assert_int_equal(mqtt_connack_rc_v3(MQTT_RC_UNSUPPORTED_VERSION), 1);
	assert_int_equal(mqtt_connack_rc_v3(MQTT_RC_CLIENT_ID_INVALID), 2);
	assert_int_equal(mqtt_connack_rc_v3(MQTT_RC_SERVER_BUSY), 3);
	assert_int_equal(mqtt_connack_rc_v3(MQTT_RC_BAD_USER_OR_PASSWORD), 4);
	assert_int_equal(mqtt_connack_rc_v3(MQTT_RC_BANNED), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_split_frame_len),
	    cmocka_unit_test(test_frame_len_trailing),
	    cmocka_unit_test(test_frame_len_varint),
	    cmocka_unit_test(test_split_decode),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_unsupported_sets_version),
	    cmocka_unit_test(test_connect_error_keeps_version),
	    cmocka_unit_test(test_v31_lenient_flags),
	    cmocka_unit_test(test_nonminimal_lengths),
	    cmocka_unit_test(test_prop_allowed),
	    cmocka_unit_test(test_prop_duplicates),
	    cmocka_unit_test(test_prop_values),
	    cmocka_unit_test(test_prop_fields),
	    cmocka_unit_test(test_publish_fields),
	    cmocka_unit_test(test_user_props_order),
	    cmocka_unit_test(test_sub_ids),
	    cmocka_unit_test(test_publish_header),
	    cmocka_unit_test(test_encode_cap),
	    cmocka_unit_test(test_encode_short_forms),
	    cmocka_unit_test(test_encode_connect),
	    cmocka_unit_test(test_subscribe_build),
	    cmocka_unit_test(test_unsubscribe_build),
	    cmocka_unit_test(test_suback_encode),
	    cmocka_unit_test(test_varint),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
