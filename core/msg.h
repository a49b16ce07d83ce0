/*
 * msg.h - the immutable, reference-counted message.
 *
 * One allocation holds the header, topic, payload and the properties that
 * both protocols can carry. Once built a message never changes; every
 * subscriber, queue, retained slot and store record shares the one copy
 * by taking a reference. The refcount is a plain int: core runs on one
 * loop thread. id, store_refs and store_mark are the durable store's
 * bookkeeping (see store.h), not part of the message's content.
 *
 * User properties (MQTT 5) / custom headers (STOMP) are kept as a packed
 * run of pairs, each "u16 key length, key, u16 value length, value",
 * big-endian, in the order they were received (repeats allowed).
 *
 * Pure: libc only.
 */
#ifndef JUNCTION_MSG_H
#define JUNCTION_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

struct msg {
	int refs;
	uint64_t id; /* store id; 0 until the store assigns one */
	uint32_t store_refs; /* durable records naming it (store_disk.c) */
	uint32_t store_mark; /* compaction pass that last wrote its body */
	uint64_t expiry_at_ms; /* absolute wall-clock ms; 0 = never */
	uint8_t qos; /* QoS it was published with */
	bool retain; /* published with the retain flag */
	bool has_payload_format;
	uint8_t payload_format; /* MQTT 5: 0 bytes, 1 UTF-8 */
	uint16_t user_count; /* number of user property pairs */
	uint32_t topic_len;
	uint32_t content_type_len;
	uint32_t response_topic_len;
	uint32_t correlation_len;
	uint32_t user_len; /* bytes in the packed pair run */
	size_t payload_len;
	const char *topic; /* NUL-terminated */
	const char *content_type; /* NULL when absent */
	const char *response_topic; /* NULL when absent */
	const uint8_t *correlation; /* NULL when absent */
	const uint8_t *user; /* NULL when user_count == 0 */
	const uint8_t *payload;
	uint8_t data[];
};

/* What msg_new copies from; every pointer is borrowed. */
struct msg_init {
	const char *topic;
	size_t topic_len;
	const void *payload;
	size_t payload_len;
	uint8_t qos;
	bool retain;
	uint64_t expiry_at_ms;
	bool has_payload_format;
	uint8_t payload_format;
	const char *content_type; /* NULL = absent */
	size_t content_type_len;
	const char *response_topic;
	size_t response_topic_len;
	const void *correlation;
	size_t correlation_len;
	const void *user; /* packed pairs, see above */
	size_t user_len;
	uint16_t user_count;
};

/* Build a message (refs = 1) copying everything mi points to. */
struct msg *msg_new(const struct msg_init *mi);

/* Fill mi from an existing message (pointers borrowed from m). */
void msg_to_init(const struct msg *m, struct msg_init *mi);

/* Take a reference; returns m. */
static inline struct msg *
msg_ref(struct msg *m)
{
	ASSERT(m->refs > 0);
	m->refs++;
	return m;
}

/* Drop a reference; frees the message with the last one. */
void msg_unref(struct msg *m);

/* Bytes this message accounts for in queue byte limits. */
static inline size_t
msg_size(const struct msg *m)
{
	return m->payload_len + m->topic_len;
}

/* Has the message expired at now_ms? */
static inline bool
msg_is_expired(const struct msg *m, uint64_t now_ms)
{
	return m->expiry_at_ms != 0 && now_ms >= m->expiry_at_ms;
}

/*
 * Iterate user pairs: *off starts at 0; returns false at the end or on a
 * malformed run (never for a run built by msg_new from valid pairs).
 */
bool msg_user_next(const struct msg *m, size_t *off, const uint8_t **k,
    size_t *klen, const uint8_t **v, size_t *vlen);

#endif
