/*
 * test_config.c - unit tests for conf/config.c: defaults, every key with
 * valid, boundary and invalid values, exact error messages, the line
 * syntax, listener blocks, and every shipped conf/ file.
 *
 * Shipped files are found under $JUNCTION_SRC/conf, or ./conf when the
 * variable is unset (the suite runs from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

static struct config cfg;
static char err[512];

/* Parse text on fresh defaults as "t.conf". */
static int
parse(const char *text)
{
	config_defaults(&cfg);
	err[0] = '\0';
	return config_parse(
	    &cfg, text, strlen(text), "t.conf", err, sizeof(err));
}

static void
expect_ok(const char *text)
{
	int r = parse(text);

	if (r != 0)
		fail_msg("'%s' failed: %s", text, err);
}

static void
expect_err(const char *text, const char *msg)
{
	if (parse(text) == 0)
		fail_msg("'%s' parsed, expected '%s'", text, msg);
	assert_string_equal(err, msg);
}

/* Fails and the message starts with "t.conf:1: " and holds sub. */
static void
expect_fail(const char *text, const char *sub)
{
	if (parse(text) == 0)
		fail_msg("'%s' parsed, expected an error", text);
	if (strncmp(err, "t.conf:", 7) != 0 || strstr(err, sub) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", text, err, sub);
}

/* ---- queue lines -------------------------------------------------------- */

static void
test_queue_lines(void **state)
{
	const struct config_queue *q;

	(void)state;
	expect_ok("queue jobs max_messages=10 overflow=drop_oldest\n"
	          "queue mail max_redeliveries=3 max_bytes=4096\n"
	          "queue_overflow reject\nqueue_prefetch 5\n");
	assert_int_equal(cfg.nqueues, 2);
	assert_int_equal(cfg.queue_overflow, CONFIG_OVERFLOW_REJECT);
	assert_int_equal(cfg.queue_prefetch, 5);
	q = config_queue_find(&cfg, "jobs", 4);
	assert_non_null(q);
	assert_int_equal(q->max_messages, 10);
	assert_int_equal(q->overflow, CONFIG_OVERFLOW_DROP_OLDEST);
	assert_int_equal(q->set, CONFIG_Q_MAX_MESSAGES | CONFIG_Q_OVERFLOW);
	q = config_queue_find(&cfg, "mail", 4);
	assert_int_equal(q->max_redeliveries, 3);
	assert_int_equal(q->max_bytes, 4096);
	assert_null(config_queue_find(&cfg, "job", 3));
	expect_ok("queue bare\n");
	expect_fail("queue\n", "needs a name");
	expect_fail("queue a overflow=sometimes\n", "overflow");
	expect_fail("queue a max_redeliveries=0\n", "max_redeliveries");
	expect_fail("queue a colour=red\n", "unknown 'queue' option 'colour'");
	expect_fail("queue a max_messages\n", "key=value");
	expect_fail("queue a\nqueue a\n", "configured twice");
	expect_fail("queue_overflow drop\n", "queue_overflow");
}

/* ---- defaults ---------------------------------------------------------- */

static void
test_defaults(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.nlisteners, 0);
	assert_true(cfg.allow_anonymous);
	assert_int_equal(cfg.max_keepalive, 65535);
	assert_int_equal(cfg.max_inflight_messages, 20);
	assert_int_equal(cfg.max_queued_messages, 1000);
	assert_int_equal(cfg.max_queued_bytes, 0);
	assert_int_equal(cfg.message_size_limit, 0);
	assert_int_equal(cfg.max_packet_size, 0);
	assert_int_equal(cfg.max_topic_alias, 10);
	assert_int_equal(cfg.persistent_client_expiration, 0);
	assert_true(cfg.retain_available);
	assert_int_equal(cfg.connect_timeout, 10);
	assert_int_equal(cfg.max_topic_levels, 128);
	assert_int_equal(cfg.max_redeliveries, 6);
	assert_int_equal(cfg.redelivery_delay, 0);
	assert_int_equal(cfg.redelivery_backoff, 2);
	assert_int_equal(cfg.redelivery_delay_max, 60000);
	assert_false(cfg.persistence);
	assert_string_equal(cfg.persistence_location, "");
	assert_int_equal(cfg.persistence_sync, CONFIG_SYNC_ALWAYS);
	assert_int_equal(cfg.persistence_sync_interval, 100);
	assert_int_equal(cfg.log_type,
	    CONFIG_LOG_ERROR | CONFIG_LOG_WARNING | CONFIG_LOG_NOTICE |
	        CONFIG_LOG_INFORMATION);
	assert_int_equal(cfg.log_dest, CONFIG_LOG_DEST_STDERR);
	assert_string_equal(cfg.log_file, "");
}

static void
test_empty_text_implies_listener(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, NULL, 0, "t", err, sizeof(err)), 0);
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].port, 1883);
	assert_string_equal(cfg.listeners[0].address, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].protocol, CONFIG_PROTO_MQTT);
	assert_int_equal(cfg.listeners[0].max_connections, 0);
	assert_int_equal(cfg.max_keepalive, 65535);
}

static void
test_message_size_limit(void **state)
{
	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_message_size_limit(&cfg), 268435455);
	expect_ok("message_size_limit 1024\n");
	assert_int_equal(config_message_size_limit(&cfg), 1024);
}

/* ---- numeric keys, table-driven ---------------------------------------- */

struct num_key {
	const char *name;
	size_t off;
	size_t size;
	uint64_t min;
	uint64_t max;
	bool zero_ok; /* 0 accepted below min */
};

#define NUM(m, lo, hi, z) \
	{ \
#m, offsetof(struct config, m), \
		    sizeof(((struct config *)0)->m), lo, hi, z \
	}

static const struct num_key num_keys[] = {
    NUM(max_keepalive, 0, 65535, false),
    NUM(max_inflight_messages, 1, 65535, false),
    NUM(max_queued_messages, 0, UINT32_MAX, false),
    NUM(max_queued_bytes, 0, UINT64_MAX, false),
    NUM(message_size_limit, 0, 268435455, false),
    NUM(max_packet_size, 20, 268435460, true),
    NUM(max_topic_alias, 0, 65535, false),
    NUM(connect_timeout, 1, 3600, false),
    NUM(max_topic_levels, 1, 65535, false),
    NUM(max_subscriptions, 0, UINT32_MAX, false),
    NUM(max_redeliveries, 1, 1000, false),
    NUM(redelivery_delay, 0, 3600000, false),
    NUM(redelivery_backoff, 1, 100, false),
    NUM(redelivery_delay_max, 0, 3600000, false),
    NUM(persistence_sync_interval, 1, 60000, false),
    NUM(persistent_client_expiration, 0, UINT32_MAX, false),
};

static uint64_t
num_get(const struct num_key *k)
{
	const char *p = (const char *)&cfg + k->off;
	uint32_t u32;
	uint64_t u64;

	if (k->size == sizeof(u64)) {
		memcpy(&u64, p, sizeof(u64));
		return u64;
	}
	memcpy(&u32, p, sizeof(u32));
	return u32;
}

static void
num_ok(const struct num_key *k, uint64_t v)
{
	char line[128];

	snprintf(line, sizeof(line), "%s %" PRIu64 "\n", k->name, v);
	expect_ok(line);
	assert_int_equal(num_get(k), v);
}

static void
num_bad(const struct num_key *k, const char *value)
{
	char line[128];

	snprintf(line, sizeof(line), "%s %s\n", k->name, value);
	expect_fail(line, k->name);
}

static void
test_numeric_keys(void **state)
{
	static const char *const junk[] = {"abc", "-1", "+1", "0x10", "1.5",
	    "1e3", "12abc", " 99999999999999999999999"};
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(num_keys); i++) {
		const struct num_key *k = &num_keys[i];

		num_ok(k, k->min);
		num_ok(k, k->max);
		num_ok(k, k->min + 1);
		if (k->zero_ok)
			num_ok(k, 0);
		else if (k->min > 0)
			num_bad(k, "0");
		if (k->max < UINT64_MAX) {
			char v[32];

			snprintf(v, sizeof(v), "%" PRIu64, k->max + 1);
			num_bad(k, v);
		}
		if (k->zero_ok)
			num_bad(k, "19");
		for (size_t j = 0; j < ARRAY_LEN(junk); j++)
			num_bad(k, junk[j]);
	}
}

static void
test_numeric_overflow(void **state)
{
	(void)state;
	expect_ok("max_queued_bytes 18446744073709551615\n");
	assert_true(cfg.max_queued_bytes == UINT64_MAX);
	expect_fail(
	    "max_queued_bytes 18446744073709551616\n", "max_queued_bytes");
	expect_fail("max_queued_messages 4294967296\n", "max_queued_messages");
	expect_ok("max_keepalive 00060\n");
	assert_int_equal(cfg.max_keepalive, 60);
}

static void
test_numeric_messages(void **state)
{
	(void)state;
	expect_err("max_keepalive 65536\n",
	    "t.conf:1: 'max_keepalive' must "
	    "be an integer between 0 and 65535");
	expect_err("max_inflight_messages 0\n",
	    "t.conf:1: "
	    "'max_inflight_messages' must be an integer between 1 and 65535 "
	    "(Mosquitto's 0 = unlimited is not supported)");
	expect_err("max_packet_size 19\n",
	    "t.conf:1: 'max_packet_size' "
	    "must be 0 or an integer between 20 and 268435460");
	expect_err("max_keepalive\n",
	    "t.conf:1: 'max_keepalive' needs a "
	    "value");
	expect_err("max_keepalive 1 2\n",
	    "t.conf:1: 'max_keepalive' takes "
	    "one value, not '2'");
}

/* ---- durations --------------------------------------------------------- */

static void
expect_expiration(const char *value, uint32_t seconds)
{
	char line[128];

	snprintf(
	    line, sizeof(line), "persistent_client_expiration %s\n", value);
	expect_ok(line);
	assert_int_equal(cfg.persistent_client_expiration, seconds);
}

static void
test_expiration_units(void **state)
{
	(void)state;
	expect_expiration("0", 0);
	expect_expiration("0d", 0);
	expect_expiration("90", 90);
	expect_expiration("2h", 7200);
	expect_expiration("2d", 172800);
	expect_expiration("1w", 604800);
	expect_expiration("1m", 2592000);
	expect_expiration("1y", 31536000);
	expect_expiration("136y", 136u * 31536000u);
	expect_fail("persistent_client_expiration 137y\n", "at most");
	expect_fail("persistent_client_expiration d\n", "followed by h");
	expect_fail("persistent_client_expiration 2s\n", "followed by h");
	expect_fail("persistent_client_expiration 2D\n", "followed by h");
	expect_fail("persistent_client_expiration 2dd\n", "followed by h");
	expect_fail("persistent_client_expiration -1\n", "followed by h");
	expect_fail("persistent_client_expiration 99999999999999999999y\n",
	    "followed by h");
	expect_fail("persistent_client_expiration\n", "needs a value");
	expect_fail("persistent_client_expiration 1d 2\n", "one value");
}

/* ---- booleans, enums, strings ------------------------------------------ */

static void
test_bool_keys(void **state)
{
	static const char *const keys[] = {
	    "allow_anonymous", "retain_available", "persistence"};
	static const char *const bad[] = {
	    "True", "1", "yes", "on", "0", "truee"};
	char line[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		snprintf(line, sizeof(line), "%s false\n%s true\n", keys[i],
		    keys[i]);
		expect_ok(line);
		for (size_t j = 0; j < ARRAY_LEN(bad); j++) {
			snprintf(
			    line, sizeof(line), "%s %s\n", keys[i], bad[j]);
			expect_fail(line, "must be true or false");
		}
	}
	expect_ok("allow_anonymous false\nretain_available false\n"
	          "persistence true\n");
	assert_false(cfg.allow_anonymous);
	assert_false(cfg.retain_available);
	assert_true(cfg.persistence);
	expect_err("allow_anonymous maybe\n",
	    "t.conf:1: 'allow_anonymous' "
	    "must be true or false");
}

static void
test_persistence_sync(void **state)
{
	(void)state;
	expect_ok("persistence_sync never\n");
	assert_int_equal(cfg.persistence_sync, CONFIG_SYNC_NEVER);
	expect_ok("persistence_sync interval\npersistence_sync_interval 5\n");
	assert_int_equal(cfg.persistence_sync, CONFIG_SYNC_INTERVAL);
	assert_int_equal(cfg.persistence_sync_interval, 5);
	expect_ok("persistence_sync never\npersistence_sync always\n");
	assert_int_equal(cfg.persistence_sync, CONFIG_SYNC_ALWAYS);
	expect_err("persistence_sync sometimes\n",
	    "t.conf:1: "
	    "'persistence_sync' must be always, never or interval");
	expect_fail("persistence_sync\n", "needs a value");
	expect_fail("persistence_sync always never\n", "one value");
}

static void
test_persistence_store_keys(void **state)
{
	(void)state;
	expect_ok("persistence true\n");
	assert_int_equal(cfg.persistence_corrupt, CONFIG_CORRUPT_QUARANTINE);
	assert_int_equal(cfg.persistence_max_bytes, 0);
	expect_ok("persistence_corrupt refuse\npersistence_max_bytes "
	          "10000000000\n");
	assert_int_equal(cfg.persistence_corrupt, CONFIG_CORRUPT_REFUSE);
	assert_int_equal(cfg.persistence_max_bytes, 10000000000ull);
	expect_fail("persistence_corrupt ignore\n", "must be");
	expect_fail("persistence_max_bytes -1\n", "");
}

static void
test_persistence_location(void **state)
{
	char line[400];

	(void)state;
	expect_ok("persistence_location /var/lib/junction\n");
	assert_string_equal(cfg.persistence_location, "/var/lib/junction");
	expect_ok("persistence_location /srv/my data/ \r\n");
	assert_string_equal(cfg.persistence_location, "/srv/my data/");
	snprintf(line, sizeof(line), "persistence_location /%0254d\n", 0);
	expect_ok(line);
	assert_int_equal(strlen(cfg.persistence_location), 255);
	snprintf(line, sizeof(line), "persistence_location /%0255d\n", 0);
	expect_err(line,
	    "t.conf:1: 'persistence_location' is longer than "
	    "255 bytes");
	expect_err("persistence_location   \n",
	    "t.conf:1: "
	    "'persistence_location' needs a value");
}

/* ---- logging ----------------------------------------------------------- */

static void
test_log_type(void **state)
{
	(void)state;
	expect_ok("log_type error\n");
	assert_int_equal(cfg.log_type, CONFIG_LOG_ERROR);
	expect_ok("log_type debug\nlog_type warning\n");
	assert_int_equal(cfg.log_type, CONFIG_LOG_DEBUG | CONFIG_LOG_WARNING);
	expect_ok("log_type all\n");
	assert_int_equal(cfg.log_type, CONFIG_LOG_ALL);
	expect_ok("log_type none\n");
	assert_int_equal(cfg.log_type, 0);
	expect_ok("log_type all\nlog_type none\n");
	assert_int_equal(cfg.log_type, 0);
	expect_ok("log_type none\nlog_type notice\nlog_type information\n");
	assert_int_equal(
	    cfg.log_type, CONFIG_LOG_NOTICE | CONFIG_LOG_INFORMATION);
	expect_err("log_type subscribe\n",
	    "t.conf:1: 'log_type' must be "
	    "error, warning, notice, information, debug, all or none");
	expect_fail("log_type error warning\n", "one value");
	expect_fail("log_type\n", "needs a value");
}

static void
test_log_dest(void **state)
{
	char line[400];

	(void)state;
	expect_ok("log_dest stdout\n");
	assert_int_equal(cfg.log_dest, CONFIG_LOG_DEST_STDOUT);
	expect_ok("log_dest none\n");
	assert_int_equal(cfg.log_dest, CONFIG_LOG_DEST_NONE);
	expect_ok("log_dest file /var/log/junction.log\n");
	assert_int_equal(cfg.log_dest, CONFIG_LOG_DEST_FILE);
	assert_string_equal(cfg.log_file, "/var/log/junction.log");
	expect_ok("log_dest file /tmp/a b.log\nlog_dest stderr\n");
	assert_int_equal(cfg.log_dest, CONFIG_LOG_DEST_STDERR);
	assert_string_equal(cfg.log_file, "");
	expect_err("log_dest file\n",
	    "t.conf:1: 'log_dest file' needs a "
	    "value");
	expect_err("log_dest stderr x\n",
	    "t.conf:1: 'log_dest stderr' takes "
	    "no value, not 'x'");
	expect_err("log_dest syslog\n",
	    "t.conf:1: 'log_dest' must be "
	    "stderr, stdout, none or file");
	expect_fail("log_dest\n", "needs a value");
	snprintf(line, sizeof(line), "log_dest file /%0255d\n", 0);
	expect_fail(line, "longer than 255 bytes");
}

/* ---- line syntax ------------------------------------------------------- */

static void
test_comments_blank_crlf(void **state)
{
	(void)state;
	expect_ok("# a comment\n\n   \n\t# indented comment\r\n"
	          "max_keepalive 30   \t\r\n"
	          "\r\n"
	          "  max_topic_alias\t\t7\n"
	          "#max_keepalive 99\n"
	          "max_topic_levels 9");
	assert_int_equal(cfg.max_keepalive, 30);
	assert_int_equal(cfg.max_topic_alias, 7);
	assert_int_equal(cfg.max_topic_levels, 9);
	expect_ok("");
	expect_ok("\n\n\n");
	expect_ok("#");
}

static void
test_line_numbers(void **state)
{
	(void)state;
	expect_err("# one\r\n\r\nmax_keepalive 1\r\nfoo bar\r\n",
	    "t.conf:4: unknown key 'foo'");
	expect_err("\n\n\n\n\nmax_keepalive x",
	    "t.conf:6: 'max_keepalive' "
	    "must be an integer between 0 and 65535");
}

static void
test_bad_lines(void **state)
{
	char big[2048];

	(void)state;
	expect_err("foo 1\n", "t.conf:1: unknown key 'foo'");
	expect_err("Max_keepalive 1\n",
	    "t.conf:1: unknown key "
	    "'Max_keepalive'");
	expect_err("port 1883\n", "t.conf:1: unknown key 'port'");
	expect_fail("max_keepalive 1 # trailing comment\n", "one value");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_fail(big, "line is longer than 1023 bytes");
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, "max_keepalive 1\0x\n", 18, "t",
	                     err, sizeof(err)),
	    -1);
	assert_string_equal(err, "t:1: line holds a NUL byte");
}

/* The text is len bytes and need not be NUL-terminated. */
static void
test_length_bounded(void **state)
{
	const char text[] = "max_keepalive 123456789";

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(
	    config_parse(&cfg, text, 17, "t", err, sizeof(err)), 0);
	assert_int_equal(cfg.max_keepalive, 123);
}

/* A small or absent error buffer is never overrun. */
static void
test_error_buffer(void **state)
{
	char small[8];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_parse(&cfg, "foo", 3, "t", NULL, 0), -1);
	memset(small, 'x', sizeof(small));
	assert_int_equal(config_parse(&cfg, "foo", 3, "long-name.conf", small,
	                     sizeof(small)),
	    -1);
	assert_string_equal(small, "long-na");
	assert_int_equal(
	    config_parse(&cfg, "foo", 3, "t", small, sizeof(small)), -1);
	assert_string_equal(small, "t:1: un");
}

/* ---- listeners --------------------------------------------------------- */

static void
test_listener_block(void **state)
{
	(void)state;
	expect_ok("max_keepalive 5\n"
	          "listener 1883\n"
	          "max_connections 100\n"
	          "allow_anonymous false\n"
	          "listener 61613 ::1\n"
	          "protocol stomp\n"
	          "max_connections -1\n"
	          "listener 0 localhost\n");
	assert_int_equal(cfg.nlisteners, 3);
	assert_int_equal(cfg.listeners[0].port, 1883);
	assert_string_equal(cfg.listeners[0].address, "");
	assert_int_equal(cfg.listeners[0].protocol, CONFIG_PROTO_MQTT);
	assert_int_equal(cfg.listeners[0].max_connections, 100);
	assert_int_equal(cfg.listeners[0].line, 2);
	assert_int_equal(cfg.listeners[1].port, 61613);
	assert_string_equal(cfg.listeners[1].address, "::1");
	assert_int_equal(cfg.listeners[1].protocol, CONFIG_PROTO_STOMP);
	assert_int_equal(cfg.listeners[1].max_connections, 0);
	assert_int_equal(cfg.listeners[1].line, 5);
	assert_int_equal(cfg.listeners[2].port, 0);
	assert_string_equal(cfg.listeners[2].address, "localhost");
	assert_false(cfg.allow_anonymous);
	assert_int_equal(cfg.max_keepalive, 5);
}

static void
test_listener_values(void **state)
{
	char line[128];

	(void)state;
	expect_ok("listener 65535 0.0.0.0\n");
	expect_ok("listener 8883 fe80::1%eth0\n");
	expect_ok("listener 1883 broker-1.example.com\n");
	snprintf(line, sizeof(line), "listener 1 %063d\n", 0);
	expect_ok(line);
	snprintf(line, sizeof(line), "listener 1 %064d\n", 0);
	expect_err(line,
	    "t.conf:1: 'listener' address is longer than 63 "
	    "bytes");
	expect_err("listener\n", "t.conf:1: 'listener' needs a port");
	expect_err("listener 65536\n",
	    "t.conf:1: 'listener' port must be an "
	    "integer between 0 and 65535");
	expect_fail("listener -1\n", "port must be");
	expect_fail("listener http\n", "port must be");
	expect_fail("listener 1883 a/b\n", "not an IP address");
	expect_fail("listener 1883 [::1]\n", "not an IP address");
	expect_err("listener 1883 127.0.0.1 mqtt\n",
	    "t.conf:1: 'listener' "
	    "takes a port and an address, not 'mqtt'");
}

static void
test_listener_keys(void **state)
{
	(void)state;
	expect_err("protocol mqtt\n",
	    "t.conf:1: 'protocol' must follow a "
	    "'listener' line");
	expect_fail("max_connections 5\nlistener 1883\n", "must follow");
	expect_err("listener 1\nprotocol websockets\n",
	    "t.conf:2: 'protocol' "
	    "must be mqtt or stomp");
	expect_ok("listener 1\nmax_connections 0\n");
	assert_int_equal(cfg.listeners[0].max_connections, 0);
	expect_ok("listener 1\nmax_connections 4294967295\n");
	assert_true(cfg.listeners[0].max_connections == UINT32_MAX);
	expect_err("listener 1\nmax_connections -2\n",
	    "t.conf:2: "
	    "'max_connections' must be -1 (unlimited) or an integer between "
	    "0 and 4294967295");
	expect_fail("listener 1\nmax_connections 4294967296\n", "-1");
	expect_fail("listener 1\nmax_connections\n", "needs a value");
	expect_fail("listener 1\nprotocol mqtt stomp\n", "one value");
}

static void
test_implied_listener(void **state)
{
	(void)state;
	expect_ok("allow_anonymous true\n");
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].port, 1883);
	assert_string_equal(cfg.listeners[0].address, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].protocol, CONFIG_PROTO_MQTT);
	expect_ok("listener 8883\n");
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].port, 8883);
}

static void
test_duplicate_listener(void **state)
{
	(void)state;
	expect_err("listener 1883 127.0.0.1\n# x\nlistener 1883 127.0.0.1\n",
	    "t.conf:3: listener 1883 127.0.0.1 was already declared on "
	    "line 1");
	expect_err("listener 1883\nlistener 1883\n",
	    "t.conf:2: listener "
	    "1883 (all) was already declared on line 1");
	expect_ok("listener 1883 127.0.0.1\nlistener 1883 ::1\n"
	          "listener 1884 127.0.0.1\nlistener 0\nlistener 0\n");
	assert_int_equal(cfg.nlisteners, 5);
}

static void
test_too_many_listeners(void **state)
{
	char text[CONFIG_MAX_LISTENERS * 32 + 64];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < CONFIG_MAX_LISTENERS; i++)
		n += (size_t)snprintf(
		    text + n, sizeof(text) - n, "listener %d\n", 2000 + i);
	expect_ok(text);
	assert_int_equal(cfg.nlisteners, CONFIG_MAX_LISTENERS);
	snprintf(text + n, sizeof(text) - n, "listener 0\n");
	expect_err(text, "t.conf:17: more than 16 listeners");
}

/* ---- every key is known, documented, and every shipped file parses ----- */

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	assert_true(n >= 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Path of conf/NAME under $JUNCTION_SRC (or "."), into buf. */
static void
conf_path(char *buf, size_t len, const char *name)
{
	const char *src = getenv("JUNCTION_SRC");

	snprintf(buf, len, "%s/conf/%s", src && *src ? src : ".", name);
}

/* Parse a shipped file into cfg, failing the test on any error. */
static void
parse_file(const char *path)
{
	size_t len;
	char *text = read_file(path, &len);

	config_defaults(&cfg);
	if (config_parse(&cfg, text, len, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	free(text);
}

static void
test_shipped_files(void **state)
{
	char pattern[512];
	glob_t g;

	(void)state;
	conf_path(pattern, sizeof(pattern), "*.conf");
	if (glob(pattern, 0, NULL, &g) != 0)
		fail_msg(
		    "no config files match %s (set JUNCTION_SRC)", pattern);
	assert_true(g.gl_pathc >= 3);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		parse_file(g.gl_pathv[i]);
		assert_true(cfg.nlisteners >= 1);
	}
	globfree(&g);
}

static void
test_shipped_contents(void **state)
{
	char path[512];

	(void)state;
	conf_path(path, sizeof(path), "junction.conf");
	parse_file(path);
	assert_int_equal(cfg.nlisteners, 2);
	assert_int_equal(cfg.listeners[0].port, 1883);
	assert_string_equal(cfg.listeners[0].address, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].protocol, CONFIG_PROTO_MQTT);
	assert_int_equal(cfg.listeners[1].port, 61613); /* STOMP's port */
	assert_int_equal(cfg.listeners[1].protocol, CONFIG_PROTO_STOMP);
	assert_true(cfg.allow_anonymous);
	assert_true(cfg.persistence); /* make run is durable */
	assert_string_equal(cfg.persistence_location, "data");
	conf_path(path, sizeof(path), "test-acceptance.conf");
	parse_file(path);
	assert_int_equal(cfg.nlisteners, 1);
	assert_int_equal(cfg.listeners[0].port, 1883);
	assert_string_equal(cfg.listeners[0].address, "127.0.0.1");
	assert_int_equal(cfg.listeners[0].protocol, CONFIG_PROTO_MQTT);
	assert_true(cfg.allow_anonymous);
	assert_int_equal(cfg.max_keepalive, 60);
	assert_int_equal(cfg.max_inflight_messages, 20);
}

/* junction.conf mentions every key as "KEY " or "# KEY " at a line start. */
static bool
documents(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p != NULL; p = strchr(p, '\n')) {
		p += *p == '\n';
		p += strncmp(p, "# ", 2) == 0 ? 2 : 0;
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return true;
	}
	return false;
}

static void
test_every_key_documented(void **state)
{
	char path[512];
	const char *name;
	size_t len, i;
	char *text;

	(void)state;
	conf_path(path, sizeof(path), "junction.conf");
	text = read_file(path, &len);
	for (i = 0; (name = config_key_name(i)) != NULL; i++)
		if (!documents(text, name))
			fail_msg("junction.conf does not document '%s'", name);
	assert_int_equal(i, 37);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_queue_lines),
	    cmocka_unit_test(test_empty_text_implies_listener),
	    cmocka_unit_test(test_message_size_limit),
	    cmocka_unit_test(test_numeric_keys),
	    cmocka_unit_test(test_numeric_overflow),
	    cmocka_unit_test(test_numeric_messages),
	    cmocka_unit_test(test_expiration_units),
	    cmocka_unit_test(test_bool_keys),
	    cmocka_unit_test(test_persistence_sync),
	    cmocka_unit_test(test_persistence_location),
	    cmocka_unit_test(test_persistence_store_keys),
	    cmocka_unit_test(test_log_type),
	    cmocka_unit_test(test_log_dest),
	    cmocka_unit_test(test_comments_blank_crlf),
	    cmocka_unit_test(test_line_numbers),
	    cmocka_unit_test(test_bad_lines),
	    cmocka_unit_test(test_length_bounded),
	    cmocka_unit_test(test_error_buffer),
	    cmocka_unit_test(test_listener_block),
	    cmocka_unit_test(test_listener_values),
	    cmocka_unit_test(test_listener_keys),
	    cmocka_unit_test(test_implied_listener),
	    cmocka_unit_test(test_duplicate_listener),
	    cmocka_unit_test(test_too_many_listeners),
	    cmocka_unit_test(test_shipped_files),
	    cmocka_unit_test(test_shipped_contents),
	    cmocka_unit_test(test_every_key_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
