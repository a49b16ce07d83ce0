/*
 * topic.c - topic names, filters and the subscription tree.
 *
 * Wildcard rules (MQTT 3.1.1 and 5.0, section 4.7), as in topic.h:
 *  - levels are separated by '/'; empty levels are legal ("a//b", "/a");
 *  - '+' matches exactly one level and must occupy a whole level
 *    (MQTT-4.7.1-3);
 *  - '#' matches its parent level and every level below; it must be the
 *    last level and occupy it whole (MQTT-4.7.1-2), so "a/#" matches "a";
 *  - a filter starting with a wildcard does not match a topic name that
 *    starts with '$' (MQTT-4.7.2-1), while "$SYS/#" matches "$SYS/x";
 *  - topic names carry no wildcards (MQTT-4.7.1-1); names and filters are
 *    at least one character (MQTT-4.7.3-1) with no NUL (MQTT-4.7.3-2).
 *
 * The tree has one node per filter level. A node keeps its literal
 * children in a level index (struct topic_kids: linear scan while small,
 * a hash table once wide) and its '+' and '#' children in dedicated
 * slots, so matching a topic of n levels touches at most the literal,
 * '+' and '#' child of each visited node and never searches for a
 * wildcard. Plain subscriptions sit in a compact array of
 * {subscriber, opts}; share groups in a short list, each with its member
 * array and round-robin cursor. Unsubscribing frees the nodes it empties
 * up to the root, so the tree never holds dead branches.
 */
#include "core/topic.h"

#include <stdlib.h>
#include <string.h>

#include "core/list.h"

/* Topics up to this depth are split on the stack when matching. */
#define TOPIC_MATCH_STACK 32
/* The first hash table size once the dense array overflows. */
#define TOPIC_KIDS_TABLE 32

struct topic_sub {
	void *subscriber;
	struct sub_opts opts;
};

/* A compact array of subscriptions, kept in insertion order. */
struct topic_subs {
	struct topic_sub *v;
	uint32_t n, cap;
};

struct topic_group {
	struct list link; /* in topic_node.groups */
	struct topic_subs members;
	uint32_t cursor; /* index of the next member to try */
	uint32_t name_len;
	char name[];
};

struct topic_node {
	struct topic_level lv; /* lv.name points at name[] below */
	struct topic_node *parent;
	struct topic_node *plus; /* the '+' child */
	struct topic_node *pound; /* the '#' child, always a leaf */
	struct topic_kids kids; /* literal children */
	struct topic_subs subs; /* plain subscriptions */
	struct list groups; /* struct topic_group */
	char name[];
};

struct topic_tree {
	struct topic_node *root;
	size_t count; /* subscriptions */
	size_t nodes; /* below the root */
};

/* One topic level being matched: where it is and its hash. */
struct topic_span {
	const char *s;
	uint32_t len;
	uint32_t hash;
};

struct topic_walk {
	const struct topic_span *lv;
	size_t n;
	topic_sub_fn *sub_fn;
	topic_group_fn *group_fn;
	void *arg;
};

/* ---- names and filters ---- */

/* Length of the level starting at off in s[0..len): up to '/' or the end. */
static size_t
topic_level_len(const char *s, size_t len, size_t off)
{
	const char *e = memchr(s + off, '/', len - off);

	return e != NULL ? (size_t)(e - (s + off)) : len - off;
}

static bool
topic_level_is(const char *s, size_t len, char c)
{
	return len == 1 && s[0] == c;
}

bool
topic_name_is_valid(const char *t, size_t len)
{
	if (len == 0) /* MQTT-4.7.3-1 */
		return false;
	for (size_t i = 0; i < len; i++) {
		/* MQTT-4.7.1-1 no wildcards, MQTT-4.7.3-2 no NUL */
		if (t[i] == '+' || t[i] == '#' || t[i] == '\0')
			return false;
	}
	return true;
}

/* May this level of a filter stand there (last: it ends the filter)? */
static bool
topic_filter_level_is_valid(const char *s, size_t len, bool last)
{
	if (topic_level_is(s, len, '#')) /* MQTT-4.7.1-2: '#' is last */
		return last;
	if (topic_level_is(s, len, '+'))
		return true;
	/* MQTT-4.7.1-2, MQTT-4.7.1-3: a wildcard occupies a whole level */
	return memchr(s, '+', len) == NULL && memchr(s, '#', len) == NULL;
}

bool
topic_filter_is_valid(const char *f, size_t len)
{
	size_t off = 0, l;

	if (len == 0 || memchr(f, '\0', len) != NULL) /* MQTT-4.7.3-1/2 */
		return false;
	for (;;) {
		l = topic_level_len(f, len, off);
		if (!topic_filter_level_is_valid(f + off, l, off + l == len))
			return false;
		off += l + 1;
		if (off > len)
			return true;
	}
}

/* One filter level against one topic level ('+' matches any). */
static bool
topic_level_matches(const char *f, size_t fl, const char *t, size_t tl)
{
	if (topic_level_is(f, fl, '+'))
		return true;
	return fl == tl && memcmp(f, t, fl) == 0;
}

bool
topic_matches(const char *f, size_t flen, const char *t, size_t tlen)
{
	size_t fo = 0, to = 0, fl, tl;

	/* MQTT-4.7.2-1: no leading wildcard matches a '$' topic */
	if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		fl = topic_level_len(f, flen, fo);
		if (topic_level_is(f + fo, fl, '#'))
			return true; /* the rest, parent level included */
		if (to > tlen)
			return false; /* topic ran out first */
		tl = topic_level_len(t, tlen, to);
		if (!topic_level_matches(f + fo, fl, t + to, tl))
			return false;
		fo += fl + 1;
		to += tl + 1;
		if (fo > flen)
			return to > tlen;
	}
}

size_t
topic_levels(const char *t, size_t len)
{
	size_t n = 1;

	for (const char *p = t; (p = memchr(p, '/', len - (size_t)(p - t)));
	     p++)
		n++;
	return n;
}

#define TOPIC_SHARE_PREFIX "$share/"

bool
topic_share_split(const char *s, size_t len, const char **group, size_t *glen,
    const char **filter, size_t *flen, bool *malformed)
{
	const size_t plen = sizeof(TOPIC_SHARE_PREFIX) - 1;
	const char *g = s + plen, *slash;

	if (len < plen || memcmp(s, TOPIC_SHARE_PREFIX, plen) != 0)
		return false;
	slash = memchr(g, '/', len - plen);
	*group = g;
	*glen = slash != NULL ? (size_t)(slash - g) : len - plen;
	*filter = slash != NULL ? slash + 1 : s + len;
	*flen = (size_t)(s + len - *filter);
	/* MQTT 5 4.8.2: ShareName non-empty, no '+' or '#', then "/" FILTER */
	*malformed = *glen == 0 || slash == NULL || *flen == 0 ||
	    memchr(g, '+', *glen) != NULL || memchr(g, '#', *glen) != NULL;
	return true;
}

/* ---- level index ---- */

static bool
topic_kids_is_table(const struct topic_kids *k)
{
	return k->cap > TOPIC_KIDS_DENSE;
}

/* Where probing starts: hash slot in a table, slot 0 in a dense array. */
static uint32_t
topic_kids_home(const struct topic_kids *k, uint32_t hash)
{
	return topic_kids_is_table(k) ? hash & (k->cap - 1) : 0;
}

static bool
topic_level_eq(
    const struct topic_level *l, const char *name, size_t len, uint32_t hash)
{
	return l->hash == hash && l->len == len &&
	    memcmp(l->name, name, len) == 0;
}

struct topic_level *
topic_kids_find(
    const struct topic_kids *k, const char *name, size_t len, uint32_t hash)
{
	uint32_t i = topic_kids_home(k, hash);

	for (uint32_t c = 0; c < k->cap; c++, i = (i + 1) & (k->cap - 1)) {
		if (k->slot[i] == NULL)
			return NULL;
		if (k->hash[i] == hash &&
		    topic_level_eq(k->slot[i], name, len, hash))
			return k->slot[i];
	}
	return NULL;
}

/* Put l in the first free slot from its home (dense: first free slot). */
static void
topic_kids_place(struct topic_kids *k, struct topic_level *l)
{
	uint32_t i = topic_kids_home(k, l->hash);

	while (k->slot[i] != NULL)
		i = (i + 1) & (k->cap - 1);
	k->slot[i] = l;
	k->hash[i] = l->hash;
}

/* Move slot j (and its hash) to slot i, leaving j empty. */
static void
topic_kids_move(struct topic_kids *k, uint32_t i, uint32_t j)
{
	k->slot[i] = k->slot[j];
	k->hash[i] = k->hash[j];
	k->slot[j] = NULL;
}

/* Move every child into a fresh index of cap slots (a power of two). */
static void
topic_kids_resize(struct topic_kids *k, uint32_t cap)
{
	struct topic_level **old = k->slot;
	uint32_t ocap = k->cap;

	ASSERT(k->n <= cap / 2 || cap <= TOPIC_KIDS_DENSE);
	/* one block: cap pointers, then cap hashes */
	k->slot = xcalloc(cap, sizeof(*k->slot) + sizeof(*k->hash));
	k->hash = (uint32_t *)(void *)(k->slot + cap);
	k->cap = cap;
	for (uint32_t i = 0; i < ocap; i++) {
		if (old[i] != NULL)
			topic_kids_place(k, old[i]);
	}
	free(old);
}

void
topic_kids_add(struct topic_kids *k, struct topic_level *l)
{
	if (!topic_kids_is_table(k) && k->n < TOPIC_KIDS_DENSE) {
		if (k->n == k->cap)
			topic_kids_resize(k, k->cap != 0 ? k->cap * 2 : 2);
	} else if ((k->n + 1) * 2 > k->cap) {
		topic_kids_resize(
		    k, topic_kids_is_table(k) ? k->cap * 2 : TOPIC_KIDS_TABLE);
	}
	topic_kids_place(k, l);
	k->n++;
}

/*
 * Close the hole left at slot hole of a table: walk the probe run after
 * it and pull back each entry whose home does not lie cyclically in
 * (hole, j], so every entry stays reachable from its home without
 * tombstones.
 */
static void
topic_kids_shift(struct topic_kids *k, uint32_t hole)
{
	uint32_t mask = k->cap - 1, home;

	k->slot[hole] = NULL;
	for (uint32_t j = (hole + 1) & mask; k->slot[j]; j = (j + 1) & mask) {
		home = k->hash[j] & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			topic_kids_move(k, hole, j);
			hole = j;
		}
	}
}

static uint32_t
topic_kids_slot_of(const struct topic_kids *k, const struct topic_level *l)
{
	uint32_t i = topic_kids_home(k, l->hash);

	for (uint32_t c = 0; c < k->cap; c++, i = (i + 1) & (k->cap - 1)) {
		if (k->slot[i] == l)
			return i;
	}
	ASSERT(!"topic_kids_del: child not present");
	return 0;
}

/* After a removal: go dense when thin, halve a sparse table, free when empty. */
static void
topic_kids_shrink(struct topic_kids *k)
{
	if (k->n == 0)
		topic_kids_fini(k);
	else if (topic_kids_is_table(k) && k->n <= TOPIC_KIDS_DENSE / 2)
		topic_kids_resize(k, TOPIC_KIDS_DENSE);
	else if (k->cap > TOPIC_KIDS_TABLE && k->n * 8 < k->cap)
		topic_kids_resize(k, k->cap / 2);
}

void
topic_kids_del(struct topic_kids *k, struct topic_level *l)
{
	uint32_t i = topic_kids_slot_of(k, l);

	if (topic_kids_is_table(k)) {
		topic_kids_shift(k, i);
	} else {
		k->slot[i] = NULL;
		if (i != k->n - 1) /* keep the dense array gap-free */
			topic_kids_move(k, i, k->n - 1);
	}
	k->n--;
	topic_kids_shrink(k);
}

void
topic_kids_fini(struct topic_kids *k)
{
	free(k->slot);
	k->slot = NULL;
	k->hash = NULL;
	k->n = k->cap = 0;
}

/* ---- subscription arrays ---- */

static struct topic_sub *
topic_subs_find(const struct topic_subs *a, const void *subscriber)
{
	for (uint32_t i = 0; i < a->n; i++) {
		if (a->v[i].subscriber == subscriber)
			return &a->v[i];
	}
	return NULL;
}

/* Add or replace; returns true if replaced. */
static bool
topic_subs_put(
    struct topic_subs *a, void *subscriber, const struct sub_opts *opts)
{
	struct topic_sub *s = topic_subs_find(a, subscriber);

	if (s != NULL) {
		s->opts = *opts;
		return true;
	}
	if (a->n == a->cap) {
		a->cap = a->cap != 0 ? a->cap * 2 : 2;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n].subscriber = subscriber;
	a->v[a->n].opts = *opts;
	a->n++;
	return false;
}

/*
 * Remove subscriber, keeping the order of the rest (round robin relies
 * on it). Returns its former index, or -1 if absent.
 */
static long
topic_subs_del(struct topic_subs *a, const void *subscriber)
{
	struct topic_sub *s = topic_subs_find(a, subscriber);
	uint32_t i;

	if (s == NULL)
		return -1;
	i = (uint32_t)(s - a->v);
	memmove(s, s + 1, (a->n - i - 1) * sizeof(*s));
	if (--a->n == 0) {
		free(a->v);
		a->v = NULL;
		a->cap = 0;
	}
	return (long)i;
}

/* ---- share groups ---- */

static struct topic_group *
topic_group_new(const char *name, size_t len)
{
	struct topic_group *g = xcalloc(1, sizeof(*g) + len + 1);

	memcpy(g->name, name, len);
	g->name_len = (uint32_t)len;
	list_init(&g->link);
	return g;
}

static void
topic_group_free(struct topic_group *g)
{
	list_del(&g->link);
	free(g->members.v);
	free(g);
}

static struct topic_group *
topic_group_find(const struct list *groups, const char *name, size_t len)
{
	LIST_FOREACH(it, groups)
	{
		struct topic_group *g =
		    CONTAINER_OF(it, struct topic_group, link);

		if (g->name_len == len && memcmp(g->name, name, len) == 0)
			return g;
	}
	return NULL;
}

/* Drop subscriber, keeping the cursor on the same next member. */
static bool
topic_group_del(struct topic_group *g, const void *subscriber)
{
	long i = topic_subs_del(&g->members, subscriber);

	if (i < 0)
		return false;
	if ((uint32_t)i < g->cursor)
		g->cursor--;
	if (g->cursor >= g->members.n)
		g->cursor = 0;
	return true;
}

void *
topic_group_pick(struct topic_group *g, topic_member_ok_fn *ok, void *arg,
    const struct sub_opts **opts)
{
	uint32_t n = g->members.n, i = g->cursor;
	struct topic_sub *s;

	if (n == 0)
		return NULL;
	for (uint32_t c = 0; c < n; c++, i = (i + 1) % n) {
		s = &g->members.v[i];
		if (ok == NULL || ok(arg, s->subscriber, &s->opts))
			break;
	}
	/* none ok: i is back at the cursor, the next member regardless */
	s = &g->members.v[i];
	g->cursor = (i + 1) % n;
	*opts = &s->opts;
	return s->subscriber;
}

void
topic_group_foreach(struct topic_group *g, topic_sub_fn *fn, void *arg)
{
	for (uint32_t i = 0; i < g->members.n; i++)
		fn(arg, g->members.v[i].subscriber, &g->members.v[i].opts);
}

/* ---- nodes ---- */

static struct topic_node *
topic_node_new(struct topic_node *parent, const char *name, size_t len)
{
	struct topic_node *n = xcalloc(1, sizeof(*n) + len + 1);

	memcpy(n->name, name, len);
	n->lv.name = n->name;
	n->lv.len = (uint32_t)len;
	n->lv.hash = util_hash(name, len);
	n->parent = parent;
	list_init(&n->groups);
	return n;
}

static struct topic_node *
topic_node_of(struct topic_level *l)
{
	return l != NULL ? CONTAINER_OF(l, struct topic_node, lv) : NULL;
}

/* Free n and everything below it. */
static void
topic_node_free(struct topic_node *n)
{
	for (uint32_t i = 0; i < n->kids.cap; i++) {
		if (n->kids.slot[i] != NULL)
			topic_node_free(topic_node_of(n->kids.slot[i]));
	}
	if (n->plus != NULL)
		topic_node_free(n->plus);
	if (n->pound != NULL)
		topic_node_free(n->pound);
	LIST_FOREACH_SAFE(it, tmp, &n->groups)
	topic_group_free(CONTAINER_OF(it, struct topic_group, link));
	topic_kids_fini(&n->kids);
	free(n->subs.v);
	free(n);
}

/* The slot holding the child for filter level s[0..len) of n. */
static struct topic_node **
topic_node_wild_slot(struct topic_node *n, const char *s, size_t len)
{
	if (topic_level_is(s, len, '+'))
		return &n->plus;
	if (topic_level_is(s, len, '#'))
		return &n->pound;
	return NULL;
}

/* The child of n for filter level s[0..len), or NULL. */
static struct topic_node *
topic_node_child(struct topic_node *n, const char *s, size_t len)
{
	struct topic_node **w = topic_node_wild_slot(n, s, len);

	if (w != NULL)
		return *w;
	return topic_node_of(
	    topic_kids_find(&n->kids, s, len, util_hash(s, len)));
}

/* The child of n for filter level s[0..len), created if missing. */
static struct topic_node *
topic_node_child_get(
    struct topic_tree *t, struct topic_node *n, const char *s, size_t len)
{
	struct topic_node **w, *c = topic_node_child(n, s, len);

	if (c != NULL)
		return c;
	c = topic_node_new(n, s, len);
	t->nodes++;
	w = topic_node_wild_slot(n, s, len);
	if (w != NULL)
		*w = c;
	else
		topic_kids_add(&n->kids, &c->lv);
	return c;
}

static bool
topic_node_is_empty(const struct topic_node *n)
{
	return n->subs.n == 0 && list_is_empty(&n->groups) && n->kids.n == 0 &&
	    n->plus == NULL && n->pound == NULL;
}

/* Free n and its ancestors while they hold nothing; the root stays. */
static void
topic_node_prune(struct topic_tree *t, struct topic_node *n)
{
	struct topic_node *p;

	while (n != t->root && topic_node_is_empty(n)) {
		p = n->parent;
		if (p->plus == n)
			p->plus = NULL;
		else if (p->pound == n)
			p->pound = NULL;
		else
			topic_kids_del(&p->kids, &n->lv);
		topic_node_free(n);
		t->nodes--;
		n = p;
	}
}

/* ---- the tree ---- */

struct topic_tree *
topic_tree_new(void)
{
	struct topic_tree *t = xcalloc(1, sizeof(*t));

	t->root = topic_node_new(NULL, "", 0);
	return t;
}

void
topic_tree_free(struct topic_tree *t)
{
	if (t == NULL)
		return;
	topic_node_free(t->root);
	free(t);
}

/* The node of filter, or NULL; with create, missing nodes are made. */
static struct topic_node *
topic_tree_find(
    struct topic_tree *t, const char *filter, size_t flen, bool create)
{
	struct topic_node *n = t->root;
	size_t off = 0, l;

	while (n != NULL && off <= flen) {
		l = topic_level_len(filter, flen, off);
		n = create ? topic_node_child_get(t, n, filter + off, l)
		           : topic_node_child(n, filter + off, l);
		off += l + 1;
	}
	return n;
}

bool
topic_tree_subscribe(struct topic_tree *t, const char *filter, size_t flen,
    const char *group, size_t glen, void *subscriber,
    const struct sub_opts *opts)
{
	struct topic_node *n = topic_tree_find(t, filter, flen, true);
	struct topic_group *g;
	bool replaced;

	if (group == NULL || glen == 0) {
		replaced = topic_subs_put(&n->subs, subscriber, opts);
	} else {
		g = topic_group_find(&n->groups, group, glen);
		if (g == NULL) {
			g = topic_group_new(group, glen);
			list_add_tail(&n->groups, &g->link);
		}
		replaced = topic_subs_put(&g->members, subscriber, opts);
	}
	if (!replaced)
		t->count++;
	return replaced;
}

struct topic_group *
topic_tree_group_find(struct topic_tree *t, const char *filter, size_t flen,
    const char *group, size_t glen)
{
	struct topic_node *n = topic_tree_find(t, filter, flen, false);

	return n ? topic_group_find(&n->groups, group, glen) : NULL;
}

/* Remove subscriber from group name at n; frees the group when empty. */
static bool
topic_node_group_del(
    struct topic_node *n, const char *name, size_t len, const void *subscriber)
{
	struct topic_group *g = topic_group_find(&n->groups, name, len);

	if (g == NULL || !topic_group_del(g, subscriber))
		return false;
	if (g->members.n == 0)
		topic_group_free(g);
	return true;
}

bool
topic_tree_unsubscribe(struct topic_tree *t, const char *filter, size_t flen,
    const char *group, size_t glen, void *subscriber)
{
	struct topic_node *n = topic_tree_find(t, filter, flen, false);
	bool removed;

	if (n == NULL)
		return false;
	if (group == NULL || glen == 0)
		removed = topic_subs_del(&n->subs, subscriber) >= 0;
	else
		removed = topic_node_group_del(n, group, glen, subscriber);
	if (!removed)
		return false;
	t->count--;
	topic_node_prune(t, n);
	return true;
}

/* ---- matching ---- */

/* Report every subscription held at n. */
static void
topic_walk_report(const struct topic_walk *w, const struct topic_node *n)
{
	if (w->sub_fn != NULL) {
		for (uint32_t i = 0; i < n->subs.n; i++)
			w->sub_fn(w->arg, n->subs.v[i].subscriber,
			    &n->subs.v[i].opts);
	}
	if (w->group_fn == NULL)
		return;
	LIST_FOREACH(it, &n->groups)
	w->group_fn(w->arg, CONTAINER_OF(it, struct topic_group, link));
}

/*
 * n has consumed the first d topic levels. Its '#' child matches the
 * rest, including nothing ("a/#" matches "a"); then the literal and '+'
 * children each take level d. At the root a '$' topic skips both
 * wildcard children (MQTT-4.7.2-1).
 */
static void
topic_walk_node(
    const struct topic_walk *w, const struct topic_node *n, size_t d)
{
	const struct topic_span *sp = &w->lv[d];
	bool dollar = d == 0 && sp->len > 0 && sp->s[0] == '$';
	struct topic_node *c;

	if (n->pound != NULL && !dollar)
		topic_walk_report(w, n->pound);
	if (d == w->n) {
		topic_walk_report(w, n);
		return;
	}
	c = topic_node_of(topic_kids_find(&n->kids, sp->s, sp->len, sp->hash));
	if (c != NULL)
		topic_walk_node(w, c, d + 1);
	if (n->plus != NULL && !dollar)
		topic_walk_node(w, n->plus, d + 1);
}

/* Split topic into its levels (hashed once, whatever the fan-out). */
static void
topic_split(const char *topic, size_t len, struct topic_span *lv)
{
	size_t off = 0, l, d = 0;

	do {
		l = topic_level_len(topic, len, off);
		lv[d].s = topic + off;
		lv[d].len = (uint32_t)l;
		lv[d].hash = util_hash(topic + off, l);
		d++;
		off += l + 1;
	} while (off <= len);
}

void
topic_tree_match(struct topic_tree *t, const char *topic, size_t len,
    topic_sub_fn *sub_fn, topic_group_fn *group_fn, void *arg)
{
	struct topic_span stack[TOPIC_MATCH_STACK + 1], *lv = stack;
	struct topic_walk w;

	w.n = topic_levels(topic, len);
	if (w.n > TOPIC_MATCH_STACK)
		lv = xmalloc((w.n + 1) * sizeof(*lv));
	topic_split(topic, len, lv);
	/* a sentinel so topic_walk_node may look at lv[n] */
	lv[w.n] = (struct topic_span){.s = "", .len = 0, .hash = 0};
	w.lv = lv;
	w.sub_fn = sub_fn;
	w.group_fn = group_fn;
	w.arg = arg;
	topic_walk_node(&w, t->root, 0);
	if (lv != stack)
		free(lv);
}

size_t
topic_tree_count(const struct topic_tree *t)
{
	return t->count;
}

size_t
topic_tree_node_count(const struct topic_tree *t)
{
	return t->nodes;
}
