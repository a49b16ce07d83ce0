/*
 * store.h - the storage interface: what core tells the persistence
 * layer, through one ops table, and what it asks back.
 *
 * Core reports every change to durable state as a record put or delete;
 * a backend decides how to keep it. Records (keys in brackets):
 *   session   [client id]             expiry, offline expiry instant
 *   sub       [client id, filter, group]  options
 *   retained  [topic]                 message
 *   delivery  [delivery id]           client id, message, packet id, QoS,
 *                                     state, retain, attempts, sub ids,
 *                                     share group (outbound, persistent
 *                                     sessions only, QoS 1/2 only)
 *   inq2      [client id, pkt id]     inbound QoS 2 awaiting PUBREL
 *   entry     [entry id]              queue name, message, attempts
 * Message bodies are written once per message (struct msg.id) and
 * reference-counted inside the store (struct msg.store_refs): the put of
 * a record that names a message takes a store reference, its delete
 * drops it, and the body's record goes with the last one.
 *
 * Every wrapper below is a no-op unless st->durable, so core can call
 * them unconditionally and the memory backend costs nothing.
 *
 * Acknowledgements: store_barrier() runs a callback once every record put
 * so far is durable under the sync policy (the memory backend runs it at
 * once); store_barrier_cancel() forgets the callbacks registered with
 * (fn, arg), for an adapter whose connection closes first. store_gen()
 * and store_durable_gen() let an adapter skip the wait when nothing is
 * pending. store_commit() is called by the event loop once per turn so a
 * disk backend can group-commit the turn's records; store_fd() is
 * readable when a commit finished and store_poll() then runs the
 * barriers it satisfied.
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
#include "core/store_journal.h"
#include "core/topic.h"

struct broker;
struct store;
struct session;
struct session_sub;
struct delivery;

typedef void store_done_fn(void *arg);

struct store_ops {
	const char *name;
	void (*session_put)(struct store *st, const struct session *s);
	void (*session_del)(struct store *st, const struct session *s);
	void (*sub_put)(struct store *st, const struct session *s,
	    const struct session_sub *sub);
	void (*sub_del)(struct store *st, const struct session *s,
	    const struct session_sub *sub);
	/* m replaces old (may be NULL) as the retained message. */
	void (*retain_put)(struct store *st, struct msg *m, struct msg *old);
	void (*retain_del)(struct store *st, struct msg *old);
	/* Put d (new or changed); d->store_id is set by the first put. */
	void (*delivery_put)(
	    struct store *st, const struct session *s, struct delivery *d);
	void (*delivery_del)(struct store *st, struct delivery *d);
	void (*inq2_put)(
	    struct store *st, const struct session *s, uint16_t pkt_id);
	void (*inq2_del)(
	    struct store *st, const struct session *s, uint16_t pkt_id);
	/* first: a new entry (takes a store reference on m). */
	void (*entry_put)(struct store *st, const char *queue, size_t qlen,
	    uint64_t id, struct msg *m, uint16_t attempts, bool first);
	void (*entry_del)(struct store *st, uint64_t id, struct msg *m);
	uint64_t (*gen)(const struct store *st);
	uint64_t (*durable_gen)(const struct store *st);
	/* Run fn(arg) once everything put so far is durable. */
	void (*barrier)(struct store *st, store_done_fn *fn, void *arg);
	void (*barrier_cancel)(struct store *st, store_done_fn *fn, void *arg);
	/* End of a loop turn: flush what this turn produced. */
	void (*commit)(struct store *st, uint64_t now_ms);
	int (*fd)(const struct store *st);
	void (*poll)(struct store *st);
	void (*free)(struct store *st);
};

struct store {
	const struct store_ops *ops;
	bool durable; /* false: nothing to wait for, records are not kept */
	uint64_t next_id; /* delivery, entry and message ids */
	uint64_t refused; /* records refused (disk cap or failed journal) */
};

/* The in-memory backend: keeps nothing beyond core's own state. */
struct store *store_mem_new(void);

/*
 * The durable backend (core/store_disk.c) over the journal engine
 * (store_journal.h). Opening replays the journal into a staging area;
 * store_disk_load() then rebuilds the broker from it and compacts.
 */
struct store_disk_report {
	struct store_journal_report journal;
	uint64_t sessions, subs, retained, messages, deliveries, inq2, entries;
	uint64_t skipped; /* undecodable or dangling records, not loaded */
	uint64_t load_ms; /* rebuilding the broker and compacting */
	uint64_t live_bytes; /* journal size after the compaction */
};

/*
 * Open (or create) the store under o (the journal's options), replaying
 * it into staging. NULL with a message in err on failure (a corrupt
 * journal with o->refuse_corrupt, a newer format, I/O errors). rep->journal
 * says what open found (torn tail, quarantined *.bad file).
 */
struct store *store_disk_open(const struct store_journal_opts *o,
    struct store_disk_report *rep, char *err, size_t errlen);

/*
 * Rebuild b (new, empty, created over st) from what open replayed:
 * sessions offline and expiring on schedule, subscriptions, retained
 * messages, deliveries in their original order with states and packet
 * ids, inbound QoS 2 ids, queue entries (in-flight ones back in their
 * queues). Then rewrite the journal from that state. Returns 0, or -1
 * with a message in err when the rewrite failed (the old journal stays).
 */
WUR int store_disk_load(struct store *st, struct broker *b, uint64_t now_ms,
    struct store_disk_report *rep, char *err, size_t errlen);

/*
 * Rewrite the journal from the broker's live state now (done by commit
 * on its own when the file has grown past max(64 MiB, 2x the live data
 * of the last rewrite)). Returns 0 or -1 with errno.
 */
WUR int store_disk_compact(struct store *st);

/* Journal file size (tests, stats). */
uint64_t store_disk_file_bytes(const struct store *st);

/* A fresh id for a delivery, queue entry or message; 0 when !durable. */
static inline uint64_t
store_next_id(struct store *st)
{
	return st->durable ? ++st->next_id : 0;
}

static inline void
store_session_put(struct store *st, const struct session *s)
{
	if (st->durable)
		st->ops->session_put(st, s);
}

static inline void
store_session_del(struct store *st, const struct session *s)
{
	if (st->durable)
		st->ops->session_del(st, s);
}

static inline void
store_sub_put(
    struct store *st, const struct session *s, const struct session_sub *sub)
{
	if (st->durable)
		st->ops->sub_put(st, s, sub);
}

static inline void
store_sub_del(
    struct store *st, const struct session *s, const struct session_sub *sub)
{
	if (st->durable)
		st->ops->sub_del(st, s, sub);
}

static inline void
store_retain_put(struct store *st, struct msg *m, struct msg *old)
{
	if (st->durable)
		st->ops->retain_put(st, m, old);
}

static inline void
store_retain_del(struct store *st, struct msg *old)
{
	if (st->durable)
		st->ops->retain_del(st, old);
}

static inline void
store_delivery_put(
    struct store *st, const struct session *s, struct delivery *d)
{
	if (st->durable)
		st->ops->delivery_put(st, s, d);
}

static inline void
store_delivery_del(struct store *st, struct delivery *d)
{
	if (st->durable)
		st->ops->delivery_del(st, d);
}

static inline void
store_inq2_put(struct store *st, const struct session *s, uint16_t pkt_id)
{
	if (st->durable)
		st->ops->inq2_put(st, s, pkt_id);
}

static inline void
store_inq2_del(struct store *st, const struct session *s, uint16_t pkt_id)
{
	if (st->durable)
		st->ops->inq2_del(st, s, pkt_id);
}

static inline void
store_entry_put(struct store *st, const char *queue, size_t qlen, uint64_t id,
    struct msg *m, uint16_t attempts, bool first)
{
	if (st->durable && id != 0)
		st->ops->entry_put(st, queue, qlen, id, m, attempts, first);
}

static inline void
store_entry_del(struct store *st, uint64_t id, struct msg *m)
{
	if (st->durable && id != 0)
		st->ops->entry_del(st, id, m);
}

/* Generation of the last record put; 0 for the memory backend. */
static inline uint64_t
store_gen(const struct store *st)
{
	return st->ops->gen(st);
}

/* Every record at or below this generation is durable. */
static inline uint64_t
store_durable_gen(const struct store *st)
{
	return st->ops->durable_gen(st);
}

static inline void
store_barrier(struct store *st, store_done_fn *fn, void *arg)
{
	st->ops->barrier(st, fn, arg);
}

/* Forget every pending barrier registered with exactly (fn, arg). */
static inline void
store_barrier_cancel(struct store *st, store_done_fn *fn, void *arg)
{
	st->ops->barrier_cancel(st, fn, arg);
}

static inline void
store_commit(struct store *st, uint64_t now_ms)
{
	st->ops->commit(st, now_ms);
}

/* Readable when store_poll has completions to run; -1 = none. */
static inline int
store_fd(const struct store *st)
{
	return st->ops->fd(st);
}

static inline void
store_poll(struct store *st)
{
	st->ops->poll(st);
}

static inline void
store_free(struct store *st)
{
	st->ops->free(st);
}

#endif
