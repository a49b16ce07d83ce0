/*
 * broker.h - the broker context: every piece of global state, passed
 * around explicitly (no globals) so more loops can be added later.
 *
 * Owns the session table (by client id), the subscription tree, the
 * retained store, the storage backend and the counters. Routes a
 * published message to every matching session: one copy per session at
 * the highest granted QoS among its matching subscriptions, carrying
 * every matching subscription identifier; one member per share group.
 *
 * Pure: libc and core/ only; time comes in as now_ms (wall clock ms, so
 * expiry instants survive a restart of a durable broker).
 */
#ifndef JUNCTION_BROKER_H
#define JUNCTION_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/list.h"
#include "core/msg.h"
#include "core/retain.h"
#include "core/session.h"
#include "core/store.h"
#include "core/topic.h"

/* Counters; every drop has one. */
#define BROKER_STATS(X) \
	X(connections_total) \
	X(connections_current) \
	X(msgs_received) \
	X(msgs_sent) \
	X(dropped_qos0_slow) \
	X(dropped_queue_full) \
	X(dropped_offline_qos0) \
	X(dropped_expired) \
	X(dropped_too_large) \
	X(malformed) \
	X(protocol_errors) \
	X(wills_published) \
	X(sessions_expired) \
	X(negative_acks) \
	X(shared_moved) \
	X(queue_delivered) \
	X(redelivered) \
	X(dead_lettered) \
	X(queue_rejected) \
	X(dropped_memory) \
	X(queue_dropped)

struct broker_stats {
#define BROKER_STAT_FIELD(name) uint64_t name;
	BROKER_STATS(BROKER_STAT_FIELD)
#undef BROKER_STAT_FIELD
};

struct broker {
	const struct config *conf;
	struct topic_tree *subs;
	struct retain_store *retained;
	struct store *store;
	struct queue_set *queues;

	struct session **table; /* client id -> session, chained */
	size_t table_size; /* power of two */
	size_t nsessions;
	struct list sessions; /* every session, for the timer sweep */

	struct broker_match *matched; /* routing scratch, reused */
	size_t nmatched, matched_cap;
	struct broker_pick *picks; /* share-group members picked */
	size_t npicks, picks_cap;

	uint64_t client_seq; /* for generated client ids */
	uint64_t held_bytes; /* in every session and queue backlog */
	struct list mem_waiters; /* publishers paused by memory_limit */
	bool shutting_down;
	struct broker_stats stats;
};

/* Create a broker over conf (borrowed; must outlive it) and store (owned). */
struct broker *broker_new(const struct config *conf, struct store *store);
/* Free everything; online sessions must have been detached. */
void broker_free(struct broker *b);

/* Find a session by client id, or NULL. */
struct session *broker_session_find(
    struct broker *b, const char *id, size_t len);

/*
 * Open the session for a connecting client. An existing session that is
 * online is first kicked from its connection (takeover, MQTT-3.1.4-2).
 * With clean, any existing session is discarded and a new one made.
 * *present says whether existing state was resumed. The caller attaches.
 */
struct session *broker_session_open(struct broker *b, const char *id,
    size_t len, bool clean, bool *present, uint64_t now_ms);

/*
 * A session that lives and dies with one connection and is never entered
 * in the client-id table, so no client can resume or take it over by id
 * (STOMP connections). id is only a label. The caller attaches.
 */
struct session *broker_session_private(
    struct broker *b, const char *id, size_t len);

/*
 * The connection owning s has ended. graceful: an orderly DISCONNECT that
 * discards the will (MQTT-3.14.4-3); otherwise the will is published now
 * or after its delay. The session is destroyed if its expiry is 0, else
 * kept offline until it expires.
 */
void broker_session_close(
    struct broker *b, struct session *s, bool graceful, uint64_t now_ms);

/*
 * Set how long s outlives its connection (0 = not at all). On a durable
 * store, a session with an expiry becomes stored: its session record and
 * everything it holds are written, and kept up to date from then on.
 * Call after session_attach.
 */
void broker_session_set_expiry(
    struct broker *b, struct session *s, uint32_t expiry_s);

/*
 * Recovery: register an offline stored session (no records written).
 * expire_at_ms 0 = never.
 */
struct session *broker_session_restore(struct broker *b, const char *id,
    size_t len, uint32_t expiry_s, uint64_t expire_at_ms);

/* End a session now: its subscriptions, queue and record go. */
void broker_session_destroy(
    struct broker *b, struct session *s, uint64_t now_ms);

/* Make a fresh client id ("junction-<n>-<seq>") into buf. */
size_t broker_client_id(struct broker *b, char *buf, size_t cap);

/*
 * Route m (takes no reference; the caller keeps its own) from origin
 * (may be NULL: wills, bridges) to every matching subscription, and
 * store it as retained if m->retain. Returns false when some online
 * subscriber's queue was full: the caller must stop reading from origin
 * until origin->ops->resume is called.
 */
bool broker_publish(
    struct broker *b, struct session *origin, struct msg *m, uint64_t now_ms);

/*
 * Subscribe s to filter (validated by the adapter) in share group
 * (NULL for plain), recording it in the session. *existed says whether
 * it replaced a subscription. Returns the QoS granted. Retained messages
 * are sent separately, after the adapter has acknowledged the subscribe.
 */
uint8_t broker_subscribe(struct broker *b, struct session *s,
    const char *filter, size_t flen, const char *group, size_t glen,
    const struct sub_opts *opts, bool *existed);

/*
 * Send s the retained messages matching filter as opts say (retain
 * handling 0: always, 1: only if !existed, 2: never), with the retain
 * flag set (MQTT-3.3.1-8). Not for shared subscriptions.
 */
void broker_send_retained(struct broker *b, struct session *s,
    const char *filter, size_t flen, const struct sub_opts *opts, bool existed,
    uint64_t now_ms);

/*
 * May s subscribe to filter in group: it already has that subscription
 * (a replacement), or holds fewer than max_subscriptions?
 */
bool broker_sub_allowed(const struct broker *b, struct session *s,
    const char *filter, size_t flen, const char *group, size_t glen);

/* Returns false if there was no such subscription. */
bool broker_unsubscribe(struct broker *b, struct session *s, const char *filter,
    size_t flen, const char *group, size_t glen);

/*
 * The client refused delivery pkt_id (MQTT 5 PUBACK/PUBREC reason >=
 * 0x80): a failed delivery, counted. Its flow is finished, and a message
 * from a share group is not offered to another member (MQTT-4.8.2-6);
 * queues build redelivery on this. False if pkt_id was not awaiting an ack.
 */
bool broker_nack(
    struct broker *b, struct session *s, uint16_t pkt_id, uint64_t now_ms);

/*
 * The output of s's connection drained: at-most-once queue consumers
 * paced by their backlog can take more.
 */
void broker_session_drained(
    struct broker *b, struct session *s, uint64_t now_ms);

/*
 * Backlog accounting for memory_limit: every byte a session or queue
 * backlog takes or gives back. Falling below 7/8 of the limit wakes the
 * publishers it paused.
 */
void broker_held_add(struct broker *b, size_t n);
void broker_held_sub(struct broker *b, size_t n);
/* Are the backlogs past memory_limit? */
bool broker_mem_is_high(const struct broker *b);

/* Timers: delayed wills, session expiry. Call about once a second. */
void broker_tick(struct broker *b, uint64_t now_ms);

/*
 * Block publisher pub on a full session or queue (target) until
 * broker_wake_list(waiters) runs; at most one wait at a time.
 */
void broker_wait_on(struct session *pub, struct list *waiters, void *target);
/* Wake every publisher blocked on this list (their ops->resume). */
void broker_wake_list(struct list *waiters);

/* A session's queue drained below its limit: wake the publishers it blocked. */
void broker_wake_waiters(struct broker *b, struct session *s);

#endif
