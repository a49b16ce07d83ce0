/*
 * Build: clang -g -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE tests/fuzz/fuzz_mqtt_codec.c protocols/mqtt/mqtt_codec.c core/util.c -o build/fuzz_mqtt_codec
 *
 * fuzz_mqtt_codec.c - libFuzzer target for the MQTT codec.
 *
 * Frames the input, decodes the frame (from an exact-size copy, so ASan
 * sees any read past it) as each session version would (0 = before
 * CONNECT, 3.1, 3.1.1, 5.0), and for what decodes: walks the SUBSCRIBE /
 * UNSUBSCRIBE list, re-encodes, checks the re-encoding decodes to the
 * same encoding again (encode(decode(encode(x))) == encode(x)) and that
 * the zero-copy PUBLISH header plus payload equals the full encoding.
 * Any violated property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/mqtt/mqtt_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every properties block a decoded packet of this type holds. */
static size_t
fz_props(struct mqtt_packet *pkt, struct mqtt_props **out)
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
fz_users_pack(struct mqtt_packet *pkt, uint8_t **bufs)
{
	struct mqtt_props *pr[2];
	size_t n = fz_props(pkt, pr);

	bufs[0] = bufs[1] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (pr[i]->user_count == 0)
			continue;
		bufs[i] = xmalloc(pr[i]->user_len);
		mqtt_props_user_copy(pr[i], bufs[i]);
		pr[i]->user = bufs[i];
	}
}

static void
fz_walk_lists(const struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_str f;
	struct mqtt_sub_opts o;
	size_t off = 0, n = 0;

	if (pkt->type == MQTT_SUBSCRIBE) {
		while (mqtt_sub_next(&pkt->u.subscribe, version, &off, &f, &o))
			n++;
		ASSERT(n == pkt->u.subscribe.count);
	} else if (pkt->type == MQTT_UNSUBSCRIBE) {
		while (mqtt_unsub_next(&pkt->u.subscribe, &off, &f))
			n++;
		ASSERT(n == pkt->u.subscribe.count);
	}
}

/* Encode pkt into a fresh exact-size buffer; *len gets its size. */
static uint8_t *
fz_encode(const struct mqtt_packet *pkt, uint8_t version, size_t *len)
{
	uint8_t *out;

	*len = mqtt_encode_len(pkt, version);
	out = xmalloc(*len);
	ASSERT(mqtt_encode(out, *len - 1, pkt, version) == 0);
	ASSERT(mqtt_encode(out, *len, pkt, version) == *len);
	return out;
}

/* The zero-copy path must agree with the full encoding. */
static void
fz_publish_header(const struct mqtt_packet *pkt, uint8_t version,
    const uint8_t *full, size_t len)
{
	const struct mqtt_publish *pub = &pkt->u.publish;
	size_t total = 0, hlen;
	uint8_t *hdr = xmalloc(len);

	hlen = mqtt_encode_publish_header(hdr, len, pub, version, &total);
	ASSERT(total == len && hlen + pub->payload.len == len);
	ASSERT(memcmp(hdr, full, hlen) == 0);
	ASSERT(pub->payload.len == 0 ||
	    memcmp(full + hlen, pub->payload.p, pub->payload.len) == 0);
	free(hdr);
}

/* encode(decode(e)) == e for an encoding e the codec produced itself. */
static void
fz_reencode(
    const uint8_t *e, size_t len, uint8_t dec_version, uint8_t enc_version)
{
	struct mqtt_packet pkt;
	uint8_t rc, *bufs[2], *again;
	size_t len2, fl;

	ASSERT(mqtt_frame_len(e, len, &fl) == MQTT_OK && fl == len);
	ASSERT(mqtt_decode(e, len, dec_version, &pkt, &rc) == MQTT_OK);
	fz_users_pack(&pkt, bufs);
	again = fz_encode(&pkt, enc_version, &len2);
	ASSERT(len2 == len && memcmp(again, e, len) == 0);
	free(again);
	free(bufs[0]);
	free(bufs[1]);
}

static void
fz_round_trip(struct mqtt_packet *pkt, uint8_t version)
{
	uint8_t enc_version = version, *bufs[2], *out;
	size_t len;

	if (pkt->type == MQTT_CONNECT)
		enc_version = pkt->u.connect.version;
	fz_walk_lists(pkt, version);
	fz_users_pack(pkt, bufs);
	out = fz_encode(pkt, enc_version, &len);
	if (pkt->type == MQTT_PUBLISH)
		fz_publish_header(pkt, enc_version, out, len);
	fz_reencode(out, len, version, enc_version);
	free(out);
	free(bufs[0]);
	free(bufs[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t versions[] = {0, MQTT_V31, MQTT_V311, MQTT_V5};
	struct mqtt_packet pkt;
	size_t fl = 0;
	uint8_t rc, *frame;

	if (mqtt_frame_len(data, size, &fl) != MQTT_OK)
		return 0;
	ASSERT(fl <= size);
	frame = xmalloc(fl);
	memcpy(frame, data, fl);
	for (size_t i = 0; i < ARRAY_LEN(versions); i++) {
		if (mqtt_decode(frame, fl, versions[i], &pkt, &rc) == MQTT_OK)
			fz_round_trip(&pkt, versions[i]);
		else
			ASSERT(rc != MQTT_RC_SUCCESS);
	}
	free(frame);
	return 0;
}
