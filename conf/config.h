/*
 * config.h - the configuration model and its pure parser.
 *
 * The file format is Mosquitto's: one "key value" per line, '#' starts a
 * comment line, blank lines ignored. "listener PORT [ADDRESS]" opens a
 * listener block; listener-scoped keys (protocol, max_connections) that
 * follow apply to the latest listener; every other key is global wherever
 * it appears. Keys are driven by one table of rows (name, type, offset,
 * min, max); unknown keys, missing or extra values, values out of range,
 * and listener-scoped keys before any listener are errors reported as
 * "FILE:LINE: message". Nothing is silently ignored.
 *
 * With no listener configured, one MQTT listener on 127.0.0.1:1883 is
 * implied (as Mosquitto 2.x does).
 *
 * Pure: libc and core/util.h only; reading the file is the caller's.
 */
#ifndef JUNCTION_CONFIG_H
#define JUNCTION_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

enum config_proto {
	CONFIG_PROTO_MQTT = 0,
	CONFIG_PROTO_STOMP = 1,
};

/* log_type bits */
enum config_log {
	CONFIG_LOG_ERROR = 1 << 0,
	CONFIG_LOG_WARNING = 1 << 1,
	CONFIG_LOG_NOTICE = 1 << 2,
	CONFIG_LOG_INFORMATION = 1 << 3,
	CONFIG_LOG_DEBUG = 1 << 4,
	CONFIG_LOG_ALL = 0x1f,
};

enum config_log_dest {
	CONFIG_LOG_DEST_STDERR = 0,
	CONFIG_LOG_DEST_STDOUT,
	CONFIG_LOG_DEST_FILE,
	CONFIG_LOG_DEST_NONE,
};

enum config_sync {
	CONFIG_SYNC_ALWAYS = 0,
	CONFIG_SYNC_INTERVAL,
	CONFIG_SYNC_NEVER,
};

enum config_corrupt {
	CONFIG_CORRUPT_QUARANTINE = 0, /* move it to *.bad, start empty */
	CONFIG_CORRUPT_REFUSE, /* refuse to start */
};

struct config_listener {
	uint16_t port; /* 0 = ephemeral (tests) */
	char address[64]; /* "" = all addresses (0.0.0.0) */
	enum config_proto protocol; /* default mqtt */
	uint32_t max_connections; /* 0 = unlimited */
	int line; /* where it was declared, for messages */
};

#define CONFIG_MAX_LISTENERS 16

/* What a full queue does with one more message. */
enum config_overflow {
	CONFIG_OVERFLOW_BLOCK = 0, /* keep it, stop reading the publisher */
	CONFIG_OVERFLOW_REJECT, /* refuse it: MQTT 5 0x97, STOMP ERROR */
	CONFIG_OVERFLOW_DROP_OLDEST,
	CONFIG_OVERFLOW_DROP_NEWEST,
};

/* Bits of struct config_queue.set: which options a queue line gave. */
#define CONFIG_Q_MAX_MESSAGES 0x1u
#define CONFIG_Q_MAX_BYTES 0x2u
#define CONFIG_Q_OVERFLOW 0x4u
#define CONFIG_Q_MAX_REDELIVERIES 0x8u

/* "queue NAME key=value ...": settings of one queue over the defaults. */
struct config_queue {
	char name[128];
	uint32_t max_messages;
	uint64_t max_bytes;
	uint32_t overflow; /* enum config_overflow */
	uint32_t max_redeliveries;
	unsigned set; /* CONFIG_Q_* */
	int line;
};

#define CONFIG_MAX_QUEUES 64

struct config {
	/* listeners */
	struct config_listener listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;

	/* security */
	bool allow_anonymous; /* default true */

	/* MQTT session limits (Mosquitto names and defaults) */
	uint32_t max_keepalive; /* s, 0..65535, default 65535 */
	uint32_t max_inflight_messages; /* 1..65535, default 20 */
	uint32_t
	    max_queued_messages; /* per session, default 1000; 0 = unlimited */
	uint64_t max_queued_bytes; /* per session, default 0 = unlimited */
	uint64_t memory_limit; /* bytes in all backlogs, 0 = none */
	uint32_t message_size_limit; /* payload bytes, default 0 = 268435455 */
	uint32_t max_packet_size; /* whole packet, default 0 = 268435460 */
	uint32_t max_topic_alias; /* 0..65535, default 10 */
	uint32_t persistent_client_expiration; /* s, 0 = never */
	bool retain_available; /* default true */
	uint32_t connect_timeout; /* s to send CONNECT after TCP, default 10 */
	uint32_t max_topic_levels; /* default 128 */
	uint32_t max_subscriptions; /* per client, 0 = unlimited; 10000 */

	/* STOMP (Junction keys) */
	uint32_t stomp_max_headers; /* header lines per frame, default 64 */
	uint32_t stomp_max_header_length; /* bytes per line, default 8192 */
	uint32_t stomp_heartbeat; /* ms offered both ways, 0 = none; 10000 */
	uint32_t stomp_heartbeat_grace_percent; /* silence allowed, 150 */
	uint32_t stomp_max_transaction_frames; /* buffered per conn, 1000 */

	/* queues (STOMP /queue/NAME, MQTT $queue/NAME) */
	uint32_t queue_overflow; /* enum config_overflow, default block */
	uint32_t queue_prefetch; /* STOMP prefetch default, 0 = the window */
	struct config_queue queues[CONFIG_MAX_QUEUES];
	size_t nqueues;
	uint32_t max_redeliveries; /* before dead-lettering, default 6 */
	uint32_t redelivery_delay; /* ms before the first redelivery, 0 */
	uint32_t redelivery_backoff; /* delay multiplier per attempt, 2 */
	uint32_t redelivery_delay_max; /* ms cap on the delay, 60000 */

	/* persistence */
	bool persistence; /* default false */
	char persistence_location[256]; /* directory, default "" = cwd */
	enum config_sync persistence_sync;
	uint32_t persistence_sync_interval; /* ms, with SYNC_INTERVAL */
	enum config_corrupt persistence_corrupt; /* unreadable store */
	uint64_t persistence_max_bytes; /* journal cap, 0 = none */

	/* logging */
	unsigned log_type; /* bits, default error|warning|notice|information */
	enum config_log_dest log_dest;
	char log_file[256]; /* with LOG_DEST_FILE */
};

/* Fill c with the defaults above (no listeners). */
void config_defaults(struct config *c);

/*
 * Parse text (len bytes, need not be NUL-terminated) on top of what c
 * holds (call config_defaults first). fname is used in messages only.
 * Returns 0, or -1 with "FILE:LINE: message" in err (errlen bytes).
 * Adds the implied default listener when the text declares none.
 */
int config_parse(struct config *c, const char *text, size_t len,
    const char *fname, char *err, size_t errlen) WUR;

/* The "queue NAME" settings for name, or NULL. */
const struct config_queue *config_queue_find(
    const struct config *c, const char *name, size_t len);

/* Effective payload size limit (message_size_limit, 0 mapped to the MQTT maximum). */
uint32_t config_message_size_limit(const struct config *c);

/*
 * Name of the i-th key the parser knows (listener included), NULL past the
 * last one: lets tests and docs check that every key is documented.
 */
const char *config_key_name(size_t i);

#endif
