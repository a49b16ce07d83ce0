/*
 * fuzz_config.c - libFuzzer target over config_parse().
 *
 * Build and run from the repository root:
 *
 *	clang -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE \
 *	    tests/fuzz/fuzz_config.c conf/config.c core/util.c -o /tmp/fz
 *	mkdir -p /tmp/fz-corpus && cp conf/junction.conf /tmp/fz-corpus/
 *	/tmp/fz -max_total_time=60 /tmp/fz-corpus
 *
 * Beyond "no crash, no sanitizer report", it checks the contract: the
 * result is 0 or -1, an error reads "FILE:LINE: ..." and is terminated
 * within errlen, a success leaves 1..CONFIG_MAX_LISTENERS listeners, every
 * value inside its documented range and every string terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_string(const char *s, size_t size)
{
	ASSERT(memchr(s, '\0', size) != NULL);
}

static void
check_ranges(const struct config *c)
{
	ASSERT(c->nlisteners >= 1 && c->nlisteners <= CONFIG_MAX_LISTENERS);
	for (size_t i = 0; i < c->nlisteners; i++) {
		check_string(
		    c->listeners[i].address, sizeof(c->listeners[i].address));
		ASSERT(c->listeners[i].protocol == CONFIG_PROTO_MQTT ||
		    c->listeners[i].protocol == CONFIG_PROTO_STOMP);
	}
	ASSERT(c->max_keepalive <= 65535);
	ASSERT(
	    c->max_inflight_messages >= 1 && c->max_inflight_messages <= 65535);
	ASSERT(c->message_size_limit <= 268435455);
	ASSERT(c->max_packet_size == 0 ||
	    (c->max_packet_size >= 20 && c->max_packet_size <= 268435460));
	ASSERT(c->max_topic_alias <= 65535);
	ASSERT(c->connect_timeout >= 1 && c->connect_timeout <= 3600);
	ASSERT(c->max_topic_levels >= 1 && c->max_topic_levels <= 65535);
	ASSERT(c->persistence_sync_interval >= 1 &&
	    c->persistence_sync_interval <= 60000);
	ASSERT((c->log_type & ~(unsigned)CONFIG_LOG_ALL) == 0);
	ASSERT(c->log_dest <= CONFIG_LOG_DEST_NONE);
	check_string(c->persistence_location, sizeof(c->persistence_location));
	check_string(c->log_file, sizeof(c->log_file));
	ASSERT(config_message_size_limit(c) >= 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[256];
	/* The first byte picks a small error buffer now and then. */
	size_t errlen = size > 0 && data[0] < 16 ? data[0] : sizeof(err);
	/* Heap copy without a NUL so ASan sees any read past len. */
	char *text = malloc(size ? size : 1);
	int r;

	ASSERT(text != NULL);
	memcpy(text, data, size);
	memset(err, 'x', sizeof(err));
	config_defaults(&c);
	r = config_parse(&c, text, size, "f", err, errlen);
	ASSERT(r == 0 || r == -1);
	if (errlen > 0)
		check_string(err, errlen);
	if (r == -1 && errlen >= 4)
		ASSERT(strncmp(err, "f:", 2) == 0);
	if (r == 0) {
		check_ranges(&c);
		/* Parsing on top of a parsed config keeps the invariants. */
		if (config_parse(&c, text, size, "f", err, errlen) == 0)
			check_ranges(&c);
	}
	free(text);
	return 0;
}
