/*
 * stomp_dest.c - STOMP destinations <-> core topics and queues; see
 * stomp_dest.h for the rules and why they make a bijection.
 *
 * Every mapping is byte for byte and length preserving after the prefix,
 * so the output never needs more room than the input.
 */
#include "protocols/stomp/stomp_dest.h"

#include "core/utf8.h"

#include <string.h>

#define TOPIC_PREFIX "/topic/"
#define QUEUE_PREFIX "/queue/"
#define PREFIX_LEN 7 /* both prefixes */

static const char *const stomp_dest_texts[] = {
#define STOMP_DEST_TEXT(name, text) [STOMP_DEST_E_##name] = text,
    STOMP_DEST_ERRORS(STOMP_DEST_TEXT)
#undef STOMP_DEST_TEXT
};

const char *
stomp_dest_err_text(enum stomp_dest_err err)
{
	if ((unsigned)err >= STOMP_DEST_E_COUNT)
		return "unknown error";
	return stomp_dest_texts[err];
}

/* ---- STOMP -> core ---- */

static bool
is_mqtt_wildcard(char c)
{
	return c == '+' || c == '#';
}

static bool
is_stomp_wildcard(char c)
{
	return c == '*' || c == '#' || c == '>';
}

/* A filter level that is exactly one wildcard: its MQTT form. */
static enum stomp_dest_err
map_wildcard(char c, bool last, char *out)
{
	if (c == '*') {
		*out = '+'; /* one level */
		return STOMP_DEST_E_OK;
	}
	if (!last)
		return STOMP_DEST_E_BAD_WILDCARD; /* MQTT-4.7.1-1: '#' last */
	*out = '#'; /* '#' and ActiveMQ's '>': the rest */
	return STOMP_DEST_E_OK;
}

/* One topic level [p, p + n) (no '.') into out, swapping '/' to '.'. */
static enum stomp_dest_err
map_level(const char *p, size_t n, char *out, bool is_filter, bool last)
{
	if (is_filter && n == 1 && is_stomp_wildcard(p[0]))
		return map_wildcard(p[0], last, out);
	for (size_t i = 0; i < n; i++) {
		if (is_filter && (is_stomp_wildcard(p[i]) || p[i] == '+'))
			return STOMP_DEST_E_BAD_WILDCARD;
		if (is_mqtt_wildcard(p[i]))
			return STOMP_DEST_E_WILDCARD_IN_NAME;
		out[i] = p[i] == '/' ? '.' : p[i];
	}
	return STOMP_DEST_E_OK;
}

/* A /topic/ name: levels split at '.', each mapped, '.' becomes '/'. */
static enum stomp_dest_err
map_topic(const char *s, size_t len, char *out, bool is_filter)
{
	size_t ls = 0;

	for (size_t i = 0; i <= len; i++) {
		enum stomp_dest_err e;

		if (i < len && s[i] != '.')
			continue;
		e = map_level(s + ls, i - ls, out + ls, is_filter, i == len);
		if (e != STOMP_DEST_E_OK)
			return e;
		if (i < len)
			out[i] = '/';
		ls = i + 1;
	}
	return STOMP_DEST_E_OK;
}

/* A /queue/ name, verbatim, without wildcards. */
static enum stomp_dest_err
map_queue(const char *s, size_t len, char *out, bool is_filter)
{
	for (size_t i = 0; i < len; i++) {
		if (is_mqtt_wildcard(s[i]))
			return STOMP_DEST_E_WILDCARD_IN_NAME;
		if (is_filter && is_stomp_wildcard(s[i]))
			return STOMP_DEST_E_WILDCARD_IN_NAME;
		out[i] = s[i];
	}
	return STOMP_DEST_E_OK;
}

static bool
has_prefix(const char *s, size_t len, const char *prefix)
{
	return len >= PREFIX_LEN && memcmp(s, prefix, PREFIX_LEN) == 0;
}

enum stomp_dest_err
stomp_dest_parse(const char *dest, size_t len, char *out, size_t cap,
    bool is_filter, enum stomp_dest_kind *kind, size_t *out_len)
{
	const char *name;
	size_t nl;

	if (has_prefix(dest, len, TOPIC_PREFIX))
		*kind = STOMP_DEST_TOPIC;
	else if (has_prefix(dest, len, QUEUE_PREFIX))
		*kind = STOMP_DEST_QUEUE;
	else
		return STOMP_DEST_E_BAD_PREFIX;
	name = dest + PREFIX_LEN;
	nl = len - PREFIX_LEN;
	if (nl == 0)
		return STOMP_DEST_E_EMPTY; /* MQTT-4.7.3-1 */
	if (!utf8_is_valid(name, nl))
		return STOMP_DEST_E_BAD_UTF8;
	if (nl > cap)
		return STOMP_DEST_E_TOO_LONG;
	*out_len = nl;
	if (*kind == STOMP_DEST_QUEUE)
		return map_queue(name, nl, out, is_filter);
	return map_topic(name, nl, out, is_filter);
}

/* ---- core -> STOMP ---- */

size_t
stomp_dest_from_topic(const char *topic, size_t len, char *buf, size_t cap)
{
	if (cap < PREFIX_LEN || len > cap - PREFIX_LEN)
		return 0;
	memcpy(buf, TOPIC_PREFIX, PREFIX_LEN);
	for (size_t i = 0; i < len; i++) {
		char c = topic[i];

		buf[PREFIX_LEN + i] = c == '/' ? '.' : c == '.' ? '/' : c;
	}
	return PREFIX_LEN + len;
}

size_t
stomp_dest_from_queue(const char *name, size_t len, char *buf, size_t cap)
{
	if (cap < PREFIX_LEN || len > cap - PREFIX_LEN)
		return 0;
	memcpy(buf, QUEUE_PREFIX, PREFIX_LEN);
	memcpy(buf + PREFIX_LEN, name, len);
	return PREFIX_LEN + len;
}
