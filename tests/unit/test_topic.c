/*
 * test_topic.c - topic names, filters, matching and the subscription
 * tree. Tables come from the examples in MQTT 3.1.1 / 5.0 section 4.7;
 * the tree is checked against topic_matches on random filters and topics.
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

struct match_case {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct match_case match_cases[] = {
    /* MQTT 4.7.1.2: multi-level wildcard */
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport", true},
    {"#", "a/b/c", true},
    {"#", "/", true},
    {"#", "/finance", true},
    /* MQTT 4.7.1.3: single-level wildcard */
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/tennis/+", "sport/tennis/", true},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+", "finance", true},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/golf", false},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"+/+/+", "a/b/c", true},
    {"+/+/+", "a/b", false},
    {"+/+", "a/b/c", false},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a", false},
    {"a/+/#", "a/", true},
    /* MQTT 4.7.2: '$' topics, MQTT-4.7.2-1 */
    {"#", "$SYS/x", false},
    {"#", "$SYS", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+", "$SYS", false},
    {"+/#", "$SYS/x", false},
    {"$SYS/#", "$SYS/x", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/+/Clients", "$SYS/monitor/Clients", true},
    {"a/+", "a/$b", true},
    {"a/#", "a/$b/c", true},
    {"$", "$", true},
    /* literal and empty levels */
    {"a//b", "a//b", true},
    {"a/+/b", "a//b", true},
    {"a//b", "a/b", false},
    {"a/b", "a//b", false},
    {"/", "/", true},
    {"+/+", "/", true},
    {"+", "/", false},
    {"/#", "/", true},
    {"/#", "/a/b", true},
    {"a/b", "a/b", true},
    {"a/b", "a/b/", false},
    {"a/b/", "a/b", false},
    {"a/b", "a/bc", false},
    {"a/bc", "a/b", false},
    {"a", "A", false},
    {"a/#", "a", true},
    {"a/#", "ab", false},
    {"a/b/#", "a", false},
};

static void
test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		bool got = topic_matches(
		    c->filter, strlen(c->filter), c->topic, strlen(c->topic));

		if (got != c->match)
			fail_msg("\"%s\" vs \"%s\": got %d", c->filter,
			    c->topic, got);
	}
}

struct valid_case {
	const char *s;
	bool valid;
};

static const struct valid_case filter_cases[] = {
    {"sport/tennis/#", true},
    {"sport/tennis#", false},
    {"sport/tennis/#/ranking", false},
    {"#/a", false},
    {"a/#/", false},
    {"#", true},
    {"+", true},
    {"+/+", true},
    {"+/tennis/#", true},
    {"sport+", false},
    {"sport/+player", false},
    {"+a", false},
    {"a/++", false},
    {"a/##", false},
    {"a/+#", false},
    {"a/+/b", true},
    {"sport/+/player1", true},
    {"/+", true},
    {"/", true},
    {"//", true},
    {"a//b", true},
    {"$SYS/#", true},
    {"", false},
    {"a/#", true},
    {"/#", true},
};

static const struct valid_case name_cases[] = {
    {"sport/tennis", true},
    {"/finance", true},
    {"/", true},
    {"a//b", true},
    {"$SYS/broker", true},
    {"", false},
    {"sport/+", false},
    {"sport/#", false},
    {"a+b", false},
    {"a#b", false},
    {"+", false},
    {"#", false},
    {"a b/c", true},
};

static void
test_valid_tables(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(filter_cases); i++) {
		const struct valid_case *c = &filter_cases[i];

		if (topic_filter_is_valid(c->s, strlen(c->s)) != c->valid)
			fail_msg("filter \"%s\" expected %d", c->s, c->valid);
	}
	for (size_t i = 0; i < ARRAY_LEN(name_cases); i++) {
		const struct valid_case *c = &name_cases[i];

		if (topic_name_is_valid(c->s, strlen(c->s)) != c->valid)
			fail_msg("name \"%s\" expected %d", c->s, c->valid);
	}
}

static void
test_valid_nul(void **state)
{
	(void)state;
	/* MQTT-4.7.3-2: no NUL in names or filters */
	assert_false(topic_name_is_valid("a\0b", 3));
	assert_false(topic_filter_is_valid("a\0b", 3));
	assert_true(topic_name_is_valid("a\0b", 1));
}

static void
test_levels(void **state)
{
	(void)state;
	assert_int_equal(topic_levels("", 0), 1);
	assert_int_equal(topic_levels("a", 1), 1);
	assert_int_equal(topic_levels("a/b", 3), 2);
	assert_int_equal(topic_levels("a//b", 4), 3);
	assert_int_equal(topic_levels("/", 1), 2);
	assert_int_equal(topic_levels("/a/", 3), 3);
	assert_int_equal(topic_levels("a/b/c/d", 7), 4);
	/* the length bounds the count, not a NUL */
	assert_int_equal(topic_levels("a/b/c", 3), 2);
}

struct share_case {
	const char *s;
	bool shared;
	bool malformed;
	const char *group;
	const char *filter;
};

static const struct share_case share_cases[] = {
    {"$share/g/a/b", true, false, "g", "a/b"},
    {"$share/group1/#", true, false, "group1", "#"},
    {"$share/g/+/x", true, false, "g", "+/x"},
    {"$share/g//", true, false, "g", "/"},
    {"$share//a", true, true, NULL, NULL},
    {"$share/g", true, true, NULL, NULL},
    {"$share/g/", true, true, NULL, NULL},
    {"$share/", true, true, NULL, NULL},
    {"$share/g+/a", true, true, NULL, NULL},
    {"$share/#/a", true, true, NULL, NULL},
    {"$share/+/a", true, true, NULL, NULL},
    {"$share", false, false, NULL, NULL},
    {"$sharex/g/a", false, false, NULL, NULL},
    {"$SHARE/g/a", false, false, NULL, NULL},
    {"a/b", false, false, NULL, NULL},
    {"$queue/jobs", false, false, NULL, NULL},
};

static void
check_share(const struct share_case *c)
{
	const char *g = NULL, *f = NULL;
	size_t gl = 0, fl = 0;
	bool bad = false;
	bool shared =
	    topic_share_split(c->s, strlen(c->s), &g, &gl, &f, &fl, &bad);

	if (shared != c->shared)
		fail_msg("\"%s\": shared %d", c->s, shared);
	if (!shared)
		return;
	if (bad != c->malformed)
		fail_msg("\"%s\": malformed %d", c->s, bad);
	if (c->group == NULL)
		return;
	assert_int_equal(gl, strlen(c->group));
	assert_memory_equal(g, c->group, gl);
	assert_int_equal(fl, strlen(c->filter));
	assert_memory_equal(f, c->filter, fl);
}

static void
test_share_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(share_cases); i++)
		check_share(&share_cases[i]);
}

/* ---- tree helpers ---- */

#define NSUB 512

/* Fake subscribers are small integers cast to pointers (never touched). */
static void *
fake(uintptr_t i)
{
	return (void *)(i + 1);
}

static uintptr_t
fake_id(const void *p)
{
	return (uintptr_t)p - 1;
}

struct seen {
	int plain[NSUB];
	int grouped[NSUB];
	int groups;
	uint8_t qos[NSUB];
};

static void
seen_sub(void *arg, void *subscriber, const struct sub_opts *opts)
{
	struct seen *s = arg;
	uintptr_t id = fake_id(subscriber);

	assert_true(id < NSUB);
	s->plain[id]++;
	s->qos[id] = opts->qos;
}

static void
seen_member(void *arg, void *subscriber, const struct sub_opts *opts)
{
	struct seen *s = arg;
	uintptr_t id = fake_id(subscriber);

	(void)opts;
	assert_true(id < NSUB);
	s->grouped[id]++;
}

static void
seen_group(void *arg, struct topic_group *g)
{
	struct seen *s = arg;

	s->groups++;
	topic_group_foreach(g, seen_member, s);
}

static void
match(struct topic_tree *t, const char *topic, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	topic_tree_match(t, topic, strlen(topic), seen_sub, seen_group, s);
}

static bool
sub(struct topic_tree *t, const char *f, const char *g, uintptr_t id,
    uint8_t qos)
{
	struct sub_opts o = {.qos = qos};

	return topic_tree_subscribe(
	    t, f, strlen(f), g, g ? strlen(g) : 0, fake(id), &o);
}

static bool
unsub(struct topic_tree *t, const char *f, const char *g, uintptr_t id)
{
	return topic_tree_unsubscribe(
	    t, f, strlen(f), g, g ? strlen(g) : 0, fake(id));
}

/* ---- tree tests ---- */

static void
test_tree_basic(void **state)
{
	struct topic_tree *t = topic_tree_new();
	struct seen s;

	(void)state;
	assert_false(sub(t, "sport/tennis/+", NULL, 0, 0));
	assert_false(sub(t, "sport/#", NULL, 1, 1));
	assert_false(sub(t, "#", NULL, 2, 2));
	assert_false(sub(t, "$SYS/#", NULL, 3, 0));
	assert_false(sub(t, "sport/tennis/player1", NULL, 4, 0));
	assert_int_equal(topic_tree_count(t), 5);

	match(t, "sport/tennis/player1", &s);
	assert_int_equal(s.plain[0] + s.plain[1] + s.plain[2], 3);
	assert_int_equal(s.plain[3], 0);
	assert_int_equal(s.plain[4], 1);
	assert_int_equal(s.qos[1], 1);

	match(t, "sport", &s);
	assert_int_equal(s.plain[0], 0);
	assert_int_equal(s.plain[1], 1); /* "sport/#" matches "sport" */
	assert_int_equal(s.plain[2], 1);

	match(t, "$SYS/x", &s);
	assert_int_equal(s.plain[2], 0); /* MQTT-4.7.2-1 */
	assert_int_equal(s.plain[3], 1);
	topic_tree_free(t);
}

static void
test_tree_replace(void **state)
{
	struct topic_tree *t = topic_tree_new();
	struct seen s;

	(void)state;
	assert_false(sub(t, "a/b", NULL, 7, 0));
	assert_true(sub(t, "a/b", NULL, 7, 2)); /* replaces the options */
	assert_int_equal(topic_tree_count(t), 1);
	match(t, "a/b", &s);
	assert_int_equal(s.plain[7], 1);
	assert_int_equal(s.qos[7], 2);

	/* a share group subscription is a different (filter, group) pair */
	assert_false(sub(t, "a/b", "g", 7, 1));
	assert_true(sub(t, "a/b", "g", 7, 1));
	assert_false(sub(t, "a/b", "h", 7, 1));
	assert_int_equal(topic_tree_count(t), 3);
	match(t, "a/b", &s);
	assert_int_equal(s.plain[7], 1);
	assert_int_equal(s.groups, 2);
	assert_int_equal(s.grouped[7], 2);
	topic_tree_free(t);
}

static void
test_tree_overlap(void **state)
{
	struct topic_tree *t = topic_tree_new();
	struct seen s;

	(void)state;
	/* one subscriber, several matching filters: reported once each */
	sub(t, "a/#", NULL, 1, 0);
	sub(t, "a/+", NULL, 1, 0);
	sub(t, "a/b", NULL, 1, 0);
	sub(t, "#", NULL, 1, 0);
	sub(t, "+/b", NULL, 1, 0);
	match(t, "a/b", &s);
	assert_int_equal(s.plain[1], 5);
	match(t, "a", &s);
	assert_int_equal(s.plain[1], 2); /* "a/#" and "#" */
	topic_tree_free(t);
}

static void
test_tree_unsubscribe(void **state)
{
	struct topic_tree *t = topic_tree_new();
	struct seen s;

	(void)state;
	sub(t, "a/b/c", NULL, 1, 0);
	sub(t, "a/b", NULL, 2, 0);
	sub(t, "a/+/#", "g", 3, 0);
	assert_int_equal(topic_tree_node_count(t), 5);

	assert_false(unsub(t, "a/b/c", NULL, 2)); /* not subscribed */
	assert_false(unsub(t, "a/b/c/d", NULL, 1)); /* no such node */
	assert_false(unsub(t, "a/+/#", NULL, 3)); /* it is in a group */
	assert_false(unsub(t, "a/+/#", "h", 3)); /* not that group */
	assert_false(unsub(t, "x", NULL, 3));
	assert_int_equal(topic_tree_count(t), 3);

	assert_true(unsub(t, "a/b/c", NULL, 1));
	assert_false(unsub(t, "a/b/c", NULL, 1));
	assert_int_equal(topic_tree_node_count(t), 4); /* c freed */
	match(t, "a/b/c", &s);
	assert_int_equal(s.plain[1], 0);
	assert_int_equal(s.grouped[3], 1);

	assert_true(unsub(t, "a/+/#", "g", 3));
	assert_int_equal(topic_tree_node_count(t), 2); /* a, b */
	assert_true(unsub(t, "a/b", NULL, 2));
	assert_int_equal(topic_tree_count(t), 0);
	assert_int_equal(topic_tree_node_count(t), 0);
	match(t, "a/b", &s);
	assert_int_equal(s.plain[2], 0);
	topic_tree_free(t);
}

/* Interior nodes stay while a descendant needs them. */
static void
test_tree_prune_keeps_needed(void **state)
{
	struct topic_tree *t = topic_tree_new();

	(void)state;
	sub(t, "a", NULL, 1, 0);
	sub(t, "a/b/c/d", NULL, 2, 0);
	assert_int_equal(topic_tree_node_count(t), 4);
	assert_true(unsub(t, "a", NULL, 1));
	assert_int_equal(topic_tree_node_count(t), 4);
	assert_true(unsub(t, "a/b/c/d", NULL, 2));
	assert_int_equal(topic_tree_node_count(t), 0);
	topic_tree_free(t);
}

/* Wide nodes switch the level index to a hash table and back. */
static void
test_tree_wide(void **state)
{
	struct topic_tree *t = topic_tree_new();
	char f[32];
	struct seen s;
	const unsigned n = 400;

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "dev/%u/up", i);
		assert_false(sub(t, f, NULL, i, 0));
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "dev/%u/up", i);
		match(t, f, &s);
		assert_int_equal(s.plain[i], 1);
	}
	/* remove in a scattered order to exercise backward-shift delete */
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (k * 7919u) % n;

		snprintf(f, sizeof(f), "dev/%u/up", i);
		assert_true(unsub(t, f, NULL, i));
		snprintf(f, sizeof(f), "dev/%u/up", (i * 31u + 1) % n);
		match(t, f, &s); /* survivors still reachable */
	}
	assert_int_equal(topic_tree_count(t), 0);
	assert_int_equal(topic_tree_node_count(t), 0);
	topic_tree_free(t);
}

static void
test_tree_deep(void **state)
{
	struct topic_tree *t = topic_tree_new();
	char topic[200];
	struct seen s;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(topic + n, sizeof(topic) - n, "%s%c",
		    i ? "/" : "", 'a' + i % 26);
	sub(t, topic, NULL, 1, 0);
	sub(t, "a/#", NULL, 2, 0);
	match(t, topic, &s); /* deeper than the on-stack split */
	assert_int_equal(s.plain[1], 1);
	assert_int_equal(s.plain[2], 1);
	topic_tree_free(t);
}

/* ---- share groups ---- */

static struct topic_group *found_group;

static void
grab_group(void *arg, struct topic_group *g)
{
	(void)arg;
	found_group = g;
}

static struct topic_group *
group_of(struct topic_tree *t, const char *topic)
{
	found_group = NULL;
	topic_tree_match(t, topic, strlen(topic), NULL, grab_group, NULL);
	return found_group;
}

static uintptr_t
pick(struct topic_group *g, topic_member_ok_fn *ok, void *arg)
{
	const struct sub_opts *o = NULL;
	void *p = topic_group_pick(g, ok, arg, &o);

	assert_non_null(p);
	assert_non_null(o);
	return fake_id(p);
}

static bool
ok_not_busy(void *arg, void *subscriber, const struct sub_opts *opts)
{
	const bool *busy = arg;

	(void)opts;
	return !busy[fake_id(subscriber)];
}

static void
test_group_round_robin(void **state)
{
	struct topic_tree *t = topic_tree_new();
	struct topic_group *g;
	bool busy[4] = {false, false, false, false};

	(void)state;
	for (uintptr_t i = 0; i < 4; i++)
		sub(t, "jobs/+", "workers", i, 1);
	g = group_of(t, "jobs/x");
	assert_non_null(g);
	for (int round = 0; round < 3; round++) {
		for (uintptr_t i = 0; i < 4; i++)
			assert_int_equal(pick(g, NULL, NULL), i);
	}
	/* ok skips members that cannot take a message now */
	busy[1] = busy[2] = true;
	assert_int_equal(pick(g, ok_not_busy, busy), 0);
	assert_int_equal(pick(g, ok_not_busy, busy), 3);
	assert_int_equal(pick(g, ok_not_busy, busy), 0);
	/* none ok: the next one regardless */
	memset(busy, true, sizeof(busy));
	assert_int_equal(pick(g, ok_not_busy, busy), 1);
	assert_int_equal(pick(g, ok_not_busy, busy), 2);
	topic_tree_free(t);
}

static void
test_group_member_removal(void **state)
{
	struct topic_tree *t = topic_tree_new();
	struct topic_group *g;

	(void)state;
	for (uintptr_t i = 0; i < 5; i++)
		sub(t, "q", "g", i, 0);
	g = group_of(t, "q");
	assert_int_equal(pick(g, NULL, NULL), 0);
	assert_int_equal(pick(g, NULL, NULL), 1); /* cursor now at 2 */
	assert_true(unsub(t, "q", "g", 0)); /* before the cursor */
	assert_int_equal(pick(g, NULL, NULL), 2);
	assert_true(unsub(t, "q", "g", 3)); /* the next one */
	assert_int_equal(pick(g, NULL, NULL), 4);
	assert_true(unsub(t, "q", "g", 4)); /* the last, cursor wraps */
	assert_int_equal(pick(g, NULL, NULL), 1);
	assert_int_equal(pick(g, NULL, NULL), 2);
	assert_int_equal(pick(g, NULL, NULL), 1);
	assert_true(unsub(t, "q", "g", 2)); /* cursor past the end */
	assert_int_equal(pick(g, NULL, NULL), 1);
	assert_int_equal(pick(g, NULL, NULL), 1);
	assert_true(unsub(t, "q", "g", 1)); /* group and node go */
	assert_null(group_of(t, "q"));
	assert_int_equal(topic_tree_node_count(t), 0);
	topic_tree_free(t);
}

static void
test_group_pick_opts(void **state)
{
	struct topic_tree *t = topic_tree_new();
	const struct sub_opts *o = NULL;
	struct topic_group *g;

	(void)state;
	sub(t, "a/#", "g", 1, 2);
	g = group_of(t, "a");
	assert_non_null(g);
	assert_int_equal(fake_id(topic_group_pick(g, NULL, NULL, &o)), 1);
	assert_int_equal(o->qos, 2);
	assert_null(group_of(t, "b"));
	topic_tree_free(t);
}

/* ---- property test: tree agrees with topic_matches ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Level names: a few short ones so filters collide, plus a wide set. */
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

/* A random valid topic name of 1..5 levels. */
static void
rnd_topic(char *out, size_t n)
{
	unsigned depth = 1 + rng() % 5;
	char lv[16];

	out[0] = '\0';
	for (unsigned i = 0; i < depth; i++) {
		strncat(out, rnd_level(lv, sizeof(lv)), n - strlen(out) - 1);
		if (i + 1 < depth)
			strncat(out, "/", n - strlen(out) - 1);
	}
	if (out[0] == '\0') /* MQTT-4.7.3-1: at least one character */
		rnd_topic(out, n);
}

/* A random valid filter of 1..5 levels. */
static void
rnd_filter(char *out, size_t n)
{
	unsigned depth = 1 + rng() % 5;
	char lv[16];
	const char *l;

	out[0] = '\0';
	for (unsigned i = 0; i < depth; i++) {
		unsigned r = rng() % 8;

		l = r == 0                     ? "+"
		    : r == 1 && i + 1 == depth ? "#"
		                               : rnd_level(lv, sizeof(lv));
		strncat(out, l, n - strlen(out) - 1);
		if (i + 1 < depth)
			strncat(out, "/", n - strlen(out) - 1);
	}
	if (out[0] == '\0') /* MQTT-4.7.3-1: at least one character */
		rnd_filter(out, n);
}

#define PROP_FILTERS 400
#define PROP_TOPICS 600

static char prop_filters[PROP_FILTERS][64];
static bool prop_live[PROP_FILTERS];

/* Every topic: the tree reports exactly the live filters that match. */
static void
prop_check(struct topic_tree *t, char topics[][64])
{
	struct seen s;
	int want, got, total = 0;

	for (int k = 0; k < PROP_TOPICS; k++) {
		const char *tp = topics[k];

		match(t, tp, &s);
		for (int i = 0; i < PROP_FILTERS; i++) {
			want = prop_live[i] &&
			    topic_matches(prop_filters[i],
			        strlen(prop_filters[i]), tp, strlen(tp));
			got = s.plain[i];
			if (got != want || s.grouped[i] != want)
				fail_msg("\"%s\" vs \"%s\": want %d got %d/%d",
				    prop_filters[i], tp, want, got,
				    s.grouped[i]);
			total += want;
		}
	}
	assert_true(total > PROP_TOPICS); /* the test is not vacuous */
}

static void
test_tree_property(void **state)
{
	static char topics[PROP_TOPICS][64];
	struct topic_tree *t = topic_tree_new();
	size_t live = PROP_FILTERS;

	(void)state;
	for (int i = 0; i < PROP_FILTERS; i++) {
		rnd_filter(prop_filters[i], sizeof(prop_filters[i]));
		if (!topic_filter_is_valid(
		        prop_filters[i], strlen(prop_filters[i])))
			fail_msg("generated \"%s\"", prop_filters[i]);
		prop_live[i] = true;
		sub(t, prop_filters[i], NULL, (uintptr_t)i, 0);
		sub(t, prop_filters[i], "grp", (uintptr_t)i, 0);
	}
	for (int k = 0; k < PROP_TOPICS; k++)
		rnd_topic(topics[k], sizeof(topics[k]));
	assert_int_equal(topic_tree_count(t), 2 * PROP_FILTERS);
	prop_check(t, topics);

	/* drop a random half, check again, then the rest */
	for (int i = 0; i < PROP_FILTERS; i++) {
		if (rng() % 2 != 0)
			continue;
		assert_true(unsub(t, prop_filters[i], NULL, (uintptr_t)i));
		assert_true(unsub(t, prop_filters[i], "grp", (uintptr_t)i));
		prop_live[i] = false;
		live--;
	}
	assert_int_equal(topic_tree_count(t), 2 * live);
	prop_check(t, topics);
	for (int i = 0; i < PROP_FILTERS; i++) {
		if (!prop_live[i])
			continue;
		assert_true(unsub(t, prop_filters[i], "grp", (uintptr_t)i));
		assert_true(unsub(t, prop_filters[i], NULL, (uintptr_t)i));
		prop_live[i] = false;
	}
	assert_int_equal(topic_tree_count(t), 0);
	assert_int_equal(topic_tree_node_count(t), 0);
	topic_tree_free(t);
}

/* The matcher itself agrees with a level-by-level reference. */
static void
test_matches_self_consistent(void **state)
{
	char f[64], tp[64];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		rnd_filter(f, sizeof(f));
		rnd_topic(tp, sizeof(tp));
		/* a filter that is a valid name matches only itself */
		if (topic_name_is_valid(f, strlen(f)))
			assert_int_equal(
			    topic_matches(f, strlen(f), tp, strlen(tp)),
			    strcmp(f, tp) == 0);
		assert_true(topic_matches(tp, strlen(tp), tp, strlen(tp)));
	}
}

/* Freeing a populated tree releases everything (checked under ASan). */
static void
test_tree_free_populated(void **state)
{
	struct topic_tree *t = topic_tree_new();

	(void)state;
	sub(t, "a/b", NULL, 1, 0);
	sub(t, "a/+", "g", 1, 0);
	sub(t, "a/+", "g", 2, 0);
	sub(t, "#", "h", 3, 0);
	topic_tree_free(t);
	topic_tree_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_match_table),
	    cmocka_unit_test(test_valid_tables),
	    cmocka_unit_test(test_valid_nul),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_share_split),
	    cmocka_unit_test(test_tree_basic),
	    cmocka_unit_test(test_tree_replace),
	    cmocka_unit_test(test_tree_overlap),
	    cmocka_unit_test(test_tree_unsubscribe),
	    cmocka_unit_test(test_tree_prune_keeps_needed),
	    cmocka_unit_test(test_tree_wide),
	    cmocka_unit_test(test_tree_deep),
	    cmocka_unit_test(test_group_round_robin),
	    cmocka_unit_test(test_group_member_removal),
	    cmocka_unit_test(test_group_pick_opts),
	    cmocka_unit_test(test_tree_property),
	    cmocka_unit_test(test_matches_self_consistent),
	    cmocka_unit_test(test_tree_free_populated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
