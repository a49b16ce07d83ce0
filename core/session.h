/*
 * session.h - one client session's delivery state, protocol neutral.
 *
 * A session outlives its connections when it is persistent. It owns:
 *  - the outbound queue: deliveries waiting for room in the window,
 *    bounded by max_queued_messages / max_queued_bytes;
 *  - the in-flight list: deliveries sent and not yet acknowledged, in send
 *    order, at most `window` of them (max_inflight_messages, or less when
 *    the client's receive maximum is smaller), each with a packet id that
 *    is never reused while in flight;
 *  - the set of inbound QoS 2 packet ids received and not yet released;
 *  - its subscriptions (mirrored in the broker's topic tree) and its will.
 *
 * The QoS state machine (outbound):
 *   QoS 1: QUEUED -> SENT --PUBACK--> done
 *   QoS 2: QUEUED -> SENT --PUBREC--> RELEASED --PUBCOMP--> done
 * On resume every SENT delivery is sent again with DUP set and every
 * RELEASED one gets its PUBREL again, in the original order
 * (MQTT-4.4.0-1), then the queue is pumped.
 *
 * While a connection owns the session, ops/owner are set and deliveries
 * go straight out through ops->send. The adapter is the owner; core never
 * learns the protocol.
 *
 * Pure: libc and core/ only; time comes in as now_ms.
 */
#ifndef JUNCTION_SESSION_H
#define JUNCTION_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/msg.h"
#include "core/topic.h"

struct broker;
struct queue;
struct session;

/* Most subscription identifiers carried on one delivery. */
#define SESSION_MAX_SUB_IDS 32

/* Longest client id: MQTT strings have a 16-bit length (MQTT 5 1.5.4). */
#define SESSION_ID_MAX 65535

/* Session expiry meaning "never" (MQTT 5 0xFFFFFFFF). */
#define SESSION_EXPIRY_NEVER UINT32_MAX

/*
 * A shared subscription's identity, referenced by its session_sub and by
 * every delivery routed through it, so a delivery can find its group
 * again to move to another member.
 */
struct share_ref {
	int refs;
	char *filter;
	char *group;
};

struct share_ref *share_ref_new(
    const char *filter, size_t flen, const char *group, size_t glen);
struct share_ref *share_ref_take(struct share_ref *r);
void share_ref_drop(struct share_ref *r);

/* Why core takes a session from its connection (adapters map it). */
enum session_kick {
	SESSION_KICK_TAKEN_OVER = 1, /* a new connection with the same id */
};

enum delivery_state {
	DELIVERY_QUEUED = 0,
	DELIVERY_SENT, /* PUBLISH sent, awaiting PUBACK / PUBREC */
	DELIVERY_RELEASED, /* PUBREL sent, awaiting PUBCOMP */
};

struct delivery {
	struct list link; /* in queue or inflight */
	struct msg *m; /* a reference */
	uint16_t pkt_id; /* 0 while queued */
	uint8_t qos; /* delivery QoS = min(pub, sub) */
	uint8_t state; /* enum delivery_state */
	bool retain; /* retain flag to send */
	bool dup; /* sent before: set DUP on resend */
	uint16_t attempts; /* failed deliveries so far (nacks, moves) */
	struct share_ref *share; /* reference when routed via a share group */
	struct queue *queue; /* reference when taken from a queue */
	uint64_t store_id; /* its delivery record; 0 = not stored */
	uint64_t entry_id; /* with queue: its queue entry's record, or 0 */
	uint8_t nsub_ids;
	uint32_t sub_ids[]; /* nsub_ids of them */
};

/* What the owning adapter provides. */
struct session_ops {
	/*
	 * Put one delivery on the wire (PUBLISH, with d->dup for resends).
	 * Returns false if it could not be sent at all (larger than the
	 * client accepts): the session then treats it as delivered
	 * (MQTT 5 3.1.2.11.4).
	 */
	bool (*send)(void *owner, const struct delivery *d, uint64_t now_ms);
	/* Put a PUBREL for pkt_id on the wire. */
	void (*send_release)(void *owner, uint16_t pkt_id);
	/* May a QoS 0 message be written now, or is output backed up? */
	bool (*has_room)(void *owner);
	/* Back-pressure on this publisher is lifted: resume reading. */
	void (*resume)(void *owner);
	/*
	 * The session is being taken from this connection: close it, telling
	 * the client why in the protocol's own terms. After the call the
	 * session is detached (owner NULL).
	 */
	void (*kick)(void *owner, enum session_kick why);
};

struct session_sub {
	struct list link;
	char *filter; /* plain filter, NUL-terminated */
	char *group; /* share group or NULL */
	struct sub_opts opts;
};

/* A will message, kept from CONNECT until it is sent or discarded. */
struct session_will {
	struct msg *m; /* owned reference */
	uint64_t at_ms; /* pending delayed will; 0 = none */
	uint32_t delay_s;
};

/*
 * Back-pressure (broker.c): publishers blocked on this session's full
 * queue, and what this session is blocked on as a publisher.
 */
struct session_wait {
	struct session *s; /* the session these belong to */
	struct list waiters; /* struct session_wait (link) of publishers */
	struct list link; /* in the waiters of what we wait on */
	void *on; /* the full session or queue, or NULL */
};

/*
 * Fields are ordered to leave no padding: an idle connection costs its
 * session, so the struct is kept small (one allocation with the id).
 */
struct session {
	struct broker *b;
	struct session *hash_next; /* broker's id table chain */
	struct list all_link; /* broker's list of sessions */
	const struct session_ops *ops; /* NULL when offline */
	void *owner;
	uint64_t expire_at_ms; /* offline: when it ends; 0 = n/a */
	uint32_t expiry_s; /* after disconnect; NEVER or s */
	uint16_t window; /* in-flight limit, >= 1 */
	uint16_t next_pkt_id;

	struct list queue; /* struct delivery, QUEUED */
	size_t queued_bytes;
	uint32_t queued_count;
	uint32_t inflight_count; /* <= window */
	struct list inflight; /* struct delivery, SENT/RELEASED */

	uint8_t *inq2; /* bitmap of 65536, lazily allocated */
	uint32_t inq2_count;
	uint32_t nsubs;
	struct list subs; /* struct session_sub */
	struct list consumers; /* struct queue_consumer, see queue.c */

	/* Rarely used, so apart: a session holding either is not idle. */
	struct session_will *will; /* NULL: none */
	struct session_wait *wait; /* back-pressure; NULL until first used */

	/*
	 * routing (broker.c): this session's entry in the broker's match
	 * array while one message is routed; stale in between
	 */
	uint32_t match_slot;
	uint16_t client_id_len; /* <= SESSION_ID_MAX */
	bool unlisted; /* connection-scoped: not in the id table */
	bool stored; /* persistent on a durable store: has records */
	char client_id[]; /* client_id_len bytes, then a NUL */
};

/*
 * Create a detached session with a copy of id (idlen <= SESSION_ID_MAX);
 * the broker registers it.
 */
struct session *session_new(struct broker *b, const char *id, size_t idlen);
/* Free everything the session holds (subscriptions must be gone from the tree). */
void session_free(struct session *s);

/* Attach a connection: set ops/owner and the window. */
void session_attach(struct session *s, const struct session_ops *ops,
    void *owner, uint16_t window);
/* Detach the connection (session stays). */
void session_detach(struct session *s);

static inline bool
session_is_online(const struct session *s)
{
	return s->ops != NULL;
}

/*
 * Resend in-flight state after a resume (DUP PUBLISH / PUBREL) and pump
 * the queue.
 */
void session_resume(struct session *s, uint64_t now_ms);

/* One message offered to a session. */
struct session_offer {
	struct msg *m;
	uint8_t qos; /* delivery QoS */
	bool retain; /* retain flag to send */
	const uint32_t *sub_ids;
	size_t nsub_ids;
	struct share_ref *share; /* borrowed; a kept delivery takes a ref */
	struct queue *queue; /* borrowed; a kept delivery takes a ref */
	uint64_t entry_id; /* with queue: the queue entry's record id */
	uint16_t attempts;
};

/*
 * Offer a message at delivery QoS o->qos. QoS 0 goes out at once if online
 * with room, else is dropped (counted). QoS 1/2 go out if the window has
 * room, else are queued. Returns false if the queue was already at its
 * limit: online, the message is queued anyway (the caller back-pressures
 * the publisher, so the overshoot is bounded by one message per
 * publisher); offline, it is dropped and counted.
 */
bool session_deliver(
    struct session *s, const struct session_offer *o, uint64_t now_ms);

/* Is the outbound queue at its configured limit? */
bool session_is_full(const struct session *s);

/*
 * Client acknowledgements. Each returns false when pkt_id is not in
 * flight in the expected state (the adapter decides what that means for
 * its protocol version).
 */
bool session_on_puback(struct session *s, uint16_t pkt_id, uint64_t now_ms);
bool session_on_pubrec(struct session *s, uint16_t pkt_id, uint64_t now_ms);
bool session_on_pubcomp(struct session *s, uint16_t pkt_id, uint64_t now_ms);
/*
 * Take the in-flight delivery pkt_id back (a negative acknowledgement);
 * only one still awaiting its first acknowledgement (SENT). The caller
 * owns it afterwards (session_delivery_free). NULL if there is none.
 */
struct delivery *session_take(
    struct session *s, uint16_t pkt_id, uint64_t now_ms);

/* Unlink d from the queue or the in-flight list; the caller owns it. */
void session_unlink(struct session *s, struct delivery *d);

/*
 * Free a delivery of s that is on no list, dropping its references and
 * deleting its records (its delivery record, and its queue entry's unless
 * entry_id was cleared because the entry went back to its queue).
 */
void session_delivery_free(struct session *s, struct delivery *d);

/* Record d's current state when s is stored (see store.h). */
void session_delivery_store(struct session *s, struct delivery *d);

/* Recovery: a new delivery from a stored record (attempts, sub ids). */
struct delivery *session_delivery_new(const struct session_offer *o);
/*
 * Recovery: append d (state, pkt_id, store_id set) to the in-flight list
 * (SENT, RELEASED: resent with DUP / PUBREL on resume) or the queue.
 * Call in the original order.
 */
void session_restore(struct session *s, struct delivery *d);

/* Write every record of s (session, subs, deliveries, inq2) again. */
void session_store_all(struct session *s);

/* Move queued deliveries into the window while it has room. */
void session_pump(struct session *s, uint64_t now_ms);

/* Inbound QoS 2: has this id been received and not yet released? */
bool session_inq2_has(const struct session *s, uint16_t pkt_id);
void session_inq2_add(struct session *s, uint16_t pkt_id);
/* Returns false if the id was not pending. */
bool session_inq2_del(struct session *s, uint16_t pkt_id);

/* Drop all queued and in-flight deliveries and inbound QoS 2 ids,
 * deleting their records. */
void session_clear_state(struct session *s);

/* Replace the will (takes the reference; NULL clears). */
void session_set_will(struct session *s, struct msg *will, uint32_t delay_s);
/* Take the will out of s: the caller owns the reference. NULL if none. */
struct msg *session_take_will(struct session *s);

/* When a delayed will is due; 0 = none pending. */
static inline uint64_t
session_will_at(const struct session *s)
{
	return s->will ? s->will->at_ms : 0;
}

/* The back-pressure links of s, made on first use; freed with s. */
struct session_wait *session_wait_get(struct session *s);

/* What s is blocked on as a publisher (a session or queue), or NULL. */
static inline void *
session_waiting_on(const struct session *s)
{
	return s->wait ? s->wait->on : NULL;
}

#endif
