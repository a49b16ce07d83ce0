/*
 * retain.c - the retained-message store.
 *
 * A trie keyed by topic levels: one node per level, children in the same
 * level index the subscription tree uses (struct topic_kids), at most one
 * message per node. Topic names hold no wildcards, so there are no
 * wildcard children; instead retain_match walks the filter against the
 * trie: a literal level follows one child, '+' fans out to every child,
 * '#' takes the whole subtree including the node it hangs from ("a/#"
 * matches "a"). At the root a wildcard skips '$' children (MQTT-4.7.2-1).
 * So a lookup costs what it returns plus the levels it follows, not a
 * test of every retained message. Clearing frees the nodes it empties up
 * to the root.
 */
#include "core/retain.h"

#include <stdlib.h>
#include <string.h>

#include "core/topic.h"

struct retain_node {
	struct topic_level lv; /* lv.name points at name[] below */
	struct retain_node *parent;
	struct topic_kids kids;
	struct msg *msg; /* a reference, or NULL */
	char name[];
};

struct retain_store {
	struct retain_node *root;
	size_t count; /* messages */
	size_t nodes; /* below the root */
};

struct retain_walk {
	const char *f;
	size_t flen;
	retain_fn *fn;
	void *arg;
};

/* Length of the level starting at off in s[0..len): up to '/' or the end. */
static size_t
retain_level_len(const char *s, size_t len, size_t off)
{
	const char *e = memchr(s + off, '/', len - off);

	return e != NULL ? (size_t)(e - (s + off)) : len - off;
}

static struct retain_node *
retain_node_new(struct retain_node *parent, const char *name, size_t len)
{
	struct retain_node *n = xcalloc(1, sizeof(*n) + len + 1);

	memcpy(n->name, name, len);
	n->lv.name = n->name;
	n->lv.len = (uint32_t)len;
	n->lv.hash = util_hash(name, len);
	n->parent = parent;
	return n;
}

static struct retain_node *
retain_node_of(struct topic_level *l)
{
	return l != NULL ? CONTAINER_OF(l, struct retain_node, lv) : NULL;
}

/* Free n and everything below it, dropping message references. */
static void
retain_node_free(struct retain_node *n)
{
	for (uint32_t i = 0; i < n->kids.cap; i++) {
		if (n->kids.slot[i] != NULL)
			retain_node_free(retain_node_of(n->kids.slot[i]));
	}
	if (n->msg != NULL)
		msg_unref(n->msg);
	topic_kids_fini(&n->kids);
	free(n);
}

static struct retain_node *
retain_node_child(struct retain_node *n, const char *s, size_t len)
{
	return retain_node_of(
	    topic_kids_find(&n->kids, s, len, util_hash(s, len)));
}

static struct retain_node *
retain_node_child_get(
    struct retain_store *rs, struct retain_node *n, const char *s, size_t len)
{
	struct retain_node *c = retain_node_child(n, s, len);

	if (c != NULL)
		return c;
	c = retain_node_new(n, s, len);
	topic_kids_add(&n->kids, &c->lv);
	rs->nodes++;
	return c;
}

/* The node of topic, or NULL; with create, missing nodes are made. */
static struct retain_node *
retain_find(struct retain_store *rs, const char *topic, size_t len, bool create)
{
	struct retain_node *n = rs->root;
	size_t off = 0, l;

	while (n != NULL && off <= len) {
		l = retain_level_len(topic, len, off);
		n = create ? retain_node_child_get(rs, n, topic + off, l)
		           : retain_node_child(n, topic + off, l);
		off += l + 1;
	}
	return n;
}

/* Free n and its ancestors while they hold nothing; the root stays. */
static void
retain_prune(struct retain_store *rs, struct retain_node *n)
{
	struct retain_node *p;

	while (n != rs->root && n->msg == NULL && n->kids.n == 0) {
		p = n->parent;
		topic_kids_del(&p->kids, &n->lv);
		retain_node_free(n);
		rs->nodes--;
		n = p;
	}
}

struct retain_store *
retain_new(void)
{
	struct retain_store *rs = xcalloc(1, sizeof(*rs));

	rs->root = retain_node_new(NULL, "", 0);
	return rs;
}

void
retain_free(struct retain_store *rs)
{
	if (rs == NULL)
		return;
	retain_node_free(rs->root);
	free(rs);
}

bool
retain_set(struct retain_store *rs, struct msg *m)
{
	struct retain_node *n;

	/* MQTT-3.3.1-10/11: an empty payload clears and is not stored */
	if (m->payload_len == 0)
		return retain_clear(rs, m->topic, m->topic_len);
	n = retain_find(rs, m->topic, m->topic_len, true);
	msg_ref(m); /* before the unref: m may be the message it replaces */
	if (n->msg != NULL)
		msg_unref(n->msg);
	else
		rs->count++;
	n->msg = m;
	return true;
}

bool
retain_clear(struct retain_store *rs, const char *topic, size_t len)
{
	struct retain_node *n = retain_find(rs, topic, len, false);

	if (n == NULL || n->msg == NULL)
		return false;
	msg_unref(n->msg);
	n->msg = NULL;
	rs->count--;
	retain_prune(rs, n);
	return true;
}

struct msg *
retain_get(struct retain_store *rs, const char *topic, size_t len)
{
	struct retain_node *n = retain_find(rs, topic, len, false);

	return n != NULL ? n->msg : NULL;
}

/* Does a wildcard at the root skip this child? (MQTT-4.7.2-1) */
static bool
retain_is_dollar(const struct retain_node *n, const struct retain_node *c)
{
	return n->parent == NULL && c->lv.len > 0 && c->name[0] == '$';
}

/* Report n's message and every one below it; skip '$' under the root. */
static void
retain_walk_all(
    const struct retain_walk *w, struct retain_node *n, bool skip_dollar)
{
	struct retain_node *c;

	if (n->msg != NULL)
		w->fn(w->arg, n->msg);
	for (uint32_t i = 0; i < n->kids.cap; i++) {
		c = retain_node_of(n->kids.slot[i]);
		if (c != NULL && !(skip_dollar && retain_is_dollar(n, c)))
			retain_walk_all(w, c, false);
	}
}

static void retain_walk_node(
    const struct retain_walk *w, struct retain_node *n, size_t off);

/* '+' at filter offset off: every child (not '$' ones under the root). */
static void
retain_walk_plus(const struct retain_walk *w, struct retain_node *n, size_t off)
{
	struct retain_node *c;

	for (uint32_t i = 0; i < n->kids.cap; i++) {
		c = retain_node_of(n->kids.slot[i]);
		if (c != NULL && !retain_is_dollar(n, c))
			retain_walk_node(w, c, off + 2);
	}
}

/* n has consumed the filter up to off; match the rest below n. */
static void
retain_walk_node(const struct retain_walk *w, struct retain_node *n, size_t off)
{
	const char *s = w->f + off;
	struct retain_node *c;
	size_t l;

	if (off > w->flen) {
		if (n->msg != NULL)
			w->fn(w->arg, n->msg);
		return;
	}
	l = retain_level_len(w->f, w->flen, off);
	if (l == 1 && s[0] == '#') {
		retain_walk_all(w, n, true);
	} else if (l == 1 && s[0] == '+') {
		retain_walk_plus(w, n, off);
	} else {
		c = retain_node_child(n, s, l);
		if (c != NULL)
			retain_walk_node(w, c, off + l + 1);
	}
}

void
retain_match(struct retain_store *rs, const char *filter, size_t len,
    retain_fn *fn, void *arg)
{
	struct retain_walk w = {filter, len, fn, arg};

	retain_walk_node(&w, rs->root, 0);
}

void
retain_foreach(struct retain_store *rs, retain_fn *fn, void *arg)
{
	struct retain_walk w = {"", 0, fn, arg};

	retain_walk_all(&w, rs->root, false);
}

size_t
retain_count(const struct retain_store *rs)
{
	return rs->count;
}

size_t
retain_node_count(const struct retain_store *rs)
{
	return rs->nodes;
}
