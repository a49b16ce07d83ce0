/*
 * topic.h - topic names, topic filters, and the subscription tree.
 *
 * Wildcard rules (MQTT 3.1.1 section 4.7, 5.0 section 4.7):
 *  - levels are separated by '/'; empty levels are legal ("a//b", "/a");
 *  - '+' matches exactly one level and must occupy a whole level;
 *  - '#' matches its parent level and every level below, must be last and
 *    occupy a whole level ("a/#" matches "a", "a/b", "a/b/c");
 *  - a filter starting with a wildcard does not match topic names that
 *    start with '$' (MQTT-4.7.2-1); "$SYS/#" does match "$SYS/x";
 *  - topic names (PUBLISH) never contain wildcards; names and filters
 *    are at least one character (MQTT-4.7.3-1).
 *
 * The tree stores subscriptions: (subscriber, options) at the node of
 * their filter. A subscriber is an opaque pointer owned by the caller
 * (core/session.c passes its struct session); the tree never
 * dereferences it. A subscriber has at most one subscription per
 * (filter, share group) pair: subscribing again replaces the options.
 *
 * Shared subscriptions ("$share/GROUP/FILTER", MQTT 5 section 4.8.2)
 * are stored as a group under the filter's node; matching reports the
 * group once and the caller picks a member with topic_group_pick, which
 * rotates round robin.
 *
 * Pure: libc and core/ only. Limits (depth, length) are the caller's.
 */
#ifndef JUNCTION_TOPIC_H
#define JUNCTION_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

/* Per-subscription options, protocol neutral. */
struct sub_opts {
	uint8_t qos; /* maximum QoS granted */
	bool no_local;
	bool retain_as_published;
	uint8_t retain_handling; /* 0 send, 1 send if new, 2 never */
	uint32_t sub_id; /* 0 = none */
	void *share; /* owner's handle for a shared subscription, opaque */
};

/* Is t a valid topic name: non-empty, no '+' or '#'? (UTF-8 is checked by codecs) */
bool topic_name_is_valid(const char *t, size_t len);

/* Is f a valid topic filter (wildcard placement rules above)? */
bool topic_filter_is_valid(const char *f, size_t len);

/* Does filter f match topic name t, including the '$' rule? */
bool topic_matches(const char *f, size_t flen, const char *t, size_t tlen);

/* Number of levels in a name or filter ("a/b" = 2, "" = 1). */
size_t topic_levels(const char *t, size_t len);

/*
 * Split "$share/GROUP/FILTER": on success sets group and filter slices and
 * returns true; returns false if s is not a shared form at all. A shared
 * form with an empty or wildcard-bearing group, or no filter, sets
 * *malformed (MQTT 5 4.8.2).
 */
bool topic_share_split(const char *s, size_t len, const char **group,
    size_t *glen, const char **filter, size_t *flen, bool *malformed);

struct topic_tree;
struct topic_group; /* a shared-subscription group at one filter */

struct topic_tree *topic_tree_new(void);
/* Frees the tree and every subscription (subscribers are not touched). */
void topic_tree_free(struct topic_tree *t);

/*
 * Add or replace the subscription of subscriber to filter (already
 * validated) in share group (NULL/0 for a plain subscription). The
 * options are copied. Returns true if one existed and was replaced.
 */
bool topic_tree_subscribe(struct topic_tree *t, const char *filter, size_t flen,
    const char *group, size_t glen, void *subscriber,
    const struct sub_opts *opts);

/* Remove it; returns false if there was no such subscription. Empty nodes are freed. */
bool topic_tree_unsubscribe(struct topic_tree *t, const char *filter,
    size_t flen, const char *group, size_t glen, void *subscriber);

/* Called for each plain subscription whose filter matches. */
typedef void topic_sub_fn(
    void *arg, void *subscriber, const struct sub_opts *opts);
/* Called once for each share group whose filter matches. */
typedef void topic_group_fn(void *arg, struct topic_group *g);

/*
 * Visit every subscription matching topic name t (valid name). Callbacks
 * must not modify the tree. Order is unspecified; a subscriber with
 * several matching filters is reported once per filter (dedup is the
 * caller's).
 */
void topic_tree_match(struct topic_tree *t, const char *topic, size_t len,
    topic_sub_fn *sub_fn, topic_group_fn *group_fn, void *arg);

/* Decides whether a group member may take a message now. */
typedef bool topic_member_ok_fn(
    void *arg, void *subscriber, const struct sub_opts *opts);

/*
 * Round robin: the next member after the last one picked for which ok
 * returns true; if none is ok, the next member regardless (so the caller
 * can queue to it). Sets *opts to the member's options. Returns NULL only
 * for an empty group (never reported by match).
 */
void *topic_group_pick(struct topic_group *g, topic_member_ok_fn *ok, void *arg,
    const struct sub_opts **opts);

/*
 * The share group named group at exactly filter, or NULL. The pointer
 * is valid until the group loses its last member.
 */
struct topic_group *topic_tree_group_find(struct topic_tree *t,
    const char *filter, size_t flen, const char *group, size_t glen);

/* Visit every member of g (for redistributing a leaving member's messages). */
void topic_group_foreach(struct topic_group *g, topic_sub_fn *fn, void *arg);

/* Number of subscriptions (plain + group members) in the tree. */
size_t topic_tree_count(const struct topic_tree *t);

/* Nodes below the root (memory accounting; 0 once every filter is gone). */
size_t topic_tree_node_count(const struct topic_tree *t);

/*
 * Level index: the children of one trie node keyed by level name, shared
 * by the subscription tree and the retained store (core/retain.c). A
 * child embeds a struct topic_level whose name points at bytes the child
 * owns (inline in its own allocation). Up to TOPIC_KIDS_DENSE children
 * sit in a dense array scanned linearly; past that an open-addressing
 * table (linear probing, load <= 1/2, backward-shift deletion) takes
 * over, and it turns dense again when the children thin out. Each
 * slot's hash sits beside it, so probing reads one contiguous block and
 * touches a child only on a hash hit.
 * A zeroed struct topic_kids is empty. Slots 0 .. cap-1 hold a child or
 * NULL; iterate them to visit every child (no add/del meanwhile).
 */
#define TOPIC_KIDS_DENSE 8

struct topic_level {
	const char *name;
	uint32_t len;
	uint32_t hash; /* util_hash(name, len) */
};

struct topic_kids {
	struct topic_level **slot;
	uint32_t *hash; /* hash[i] = slot[i]->hash, probed without a deref */
	uint32_t n, cap;
};

/* The child named name (hash = util_hash(name, len)), or NULL. */
struct topic_level *topic_kids_find(
    const struct topic_kids *k, const char *name, size_t len, uint32_t hash);
/* Insert l (borrowed, must outlive its membership; name not present). */
void topic_kids_add(struct topic_kids *k, struct topic_level *l);
/* Remove l, which must be present. */
void topic_kids_del(struct topic_kids *k, struct topic_level *l);
/* Free the index itself (not the children); k is left empty. */
void topic_kids_fini(struct topic_kids *k);

#endif
