/*
 * retain.h - the retained-message store: at most one message per topic
 * name, looked up by topic filter for new subscribers.
 *
 * Holds a reference on each stored message. Matching follows the rules
 * in topic.h (including '$' topics not matched by a leading wildcard).
 * Expiry is the caller's: retain_match reports expired messages too
 * (with the msg so the caller can test msg_is_expired and clear it).
 *
 * Pure: libc and core/ only.
 */
#ifndef JUNCTION_RETAIN_H
#define JUNCTION_RETAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/msg.h"

struct retain_store;

struct retain_store *retain_new(void);
/* Frees the store, dropping its message references. */
void retain_free(struct retain_store *rs);

/*
 * Set the retained message for m->topic. An empty payload clears it
 * (MQTT-3.3.1-10/11) and stores nothing. Takes its own reference on m
 * when stored; the old message's reference is dropped.
 * Returns true if the store changed (set, replaced or cleared).
 */
bool retain_set(struct retain_store *rs, struct msg *m);

/* Remove the message at exactly this topic; true if there was one. */
bool retain_clear(struct retain_store *rs, const char *topic, size_t len);

/* Borrowed pointer to the message at this topic, or NULL. */
struct msg *retain_get(struct retain_store *rs, const char *topic, size_t len);

typedef void retain_fn(void *arg, struct msg *m);

/*
 * Call fn for each retained message whose topic matches the filter
 * (valid filter, not a $share form). fn must not modify the store;
 * collect and clear afterwards.
 */
void retain_match(struct retain_store *rs, const char *filter, size_t len,
    retain_fn *fn, void *arg);

/* Visit every retained message (storage snapshots). */
void retain_foreach(struct retain_store *rs, retain_fn *fn, void *arg);

size_t retain_count(const struct retain_store *rs);

/* Nodes below the root (memory accounting; 0 once the store is empty). */
size_t retain_node_count(const struct retain_store *rs);

#endif
