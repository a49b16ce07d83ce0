/*
 * jb_opt.c - jbench's command line: one table of long options (name,
 * type, field, range, default in jb_opt_defaults), parsed with
 * getopt_long. bench/run.sh depends on these names: add, never rename.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/jb.h"

enum jb_opt_type {
	JB_OPT_INT,
	JB_OPT_DOUBLE,
	JB_OPT_STR,
	JB_OPT_FLAG,
	JB_OPT_ENUM
};

struct jb_opt_row {
	const char *name;
	enum jb_opt_type type;
	size_t off; /* field in struct jb_opts */
	double min, max; /* JB_OPT_INT, JB_OPT_DOUBLE */
	const char *const *names; /* JB_OPT_ENUM: value i is names[i] */
	const char *help;
};

static const char *const jb_opt_protos[] = {"mqtt311", "mqtt5", "stomp", NULL};
static const char *const jb_opt_acks[] = {"auto", "client-individual", NULL};
static const char *const jb_opt_dests[] = {"topic", "queue", NULL};
static const char *const jb_opt_topos[] = {"pairs", "shared", NULL};

#define JB_O(f) offsetof(struct jb_opts, f)
#define JB_BIG 1e9

static const struct jb_opt_row jb_opt_rows[] = {
    {"host", JB_OPT_STR, JB_O(host), 0, 0, NULL, "broker address"},
    {"port", JB_OPT_INT, JB_O(port), 1, 65535, NULL, "broker port"},
    {"proto", JB_OPT_ENUM, JB_O(proto), 0, 0, jb_opt_protos,
        "mqtt311, mqtt5 or stomp"},
    {"qos", JB_OPT_INT, JB_O(qos), 0, 2, NULL, "MQTT QoS"},
    {"ack", JB_OPT_ENUM, JB_O(ack), 0, 0, jb_opt_acks,
        "STOMP: auto or client-individual"},
    {"dest", JB_OPT_ENUM, JB_O(dest), 0, 0, jb_opt_dests,
        "STOMP: topic, or queue (subscribers compete)"},
    {"pubs", JB_OPT_INT, JB_O(pubs), 1, 100000, NULL, "publishers"},
    {"subs", JB_OPT_INT, JB_O(subs), 1, 100000, NULL, "subscribers"},
    {"topology", JB_OPT_ENUM, JB_O(topology), 0, 0, jb_opt_topos,
        "pairs (a topic and subscriber per publisher) or shared (one "
        "topic for all)"},
    {"size", JB_OPT_INT, JB_O(size), JB_MIN_SIZE, 64 << 20, NULL,
        "payload bytes"},
    {"rate", JB_OPT_DOUBLE, JB_O(rate), 0, JB_BIG, NULL,
        "publishes per second over all publishers, 0 = saturation"},
    {"window", JB_OPT_INT, JB_O(window), 1, 65535, NULL,
        "outstanding messages per publisher"},
    {"max-inflight", JB_OPT_INT, JB_O(max_inflight), 1, 65535, NULL,
        "MQTT: unfinished QoS 1/2 flows per publisher (5.0: at most the "
        "broker's Receive Maximum)"},
    {"duration", JB_OPT_DOUBLE, JB_O(duration), 0.01, JB_BIG, NULL,
        "measured seconds"},
    {"warmup", JB_OPT_DOUBLE, JB_O(warmup), 0, JB_BIG, NULL,
        "unmeasured seconds first"},
    {"drain", JB_OPT_DOUBLE, JB_O(drain), 0, JB_BIG, NULL,
        "seconds to wait for outstanding messages at the end"},
    {"persistent", JB_OPT_FLAG, JB_O(persistent), 0, 0, NULL,
        "persistent MQTT subscriber sessions"},
    {"broker-pid", JB_OPT_INT, JB_O(broker_pid), 1, 1 << 30, NULL,
        "read the broker's CPU and RSS from /proc"},
    {"user", JB_OPT_STR, JB_O(user), 0, 0, NULL, "user name / login"},
    {"pass", JB_OPT_STR, JB_O(pass), 0, 0, NULL, "password / passcode"},
    {"idle", JB_OPT_INT, JB_O(idle), 1, 1000000, NULL,
        "idle mode: open this many connections"},
    {"connect-rate", JB_OPT_DOUBLE, JB_O(connect_rate), 0, JB_BIG, NULL,
        "idle mode: connections per second, 0 = as fast as possible"},
    {"source-ips", JB_OPT_INT, JB_O(source_ips), 1, 250, NULL,
        "idle mode: spread over 127.0.0.2 .. 127.0.0.(1+K)"},
    {"max-pending", JB_OPT_INT, JB_O(max_pending), 1, 100000, NULL,
        "handshakes outstanding at once"},
    {"tag", JB_OPT_STR, JB_O(tag), 0, 0, NULL,
        "run tag in client ids and topics (alphanumeric)"},
};

static void
jb_opt_defaults(struct jb_opts *o)
{
	*o = (struct jb_opts){.host = "127.0.0.1",
	    .qos = 1,
	    .pubs = 1,
	    .subs = 1,
	    .size = 64,
	    .window = 64,
	    .max_inflight = 65535,
	    .duration = 5,
	    .warmup = 1,
	    .drain = 10,
	    .connect_rate = 2000,
	    .source_ips = 16,
	    .max_pending = 256};
}

const char *
jb_opt_proto_name(int proto)
{
	return jb_opt_protos[proto];
}

/* The default of r's field in d as text in buf; "" for none or 0. */
static const char *
jb_opt_default(
    const struct jb_opt_row *r, const struct jb_opts *d, char *buf, size_t cap)
{
	const void *field = (const char *)d + r->off;

	buf[0] = '\0';
	switch (r->type) {
	case JB_OPT_INT:
		if (*(const int *)field != 0)
			snprintf(buf, cap, "%d", *(const int *)field);
		break;
	case JB_OPT_DOUBLE:
		snprintf(buf, cap, "%g", *(const double *)field);
		break;
	case JB_OPT_ENUM:
		snprintf(buf, cap, "%s", r->names[*(const int *)field]);
		break;
	case JB_OPT_STR:
		if (*(const char *const *)field != NULL)
			snprintf(buf, cap, "%s", *(const char *const *)field);
		break;
	case JB_OPT_FLAG:
		break;
	}
	return buf;
}

static NORETURN void
jb_opt_usage(void)
{
	struct jb_opts d;
	char def[64];

	jb_opt_defaults(&d);
	fprintf(stderr, "usage: jbench --port N [options]\n");
	for (size_t i = 0; i < ARRAY_LEN(jb_opt_rows); i++) {
		const struct jb_opt_row *r = &jb_opt_rows[i];
		const char *v = jb_opt_default(r, &d, def, sizeof(def));

		fprintf(stderr, "  --%-14s %s%s%s%s\n", r->name, r->help,
		    *v ? " [" : "", v, *v ? "]" : "");
	}
	exit(2);
}

static NORETURN void
jb_opt_bad(const struct jb_opt_row *r, const char *arg)
{
	fprintf(stderr, "jbench: bad value for --%s: %s\n", r->name, arg);
	exit(2);
}

static double
jb_opt_number(const struct jb_opt_row *r, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end != '\0' || !(v >= r->min && v <= r->max))
		jb_opt_bad(r, arg);
	if (r->type == JB_OPT_INT && v != (double)(long)v)
		jb_opt_bad(r, arg);
	return v;
}

static int
jb_opt_enum(const struct jb_opt_row *r, const char *arg)
{
	for (int i = 0; r->names[i] != NULL; i++)
		if (strcmp(r->names[i], arg) == 0)
			return i;
	jb_opt_bad(r, arg);
}

static void
jb_opt_set(const struct jb_opt_row *r, struct jb_opts *o, const char *arg)
{
	char *field = (char *)o + r->off;

	switch (r->type) {
	case JB_OPT_INT:
		*(int *)(void *)field = (int)jb_opt_number(r, arg);
		break;
	case JB_OPT_DOUBLE:
		*(double *)(void *)field = jb_opt_number(r, arg);
		break;
	case JB_OPT_STR:
		*(const char **)(void *)field = arg;
		break;
	case JB_OPT_FLAG:
		*(bool *)(void *)field = true;
		break;
	case JB_OPT_ENUM:
		*(int *)(void *)field = jb_opt_enum(r, arg);
		break;
	}
}

static bool
jb_opt_is_alnum(const char *s)
{
	if (*s == '\0' || strlen(s) > JB_TAG_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		        (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

/* Combinations the table cannot express. */
static void
jb_opt_check(const struct jb_opts *o)
{
	const char *why = NULL;

	if (o->port == 0)
		why = "--port is required";
	else if (o->tag != NULL && !jb_opt_is_alnum(o->tag))
		why = "--tag must be 1 to 32 letters and digits";
	else if (o->proto != JB_STOMP && o->dest == JB_QUEUE)
		why = "--dest queue needs --proto stomp";
	else if (o->proto != JB_STOMP && o->ack != JB_ACK_AUTO)
		why = "--ack client-individual needs --proto stomp";
	if (why != NULL) {
		fprintf(stderr, "jbench: %s\n", why);
		exit(2);
	}
}

void
jb_opt_parse(int argc, char **argv, struct jb_opts *o)
{
	struct option longs[ARRAY_LEN(jb_opt_rows) + 2] = {{0}};
	size_t n = ARRAY_LEN(jb_opt_rows);
	int ch;

	for (size_t i = 0; i < n; i++) {
		longs[i].name = jb_opt_rows[i].name;
		longs[i].has_arg = jb_opt_rows[i].type == JB_OPT_FLAG
		    ? no_argument
		    : required_argument;
		longs[i].val = 256 + (int)i;
	}
	longs[n] = (struct option){"help", no_argument, NULL, 'h'};
	jb_opt_defaults(o);
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		if (ch < 256 || ch >= 256 + (int)n)
			jb_opt_usage();
		jb_opt_set(&jb_opt_rows[ch - 256], o, optarg);
	}
	if (optind != argc)
		jb_opt_usage();
	jb_opt_check(o);
}
