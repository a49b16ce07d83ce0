/*
 * mqtt_codec.h - pure MQTT 3.1 / 3.1.1 / 5.0 codec, both directions.
 *
 * Three pieces, no I/O and no allocation: framing (mqtt_frame_len says
 * whether a whole packet is in the buffer), decoding one complete packet
 * into a struct mqtt_packet whose strings are slices of the input buffer,
 * and encoding a struct mqtt_packet into a caller buffer. Server and
 * client packets are both handled, so the broker, the bridge, the bench
 * load generator and the tests share one codec.
 *
 * Decoding validates everything the standards make the receiver check
 * (each check cites its clause) and reports a malformed or protocol error
 * as an MQTT 5 reason code, which the adapter turns into a CONNACK or
 * DISCONNECT (5.0) or a plain close (3.x).
 *
 * May include core/util.h only.
 */
#ifndef JUNCTION_MQTT_CODEC_H
#define JUNCTION_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define MQTT_V31 3
#define MQTT_V311 4
#define MQTT_V5 5

/* Largest Remaining Length the 4-byte varint can carry (MQTT 2.2.3). */
#define MQTT_MAX_REMAINING 268435455u

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK,
	MQTT_PUBLISH,
	MQTT_PUBACK,
	MQTT_PUBREC,
	MQTT_PUBREL,
	MQTT_PUBCOMP,
	MQTT_SUBSCRIBE,
	MQTT_SUBACK,
	MQTT_UNSUBSCRIBE,
	MQTT_UNSUBACK,
	MQTT_PINGREQ,
	MQTT_PINGRESP,
	MQTT_DISCONNECT,
	MQTT_AUTH,
};

/* Returns "PUBLISH" etc., "?" for anything else. */
const char *mqtt_type_name(unsigned type);

/* MQTT 5 reason codes (5.0 section 2.4), one table. */
#define MQTT_REASONS(X) \
	X(SUCCESS, 0x00, "success") \
	X(GRANTED_QOS1, 0x01, "granted QoS 1") \
	X(GRANTED_QOS2, 0x02, "granted QoS 2") \
	X(DISCONNECT_WITH_WILL, 0x04, "disconnect with will message") \
	X(NO_MATCHING_SUBSCRIBERS, 0x10, "no matching subscribers") \
	X(NO_SUBSCRIPTION_EXISTED, 0x11, "no subscription existed") \
	X(CONTINUE_AUTH, 0x18, "continue authentication") \
	X(REAUTHENTICATE, 0x19, "re-authenticate") \
	X(UNSPECIFIED, 0x80, "unspecified error") \
	X(MALFORMED, 0x81, "malformed packet") \
	X(PROTOCOL_ERROR, 0x82, "protocol error") \
	X(IMPL_SPECIFIC, 0x83, "implementation specific error") \
	X(UNSUPPORTED_VERSION, 0x84, "unsupported protocol version") \
	X(CLIENT_ID_INVALID, 0x85, "client identifier not valid") \
	X(BAD_USER_OR_PASSWORD, 0x86, "bad user name or password") \
	X(NOT_AUTHORIZED, 0x87, "not authorized") \
	X(SERVER_UNAVAILABLE, 0x88, "server unavailable") \
	X(SERVER_BUSY, 0x89, "server busy") \
	X(BANNED, 0x8A, "banned") \
	X(SERVER_SHUTTING_DOWN, 0x8B, "server shutting down") \
	X(BAD_AUTH_METHOD, 0x8C, "bad authentication method") \
	X(KEEP_ALIVE_TIMEOUT, 0x8D, "keep alive timeout") \
	X(SESSION_TAKEN_OVER, 0x8E, "session taken over") \
	X(TOPIC_FILTER_INVALID, 0x8F, "topic filter invalid") \
	X(TOPIC_NAME_INVALID, 0x90, "topic name invalid") \
	X(PACKET_ID_IN_USE, 0x91, "packet identifier in use") \
	X(PACKET_ID_NOT_FOUND, 0x92, "packet identifier not found") \
	X(RECEIVE_MAX_EXCEEDED, 0x93, "receive maximum exceeded") \
	X(TOPIC_ALIAS_INVALID, 0x94, "topic alias invalid") \
	X(PACKET_TOO_LARGE, 0x95, "packet too large") \
	X(MESSAGE_RATE_TOO_HIGH, 0x96, "message rate too high") \
	X(QUOTA_EXCEEDED, 0x97, "quota exceeded") \
	X(ADMIN_ACTION, 0x98, "administrative action") \
	X(PAYLOAD_FORMAT_INVALID, 0x99, "payload format invalid") \
	X(RETAIN_NOT_SUPPORTED, 0x9A, "retain not supported") \
	X(QOS_NOT_SUPPORTED, 0x9B, "QoS not supported") \
	X(USE_ANOTHER_SERVER, 0x9C, "use another server") \
	X(SERVER_MOVED, 0x9D, "server moved") \
	X(SHARED_SUBS_NOT_SUPPORTED, 0x9E, \
	    "shared subscriptions not supported") \
	X(CONNECTION_RATE_EXCEEDED, 0x9F, "connection rate exceeded") \
	X(MAX_CONNECT_TIME, 0xA0, "maximum connect time") \
	X(SUB_IDS_NOT_SUPPORTED, 0xA1, \
	    "subscription identifiers not supported") \
	X(WILDCARD_SUBS_NOT_SUPPORTED, 0xA2, \
	    "wildcard subscriptions not supported")

enum mqtt_rc {
#define MQTT_RC_ENUM(name, code, text) MQTT_RC_##name = code,
	MQTT_REASONS(MQTT_RC_ENUM)
#undef MQTT_RC_ENUM
};

/* Human text for a reason code ("unknown reason" if not in the table). */
const char *mqtt_rc_text(unsigned rc);

/* MQTT 3.1 / 3.1.1 CONNACK return codes (3.1.1 table 3.1). */
enum mqtt_connack_v3 {
	MQTT_V3_ACCEPTED = 0,
	MQTT_V3_BAD_VERSION = 1,
	MQTT_V3_ID_REJECTED = 2,
	MQTT_V3_SERVER_UNAVAILABLE = 3,
	MQTT_V3_BAD_USER_OR_PASSWORD = 4,
	MQTT_V3_NOT_AUTHORIZED = 5,
};

/* Map a 5.0 CONNACK reason to the nearest 3.x return code. */
uint8_t mqtt_connack_rc_v3(uint8_t rc5);

enum mqtt_status {
	MQTT_OK = 0,
	MQTT_MORE = 1, /* framing: need more bytes */
	MQTT_ERR = 2, /* reason code says why */
};

struct mqtt_str {
	const char *p;
	size_t len;
};

struct mqtt_bin {
	const uint8_t *p;
	size_t len;
};

/* MQTT 5 property identifiers (5.0 section 2.2.2.2). */
enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT = 0x01,
	MQTT_PROP_MESSAGE_EXPIRY = 0x02,
	MQTT_PROP_CONTENT_TYPE = 0x03,
	MQTT_PROP_RESPONSE_TOPIC = 0x08,
	MQTT_PROP_CORRELATION_DATA = 0x09,
	MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
	MQTT_PROP_SESSION_EXPIRY = 0x11,
	MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
	MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
	MQTT_PROP_AUTH_METHOD = 0x15,
	MQTT_PROP_AUTH_DATA = 0x16,
	MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
	MQTT_PROP_WILL_DELAY = 0x18,
	MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
	MQTT_PROP_RESPONSE_INFO = 0x1A,
	MQTT_PROP_SERVER_REFERENCE = 0x1C,
	MQTT_PROP_REASON_STRING = 0x1F,
	MQTT_PROP_RECEIVE_MAX = 0x21,
	MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
	MQTT_PROP_TOPIC_ALIAS = 0x23,
	MQTT_PROP_MAX_QOS = 0x24,
	MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	MQTT_PROP_USER = 0x26,
	MQTT_PROP_MAX_PACKET_SIZE = 0x27,
	MQTT_PROP_WILDCARD_AVAILABLE = 0x28,
	MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
	MQTT_PROP_SHARED_AVAILABLE = 0x2A,
};

/* Bit for property id in struct mqtt_props.present. */
#define MQTT_PBIT(id) (1ull << (id))

/* Most subscription identifiers one outgoing PUBLISH carries. */
#define MQTT_MAX_SUB_IDS 32

/*
 * Decoded (or to-be-encoded) MQTT 5 properties. A field is meaningful only
 * when its MQTT_PBIT is set in present. Strings are slices.
 *
 * User properties: on decode, user_count pairs were seen and user_len is
 * the size they take in core's packed-pair form (see core/msg.h);
 * mqtt_props_user_copy() writes them in that form. On encode, user/
 * user_len/user_count give pairs in packed form and the encoder adds the
 * 0x26 identifier to each.
 */
struct mqtt_props {
	uint64_t present;
	uint8_t payload_format;
	uint32_t message_expiry;
	struct mqtt_str content_type;
	struct mqtt_str response_topic;
	struct mqtt_bin correlation_data;
	uint32_t sub_ids[MQTT_MAX_SUB_IDS]; /* decode keeps at most one */
	unsigned sub_id_count;
	uint32_t session_expiry;
	struct mqtt_str assigned_client_id;
	uint16_t server_keep_alive;
	struct mqtt_str auth_method;
	struct mqtt_bin auth_data;
	uint8_t request_problem_info;
	uint32_t will_delay;
	uint8_t request_response_info;
	struct mqtt_str response_info;
	struct mqtt_str server_reference;
	struct mqtt_str reason_string;
	uint16_t receive_max;
	uint16_t topic_alias_max;
	uint16_t topic_alias;
	uint8_t max_qos;
	uint8_t retain_available;
	uint32_t max_packet_size;
	uint8_t wildcard_available;
	uint8_t sub_id_available;
	uint8_t shared_available;
	/* user properties */
	const uint8_t *raw; /* decode: the whole property block */
	size_t raw_len;
	const uint8_t *user; /* encode: packed pairs */
	size_t user_len; /* decode and encode: packed-form size */
	uint16_t user_count;
};

/* Copy the decoded user pairs in packed form into dst (props->user_len bytes). */
void mqtt_props_user_copy(const struct mqtt_props *props, uint8_t *dst);

struct mqtt_connect {
	struct mqtt_str proto_name; /* "MQTT" or "MQIsdp" */
	uint8_t version; /* 3, 4 or 5 */
	bool clean; /* clean session (3.x) / clean start (5) */
	uint16_t keep_alive;
	struct mqtt_str client_id;
	bool has_will;
	uint8_t will_qos;
	bool will_retain;
	struct mqtt_str will_topic;
	struct mqtt_bin will_payload;
	struct mqtt_props will_props;
	bool has_username;
	struct mqtt_str username;
	bool has_password;
	struct mqtt_bin password;
	struct mqtt_props props;
};

struct mqtt_connack {
	bool session_present;
	uint8_t rc; /* 5.0 reason code, or 3.x return code for versions 3/4 */
	struct mqtt_props props;
};

struct mqtt_publish {
	uint8_t qos;
	bool dup;
	bool retain;
	struct mqtt_str topic; /* may be empty in 5.0 with a topic alias */
	uint16_t packet_id; /* only when qos > 0 */
	struct mqtt_bin payload;
	struct mqtt_props props;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP (reason 0 and no props in 3.x). */
struct mqtt_ack {
	uint16_t packet_id;
	uint8_t rc;
	struct mqtt_props props;
};

/*
 * SUBSCRIBE / UNSUBSCRIBE: the topic list is walked with mqtt_sub_next /
 * mqtt_unsub_next over [list, list + list_len). Decode has already
 * validated every entry (well-formed strings, reserved option bits,
 * at least one entry: MQTT-3.8.3-3, MQTT-3.10.3-2).
 * For SUBACK / UNSUBACK: codes[count] (reason/return codes).
 */
struct mqtt_subscribe {
	uint16_t packet_id;
	struct mqtt_props props;
	const uint8_t *list;
	size_t list_len;
	size_t count;
};

/* SUBACK and UNSUBACK (UNSUBACK has no codes in 3.x). */
struct mqtt_suback {
	uint16_t packet_id;
	struct mqtt_props props;
	const uint8_t *codes;
	size_t count;
};

/* DISCONNECT (5.0 reason + props) and AUTH. */
struct mqtt_disconnect {
	uint8_t rc;
	struct mqtt_props props;
};

struct mqtt_packet {
	uint8_t type; /* enum mqtt_type */
	uint8_t flags; /* low nibble of the fixed header */
	union {
		struct mqtt_connect connect;
		struct mqtt_connack connack;
		struct mqtt_publish publish;
		struct mqtt_ack ack;
		struct mqtt_subscribe subscribe; /* and UNSUBSCRIBE */
		struct mqtt_suback suback; /* and UNSUBACK */
		struct mqtt_disconnect disconnect; /* and AUTH */
	} u;
};

/* Subscription options byte (3.1.1: just the QoS). */
struct mqtt_sub_opts {
	uint8_t qos;
	bool no_local;
	bool retain_as_published;
	uint8_t retain_handling;
};

/*
 * Framing: is a whole packet at buf? MQTT_OK sets *frame_len (fixed header
 * + remaining length); MQTT_MORE needs more bytes; MQTT_ERR for a
 * Remaining Length longer than 4 bytes (MQTT-2.2.3, 1.5.5).
 */
int mqtt_frame_len(const uint8_t *buf, size_t len, size_t *frame_len) WUR;

/*
 * Decode one complete packet (exactly frame_len bytes from
 * mqtt_frame_len). version is the session's protocol level (0 before
 * CONNECT: only CONNECT is then decodable; CONNECT carries its own).
 * Slices in *pkt point into buf. On MQTT_ERR, *rc is MQTT_RC_MALFORMED,
 * MQTT_RC_PROTOCOL_ERROR, MQTT_RC_UNSUPPORTED_VERSION (CONNECT with an
 * unknown level or name: pkt->u.connect.version is still set so the
 * caller can answer in the right version) etc.
 *
 * Checks made here (not by the caller): fixed-header flag bits
 * (MQTT-2.2.2-1/2), QoS 3 and DUP with QoS 0, packet id 0 where one is
 * required (MQTT-2.3.1-1), UTF-8 well-formedness and U+0000
 * (MQTT-1.5.3-1/2), CONNECT reserved flag (MQTT-3.1.2-3) and flag
 * combinations (will flags MQTT-3.1.2-11/13/15, password without user in
 * 3.1.1 MQTT-3.1.2-22), remaining length matching the content, empty
 * SUBSCRIBE/UNSUBSCRIBE, reserved subscription option bits, retain
 * handling 3, 5.0 property validity (allowed in this packet type, not
 * duplicated unless repeatable, values in range).
 * Not checked here (needs session state or config): topic wildcards in
 * PUBLISH, filter syntax, client-id rules, limits, topic alias ranges.
 */
int mqtt_decode(const uint8_t *buf, size_t frame_len, uint8_t version,
    struct mqtt_packet *pkt, uint8_t *rc) WUR;

/* Walk a decoded SUBSCRIBE list; *off starts at 0; false at the end. */
bool mqtt_sub_next(const struct mqtt_subscribe *s, uint8_t version, size_t *off,
    struct mqtt_str *filter, struct mqtt_sub_opts *opts);

/* Walk a decoded UNSUBSCRIBE list. */
bool mqtt_unsub_next(
    const struct mqtt_subscribe *s, size_t *off, struct mqtt_str *filter);

/*
 * Encoding. mqtt_encode_len returns the full size of pkt encoded for
 * version; mqtt_encode writes it into buf (cap bytes) and returns the
 * bytes written, or 0 if cap is too small. For PUBLISH the payload is
 * included; see mqtt_encode_publish_header for the zero-copy path.
 * For SUBSCRIBE/UNSUBSCRIBE, list/list_len are already in wire form
 * (built with mqtt_sub_append / mqtt_unsub_append).
 * Properties are written only for version 5, and only those present.
 * In 5.0, short forms are used where allowed: an ack with rc 0 and no
 * properties is written without them (MQTT 3.4.2.1), a DISCONNECT with
 * rc 0 and no properties has remaining length 0.
 */
size_t mqtt_encode_len(const struct mqtt_packet *pkt, uint8_t version);
size_t mqtt_encode(
    uint8_t *buf, size_t cap, const struct mqtt_packet *pkt, uint8_t version);

/*
 * Everything of a PUBLISH except the payload bytes: the fixed header's
 * remaining length counts the payload. Returns bytes written (0 if cap is
 * too small). *total gets the full packet size including the payload.
 */
size_t mqtt_encode_publish_header(uint8_t *buf, size_t cap,
    const struct mqtt_publish *pub, uint8_t version, size_t *total);

/* Client side helpers for building a SUBSCRIBE / UNSUBSCRIBE list. */
size_t mqtt_sub_append(uint8_t *buf, size_t cap, const char *filter,
    const struct mqtt_sub_opts *opts, uint8_t version);
size_t mqtt_unsub_append(uint8_t *buf, size_t cap, const char *filter);

/* Variable byte integer helpers (MQTT 1.5.5). */
size_t mqtt_varint_len(uint32_t v);
size_t mqtt_varint_put(uint8_t *buf, uint32_t v);

/* Is [p, p+len) a well-formed MQTT UTF-8 string (no U+0000, no surrogates)? */
bool mqtt_utf8_is_valid(const char *p, size_t len);

#endif
