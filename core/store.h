/*
 * store.h - the storage interface: what core tells the persistence
 * layer, through one ops table, and what it asks back.
 *
 * Core reports every change to durable state as a record put or delete;
 * a backend decides how to keep it. store_barrier() is how an adapter
 * defers an acknowledgement (PUBACK, PUBREC, STOMP RECEIPT) until every
 * record written so far is durable under the configured sync policy; the
 * memory backend runs the callback at once. store_commit() is called by
 * the event loop once per turn so a disk backend can group-commit the
 * turn's records in one write and one sync.
 *
 * Records (keys in brackets):
 *   session   [client id]          expiry
 *   sub       [client id, filter]  share group, options
 *   retained  [topic]              message
 *   delivery  [client id, msg id]  packet id, QoS, state (outbound)
 *   inq2      [client id, pkt id]  inbound QoS 2 awaiting PUBREL
 *
 * Pure interface: backends that touch files live in core/store_*.c and
 * are the only core files allowed to (see STYLE.md).
 */
#ifndef JUNCTION_STORE_H
#define JUNCTION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"
#include "core/topic.h"

struct store;

typedef void store_done_fn(void *arg);

struct store_ops {
	const char *name;
	void (*session_put)(
	    struct store *st, const char *id, uint32_t expiry_s);
	void (*session_del)(struct store *st, const char *id);
	void (*sub_put)(struct store *st, const char *id, const char *filter,
	    const char *group, const struct sub_opts *opts);
	void (*sub_del)(struct store *st, const char *id, const char *filter,
	    const char *group);
	void (*retain_put)(struct store *st, struct msg *m);
	void (*retain_del)(struct store *st, const char *topic);
	void (*delivery_put)(struct store *st, const char *id, struct msg *m,
	    uint16_t pkt_id, uint8_t qos, uint8_t state);
	void (*delivery_del)(struct store *st, const char *id, struct msg *m);
	void (*inq2_put)(struct store *st, const char *id, uint16_t pkt_id);
	void (*inq2_del)(struct store *st, const char *id, uint16_t pkt_id);
	/* Run fn(arg) once everything put so far is durable. */
	void (*barrier)(struct store *st, store_done_fn *fn, void *arg);
	/* End of a loop turn: flush what this turn produced. */
	void (*commit)(struct store *st, uint64_t now_ms);
	void (*free)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	bool durable; /* false: nothing to wait for, records are not kept */
};

/* The in-memory backend: keeps nothing beyond core's own state. */
struct store *store_mem_new(void);

static inline void
store_barrier(struct store *st, store_done_fn *fn, void *arg)
{
	st->ops->barrier(st, fn, arg);
}

static inline void
store_commit(struct store *st, uint64_t now_ms)
{
	st->ops->commit(st, now_ms);
}

static inline void
store_free(struct store *st)
{
	st->ops->free(st);
}

#endif
