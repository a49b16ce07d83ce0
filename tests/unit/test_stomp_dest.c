/*
 * test_stomp_dest.c - STOMP destinations <-> core topics and queues.
 *
 * A table of destinations (topic names, filters, queues, each error)
 * with their core form, then random property tests: for random core
 * topic names t, parse(from_topic(t)) == t; for random STOMP names d the
 * parser accepts, from_topic(parse(d)) == d; and whatever the parser
 * accepts is a valid core topic name or filter (core/topic.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/topic.h"
#include "protocols/stomp/stomp_dest.h"

struct dest_case {
	const char *dest;
	size_t len; /* 0: strlen(dest) */
	bool is_filter;
	enum stomp_dest_err err;
	enum stomp_dest_kind kind;
	const char *out;
};

#define OK_T(d, f, o) \
	{ \
		d, 0, f, STOMP_DEST_E_OK, STOMP_DEST_TOPIC, o \
	}
#define OK_Q(d, f, o) \
	{ \
		d, 0, f, STOMP_DEST_E_OK, STOMP_DEST_QUEUE, o \
	}
#define ERR(d, f, e) \
	{ \
		d, 0, f, STOMP_DEST_E_##e, 0, NULL \
	}

static const struct dest_case cases[] = {
    /* DESIGN.md: levels */
    OK_T("/topic/a.b.c", false, "a/b/c"),
    OK_T("/topic/a", false, "a"),
    OK_T("/topic/a/b.c", false, "a.b/c"),
    OK_T("/topic/v1/2.x", false, "v1.2/x"),
    OK_T("/topic/.a", false, "/a"),
    OK_T("/topic/a.", false, "a/"),
    OK_T("/topic/a..b", false, "a//b"),
    OK_T("/topic/.", false, "/"),
    OK_T("/topic//", false, "."),
    OK_T("/topic/a//b", false, "a..b"),
    OK_T("/topic/$SYS.broker", false, "$SYS/broker"),
    OK_T("/topic/sp ace", false, "sp ace"),
    OK_T("/topic/caf\xc3\xa9", false, "caf\xc3\xa9"),
    /* names: '*' and '>' are plain bytes, '+' and '#' impossible */
    OK_T("/topic/a.*", false, "a/*"),
    OK_T("/topic/a.>", false, "a/>"),
    OK_T("/topic/a*b", false, "a*b"),
    ERR("/topic/a.+", false, WILDCARD_IN_NAME),
    ERR("/topic/a.#", false, WILDCARD_IN_NAME),
    ERR("/topic/a#", false, WILDCARD_IN_NAME),
    ERR("/topic/+", false, WILDCARD_IN_NAME),
    /* filters */
    OK_T("/topic/a.*.c", true, "a/+/c"),
    OK_T("/topic/a.#", true, "a/#"),
    OK_T("/topic/a.>", true, "a/#"),
    OK_T("/topic/*", true, "+"),
    OK_T("/topic/#", true, "#"),
    OK_T("/topic/>", true, "#"),
    OK_T("/topic/*.*", true, "+/+"),
    OK_T("/topic/*.>", true, "+/#"),
    OK_T("/topic/a/b.*", true, "a.b/+"),
    OK_T("/topic/a.b", true, "a/b"),
    OK_T("/topic/.*", true, "/+"),
    ERR("/topic/a*", true, BAD_WILDCARD),
    ERR("/topic/a.b*", true, BAD_WILDCARD),
    ERR("/topic/a.>b", true, BAD_WILDCARD),
    ERR("/topic/a.#.b", true, BAD_WILDCARD),
    ERR("/topic/>.b", true, BAD_WILDCARD),
    ERR("/topic/a.+", true, BAD_WILDCARD),
    ERR("/topic/a.**", true, BAD_WILDCARD),
    /* queues */
    OK_Q("/queue/jobs", false, "jobs"),
    OK_Q("/queue/jobs", true, "jobs"),
    OK_Q("/queue/a.b/c", false, "a.b/c"),
    OK_Q("/queue/a*", false, "a*"),
    ERR("/queue/a*", true, WILDCARD_IN_NAME),
    ERR("/queue/a.>", true, WILDCARD_IN_NAME),
    ERR("/queue/a+", false, WILDCARD_IN_NAME),
    ERR("/queue/#", true, WILDCARD_IN_NAME),
    /* prefixes */
    ERR("/topic/", false, EMPTY),
    ERR("/queue/", true, EMPTY),
    ERR("", false, BAD_PREFIX),
    ERR("/topic", false, BAD_PREFIX),
    ERR("topic/a", false, BAD_PREFIX),
    ERR("/topics/a", false, BAD_PREFIX),
    ERR("/Topic/a", false, BAD_PREFIX),
    ERR("/exchange/amq.topic/a", false, BAD_PREFIX),
    ERR("/temp-queue/x", false, BAD_PREFIX),
    ERR("a.b", true, BAD_PREFIX),
    /* UTF-8 (MQTT 1.5.4) */
    ERR("/topic/\xff", false, BAD_UTF8),
    ERR("/topic/\xc0\xaf", false, BAD_UTF8),
    ERR("/topic/\xed\xa0\x80", false, BAD_UTF8),
    ERR("/queue/\xe2\x82", false, BAD_UTF8),
    {"/topic/a\0b", 10, false, STOMP_DEST_E_BAD_UTF8, 0, NULL},
};

static void
check_case(const struct dest_case *c)
{
	size_t len = c->len ? c->len : strlen(c->dest);
	char *d = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
	char out[64];
	enum stomp_dest_kind kind = 0;
	size_t ol = 0;
	enum stomp_dest_err e;

	assert_non_null(d);
	memcpy(d, c->dest, len);
	e = stomp_dest_parse(
	    d, len, out, sizeof(out), c->is_filter, &kind, &ol);
	assert_int_equal(e, c->err);
	if (e == STOMP_DEST_E_OK) {
		assert_int_equal(kind, c->kind);
		assert_int_equal(ol, strlen(c->out));
		assert_memory_equal(out, c->out, ol);
	}
	free(d);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		print_message("%s%s\n", cases[i].dest,
		    cases[i].is_filter ? " (filter)" : "");
		check_case(&cases[i]);
	}
}

static void
test_too_long(void **state)
{
	enum stomp_dest_kind kind;
	char out[8];
	size_t ol;

	(void)state;
	assert_int_equal(
	    stomp_dest_parse("/topic/abcdefgh", 15, out, 8, false, &kind, &ol),
	    STOMP_DEST_E_OK);
	assert_int_equal(
	    stomp_dest_parse("/topic/abcdefghi", 16, out, 8, false, &kind, &ol),
	    STOMP_DEST_E_TOO_LONG);
	assert_int_equal(
	    stomp_dest_parse("/queue/abcdefghi", 16, out, 8, true, &kind, &ol),
	    STOMP_DEST_E_TOO_LONG);
}

struct from_case {
	const char *topic;
	const char *dest;
};

static const struct from_case from_cases[] = {
    {"a/b/c", "/topic/a.b.c"},
    {"a.b/c", "/topic/a/b.c"},
    {"a", "/topic/a"},
    {"/", "/topic/."},
    {"a//b", "/topic/a..b"},
    {"$SYS/x", "/topic/$SYS.x"},
    {"a/*/>", "/topic/a.*.>"},
};

static void
test_from_topic(void **state)
{
	char buf[64];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(from_cases); i++) {
		const struct from_case *c = &from_cases[i];
		size_t n = stomp_dest_from_topic(
		    c->topic, strlen(c->topic), buf, sizeof(buf));

		assert_int_equal(n, strlen(c->dest));
		assert_memory_equal(buf, c->dest, n);
		/* exactly enough room, and one byte short */
		assert_int_equal(
		    stomp_dest_from_topic(c->topic, strlen(c->topic), buf, n),
		    n);
		assert_int_equal(stomp_dest_from_topic(
		                     c->topic, strlen(c->topic), buf, n - 1),
		    0);
	}
	assert_int_equal(stomp_dest_from_topic("a", 1, buf, 3), 0);
}

static void
test_from_queue(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(
	    stomp_dest_from_queue("jobs", 4, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "/queue/jobs", 11);
	assert_int_equal(stomp_dest_from_queue("jobs", 4, buf, 10), 0);
}

static void
test_err_texts(void **state)
{
	(void)state;
	for (unsigned e = 0; e < STOMP_DEST_E_COUNT; e++)
		assert_true(strlen(stomp_dest_err_text(e)) > 0);
	assert_string_equal(
	    stomp_dest_err_text(STOMP_DEST_E_COUNT), "unknown error");
}

/* ---- random property tests ---- */

/* Bytes that matter to the mapping, plus a two-byte UTF-8 character. */
static const char *const atoms[] = {
    "a", "b", ".", "/", "*", ">", "$", " ", "+", "#", "\xc3\xa9", "z"};

/* A random string of 1..max atoms; '+' and '#' only if wild. */
static size_t
random_string(char *buf, size_t max, bool wild)
{
	size_t n = 1 + (size_t)rand() % max, len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *a = atoms[(size_t)rand() % ARRAY_LEN(atoms)];

		if (!wild && (a[0] == '+' || a[0] == '#'))
			a = "x";
		memcpy(buf + len, a, strlen(a));
		len += strlen(a);
	}
	return len;
}

/* Every valid core topic name has one STOMP name that maps back. */
static void
test_topic_roundtrip_property(void **state)
{
	(void)state;
	srand(1234);
	for (int i = 0; i < 100000; i++) {
		char t[64], d[80], back[80];
		size_t tl = random_string(t, 24, false), dl, bl;
		enum stomp_dest_kind kind;

		assert_true(topic_name_is_valid(t, tl));
		dl = stomp_dest_from_topic(t, tl, d, sizeof(d));
		assert_int_equal(dl, tl + 7);
		assert_int_equal(stomp_dest_parse(d, dl, back, sizeof(back),
		                     false, &kind, &bl),
		    STOMP_DEST_E_OK);
		assert_int_equal(kind, STOMP_DEST_TOPIC);
		assert_int_equal(bl, tl);
		assert_memory_equal(back, t, tl);
	}
}

/*
 * Every STOMP topic name the parser accepts maps to a valid core name and
 * back to itself; every accepted filter is a valid core filter.
 */
static void
test_dest_roundtrip_property(void **state)
{
	size_t accepted = 0, filters = 0;

	(void)state;
	srand(5678);
	for (int i = 0; i < 100000; i++) {
		char d[80] = "/topic/", t[80], back[96];
		size_t dl = 7 + random_string(d + 7, 24, true), tl, bl;
		enum stomp_dest_kind kind;

		if (stomp_dest_parse(d, dl, t, sizeof(t), true, &kind, &tl) ==
		    STOMP_DEST_E_OK) {
			assert_true(topic_filter_is_valid(t, tl));
			filters++;
		}
		if (stomp_dest_parse(d, dl, t, sizeof(t), false, &kind, &tl) !=
		    STOMP_DEST_E_OK)
			continue;
		accepted++;
		assert_true(topic_name_is_valid(t, tl));
		bl = stomp_dest_from_topic(t, tl, back, sizeof(back));
		assert_int_equal(bl, dl);
		assert_memory_equal(back, d, dl);
	}
	/* the generator must exercise both outcomes */
	assert_true(accepted > 1000 && accepted < 100000);
	assert_true(filters > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_from_topic),
	    cmocka_unit_test(test_from_queue),
	    cmocka_unit_test(test_err_texts),
	    cmocka_unit_test(test_topic_roundtrip_property),
	    cmocka_unit_test(test_dest_roundtrip_property),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
