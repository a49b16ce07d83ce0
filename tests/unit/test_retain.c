/*
 * test_retain.c - the retained store: set, replace, clear, wildcard
 * lookup with the '$' rule, reference counts, and a property test
 * against topic_matches. Run under ASan to check references and nodes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/retain.h"
#include "core/topic.h"

static struct msg *
mk(const char *topic, const char *payload)
{
	struct msg_init mi = {
	    .topic = topic,
	    .topic_len = strlen(topic),
	    .payload = payload,
	    .payload_len = strlen(payload),
	    .qos = 1,
	    .retain = true,
	};

	return msg_new(&mi);
}

/* Topics reported by a match, in a small set. */
#define SEEN_MAX 1024

struct seen {
	const struct msg *m[SEEN_MAX];
	size_t n;
};

static void
seen_add(void *arg, struct msg *m)
{
	struct seen *s = arg;

	for (size_t i = 0; i < s->n; i++)
		assert_ptr_not_equal(s->m[i], m); /* each reported once */
	assert_true(s->n < SEEN_MAX);
	s->m[s->n++] = m;
}

static bool
seen_has(const struct seen *s, const char *topic)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->m[i]->topic, topic) == 0)
			return true;
	}
	return false;
}

static size_t
match(struct retain_store *rs, const char *filter, struct seen *s)
{
	s->n = 0;
	retain_match(rs, filter, strlen(filter), seen_add, s);
	return s->n;
}

static void
put(struct retain_store *rs, const char *topic)
{
	struct msg *m = mk(topic, "x");

	assert_true(retain_set(rs, m));
	msg_unref(m);
}

static void
test_set_get_replace(void **state)
{
	struct retain_store *rs = retain_new();
	struct msg *a = mk("a/b", "one"), *b = mk("a/b", "two");

	(void)state;
	assert_null(retain_get(rs, "a/b", 3));
	assert_true(retain_set(rs, a));
	assert_int_equal(a->refs, 2);
	assert_ptr_equal(retain_get(rs, "a/b", 3), a);
	assert_null(retain_get(rs, "a", 1));
	assert_null(retain_get(rs, "a/b/c", 5));
	assert_int_equal(retain_count(rs), 1);

	assert_true(retain_set(rs, b)); /* replace drops the old ref */
	assert_int_equal(a->refs, 1);
	assert_int_equal(b->refs, 2);
	assert_ptr_equal(retain_get(rs, "a/b", 3), b);
	assert_int_equal(retain_count(rs), 1);

	assert_true(retain_set(rs, b)); /* setting the same msg again */
	assert_int_equal(b->refs, 2);

	retain_free(rs);
	assert_int_equal(a->refs, 1);
	assert_int_equal(b->refs, 1);
	msg_unref(a);
	msg_unref(b);
}

static void
test_empty_payload_clears(void **state)
{
	struct retain_store *rs = retain_new();
	struct msg *a = mk("a/b", "one"), *e = mk("a/b", ""),
	           *e2 = mk("x/y", "");

	(void)state;
	/* MQTT-3.3.1-10/11: a zero-byte retained message clears, not stored */
	assert_false(retain_set(rs, e2));
	assert_int_equal(e2->refs, 1);
	assert_int_equal(retain_count(rs), 0);
	assert_int_equal(retain_node_count(rs), 0);

	assert_true(retain_set(rs, a));
	assert_true(retain_set(rs, e));
	assert_int_equal(e->refs, 1);
	assert_int_equal(a->refs, 1);
	assert_null(retain_get(rs, "a/b", 3));
	assert_int_equal(retain_count(rs), 0);
	assert_int_equal(retain_node_count(rs), 0);
	assert_false(retain_set(rs, e)); /* nothing left to clear */
	retain_free(rs);
	msg_unref(a);
	msg_unref(e);
	msg_unref(e2);
}

static void
test_clear_and_prune(void **state)
{
	struct retain_store *rs = retain_new();

	(void)state;
	put(rs, "a");
	put(rs, "a/b/c");
	put(rs, "a/b/d");
	assert_int_equal(retain_node_count(rs), 4);
	assert_false(retain_clear(rs, "a/b", 3)); /* a node, no message */
	assert_false(retain_clear(rs, "a/x", 3));
	assert_false(retain_clear(rs, "a/b/c/d", 7));
	assert_true(retain_clear(rs, "a/b/c", 5));
	assert_false(retain_clear(rs, "a/b/c", 5));
	assert_int_equal(retain_node_count(rs), 3);
	assert_true(retain_clear(rs, "a", 1)); /* still needed by a/b/d */
	assert_int_equal(retain_node_count(rs), 3);
	assert_true(retain_clear(rs, "a/b/d", 5));
	assert_int_equal(retain_node_count(rs), 0);
	assert_int_equal(retain_count(rs), 0);
	retain_free(rs);
}

static const char *const wild_topics[] = {
    "sport",
    "sport/tennis",
    "sport/tennis/player1",
    "sport/tennis/player1/ranking",
    "sport/tennis/player2",
    "sport/golf",
    "/finance",
    "finance",
    "$SYS/broker/uptime",
    "$SYS",
    "a//b",
    "a/$x",
};

struct wild_case {
	const char *filter;
	size_t count;
};

static const struct wild_case wild_cases[] = {
    {"#", 10},
    {"+", 2},
    {"sport/#", 6},
    {"sport/tennis/player1/#", 2},
    {"sport/tennis/+", 2},
    {"sport/+", 2},
    {"+/+", 4},
    {"/+", 1},
    {"+/tennis/#", 4},
    {"$SYS/#", 2},
    {"$SYS/+/uptime", 1},
    {"+/broker/uptime", 0},
    {"+/+/+", 3},
    {"a/+/b", 1},
    {"a/+", 1},
    {"sport/tennis/player1", 1},
    {"sport/tennis/player3", 0},
    {"nothing/#", 0},
};

static void
test_match_wildcards(void **state)
{
	struct retain_store *rs = retain_new();
	struct seen s;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(wild_topics); i++)
		put(rs, wild_topics[i]);
	for (size_t i = 0; i < ARRAY_LEN(wild_cases); i++) {
		const struct wild_case *c = &wild_cases[i];

		if (match(rs, c->filter, &s) != c->count)
			fail_msg(
			    "\"%s\": %zu, want %zu", c->filter, s.n, c->count);
	}
	match(rs, "#", &s);
	assert_false(seen_has(&s, "$SYS")); /* MQTT-4.7.2-1 */
	assert_true(seen_has(&s, "a/$x"));
	match(rs, "sport/#", &s);
	assert_true(seen_has(&s, "sport")); /* "a/#" matches "a" */
	retain_free(rs);
}

static void
count_one(void *arg, struct msg *m)
{
	size_t *n = arg;

	assert_int_equal(m->refs, 1); /* put() left the store's only */
	(*n)++;
}

static void
test_foreach_count(void **state)
{
	struct retain_store *rs = retain_new();
	struct seen s;
	size_t n = 0;

	(void)state;
	retain_foreach(rs, count_one, &n);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < ARRAY_LEN(wild_topics); i++)
		put(rs, wild_topics[i]);
	assert_int_equal(retain_count(rs), ARRAY_LEN(wild_topics));
	retain_foreach(rs, count_one, &n);
	assert_int_equal(n, ARRAY_LEN(wild_topics));
	s.n = 0;
	retain_foreach(rs, seen_add, &s);
	assert_true(seen_has(&s, "$SYS")); /* foreach includes '$' */
	retain_free(rs);
}

/* Many siblings move the level index to a hash table and back. */
static void
test_wide(void **state)
{
	struct retain_store *rs = retain_new();
	char t[32];
	struct seen s;
	const unsigned n = 300;

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		snprintf(t, sizeof(t), "dev/%u/temp", i);
		put(rs, t);
	}
	assert_int_equal(match(rs, "dev/+/temp", &s), n);
	assert_int_equal(match(rs, "dev/17/temp", &s), 1);
	for (unsigned k = 0; k < n; k++) {
		snprintf(t, sizeof(t), "dev/%u/temp", (k * 7919u) % n);
		assert_true(retain_clear(rs, t, strlen(t)));
		assert_int_equal(retain_count(rs), n - k - 1);
	}
	assert_int_equal(retain_node_count(rs), 0);
	retain_free(rs);
}

/* ---- property test against topic_matches ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *
rnd_level(char *buf, size_t n)
{
	static const char *const few[] = {"a", "b", "c", "", "$s", "ab"};

	if (rng() % 4 == 0) {
		snprintf(buf, n, "w%u", rng() % 40);
		return buf;
	}
	return few[rng() % ARRAY_LEN(few)];
}

/* A random valid name (wild false) or filter (wild true), 1..5 levels. */
static void
rnd_path(char *out, size_t n, bool wild)
{
	unsigned depth = 1 + rng() % 5, r;
	char lv[16];
	const char *l;

	out[0] = '\0';
	for (unsigned i = 0; i < depth; i++) {
		r = wild ? rng() % 8 : 7;
		l = r == 0                     ? "+"
		    : r == 1 && i + 1 == depth ? "#"
		                               : rnd_level(lv, sizeof(lv));
		strncat(out, l, n - strlen(out) - 1);
		if (i + 1 < depth)
			strncat(out, "/", n - strlen(out) - 1);
	}
	if (out[0] == '\0') /* MQTT-4.7.3-1: at least one character */
		rnd_path(out, n, wild);
}

#define PROP_TOPICS 800
#define PROP_FILTERS 600

/* How many messages match f; fails on one topic_matches rejects. */
static size_t
count_matching(struct retain_store *rs, const char *f)
{
	struct seen s;

	match(rs, f, &s);
	for (size_t i = 0; i < s.n; i++) {
		if (!topic_matches(
		        f, strlen(f), s.m[i]->topic, s.m[i]->topic_len))
			fail_msg("\"%s\" reported \"%s\"", f, s.m[i]->topic);
	}
	return s.n;
}

/* Every filter: the store reports exactly the stored topics it matches. */
static void
prop_check(struct retain_store *rs, char topics[][64], const bool *live)
{
	char f[64];
	size_t want, total = 0;

	for (int k = 0; k < PROP_FILTERS; k++) {
		rnd_path(f, sizeof(f), true);
		want = 0;
		for (int i = 0; i < PROP_TOPICS; i++) {
			want += live[i] &&
			    topic_matches(
			        f, strlen(f), topics[i], strlen(topics[i]));
		}
		if (count_matching(rs, f) != want)
			fail_msg("\"%s\": want %zu", f, want);
		total += want;
	}
	assert_true(total > PROP_FILTERS); /* the test is not vacuous */
}

static void
test_property(void **state)
{
	static char topics[PROP_TOPICS][64];
	static bool live[PROP_TOPICS];
	struct retain_store *rs = retain_new();

	(void)state;
	for (int i = 0; i < PROP_TOPICS; i++) {
		rnd_path(topics[i], sizeof(topics[i]), false);
		live[i] = true;
		for (int j = 0; j < i; j++)
			live[i] = live[i] && strcmp(topics[i], topics[j]) != 0;
		if (live[i])
			put(rs, topics[i]);
	}
	prop_check(rs, topics, live);
	for (int i = 0; i < PROP_TOPICS; i++) {
		if (!live[i] || rng() % 2 != 0)
			continue;
		assert_true(retain_clear(rs, topics[i], strlen(topics[i])));
		live[i] = false;
	}
	prop_check(rs, topics, live);
	for (int i = 0; i < PROP_TOPICS; i++) {
		if (live[i])
			assert_true(
			    retain_clear(rs, topics[i], strlen(topics[i])));
	}
	assert_int_equal(retain_count(rs), 0);
	assert_int_equal(retain_node_count(rs), 0);
	retain_free(rs);
}

/* The store's references are its own: callers' refs end at 1. */
static void
test_refcount_free(void **state)
{
	struct msg *m[16];
	struct retain_store *rs = retain_new();
	char t[32];

	(void)state;
	for (int i = 0; i < 16; i++) {
		snprintf(t, sizeof(t), "r/%d/%d", i % 4, i);
		m[i] = mk(t, "v");
		assert_true(retain_set(rs, m[i]));
		assert_int_equal(m[i]->refs, 2);
	}
	retain_free(rs);
	retain_free(NULL);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(m[i]->refs, 1);
		msg_unref(m[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_get_replace),
	    cmocka_unit_test(test_empty_payload_clears),
	    cmocka_unit_test(test_clear_and_prune),
	    cmocka_unit_test(test_match_wildcards),
	    cmocka_unit_test(test_foreach_count),
	    cmocka_unit_test(test_wide),
	    cmocka_unit_test(test_property),
	    cmocka_unit_test(test_refcount_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
