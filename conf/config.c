/*
 * config.c - the table-driven parser behind config.h.
 *
 * Every key is one row of config_keys[]: its name, its value type, whether
 * it belongs to the current listener or to the whole broker, where it is
 * stored (offset and size), its range and its default. config_defaults()
 * and the parser both walk that table, so adding a key is adding a row.
 * Value types dispatch through config_setters[], indexed by the type.
 *
 * The parser works line by line on a bounded copy of each line, so a
 * hostile file costs at most CONFIG_LINE_MAX bytes of stack and never
 * reads past len.
 */
#include "conf/config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Longest line accepted; paths are at most 255 bytes, so this is generous. */
#define CONFIG_LINE_MAX 1024

/* MQTT-1.5.5: a Variable Byte Integer tops out at 268,435,455. */
#define CONFIG_MQTT_MAX_REMAINING 268435455u
/* The largest whole packet: 1 fixed-header byte + 4 length bytes + body. */
#define CONFIG_MQTT_MAX_PACKET (CONFIG_MQTT_MAX_REMAINING + 5u)
/* Mosquitto refuses a max_packet_size below 20: CONNECT would not fit. */
#define CONFIG_MIN_PACKET 20u

#define CONFIG_WS " \t"

/* Enum-typed fields are written as 32-bit values (see config_put). */
_Static_assert(sizeof(enum config_proto) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum config_sync) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(enum config_log_dest) == sizeof(uint32_t), "enum size");
_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned size");

enum config_type {
	CONFIG_T_BOOL, /* true | false */
	CONFIG_T_UINT, /* decimal, uint32_t field */
	CONFIG_T_UINT64, /* decimal, uint64_t field */
	CONFIG_T_DURATION, /* seconds, or N followed by h d w m y */
	CONFIG_T_CONNS, /* decimal or -1 (= 0, unlimited) */
	CONFIG_T_STRING, /* the rest of the line, spaces included */
	CONFIG_T_ENUM, /* one word of k->words */
	CONFIG_T_LOG_TYPE, /* one word, accumulated into bits */
	CONFIG_T_LOG_DEST, /* one word, "file" takes a path */
	CONFIG_T_LISTENER, /* PORT [ADDRESS], opens a block */
	CONFIG_T_QUEUE, /* NAME key=value ..., one queue's settings */
	CONFIG_T_COUNT,
};

enum config_scope {
	CONFIG_GLOBAL, /* field of struct config */
	CONFIG_LISTENER, /* field of the current struct config_listener */
};

/* Row flag: 0 is accepted (meaning "unlimited") besides [min, max]. */
#define CONFIG_ZERO_OK 0x1u

struct config_word {
	const char *word;
	uint32_t value;
};

struct config_key {
	const char *name;
	enum config_type type;
	enum config_scope scope;
	size_t offset;
	size_t size;
	uint64_t min;
	uint64_t max;
	uint64_t def;
	unsigned flags;
	const struct config_word *words; /* NULL-terminated, for words */
	const char *note; /* appended to range errors */
};

/* Parse state for one config_parse() call. */
struct config_parser {
	struct config *c;
	struct config_listener *cur; /* latest listener of this text */
	const char *fname;
	int line;
	bool log_type_seen; /* first log_type replaces the default */
	char *err;
	size_t errlen;
};

typedef int config_set_fn(
    struct config_parser *, const struct config_key *, char *);

static const struct config_word config_bools[] = {
    {"true", 1},
    {"false", 0},
    {NULL, 0},
};

static const struct config_word config_protos[] = {
    {"mqtt", CONFIG_PROTO_MQTT},
    {"stomp", CONFIG_PROTO_STOMP},
    {NULL, 0},
};

static const struct config_word config_corrupts[] = {
    {"quarantine", CONFIG_CORRUPT_QUARANTINE},
    {"refuse", CONFIG_CORRUPT_REFUSE},
    {NULL, 0},
};

static const struct config_word config_overflows[] = {
    {"block", CONFIG_OVERFLOW_BLOCK},
    {"reject", CONFIG_OVERFLOW_REJECT},
    {"drop_oldest", CONFIG_OVERFLOW_DROP_OLDEST},
    {"drop_newest", CONFIG_OVERFLOW_DROP_NEWEST},
    {NULL, 0},
};

static const struct config_word config_syncs[] = {
    {"always", CONFIG_SYNC_ALWAYS},
    {"never", CONFIG_SYNC_NEVER},
    {"interval", CONFIG_SYNC_INTERVAL},
    {NULL, 0},
};

/* "none" has no bits: it clears the set, as in Mosquitto. */
static const struct config_word config_log_types[] = {
    {"error", CONFIG_LOG_ERROR},
    {"warning", CONFIG_LOG_WARNING},
    {"notice", CONFIG_LOG_NOTICE},
    {"information", CONFIG_LOG_INFORMATION},
    {"debug", CONFIG_LOG_DEBUG},
    {"all", CONFIG_LOG_ALL},
    {"none", 0},
    {NULL, 0},
};

static const struct config_word config_log_dests[] = {
    {"stderr", CONFIG_LOG_DEST_STDERR},
    {"stdout", CONFIG_LOG_DEST_STDOUT},
    {"none", CONFIG_LOG_DEST_NONE},
    {"file", CONFIG_LOG_DEST_FILE},
    {NULL, 0},
};

/* Mosquitto's persistent_client_expiration units; m = 30 d, y = 365 d. */
static const struct {
	char unit;
	uint32_t seconds;
} config_units[] = {
    {'h', 3600},
    {'d', 86400},
    {'w', 7 * 86400},
    {'m', 30 * 86400},
    {'y', 365 * 86400},
};

#define FIELD_SIZE(type, m) sizeof(((type *)0)->m)
#define GLOBAL(m) \
	.scope = CONFIG_GLOBAL, .offset = offsetof(struct config, m), \
	.size = FIELD_SIZE(struct config, m)
#define LOCAL(m) \
	.scope = CONFIG_LISTENER, \
	.offset = offsetof(struct config_listener, m), \
	.size = FIELD_SIZE(struct config_listener, m)

static const struct config_key config_keys[] = {
    /* listeners */
    {"listener", CONFIG_T_LISTENER, .scope = CONFIG_GLOBAL},
    {"protocol", CONFIG_T_ENUM, LOCAL(protocol), .words = config_protos,
        .def = CONFIG_PROTO_MQTT},
    {"max_connections", CONFIG_T_CONNS, LOCAL(max_connections),
        .max = UINT32_MAX, .def = 0},

    /* security */
    {"allow_anonymous", CONFIG_T_BOOL, GLOBAL(allow_anonymous), .def = true},

    /* MQTT session limits */
    {"max_keepalive", CONFIG_T_UINT, GLOBAL(max_keepalive), .max = 65535,
        .def = 65535},
    {"max_inflight_messages", CONFIG_T_UINT, GLOBAL(max_inflight_messages),
        .min = 1, .max = 65535, .def = 20,
        .note = " (Mosquitto's 0 = unlimited is not supported)"},
    {"max_queued_messages", CONFIG_T_UINT, GLOBAL(max_queued_messages),
        .max = UINT32_MAX, .def = 1000},
    {"max_queued_bytes", CONFIG_T_UINT64, GLOBAL(max_queued_bytes),
        .max = UINT64_MAX, .def = 0},
    {"memory_limit", CONFIG_T_UINT64, GLOBAL(memory_limit), .max = UINT64_MAX,
        .def = 0},
    {"message_size_limit", CONFIG_T_UINT, GLOBAL(message_size_limit),
        .max = CONFIG_MQTT_MAX_REMAINING, .def = 0},
    {"max_packet_size", CONFIG_T_UINT, GLOBAL(max_packet_size),
        .min = CONFIG_MIN_PACKET, .max = CONFIG_MQTT_MAX_PACKET,
        .flags = CONFIG_ZERO_OK, .def = 0},
    {"max_topic_alias", CONFIG_T_UINT, GLOBAL(max_topic_alias), .max = 65535,
        .def = 10},
    {"persistent_client_expiration", CONFIG_T_DURATION,
        GLOBAL(persistent_client_expiration), .max = UINT32_MAX, .def = 0},
    {"retain_available", CONFIG_T_BOOL, GLOBAL(retain_available), .def = true},
    {"connect_timeout", CONFIG_T_UINT, GLOBAL(connect_timeout), .min = 1,
        .max = 3600, .def = 10},
    {"max_topic_levels", CONFIG_T_UINT, GLOBAL(max_topic_levels), .min = 1,
        .max = 65535, .def = 128},
    {"max_subscriptions", CONFIG_T_UINT, GLOBAL(max_subscriptions),
        .max = UINT32_MAX, .def = 10000},

    /* STOMP */
    {"stomp_max_headers", CONFIG_T_UINT, GLOBAL(stomp_max_headers), .min = 1,
        .max = 1024, .def = 64},
    {"stomp_max_header_length", CONFIG_T_UINT, GLOBAL(stomp_max_header_length),
        .min = 64, .max = 65535, .def = 8192},
    {"stomp_heartbeat", CONFIG_T_UINT, GLOBAL(stomp_heartbeat), .min = 1000,
        .max = 3600000, .flags = CONFIG_ZERO_OK, .def = 10000},
    {"stomp_heartbeat_grace_percent", CONFIG_T_UINT,
        GLOBAL(stomp_heartbeat_grace_percent), .min = 100, .max = 1000,
        .def = 150},
    {"stomp_max_transaction_frames", CONFIG_T_UINT,
        GLOBAL(stomp_max_transaction_frames), .min = 1, .max = 1000000,
        .def = 1000},

    /* queues */
    {"queue", CONFIG_T_QUEUE, .scope = CONFIG_GLOBAL},
    {"queue_overflow", CONFIG_T_ENUM, GLOBAL(queue_overflow),
        .words = config_overflows, .def = CONFIG_OVERFLOW_BLOCK},
    {"queue_prefetch", CONFIG_T_UINT, GLOBAL(queue_prefetch), .max = 65535,
        .def = 0},
    {"max_redeliveries", CONFIG_T_UINT, GLOBAL(max_redeliveries), .min = 1,
        .max = 1000, .def = 6},
    {"redelivery_delay", CONFIG_T_UINT, GLOBAL(redelivery_delay),
        .max = 3600000, .def = 0},
    {"redelivery_backoff", CONFIG_T_UINT, GLOBAL(redelivery_backoff), .min = 1,
        .max = 100, .def = 2},
    {"redelivery_delay_max", CONFIG_T_UINT, GLOBAL(redelivery_delay_max),
        .max = 3600000, .def = 60000},

    /* persistence */
    {"persistence", CONFIG_T_BOOL, GLOBAL(persistence), .def = false},
    {"persistence_location", CONFIG_T_STRING, GLOBAL(persistence_location)},
    {"persistence_sync", CONFIG_T_ENUM, GLOBAL(persistence_sync),
        .words = config_syncs, .def = CONFIG_SYNC_ALWAYS},
    {"persistence_sync_interval", CONFIG_T_UINT,
        GLOBAL(persistence_sync_interval), .min = 1, .max = 60000, .def = 100},
    {"persistence_corrupt", CONFIG_T_ENUM, GLOBAL(persistence_corrupt),
        .words = config_corrupts, .def = CONFIG_CORRUPT_QUARANTINE},
    {"persistence_max_bytes", CONFIG_T_UINT64, GLOBAL(persistence_max_bytes),
        .max = UINT64_MAX, .def = 0},

    /* logging */
    {"log_type", CONFIG_T_LOG_TYPE, GLOBAL(log_type), .words = config_log_types,
        .def = CONFIG_LOG_ERROR | CONFIG_LOG_WARNING | CONFIG_LOG_NOTICE |
            CONFIG_LOG_INFORMATION},
    {"log_dest", CONFIG_T_LOG_DEST, GLOBAL(log_dest), .words = config_log_dests,
        .def = CONFIG_LOG_DEST_STDERR},
};

/* ---- errors ---------------------------------------------------------- */

/* Write "FILE:LINE: message" into p->err; always returns -1. */
static int config_fail(struct config_parser *p, const char *fmt, ...)
    PRINTF(2, 3);

static int
config_fail(struct config_parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->fname, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* "a, b or c" from a word table, into buf. */
static void
config_words_list(const struct config_word *w, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; w[i].word != NULL && n < len; i++) {
		const char *sep = i == 0 ? "" : w[i + 1].word ? ", " : " or ";
		int r = snprintf(buf + n, len - n, "%s%s", sep, w[i].word);

		if (r < 0)
			break;
		n += (size_t)r;
	}
}

static int
config_fail_word(
    struct config_parser *p, const char *name, const struct config_word *words)
{
	char list[128];

	config_words_list(words, list, sizeof(list));
	return config_fail(p, "'%s' must be %s", name, list);
}

static int
config_fail_range(struct config_parser *p, const struct config_key *k)
{
	const char *zero = k->flags & CONFIG_ZERO_OK ? "0 or " : "";

	return config_fail(p,
	    "'%s' must be %san integer between %" PRIu64 " and %" PRIu64 "%s",
	    k->name, zero, k->min, k->max, k->note ? k->note : "");
}

/* ---- lexing ---------------------------------------------------------- */

/*
 * Split the first blank-separated token off *s: returns it NUL-terminated
 * and leaves *s at the next token (or at the terminating NUL).
 */
static char *
config_token(char **s)
{
	char *tok = *s + strspn(*s, CONFIG_WS);
	char *end = tok + strcspn(tok, CONFIG_WS);

	*s = end + strspn(end, CONFIG_WS);
	if (*end != '\0')
		*end = '\0';
	return tok;
}

/* The single value of k: errors when it is missing or followed by more. */
static int
config_one_value(
    struct config_parser *p, const struct config_key *k, char *arg, char **val)
{
	*val = config_token(&arg);
	if (**val == '\0')
		return config_fail(p, "'%s' needs a value", k->name);
	if (*arg != '\0')
		return config_fail(
		    p, "'%s' takes one value, not '%s'", k->name, arg);
	return 0;
}

/* Unsigned decimal of n bytes: false on no digits, a non-digit, overflow. */
static bool
config_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool
config_in_range(const struct config_key *k, uint64_t v)
{
	if (v == 0 && (k->flags & CONFIG_ZERO_OK))
		return true;
	return v >= k->min && v <= k->max;
}

static const struct config_word *
config_word_find(const struct config_word *w, const char *s)
{
	for (; w->word != NULL; w++)
		if (strcmp(w->word, s) == 0)
			return w;
	return NULL;
}

/* ---- storing --------------------------------------------------------- */

/* Where k lives for this parser: the config, or the current listener. */
static char *
config_field(
    struct config *c, struct config_listener *l, const struct config_key *k)
{
	char *base = k->scope == CONFIG_LISTENER ? (char *)l : (char *)c;

	ASSERT(base != NULL);
	return base + k->offset;
}

/* Store v into a bool, uint32_t (enums included) or uint64_t field. */
static void
config_put(char *field, const struct config_key *k, uint64_t v)
{
	bool b = v != 0;
	uint32_t u = (uint32_t)v;

	if (k->type == CONFIG_T_BOOL) {
		ASSERT(k->size == sizeof(b));
		memcpy(field, &b, sizeof(b));
	} else if (k->size == sizeof(v)) {
		memcpy(field, &v, sizeof(v));
	} else {
		ASSERT(k->size == sizeof(u));
		memcpy(field, &u, sizeof(u));
	}
}

static void
config_set(struct config_parser *p, const struct config_key *k, uint64_t v)
{
	config_put(config_field(p->c, p->cur, k), k, v);
}

/* Apply the defaults of every row of scope to base. */
static void
config_apply_defaults(char *base, enum config_scope scope)
{
	for (size_t i = 0; i < ARRAY_LEN(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (k->scope != scope || k->size == 0 ||
		    k->type == CONFIG_T_STRING)
			continue;
		config_put(base + k->offset, k, k->def);
	}
}

/* ---- value setters, one per type ------------------------------------- */

/* The single value of k, looked up in words. */
static int
config_word_value(struct config_parser *p, const struct config_key *k,
    char *arg, const struct config_word *words, uint32_t *value)
{
	const struct config_word *w;
	char *val;

	if (config_one_value(p, k, arg, &val) < 0)
		return -1;
	if ((w = config_word_find(words, val)) == NULL)
		return config_fail_word(p, k->name, words);
	*value = w->value;
	return 0;
}

static int
config_set_words(struct config_parser *p, const struct config_key *k, char *arg)
{
	uint32_t v;

	if (config_word_value(p, k, arg, k->words, &v) < 0)
		return -1;
	config_set(p, k, v);
	return 0;
}

/* Booleans are exactly "true" or "false", as in Mosquitto. */
static int
config_set_bool(struct config_parser *p, const struct config_key *k, char *arg)
{
	uint32_t v;

	if (config_word_value(p, k, arg, config_bools, &v) < 0)
		return -1;
	config_set(p, k, v);
	return 0;
}

static int
config_set_uint(struct config_parser *p, const struct config_key *k, char *arg)
{
	uint64_t v;
	char *val;

	if (config_one_value(p, k, arg, &val) < 0)
		return -1;
	if (!config_digits(val, strlen(val), &v) || !config_in_range(k, v))
		return config_fail_range(p, k);
	config_set(p, k, v);
	return 0;
}

/* max_connections: Mosquitto writes -1 for unlimited; we store 0. */
static int
config_set_conns(struct config_parser *p, const struct config_key *k, char *arg)
{
	uint64_t v;
	char *val;

	if (config_one_value(p, k, arg, &val) < 0)
		return -1;
	if (strcmp(val, "-1") == 0)
		v = 0;
	else if (!config_digits(val, strlen(val), &v) || v > k->max)
		return config_fail(p,
		    "'%s' must be -1 (unlimited) or an "
		    "integer between 0 and %" PRIu64,
		    k->name, k->max);
	config_set(p, k, v);
	return 0;
}

/* Seconds per unit letter, 0 when c is not a unit. */
static uint32_t
config_unit_seconds(char c)
{
	for (size_t i = 0; i < ARRAY_LEN(config_units); i++)
		if (config_units[i].unit == c)
			return config_units[i].seconds;
	return 0;
}

/* "N" seconds or Mosquitto's "N{h,d,w,m,y}", bounded by k->max. */
static bool
config_duration(const struct config_key *k, const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	uint64_t mult = 1, v;

	if (n > 0 && (mult = config_unit_seconds(s[n - 1])) != 0)
		n--;
	else
		mult = 1;
	if (!config_digits(s, n, &v) || v > k->max / mult)
		return false;
	*out = v * mult;
	return true;
}

static int
config_set_duration(
    struct config_parser *p, const struct config_key *k, char *arg)
{
	uint64_t v;
	char *val;

	if (config_one_value(p, k, arg, &val) < 0)
		return -1;
	if (!config_duration(k, val, &v))
		return config_fail(p,
		    "'%s' must be seconds, or a number "
		    "followed by h, d, w, m or y, at most %" PRIu64 " seconds",
		    k->name, k->max);
	config_set(p, k, v);
	return 0;
}

/* Copy s into a field of size bytes; errors when it does not fit. */
static int
config_copy_string(struct config_parser *p, const char *name, char *field,
    size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return config_fail(p, "'%s' needs a value", name);
	if (n >= size)
		return config_fail(
		    p, "'%s' is longer than %zu bytes", name, size - 1);
	memcpy(field, s, n + 1);
	return 0;
}

/* Strings take the rest of the line, so paths may hold spaces. */
static int
config_set_string(
    struct config_parser *p, const struct config_key *k, char *arg)
{
	return config_copy_string(
	    p, k->name, config_field(p->c, p->cur, k), k->size, arg);
}

/* The first log_type line replaces the default set; later ones add. */
static int
config_set_log_type(
    struct config_parser *p, const struct config_key *k, char *arg)
{
	uint32_t v;

	if (config_word_value(p, k, arg, k->words, &v) < 0)
		return -1;
	if (!p->log_type_seen)
		p->c->log_type = 0;
	p->log_type_seen = true;
	p->c->log_type = v == 0 ? 0 : p->c->log_type | v;
	return 0;
}

/* "log_dest file PATH" takes a path; the other destinations take none. */
static int
config_set_log_dest(
    struct config_parser *p, const struct config_key *k, char *arg)
{
	const struct config_word *w;
	char *val = config_token(&arg);

	if (*val == '\0')
		return config_fail(p, "'%s' needs a value", k->name);
	if ((w = config_word_find(k->words, val)) == NULL)
		return config_fail_word(p, k->name, k->words);
	if (w->value == CONFIG_LOG_DEST_FILE) {
		if (config_copy_string(p, "log_dest file", p->c->log_file,
		        sizeof(p->c->log_file), arg) < 0)
			return -1;
	} else if (*arg != '\0') {
		return config_fail(
		    p, "'%s %s' takes no value, not '%s'", k->name, val, arg);
	} else {
		p->c->log_file[0] = '\0';
	}
	config_set(p, k, w->value);
	return 0;
}

/* ---- listeners ------------------------------------------------------- */

/*
 * An IPv4/IPv6 literal or a host name, by its characters only: resolving
 * it is the listener's job (getaddrinfo), and this layer does no I/O.
 * ':' and '%' admit IPv6 literals with a zone ("fe80::1%eth0").
 */
static bool
config_is_address(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                         "0123456789.-_:%";

	return s[strspn(s, ok)] == '\0';
}

/* The listener declared earlier with the same nonzero port and address. */
static const struct config_listener *
config_listener_dup(const struct config *c, const struct config_listener *l)
{
	if (l->port == 0)
		return NULL;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct config_listener *o = &c->listeners[i];

		if (o->port == l->port && strcmp(o->address, l->address) == 0)
			return o;
	}
	return NULL;
}

/* Parse "PORT [ADDRESS]" into l. */
static int
config_listener_args(
    struct config_parser *p, struct config_listener *l, char *arg)
{
	char *port = config_token(&arg), *addr = config_token(&arg);
	uint64_t v;

	if (*port == '\0')
		return config_fail(p, "'listener' needs a port");
	if (*arg != '\0')
		return config_fail(p,
		    "'listener' takes a port and an address, "
		    "not '%s'",
		    arg);
	if (!config_digits(port, strlen(port), &v) || v > 65535)
		return config_fail(p,
		    "'listener' port must be an integer "
		    "between 0 and 65535");
	l->port = (uint16_t)v;
	if (strlen(addr) >= sizeof(l->address))
		return config_fail(p,
		    "'listener' address is longer than %zu "
		    "bytes",
		    sizeof(l->address) - 1);
	if (!config_is_address(addr))
		return config_fail(p,
		    "'listener' address '%s' is not an IP "
		    "address or a host name",
		    addr);
	memcpy(l->address, addr, strlen(addr) + 1);
	return 0;
}

static int
config_set_listener(
    struct config_parser *p, const struct config_key *k, char *arg)
{
	struct config_listener l;
	const struct config_listener *dup;

	(void)k;
	memset(&l, 0, sizeof(l));
	config_apply_defaults((char *)&l, CONFIG_LISTENER);
	l.line = p->line;
	if (config_listener_args(p, &l, arg) < 0)
		return -1;
	if (p->c->nlisteners >= CONFIG_MAX_LISTENERS)
		return config_fail(
		    p, "more than %d listeners", CONFIG_MAX_LISTENERS);
	if ((dup = config_listener_dup(p->c, &l)) != NULL)
		return config_fail(p,
		    "listener %u %s was already declared on "
		    "line %d",
		    l.port, l.address[0] ? l.address : "(all)", dup->line);
	p->cur = &p->c->listeners[p->c->nlisteners++];
	*p->cur = l;
	return 0;
}

/* The options of a queue line, each checked by the global key it overrides. */
static const struct config_queue_opt {
	const char *name;
	const char *key; /* the global row giving type and range */
	size_t offset;
	unsigned bit;
} config_queue_opts[] = {
    {"max_messages", "max_queued_messages",
        offsetof(struct config_queue, max_messages), CONFIG_Q_MAX_MESSAGES},
    {"max_bytes", "max_queued_bytes", offsetof(struct config_queue, max_bytes),
        CONFIG_Q_MAX_BYTES},
    {"overflow", "queue_overflow", offsetof(struct config_queue, overflow),
        CONFIG_Q_OVERFLOW},
    {"max_redeliveries", "max_redeliveries",
        offsetof(struct config_queue, max_redeliveries),
        CONFIG_Q_MAX_REDELIVERIES},
};

static const struct config_key *config_key_find(const char *name);

/* Parse v for the global row k into *out, with k's checks and messages. */
static int
config_value(
    struct config_parser *p, const struct config_key *k, char *v, uint64_t *out)
{
	uint32_t w;

	if (k->type == CONFIG_T_ENUM) {
		if (config_word_value(p, k, v, k->words, &w) < 0)
			return -1;
		*out = w;
		return 0;
	}
	if (!config_digits(v, strlen(v), out) || !config_in_range(k, *out))
		return config_fail_range(p, k);
	return 0;
}

/* One "key=value" of a queue line into q. */
static int
config_queue_opt(struct config_parser *p, struct config_queue *q, char *tok)
{
	char *eq = strchr(tok, '=');
	uint64_t v = 0;

	if (eq == NULL)
		return config_fail(
		    p, "'queue' options are key=value, not '%s'", tok);
	*eq = '\0';
	for (size_t i = 0; i < ARRAY_LEN(config_queue_opts); i++) {
		const struct config_queue_opt *o = &config_queue_opts[i];
		const struct config_key *k = config_key_find(o->key);

		if (strcmp(tok, o->name) != 0)
			continue;
		if (config_value(p, k, eq + 1, &v) < 0)
			return -1;
		config_put((char *)q + o->offset, k, v);
		q->set |= o->bit;
		return 0;
	}
	return config_fail(p, "unknown 'queue' option '%s'", tok);
}

/* "queue NAME key=value ...": one queue's settings over the defaults. */
static int
config_set_queue(struct config_parser *p, const struct config_key *k, char *arg)
{
	char *name = config_token(&arg), *tok;
	struct config_queue q;

	(void)k;
	memset(&q, 0, sizeof(q));
	q.line = p->line;
	if (*name == '\0' || strlen(name) >= sizeof(q.name))
		return config_fail(p, "'queue' needs a name of 1..%zu bytes",
		    sizeof(q.name) - 1);
	memcpy(q.name, name, strlen(name) + 1);
	if (config_queue_find(p->c, q.name, strlen(q.name)) != NULL)
		return config_fail(p, "queue '%s' is configured twice", q.name);
	if (p->c->nqueues >= CONFIG_MAX_QUEUES)
		return config_fail(
		    p, "more than %d queue lines", CONFIG_MAX_QUEUES);
	while (*(tok = config_token(&arg)) != '\0') {
		if (config_queue_opt(p, &q, tok) < 0)
			return -1;
	}
	p->c->queues[p->c->nqueues++] = q;
	return 0;
}

const struct config_queue *
config_queue_find(const struct config *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nqueues; i++) {
		const struct config_queue *q = &c->queues[i];

		if (strlen(q->name) == len && memcmp(q->name, name, len) == 0)
			return q;
	}
	return NULL;
}

static config_set_fn *const config_setters[CONFIG_T_COUNT] = {
    [CONFIG_T_BOOL] = config_set_bool,
    [CONFIG_T_UINT] = config_set_uint,
    [CONFIG_T_UINT64] = config_set_uint,
    [CONFIG_T_DURATION] = config_set_duration,
    [CONFIG_T_CONNS] = config_set_conns,
    [CONFIG_T_STRING] = config_set_string,
    [CONFIG_T_ENUM] = config_set_words,
    [CONFIG_T_LOG_TYPE] = config_set_log_type,
    [CONFIG_T_LOG_DEST] = config_set_log_dest,
    [CONFIG_T_LISTENER] = config_set_listener,
    [CONFIG_T_QUEUE] = config_set_queue,
};

/* ---- lines ----------------------------------------------------------- */

static const struct config_key *
config_key_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(config_keys); i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* One key line, already trimmed and NUL-terminated in buf. */
static int
config_parse_key(struct config_parser *p, char *buf)
{
	char *rest = buf;
	char *name = config_token(&rest);
	const struct config_key *k = config_key_find(name);

	if (k == NULL)
		return config_fail(p, "unknown key '%s'", name);
	if (k->scope == CONFIG_LISTENER && p->cur == NULL)
		return config_fail(
		    p, "'%s' must follow a 'listener' line", k->name);
	return config_setters[k->type](p, k, rest);
}

/* Strip trailing blanks and the CR of a CRLF line ending. */
static void
config_rtrim(char *s, size_t n)
{
	while (n > 0 && strchr(" \t\r", s[n - 1]) != NULL)
		n--;
	s[n] = '\0';
}

/* One line of n bytes (no '\n'): blank, comment, or key. */
static int
config_parse_line(struct config_parser *p, const char *s, size_t n)
{
	char buf[CONFIG_LINE_MAX];
	char *start;

	if (n >= sizeof(buf))
		return config_fail(
		    p, "line is longer than %zu bytes", sizeof(buf) - 1);
	if (memchr(s, '\0', n) != NULL)
		return config_fail(p, "line holds a NUL byte");
	memcpy(buf, s, n);
	config_rtrim(buf, n);
	start = buf + strspn(buf, CONFIG_WS);
	if (*start == '\0' || *start == '#')
		return 0;
	return config_parse_key(p, start);
}

static void
config_add_default_listener(struct config *c)
{
	struct config_listener *l = &c->listeners[0];

	memset(l, 0, sizeof(*l));
	config_apply_defaults((char *)l, CONFIG_LISTENER);
	l->port = 1883;
	memcpy(l->address, "127.0.0.1", sizeof("127.0.0.1"));
	c->nlisteners = 1;
}

/* ---- exported -------------------------------------------------------- */

void
config_defaults(struct config *c)
{
	ASSERT(c != NULL);
	memset(c, 0, sizeof(*c));
	config_apply_defaults((char *)c, CONFIG_GLOBAL);
}

int
config_parse(struct config *c, const char *text, size_t len, const char *fname,
    char *err, size_t errlen)
{
	struct config_parser p = {
	    .c = c, .fname = fname ? fname : "-", .err = err, .errlen = errlen};
	size_t pos = 0;

	ASSERT(c != NULL && (text != NULL || len == 0));
	ASSERT(c->nlisteners <= CONFIG_MAX_LISTENERS);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		p.line++;
		if (config_parse_line(&p, text + pos, n) < 0)
			return -1;
		pos += n + 1;
	}
	if (c->nlisteners == 0)
		config_add_default_listener(c);
	return 0;
}

uint32_t
config_message_size_limit(const struct config *c)
{
	ASSERT(c != NULL);
	return c->message_size_limit ? c->message_size_limit
	                             : CONFIG_MQTT_MAX_REMAINING;
}

const char *
config_key_name(size_t i)
{
	return i < ARRAY_LEN(config_keys) ? config_keys[i].name : NULL;
}
