/*
 * mqtt_codec.c - pure MQTT 3.1 / 3.1.1 / 5.0 codec; see mqtt_codec.h.
 *
 * Decoding runs a sticky-error cursor (struct rd) over one complete frame:
 * every read is bounds-checked, the first error recorded wins and later
 * reads return zeros, so each decoder reads its fields straight through
 * and mqtt_decode checks rd.rc once at the end. Nothing is allocated and
 * nothing past frame_len is read.
 *
 * Encoding runs each packet's writer twice over struct wr: once counting
 * (p == NULL), once writing, so the computed size and the bytes written
 * cannot disagree.
 *
 * Packet types and MQTT 5 properties each come from one table below.
 *
 * Error classes: where the 5.0 standard names the class of a violation
 * ("... is a Malformed Packet", "... is a Protocol Error") we return that
 * reason code; where it is silent, bad structure is MQTT_RC_MALFORMED and
 * a well-formed but forbidden value is MQTT_RC_PROTOCOL_ERROR (5.0 4.13).
 * Clauses are cited as MQTT-x.y.z-n; where 3.1.1 and 5.0 number the same
 * rule differently, both are given.
 */
#include "protocols/mqtt/mqtt_codec.h"

#include "core/utf8.h"

#include <string.h>

/* ---- tables: packet names, reason texts ---- */

const char *
mqtt_rc_text(unsigned rc)
{
	switch (rc) {
#define MQTT_RC_CASE(name, code, text) \
	case code: \
		return text;
		MQTT_REASONS(MQTT_RC_CASE)
#undef MQTT_RC_CASE
	default:
		return "unknown reason";
	}
}

uint8_t
mqtt_connack_rc_v3(uint8_t rc5)
{
	switch (rc5) {
	case MQTT_RC_SUCCESS:
		return MQTT_V3_ACCEPTED;
	case MQTT_RC_UNSUPPORTED_VERSION:
		return MQTT_V3_BAD_VERSION;
	case MQTT_RC_CLIENT_ID_INVALID:
		return MQTT_V3_ID_REJECTED;
	case MQTT_RC_BAD_USER_OR_PASSWORD:
		return MQTT_V3_BAD_USER_OR_PASSWORD;
	case MQTT_RC_NOT_AUTHORIZED:
	case MQTT_RC_BANNED:
	case MQTT_RC_BAD_AUTH_METHOD:
		return MQTT_V3_NOT_AUTHORIZED;
	default:
		/* 3.1.1 has nothing closer for busy, quota, ... */
		return MQTT_V3_SERVER_UNAVAILABLE;
	}
}

/* ---- UTF-8 (MQTT 1.5.3 in 3.1.1, 1.5.4 in 5.0): core/utf8.c ---- */

bool
mqtt_utf8_is_valid(const char *p, size_t len)
{
	return utf8_is_valid(p, len);
}

/* ---- Variable Byte Integer (MQTT 1.5.5) ---- */

size_t
mqtt_varint_len(uint32_t v)
{
	ASSERT(v <= MQTT_MAX_REMAINING);
	if (v < 128u)
		return 1;
	if (v < 16384u)
		return 2;
	return v < 2097152u ? 3 : 4;
}

size_t
mqtt_varint_put(uint8_t *buf, uint32_t v)
{
	size_t n = 0;

	ASSERT(v <= MQTT_MAX_REMAINING);
	do {
		uint8_t b = v & 0x7F;

		v >>= 7;
		buf[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v != 0);
	return n;
}

/*
 * Parse a Variable Byte Integer from [p, p + len): MQTT_OK with *v and
 * *used, MQTT_MORE when the bytes run out, MQTT_ERR when a fourth byte
 * still has its continuation bit (MQTT 1.5.5). Non-minimal encodings are
 * accepted: MQTT-1.5.5-1 binds senders, not receivers.
 */
static int
varint_parse(const uint8_t *p, size_t len, uint32_t *v, size_t *used)
{
	uint32_t val = 0;

	for (size_t i = 0; i < 4; i++) {
		if (i == len)
			return MQTT_MORE;
		val |= (uint32_t)(p[i] & 0x7F) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = val;
			*used = i + 1;
			return MQTT_OK;
		}
	}
	return MQTT_ERR;
}

/* ---- framing ---- */

/*
 * Beyond the header's contract: on MQTT_MORE, *frame_len is the whole
 * packet's size once the fixed header is complete (0 before), so the
 * adapter can refuse an over-limit packet before buffering it.
 */
int
mqtt_frame_len(const uint8_t *buf, size_t len, size_t *frame_len)
{
	uint32_t rl = 0;
	size_t used = 0;
	int st;

	*frame_len = 0;
	if (len < 2)
		return MQTT_MORE;
	st = varint_parse(buf + 1, len - 1, &rl, &used);
	if (st != MQTT_OK)
		return st; /* MQTT 2.1.4: at most four bytes */
	*frame_len = 1 + used + rl;
	return len < *frame_len ? MQTT_MORE : MQTT_OK;
}

/* ---- sticky-error read cursor ---- */

struct rd {
	const uint8_t *p;
	const uint8_t *end;
	uint8_t rc; /* first error seen; MQTT_RC_SUCCESS while none */
};

static void
rd_init(struct rd *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->end = len ? p + len : p;
	r->rc = MQTT_RC_SUCCESS;
}

/* Record an error unless one is already recorded: the first one wins. */
static void
rd_fail(struct rd *r, uint8_t rc)
{
	if (r->rc == MQTT_RC_SUCCESS)
		r->rc = rc;
}

static size_t
rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static bool
rd_done(const struct rd *r)
{
	return r->p == r->end;
}

/* Claim the next n bytes; NULL (and malformed) if fewer remain. */
static const uint8_t *
rd_take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (rd_left(r) < n) {
		rd_fail(r, MQTT_RC_MALFORMED);
		r->p = r->end;
		return NULL;
	}
	r->p += n;
	return p;
}

static uint8_t
rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? p[0] : 0;
}

static uint16_t
rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? util_get_u16(p) : 0;
}

static uint32_t
rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p ? (uint32_t)util_get_u16(p) << 16 | util_get_u16(p + 2) : 0;
}

static uint32_t
rd_varint(struct rd *r)
{
	uint32_t v = 0;
	size_t used = 0;

	if (varint_parse(r->p, rd_left(r), &v, &used) != MQTT_OK) {
		rd_fail(r, MQTT_RC_MALFORMED); /* MQTT 1.5.5 */
		r->p = r->end;
		return 0;
	}
	r->p += used;
	return v;
}

/* Binary Data: two-byte length, then the bytes (MQTT 1.5.6). */
static struct mqtt_bin
rd_bin(struct rd *r)
{
	struct mqtt_bin b = {r->p, 0};
	size_t n = rd_u16(r);
	const uint8_t *p = rd_take(r, n);

	if (p != NULL) {
		b.p = p;
		b.len = n;
	}
	return b;
}

/* UTF-8 String: ill-formed is malformed, MQTT-1.5.3-1 (5.0 1.5.4-1). */
static struct mqtt_str
rd_str(struct rd *r)
{
	struct mqtt_bin b = rd_bin(r);
	struct mqtt_str s = {(const char *)b.p, b.len};

	if (!mqtt_utf8_is_valid(s.p, s.len))
		rd_fail(r, MQTT_RC_MALFORMED);
	return s;
}

/* Packet Identifier: non-zero where present, MQTT-2.3.1-1 (5.0 2.2.1-3). */
static uint16_t
rd_pid(struct rd *r)
{
	uint16_t id = rd_u16(r);

	if (id == 0)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	return id;
}

/* Split the next n bytes off r into *sub; r moves past them. */
static void
rd_split(struct rd *r, size_t n, struct rd *sub)
{
	const uint8_t *p = rd_take(r, n);

	rd_init(sub, p ? p : r->end, p ? n : 0);
}

/* ---- MQTT 5 properties (5.0 2.2.2) ---- */

enum prop_kind {
	PK_NONE, /* not a property identifier */
	PK_BYTE,
	PK_U16,
	PK_U32,
	PK_VARINT,
	PK_STR,
	PK_BIN,
	PK_PAIR,
};

enum prop_check {
	PC_ANY,
	PC_BOOL, /* 0 or 1, anything else is a protocol error */
	PC_NONZERO, /* 0 is a protocol error */
};

/*
 * Where a property may appear: one bit per packet type; bit 0 (type 0 is
 * reserved) stands for CONNECT's will properties.
 */
#define PW(t) (1u << MQTT_##t)
#define PW_WILL 1u
#define PW_MSG (PW(PUBLISH) | PW_WILL)
#define PW_ACKS (PW(PUBACK) | PW(PUBREC) | PW(PUBREL) | PW(PUBCOMP))
#define PW_REASON \
	(PW(CONNACK) | PW_ACKS | PW(SUBACK) | PW(UNSUBACK) | PW(DISCONNECT) | \
	    PW(AUTH))
#define PW_ALL 0xFFFFu

struct mqtt_prop_def {
	uint8_t kind; /* enum prop_kind */
	uint8_t check; /* enum prop_check */
	uint16_t where; /* PW() bits of the packets that may carry it */
	uint16_t repeat; /* PW() bits where it may appear more than once */
	uint16_t off; /* offsetof(struct mqtt_props, field) */
};

#define PROP(id, k, c, w, rep, field) \
	[MQTT_PROP_##id] = { \
	    PK_##k, PC_##c, w, rep, offsetof(struct mqtt_props, field)}

/*
 * 5.0 table 2-4 plus the per-property rules of 3.1.2.11, 3.2.2.3,
 * 3.3.2.3, 3.8.2.1: "It is a Protocol Error to include ... more than
 * once" for everything but User Property (any packet) and Subscription
 * Identifier (several in a PUBLISH to a client, 3.3.4); BOOL and NONZERO
 * rows are the "value other than 0 or 1" / "value of 0" protocol errors.
 */
static const struct mqtt_prop_def mqtt_prop_defs[] = {
    PROP(PAYLOAD_FORMAT, BYTE, BOOL, PW_MSG, 0, payload_format),
    PROP(MESSAGE_EXPIRY, U32, ANY, PW_MSG, 0, message_expiry),
    PROP(CONTENT_TYPE, STR, ANY, PW_MSG, 0, content_type),
    PROP(RESPONSE_TOPIC, STR, ANY, PW_MSG, 0, response_topic),
    PROP(CORRELATION_DATA, BIN, ANY, PW_MSG, 0, correlation_data),
    PROP(SUBSCRIPTION_ID, VARINT, NONZERO, PW(PUBLISH) | PW(SUBSCRIBE),
        PW(PUBLISH), sub_ids),
    PROP(SESSION_EXPIRY, U32, ANY, PW(CONNECT) | PW(CONNACK) | PW(DISCONNECT),
        0, session_expiry),
    PROP(ASSIGNED_CLIENT_ID, STR, ANY, PW(CONNACK), 0, assigned_client_id),
    PROP(SERVER_KEEP_ALIVE, U16, ANY, PW(CONNACK), 0, server_keep_alive),
    PROP(AUTH_METHOD, STR, ANY, PW(CONNECT) | PW(CONNACK) | PW(AUTH), 0,
        auth_method),
    PROP(AUTH_DATA, BIN, ANY, PW(CONNECT) | PW(CONNACK) | PW(AUTH), 0,
        auth_data),
    PROP(
        REQUEST_PROBLEM_INFO, BYTE, BOOL, PW(CONNECT), 0, request_problem_info),
    PROP(WILL_DELAY, U32, ANY, PW_WILL, 0, will_delay),
    PROP(REQUEST_RESPONSE_INFO, BYTE, BOOL, PW(CONNECT), 0,
        request_response_info),
    PROP(RESPONSE_INFO, STR, ANY, PW(CONNACK), 0, response_info),
    PROP(SERVER_REFERENCE, STR, ANY, PW(CONNACK) | PW(DISCONNECT), 0,
        server_reference),
    PROP(REASON_STRING, STR, ANY, PW_REASON, 0, reason_string),
    PROP(RECEIVE_MAX, U16, NONZERO, PW(CONNECT) | PW(CONNACK), 0, receive_max),
    PROP(TOPIC_ALIAS_MAX, U16, ANY, PW(CONNECT) | PW(CONNACK), 0,
        topic_alias_max),
    /* MQTT-3.3.2-8: a Topic Alias of 0 is not permitted */
    PROP(TOPIC_ALIAS, U16, NONZERO, PW(PUBLISH), 0, topic_alias),
    PROP(MAX_QOS, BYTE, BOOL, PW(CONNACK), 0, max_qos),
    PROP(RETAIN_AVAILABLE, BYTE, BOOL, PW(CONNACK), 0, retain_available),
    PROP(USER, PAIR, ANY, PW_ALL, PW_ALL, raw),
    PROP(MAX_PACKET_SIZE, U32, NONZERO, PW(CONNECT) | PW(CONNACK), 0,
        max_packet_size),
    PROP(WILDCARD_AVAILABLE, BYTE, BOOL, PW(CONNACK), 0, wildcard_available),
    PROP(SUB_ID_AVAILABLE, BYTE, BOOL, PW(CONNACK), 0, sub_id_available),
    PROP(SHARED_AVAILABLE, BYTE, BOOL, PW(CONNACK), 0, shared_available),
};

/* Definition of property id, NULL if 5.0 defines no such property. */
static const struct mqtt_prop_def *
prop_def(uint32_t id)
{
	if (id >= ARRAY_LEN(mqtt_prop_defs))
		return NULL;
	return mqtt_prop_defs[id].kind == PK_NONE ? NULL : &mqtt_prop_defs[id];
}

static uint32_t
rd_scalar(struct rd *r, uint8_t kind)
{
	switch (kind) {
	case PK_BYTE:
		return rd_u8(r);
	case PK_U16:
		return rd_u16(r);
	case PK_U32:
		return rd_u32(r);
	default:
		return rd_varint(r);
	}
}

static void
prop_store(struct mqtt_props *pr, const struct mqtt_prop_def *d, uint32_t v)
{
	void *f = (char *)pr + d->off;

	if (d->kind == PK_BYTE)
		*(uint8_t *)f = (uint8_t)v;
	else if (d->kind == PK_U16)
		*(uint16_t *)f = (uint16_t)v;
	else
		*(uint32_t *)f = v;
}

/* One more Subscription Identifier (several only in PUBLISH, 3.3.4). */
static void
prop_sub_id(struct rd *r, struct mqtt_props *pr, uint32_t v)
{
	if (pr->sub_id_count == MQTT_MAX_SUB_IDS) {
		rd_fail(r, MQTT_RC_IMPL_SPECIFIC); /* our bound, see header */
		return;
	}
	pr->sub_ids[pr->sub_id_count++] = v;
}

/* A User Property pair; counted in core's packed form (core/msg.h). */
static void
prop_user(struct rd *r, struct mqtt_props *pr)
{
	struct mqtt_str k = rd_str(r);
	struct mqtt_str v = rd_str(r);

	if (pr->user_count == UINT16_MAX) {
		rd_fail(r, MQTT_RC_IMPL_SPECIFIC); /* msg.h counts in 16 bits */
		return;
	}
	pr->user_count++;
	pr->user_len += 4 + k.len + v.len;
}

static void
prop_value(struct rd *r, struct mqtt_props *pr, const struct mqtt_prop_def *d)
{
	void *f = (char *)pr + d->off;
	uint32_t v;

	if (d->kind == PK_STR) {
		*(struct mqtt_str *)f = rd_str(r);
		return;
	}
	if (d->kind == PK_BIN) {
		*(struct mqtt_bin *)f = rd_bin(r);
		return;
	}
	if (d->kind == PK_PAIR) {
		prop_user(r, pr);
		return;
	}
	v = rd_scalar(r, d->kind);
	if ((d->check == PC_BOOL && v > 1) || (d->check == PC_NONZERO && !v))
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	if (d->kind == PK_VARINT)
		prop_sub_id(r, pr, v);
	else
		prop_store(pr, d, v);
}

static void
rd_prop(struct rd *r, struct mqtt_props *pr, unsigned where)
{
	uint32_t id = rd_varint(r);
	const struct mqtt_prop_def *d = prop_def(id);

	if (d == NULL) {
		/* 5.0 2.2.2.2: unknown id, so its value's size is unknown */
		rd_fail(r, MQTT_RC_MALFORMED);
		r->p = r->end;
		return;
	}
	/* 5.0 2.2.2.2: "an Identifier which is not valid for its packet
	 * type ... is a Malformed Packet" (table 2-4 says where each goes) */
	if ((d->where & where) == 0)
		rd_fail(r, MQTT_RC_MALFORMED);
	if ((pr->present & MQTT_PBIT(id)) && (d->repeat & where) == 0)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* "more than once" */
	pr->present |= MQTT_PBIT(id);
	prop_value(r, pr, d);
}

/* Property Length then the properties (5.0 2.2.2), checked for where. */
static void
rd_props(struct rd *r, struct mqtt_props *pr, unsigned where)
{
	const uint64_t auth =
	    MQTT_PBIT(MQTT_PROP_AUTH_METHOD) | MQTT_PBIT(MQTT_PROP_AUTH_DATA);
	struct rd sub;

	rd_split(r, rd_varint(r), &sub);
	pr->raw = sub.p;
	pr->raw_len = rd_left(&sub);
	while (!rd_done(&sub) && sub.rc == MQTT_RC_SUCCESS)
		rd_prop(&sub, pr, where);
	/* 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3: data needs a method */
	if ((pr->present & auth) == MQTT_PBIT(MQTT_PROP_AUTH_DATA))
		rd_fail(&sub, MQTT_RC_PROTOCOL_ERROR);
	rd_fail(r, sub.rc);
}

/* Skip one property of a block already validated by rd_props. */
static void
rd_prop_skip(struct rd *r, const struct mqtt_prop_def *d)
{
	if (d->kind == PK_STR || d->kind == PK_BIN) {
		(void)rd_bin(r);
	} else if (d->kind == PK_PAIR) {
		(void)rd_bin(r);
		(void)rd_bin(r);
	} else {
		(void)rd_scalar(r, d->kind);
	}
}

void
mqtt_props_user_copy(const struct mqtt_props *props, uint8_t *dst)
{
	struct rd r;

	rd_init(&r, props->raw, props->raw_len);
	while (!rd_done(&r)) {
		uint32_t id = rd_varint(&r);
		const struct mqtt_prop_def *d = prop_def(id);
		const uint8_t *start = r.p;

		ASSERT(d != NULL);
		rd_prop_skip(&r, d);
		if (id != MQTT_PROP_USER)
			continue;
		/* The wire pair is the packed pair: two u16-prefixed runs. */
		memcpy(dst, start, (size_t)(r.p - start));
		dst += r.p - start;
	}
	ASSERT(r.rc == MQTT_RC_SUCCESS);
}

/* ---- decoding, one function per packet type ---- */

static bool
str_is(const struct mqtt_str *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->len == n && memcmp(s->p, lit, n) == 0;
}

/* MQTT-3.1.2-1/2: the protocol name and level a server understands. */
static bool
connect_version_ok(const struct mqtt_str *name, uint8_t level)
{
	if (level == MQTT_V31)
		return str_is(name, "MQIsdp");
	if (level == MQTT_V311 || level == MQTT_V5)
		return str_is(name, "MQTT");
	return false;
}

static void
connect_flags(struct rd *r, struct mqtt_connect *c, uint8_t fl)
{
	c->clean = fl & 0x02;
	c->has_will = fl & 0x04;
	c->will_qos = (fl >> 3) & 3;
	c->will_retain = fl & 0x20;
	c->has_password = fl & 0x40;
	c->has_username = fl & 0x80;
	if (fl & 0x01)
		rd_fail(r, MQTT_RC_MALFORMED); /* MQTT-3.1.2-3 */
	if (c->will_qos == 3)
		rd_fail(r, MQTT_RC_MALFORMED); /* MQTT-3.1.2-14 (5.0 3.1.2.6) */
	if (!c->has_will && (c->will_qos != 0 || c->will_retain))
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.1.2-11/13/15 */
	if (c->version == MQTT_V311 && c->has_password && !c->has_username)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.1.2-22 */
}

/* MQTT 3.1.3: the payload fields, in order, as the flags announce. */
static void
connect_payload(struct rd *r, struct mqtt_connect *c)
{
	c->client_id = rd_str(r); /* MQTT-3.1.3-3/4 */
	if (c->has_will) {
		if (c->version == MQTT_V5)
			rd_props(r, &c->will_props, PW_WILL);
		c->will_topic = rd_str(r); /* MQTT-3.1.3-10 */
		c->will_payload = rd_bin(r);
	}
	if (c->has_username)
		c->username = rd_str(r); /* MQTT-3.1.3-11 */
	if (c->has_password)
		c->password = rd_bin(r);
}

/* CONNECT carries its own level; the session's version is ignored. */
static void
dec_connect(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_connect *c = &pkt->u.connect;

	(void)version;
	c->proto_name = rd_str(r);
	c->version = rd_u8(r);
	if (r->rc == MQTT_RC_SUCCESS &&
	    !connect_version_ok(&c->proto_name, c->version)) {
		/* MQTT-3.1.2-2: the rest may not be in a form we know */
		rd_fail(r, MQTT_RC_UNSUPPORTED_VERSION);
		r->p = r->end;
		return;
	}
	connect_flags(r, c, rd_u8(r));
	c->keep_alive = rd_u16(r);
	if (c->version == MQTT_V5)
		rd_props(r, &c->props, PW(CONNECT));
	connect_payload(r, c);
}

static void
dec_connack(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_connack *ca = &pkt->u.connack;
	uint8_t fl = rd_u8(r);

	if (version == MQTT_V31)
		fl = 0; /* 3.1: the byte is unused, no session present */
	if (fl & 0xFE)
		rd_fail(r, MQTT_RC_MALFORMED); /* MQTT-3.2.2-1 (5.0 3.2.2.1) */
	ca->session_present = fl & 0x01;
	ca->rc = rd_u8(r);
	if (ca->session_present && ca->rc != 0)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.2.2-4 (5.0 -6) */
	if (version == MQTT_V5)
		rd_props(r, &ca->props, PW(CONNACK));
}

static void
publish_flags(struct rd *r, struct mqtt_publish *p, uint8_t fl)
{
	p->dup = fl & 0x08;
	p->qos = (fl >> 1) & 3;
	p->retain = fl & 0x01;
	if (p->qos == 3)
		rd_fail(r, MQTT_RC_MALFORMED); /* MQTT-3.3.1-4 (5.0 3.3.1.2) */
	if (p->dup && p->qos == 0)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.3.1-2 */
}

static void
dec_publish(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_publish *p = &pkt->u.publish;
	const uint64_t alias = MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS);

	publish_flags(r, p, pkt->flags);
	p->topic = rd_str(r); /* MQTT-3.3.2-1 */
	if (p->qos > 0)
		p->packet_id = rd_pid(r);
	if (version == MQTT_V5)
		rd_props(r, &p->props, PW(PUBLISH));
	/* MQTT-4.7.3-1; 5.0 3.3.2.1: empty only with a Topic Alias */
	if (p->topic.len == 0 && (p->props.present & alias) == 0)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR);
	p->payload.len = rd_left(r); /* MQTT 3.3.3: the rest */
	p->payload.p = rd_take(r, p->payload.len);
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
static void
dec_ack(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_ack *a = &pkt->u.ack;

	a->packet_id = rd_pid(r);
	/* 5.0 3.4.2.1: no Reason Code means 0 (remaining length 2) */
	if (version < MQTT_V5 || rd_done(r))
		return;
	a->rc = rd_u8(r);
	/* 5.0 3.4.2.2.1: remaining length 3 means no properties */
	if (!rd_done(r))
		rd_props(r, &a->props, 1u << pkt->type);
}

static bool
filter_is_shared(const struct mqtt_str *f)
{
	return f->len >= 7 && memcmp(f->p, "$share/", 7) == 0;
}

static void
sub_opts_check(
    struct rd *r, uint8_t o, uint8_t version, const struct mqtt_str *f)
{
	if (version < MQTT_V5) {
		if ((o & 0xFC) != 0 || (o & 3) == 3)
			rd_fail(r, MQTT_RC_MALFORMED); /* MQTT-3.8.3-4 */
		return;
	}
	if (o & 0xC0)
		rd_fail(r, MQTT_RC_MALFORMED); /* MQTT-3.8.3-5 */
	if ((o & 3) == 3 || ((o >> 4) & 3) == 3)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* 3.8.3.1: QoS, RH 3 */
	if ((o & 0x04) && filter_is_shared(f))
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* 5.0 MQTT-3.8.3-4 */
}

/* SUBSCRIBE and UNSUBSCRIBE: every entry is validated now. */
static void
dec_subscribe(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_subscribe *s = &pkt->u.subscribe;

	s->packet_id = rd_pid(r);
	if (version == MQTT_V5)
		rd_props(r, &s->props, 1u << pkt->type);
	s->list = r->p;
	s->list_len = rd_left(r);
	if (s->list_len == 0)
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.8.3-3, 3.10.3-2 */
	while (!rd_done(r) && r->rc == MQTT_RC_SUCCESS) {
		struct mqtt_str f = rd_str(r);

		if (pkt->type == MQTT_SUBSCRIBE)
			sub_opts_check(r, rd_u8(r), version, &f);
		s->count++;
	}
}

static bool
suback_code_ok_v3(uint8_t code)
{
	return code <= 2 || code == 0x80;
}

/* SUBACK and UNSUBACK. */
static void
dec_suback(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_suback *s = &pkt->u.suback;

	s->packet_id = rd_pid(r);
	if (version == MQTT_V5)
		rd_props(r, &s->props, 1u << pkt->type);
	if (pkt->type == MQTT_UNSUBACK && version < MQTT_V5)
		return; /* 3.11.3: no payload before 5.0 */
	s->count = rd_left(r);
	s->codes = rd_take(r, s->count);
	if (s->count == 0)
		rd_fail(
		    r, MQTT_RC_PROTOCOL_ERROR); /* 3.9.3, 3.11.3: one each */
	for (size_t i = 0; version < MQTT_V5 && i < s->count; i++) {
		if (!suback_code_ok_v3(s->codes[i]))
			rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.9.3-2 */
	}
}

/* PINGREQ, PINGRESP: nothing after the fixed header (3.12, 3.13). */
static void
dec_empty(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	(void)r;
	(void)pkt;
	(void)version;
}

/* DISCONNECT and AUTH: 5.0 3.14.2.1, 3.15.2.1 allow the short forms. */
static void
dec_disconnect(struct rd *r, struct mqtt_packet *pkt, uint8_t version)
{
	struct mqtt_disconnect *d = &pkt->u.disconnect;

	if (version < MQTT_V5 || rd_done(r))
		return;
	d->rc = rd_u8(r);
	if (!rd_done(r))
		rd_props(r, &d->props, 1u << pkt->type);
}

/* ---- encoding primitives ---- */

struct wr {
	uint8_t *p; /* NULL: only count */
	size_t n;
};

static void
wr_bytes(struct wr *w, const void *src, size_t n)
{
	if (w->p != NULL && n > 0)
		memcpy(w->p + w->n, src, n);
	w->n += n;
}

static void
wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static void
wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2];

	util_put_u16(b, v);
	wr_bytes(w, b, 2);
}

static void
wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4];

	util_put_u16(b, (uint16_t)(v >> 16));
	util_put_u16(b + 2, (uint16_t)v);
	wr_bytes(w, b, 4);
}

static void
wr_varint(struct wr *w, size_t v)
{
	uint8_t b[4];

	ASSERT(v <= MQTT_MAX_REMAINING);
	wr_bytes(w, b, mqtt_varint_put(b, (uint32_t)v));
}

static void
wr_bin(struct wr *w, const void *p, size_t len)
{
	ASSERT(len <= UINT16_MAX);
	wr_u16(w, (uint16_t)len);
	wr_bytes(w, p, len);
}

static void
wr_str(struct wr *w, const struct mqtt_str *s)
{
	wr_bin(w, s->p, s->len);
}

/* ---- encoding properties ---- */

/* Bytes of the packed pair at p (left bytes remain), asserting its shape. */
static size_t
user_pair_len(const uint8_t *p, size_t left)
{
	size_t k, v;

	ASSERT(left >= 4);
	k = util_get_u16(p);
	ASSERT(left >= 4 + k);
	v = util_get_u16(p + 2 + k);
	ASSERT(left >= 4 + k + v);
	return 4 + k + v;
}

/* User pairs in packed form become 0x26 + the same bytes on the wire. */
static void
wr_users(struct wr *w, const struct mqtt_props *pr)
{
	size_t off = 0;

	ASSERT(pr->user_len == 0 || pr->user != NULL);
	while (off < pr->user_len) {
		size_t n = user_pair_len(pr->user + off, pr->user_len - off);

		wr_u8(w, MQTT_PROP_USER);
		wr_bytes(w, pr->user + off, n);
		off += n;
	}
}

static void
wr_prop(struct wr *w, const struct mqtt_props *pr, unsigned id)
{
	const struct mqtt_prop_def *d = &mqtt_prop_defs[id];
	const void *f = (const char *)pr + d->off;

	if (d->kind == PK_VARINT) {
		ASSERT(pr->sub_id_count <= MQTT_MAX_SUB_IDS);
		for (unsigned i = 0; i < pr->sub_id_count; i++) {
			wr_u8(w, (uint8_t)id);
			wr_varint(w, pr->sub_ids[i]);
		}
		return;
	}
	wr_u8(w, (uint8_t)id);
	if (d->kind == PK_BYTE)
		wr_u8(w, *(const uint8_t *)f);
	else if (d->kind == PK_U16)
		wr_u16(w, *(const uint16_t *)f);
	else if (d->kind == PK_U32)
		wr_u32(w, *(const uint32_t *)f);
	else if (d->kind == PK_STR)
		wr_str(w, f);
	else
		wr_bin(w, ((const struct mqtt_bin *)f)->p,
		    ((const struct mqtt_bin *)f)->len);
}

/* Properties in identifier order; asserts each is allowed in where. */
static void
wr_props_body(struct wr *w, const struct mqtt_props *pr, unsigned where)
{
	ASSERT((pr->present >> ARRAY_LEN(mqtt_prop_defs)) == 0);
	for (unsigned id = 1; id < ARRAY_LEN(mqtt_prop_defs); id++) {
		if (id == MQTT_PROP_USER) {
			wr_users(w, pr);
			continue;
		}
		if ((pr->present & MQTT_PBIT(id)) == 0)
			continue;
		ASSERT(prop_def(id) != NULL && (prop_def(id)->where & where));
		wr_prop(w, pr, id);
	}
}

static void
wr_props(struct wr *w, const struct mqtt_props *pr, unsigned where)
{
	struct wr count = {NULL, 0};

	wr_props_body(&count, pr, where);
	wr_varint(w, count.n);
	wr_props_body(w, pr, where);
}

/* Nothing to write: the 5.0 short forms apply. */
static bool
props_empty(const struct mqtt_props *pr)
{
	return (pr->present & ~MQTT_PBIT(MQTT_PROP_USER)) == 0 &&
	    pr->user_len == 0;
}

/* ---- encoding, one function per packet type ---- */

static uint8_t
connect_flags_byte(const struct mqtt_connect *c)
{
	uint8_t fl = c->clean ? 0x02 : 0;

	if (c->has_will) {
		ASSERT(c->will_qos <= 2);
		fl |= (uint8_t)(0x04 | c->will_qos << 3);
		fl |= c->will_retain ? 0x20 : 0;
	}
	fl |= c->has_password ? 0x40 : 0;
	fl |= c->has_username ? 0x80 : 0;
	return fl;
}

static void
enc_connect(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_connect *c = &pkt->u.connect;

	if (version == MQTT_V31)
		wr_bin(w, "MQIsdp", 6);
	else
		wr_bin(w, "MQTT", 4);
	wr_u8(w, version);
	wr_u8(w, connect_flags_byte(c));
	wr_u16(w, c->keep_alive);
	if (version == MQTT_V5)
		wr_props(w, &c->props, PW(CONNECT));
	wr_str(w, &c->client_id);
	if (c->has_will) {
		if (version == MQTT_V5)
			wr_props(w, &c->will_props, PW_WILL);
		wr_str(w, &c->will_topic);
		wr_bin(w, c->will_payload.p, c->will_payload.len);
	}
	if (c->has_username)
		wr_str(w, &c->username);
	if (c->has_password)
		wr_bin(w, c->password.p, c->password.len);
}

static void
enc_connack(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_connack *ca = &pkt->u.connack;

	wr_u8(w, version != MQTT_V31 && ca->session_present ? 1 : 0);
	wr_u8(w, ca->rc);
	if (version == MQTT_V5)
		wr_props(w, &ca->props, PW(CONNACK));
}

static void
enc_publish_vh(struct wr *w, const struct mqtt_publish *p, uint8_t version)
{
	wr_str(w, &p->topic);
	if (p->qos > 0) {
		ASSERT(p->packet_id != 0);
		wr_u16(w, p->packet_id);
	}
	if (version == MQTT_V5)
		wr_props(w, &p->props, PW(PUBLISH));
}

static void
enc_publish(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_publish *p = &pkt->u.publish;

	enc_publish_vh(w, p, version);
	wr_bytes(w, p->payload.p, p->payload.len);
}

static void
enc_ack(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_ack *a = &pkt->u.ack;
	bool empty = props_empty(&a->props);

	ASSERT(a->packet_id != 0);
	wr_u16(w, a->packet_id);
	if (version < MQTT_V5 || (a->rc == 0 && empty))
		return; /* 5.0 3.4.2.1 */
	wr_u8(w, a->rc);
	if (!empty)
		wr_props(w, &a->props, 1u << pkt->type);
}

static void
enc_subscribe(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_subscribe *s = &pkt->u.subscribe;

	ASSERT(s->packet_id != 0 && s->list_len > 0);
	wr_u16(w, s->packet_id);
	if (version == MQTT_V5)
		wr_props(w, &s->props, 1u << pkt->type);
	wr_bytes(w, s->list, s->list_len);
}

static void
enc_suback(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_suback *s = &pkt->u.suback;

	ASSERT(s->packet_id != 0);
	wr_u16(w, s->packet_id);
	if (version == MQTT_V5)
		wr_props(w, &s->props, 1u << pkt->type);
	if (pkt->type == MQTT_SUBACK || version == MQTT_V5)
		wr_bytes(w, s->codes, s->count);
}

static void
enc_empty(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	(void)w;
	(void)pkt;
	(void)version;
}

/*
 * DISCONNECT: remaining length 0 for rc 0 without properties, 1 for a
 * bare reason code (5.0 3.14.2.1). AUTH omits both only together
 * (3.15.2.1), so it always writes the Property Length after a code.
 */
static void
enc_disconnect(struct wr *w, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_disconnect *d = &pkt->u.disconnect;
	bool empty = props_empty(&d->props);

	if (version < MQTT_V5 || (d->rc == 0 && empty))
		return;
	wr_u8(w, d->rc);
	if (!empty || pkt->type == MQTT_AUTH)
		wr_props(w, &d->props, 1u << pkt->type);
}

/* ---- the packet type table ---- */

typedef void mqtt_dec_fn(
    struct rd *r, struct mqtt_packet *pkt, uint8_t version);
typedef void mqtt_enc_fn(
    struct wr *w, const struct mqtt_packet *pkt, uint8_t version);

struct mqtt_type_def {
	const char *name;
	uint8_t flags; /* fixed-header flags MQTT-2.2.2-1 requires */
	bool any_flags; /* PUBLISH: the flags are DUP, QoS, RETAIN */
	uint8_t min_version; /* AUTH exists from 5.0 on */
	size_t size; /* of its member of mqtt_packet.u: what decode zeroes */
	mqtt_dec_fn *decode;
	mqtt_enc_fn *encode;
};

#define TYPE(t, fl, any, minv, member, dec, enc) \
	[MQTT_##t] = {#t, fl, any, minv, \
	    sizeof(((struct mqtt_packet *)0)->u.member), dec, enc}

/* MQTT 2.2.1 / 2.1.2 packet types and 2.2.2 / 2.1.3 fixed flags. */
static const struct mqtt_type_def mqtt_types[16] = {
    TYPE(CONNECT, 0x0, false, MQTT_V31, connect, dec_connect, enc_connect),
    TYPE(CONNACK, 0x0, false, MQTT_V31, connack, dec_connack, enc_connack),
    TYPE(PUBLISH, 0x0, true, MQTT_V31, publish, dec_publish, enc_publish),
    TYPE(PUBACK, 0x0, false, MQTT_V31, ack, dec_ack, enc_ack),
    TYPE(PUBREC, 0x0, false, MQTT_V31, ack, dec_ack, enc_ack),
    TYPE(PUBREL, 0x2, false, MQTT_V31, ack, dec_ack, enc_ack),
    TYPE(PUBCOMP, 0x0, false, MQTT_V31, ack, dec_ack, enc_ack),
    TYPE(SUBSCRIBE, 0x2, false, MQTT_V31, subscribe, dec_subscribe,
        enc_subscribe),
    TYPE(SUBACK, 0x0, false, MQTT_V31, suback, dec_suback, enc_suback),
    TYPE(UNSUBSCRIBE, 0x2, false, MQTT_V31, subscribe, dec_subscribe,
        enc_subscribe),
    TYPE(UNSUBACK, 0x0, false, MQTT_V31, suback, dec_suback, enc_suback),
    TYPE(PINGREQ, 0x0, false, MQTT_V31, ack, dec_empty, enc_empty),
    TYPE(PINGRESP, 0x0, false, MQTT_V31, ack, dec_empty, enc_empty),
    TYPE(DISCONNECT, 0x0, false, MQTT_V31, disconnect, dec_disconnect,
        enc_disconnect),
    TYPE(AUTH, 0x0, false, MQTT_V5, disconnect, dec_disconnect, enc_disconnect),
};

const char *
mqtt_type_name(unsigned type)
{
	if (type >= ARRAY_LEN(mqtt_types) || mqtt_types[type].name == NULL)
		return "?";
	return mqtt_types[type].name;
}

/* ---- decoding entry ---- */

/* MQTT 2.1.4 (5.0 2.1.4): Remaining Length counts exactly what follows. */
static void
dec_fixed_header(struct rd *r, struct mqtt_packet *pkt)
{
	uint8_t b = rd_u8(r);
	uint32_t rl = rd_varint(r);

	pkt->type = b >> 4;
	pkt->flags = b & 0x0F;
	if (rl != rd_left(r))
		rd_fail(r, MQTT_RC_MALFORMED);
}

/* The table row for pkt if this version and session may decode it. */
static const struct mqtt_type_def *
dec_type(struct rd *r, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_type_def *t = &mqtt_types[pkt->type];

	if (r->rc != MQTT_RC_SUCCESS)
		return NULL;
	if (version == 0 && pkt->type != MQTT_CONNECT) {
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.1.0-1 */
		return NULL;
	}
	if (t->decode == NULL || (version != 0 && version < t->min_version)) {
		rd_fail(r, MQTT_RC_PROTOCOL_ERROR); /* 2.2.1: reserved type */
		return NULL;
	}
	/*
	 * MQTT-2.2.2-2, 5.0 2.1.3. Decoding goes on (the error sticks) so a
	 * CONNECT still reports its version for the CONNACK. 3.1 predates
	 * the rule; like Mosquitto, accept its flags.
	 */
	if (!t->any_flags && version != MQTT_V31 && pkt->flags != t->flags)
		rd_fail(r, MQTT_RC_MALFORMED);
	return t;
}

int
mqtt_decode(const uint8_t *buf, size_t frame_len, uint8_t version,
    struct mqtt_packet *pkt, uint8_t *rc)
{
	const struct mqtt_type_def *t;
	struct rd r;

	ASSERT(version == 0 || (version >= MQTT_V31 && version <= MQTT_V5));
	rd_init(&r, buf, frame_len);
	dec_fixed_header(&r, pkt);
	t = dec_type(&r, pkt, version);
	/* Only the packet's own member is zeroed: a third of the union. */
	memset(&pkt->u, 0, t != NULL ? t->size : sizeof(pkt->u));
	if (t != NULL)
		t->decode(&r, pkt, version);
	if (!rd_done(&r))
		rd_fail(&r, MQTT_RC_MALFORMED); /* content shorter than RL */
	*rc = r.rc;
	return r.rc == MQTT_RC_SUCCESS ? MQTT_OK : MQTT_ERR;
}

/* ---- walking decoded lists ---- */

bool
mqtt_sub_next(const struct mqtt_subscribe *s, uint8_t version, size_t *off,
    struct mqtt_str *filter, struct mqtt_sub_opts *opts)
{
	struct mqtt_bin f;
	struct rd r;
	uint8_t o;

	if (*off >= s->list_len)
		return false;
	rd_init(&r, s->list + *off, s->list_len - *off);
	f = rd_bin(&r); /* validated by mqtt_decode */
	o = rd_u8(&r);
	ASSERT(r.rc == MQTT_RC_SUCCESS);
	filter->p = (const char *)f.p;
	filter->len = f.len;
	opts->qos = o & 3;
	opts->no_local = version == MQTT_V5 && (o & 0x04);
	opts->retain_as_published = version == MQTT_V5 && (o & 0x08);
	opts->retain_handling = version == MQTT_V5 ? (o >> 4) & 3 : 0;
	*off = s->list_len - rd_left(&r);
	return true;
}

bool
mqtt_unsub_next(
    const struct mqtt_subscribe *s, size_t *off, struct mqtt_str *filter)
{
	struct mqtt_bin f;
	struct rd r;

	if (*off >= s->list_len)
		return false;
	rd_init(&r, s->list + *off, s->list_len - *off);
	f = rd_bin(&r);
	ASSERT(r.rc == MQTT_RC_SUCCESS);
	filter->p = (const char *)f.p;
	filter->len = f.len;
	*off = s->list_len - rd_left(&r);
	return true;
}

/* ---- encoding entry points ---- */

static const struct mqtt_type_def *
enc_type(const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_type_def *t;

	ASSERT(version >= MQTT_V31 && version <= MQTT_V5);
	ASSERT(pkt->type < ARRAY_LEN(mqtt_types));
	t = &mqtt_types[pkt->type];
	ASSERT(t->encode != NULL && version >= t->min_version);
	return t;
}

static uint8_t
publish_flags_byte(const struct mqtt_publish *p)
{
	ASSERT(p->qos <= 2 && !(p->dup && p->qos == 0));
	return (uint8_t)((p->dup ? 0x08 : 0) | p->qos << 1 |
	    (p->retain ? 0x01 : 0));
}

static uint8_t
fixed_byte(const struct mqtt_packet *pkt, const struct mqtt_type_def *t)
{
	uint8_t fl =
	    t->any_flags ? publish_flags_byte(&pkt->u.publish) : t->flags;

	return (uint8_t)(pkt->type << 4 | fl);
}

static size_t
enc_body_len(const struct mqtt_packet *pkt, uint8_t version)
{
	struct wr w = {NULL, 0};

	enc_type(pkt, version)->encode(&w, pkt, version);
	ASSERT(w.n <= MQTT_MAX_REMAINING);
	return w.n;
}

size_t
mqtt_encode_len(const struct mqtt_packet *pkt, uint8_t version)
{
	size_t body = enc_body_len(pkt, version);

	return 1 + mqtt_varint_len((uint32_t)body) + body;
}

size_t
mqtt_encode(
    uint8_t *buf, size_t cap, const struct mqtt_packet *pkt, uint8_t version)
{
	const struct mqtt_type_def *t = enc_type(pkt, version);
	size_t body = enc_body_len(pkt, version);
	size_t total = 1 + mqtt_varint_len((uint32_t)body) + body;
	struct wr w = {buf, 0};

	if (total > cap)
		return 0;
	wr_u8(&w, fixed_byte(pkt, t));
	wr_varint(&w, body);
	t->encode(&w, pkt, version);
	ASSERT(w.n == total);
	return total;
}

/* Beyond the header's contract: *total is set even when 0 is returned. */
size_t
mqtt_encode_publish_header(uint8_t *buf, size_t cap,
    const struct mqtt_publish *pub, uint8_t version, size_t *total)
{
	struct wr w = {NULL, 0};
	size_t body, hdr;

	ASSERT(version >= MQTT_V31 && version <= MQTT_V5);
	enc_publish_vh(&w, pub, version);
	body = w.n + pub->payload.len;
	ASSERT(body <= MQTT_MAX_REMAINING);
	hdr = 1 + mqtt_varint_len((uint32_t)body) + w.n;
	*total = hdr + pub->payload.len;
	if (hdr > cap)
		return 0;
	w = (struct wr){buf, 0};
	wr_u8(&w, (uint8_t)(MQTT_PUBLISH << 4 | publish_flags_byte(pub)));
	wr_varint(&w, body);
	enc_publish_vh(&w, pub, version);
	ASSERT(w.n == hdr);
	return hdr;
}

/* 3.1.1: the QoS alone; 5.0 3.8.3.1 adds NL, RAP and Retain Handling. */
static uint8_t
sub_opts_byte(const struct mqtt_sub_opts *o, uint8_t version)
{
	ASSERT(o->qos <= 2 && o->retain_handling <= 2);
	if (version < MQTT_V5)
		return o->qos;
	return (uint8_t)(o->qos | (o->no_local ? 0x04 : 0) |
	    (o->retain_as_published ? 0x08 : 0) | o->retain_handling << 4);
}

size_t
mqtt_sub_append(uint8_t *buf, size_t cap, const char *filter,
    const struct mqtt_sub_opts *opts, uint8_t version)
{
	size_t len = strlen(filter);

	ASSERT(len <= UINT16_MAX);
	if (2 + len + 1 > cap)
		return 0;
	util_put_u16(buf, (uint16_t)len);
	memcpy(buf + 2, filter, len);
	buf[2 + len] = sub_opts_byte(opts, version);
	return 2 + len + 1;
}

size_t
mqtt_unsub_append(uint8_t *buf, size_t cap, const char *filter)
{
	size_t len = strlen(filter);

	ASSERT(len <= UINT16_MAX);
	if (2 + len > cap)
		return 0;
	util_put_u16(buf, (uint16_t)len);
	memcpy(buf + 2, filter, len);
	return 2 + len;
}
