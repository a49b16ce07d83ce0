/*
 * stomp_dest.h - STOMP destinations <-> core topics and queues.
 *
 * STOMP treats destinations as opaque strings (STOMP 1.2: Protocol
 * Overview); Junction gives them RabbitMQ / ActiveMQ meaning, as agreed in
 * DESIGN.md "Topics, queues and the mapping between protocols":
 *
 *   /topic/NAME   a core topic. In NAME '.' separates levels and '/'
 *                 stands for a '.' inside a level; the core topic swaps
 *                 the two: /topic/a.b.c <-> a/b/c, /topic/a/b.c <-> a.b/c.
 *                 Every other byte is kept. Empty levels are kept too
 *                 (/topic/a..b <-> a//b, /topic/.a <-> /a).
 *   /queue/NAME   the core queue NAME, verbatim (MQTT clients reach it as
 *                 $queue/NAME).
 *
 * In a SUBSCRIBE filter a whole level '*' is '+', '#' is '#', and
 * ActiveMQ's '>' is '#'; '#' and '>' must be the last level. A wildcard
 * byte inside a longer level ("a*") is refused rather than guessed at.
 *
 * Topic names (SEND, MESSAGE) carry no wildcards: '+' and '#' are refused
 * (MQTT topic names cannot hold them), while '*' and '>' are plain bytes,
 * because MQTT topic names may contain them. So the mapping between valid
 * core topic names and accepted STOMP topic names is an exact bijection:
 * stomp_dest_parse(stomp_dest_from_topic(t)) == t for every valid name t,
 * and the reverse for every name stomp_dest_parse accepts.
 *
 * Names must be non-empty, well-formed UTF-8 without U+0000 (MQTT 1.5.4,
 * so MQTT subscribers can receive them). Length and depth limits are the
 * caller's (the output capacity bounds the length).
 *
 * Pure: libc and core/util.h only.
 */
#ifndef JUNCTION_STOMP_DEST_H
#define JUNCTION_STOMP_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

enum stomp_dest_kind {
	STOMP_DEST_TOPIC = 1,
	STOMP_DEST_QUEUE,
};

/* Errors, one table: X(name, text); the text suits an ERROR message. */
#define STOMP_DEST_ERRORS(X) \
	X(OK, "ok") \
	X(BAD_PREFIX, "destination must start with /topic/ or /queue/") \
	X(EMPTY, "empty destination name") \
	X(BAD_WILDCARD, "wildcard must be a whole level, '#' and '>' last") \
	X(WILDCARD_IN_NAME, "wildcards are not allowed here") \
	X(BAD_UTF8, "destination is not valid UTF-8 or contains NUL") \
	X(TOO_LONG, "destination too long")

enum stomp_dest_err {
#define STOMP_DEST_ENUM(name, text) STOMP_DEST_E_##name,
	STOMP_DEST_ERRORS(STOMP_DEST_ENUM)
#undef STOMP_DEST_ENUM
	    STOMP_DEST_E_COUNT
};

/* Text for an error ("unknown error" if out of range). */
const char *stomp_dest_err_text(enum stomp_dest_err err);

/*
 * Map the destination [dest, dest + len) to a core topic name
 * (is_filter false: SEND), a core topic filter (is_filter true:
 * SUBSCRIBE), or a queue name. On STOMP_DEST_E_OK, *kind is set and the
 * name (not NUL-terminated) is in out[0 .. *out_len); it is never longer
 * than the destination minus its prefix. On error, out is scratch.
 * Queue names refuse '+' and '#' (they must also be MQTT topic levels
 * under $queue/), and '*' and '>' when is_filter (no wildcard queues).
 */
enum stomp_dest_err stomp_dest_parse(const char *dest, size_t len, char *out,
    size_t cap, bool is_filter, enum stomp_dest_kind *kind,
    size_t *out_len) WUR;

/*
 * The destination header for a MESSAGE from core topic name [topic,
 * topic + len): "/topic/" and the name with '/' and '.' swapped. Returns
 * bytes written into buf (not NUL-terminated), 0 if cap is too small.
 * The topic is trusted (a core topic name); the result is len + 7 bytes.
 */
size_t stomp_dest_from_topic(
    const char *topic, size_t len, char *buf, size_t cap);

/* "/queue/" + name, verbatim; bytes written or 0 if cap is too small. */
size_t stomp_dest_from_queue(
    const char *name, size_t len, char *buf, size_t cap);

#endif
