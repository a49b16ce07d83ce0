/*
 * queue.h - named queues with competing consumers and dead-lettering.
 *
 * A queue (STOMP /queue/NAME, MQTT $queue/NAME) holds messages until one
 * consumer takes each. Queues are created on first use and are bounded
 * like session queues (max_queued_messages / max_queued_bytes). Each
 * message goes to one consumer, round robin among consumers with room:
 * the consumer's session is online, its in-flight window has room and
 * its per-queue prefetch (STOMP prefetch-count, 0 = the window) is not
 * used up. Messages wait while no consumer has room.
 *
 * Deliveries travel through the consumer's session like any other
 * (struct delivery.queue is set), so acknowledgements need nothing
 * special from adapters:
 *   - an acknowledged delivery is consumed;
 *   - a negative ack (STOMP NACK, MQTT 5 PUBACK >= 0x80) or losing the
 *     consumer's connection with the delivery unacknowledged puts the
 *     message back at the head of the queue with its delivery count
 *     raised, after an optional redelivery delay with exponential
 *     back-off;
 *   - after max_redeliveries failed deliveries it moves to the queue's
 *     dead-letter queue "NAME.dlq" with user properties saying where it
 *     came from and why (x-dlq-queue, x-dlq-reason, x-delivery-count).
 *     A dead-letter queue is an ordinary queue (consumable, re-publishable)
 *     whose messages are never dead-lettered again.
 * A consumer at QoS 0 (STOMP ack:auto) takes messages at most once: they
 * leave the queue when sent.
 *
 * Pure: libc and core/ only; time comes in as now_ms.
 */
#ifndef JUNCTION_QUEUE_H
#define JUNCTION_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/msg.h"
#include "core/topic.h"

struct broker;
struct session;
struct delivery;

/* Prefix of MQTT topic names/filters that address a queue. */
#define QUEUE_MQTT_PREFIX "$queue/"
#define QUEUE_DLQ_SUFFIX ".dlq"
/*
 * Longest queue name from MQTT, so "$queue/NAME.dlq" still fits a 16-bit
 * topic length. (STOMP names are bounded by its header length limit.)
 */
#define QUEUE_NAME_MAX 65000

struct queue;

/*
 * Is this MQTT topic name / filter a queue address ("$queue/NAME" with a
 * non-empty NAME without wildcards)? Sets the name slice.
 */
bool queue_mqtt_name(
    const char *t, size_t len, const char **name, size_t *nlen);

enum queue_result {
	QUEUE_ACCEPTED = 0, /* the queue owns it: acknowledge */
	QUEUE_BLOCKED, /* owned, but stop reading origin until resume */
	QUEUE_DROPPED, /* full, overflow drop_newest: discarded, counted */
	QUEUE_REJECTED, /* full, overflow reject: refuse it (0x97/ERROR) */
};

/*
 * Enqueue m (takes its own reference) on queue name, creating it. A full
 * queue acts on its overflow policy (config queue_overflow / queue line):
 * block enqueues anyway (the overshoot is bounded by one per publisher)
 * and returns QUEUE_BLOCKED, so the caller stops reading from origin until
 * origin->ops->resume, exactly as broker_publish does; drop_oldest
 * discards the head and accepts; drop_newest returns QUEUE_DROPPED (the
 * publisher may be acknowledged: the drop is a counted policy decision);
 * reject returns QUEUE_REJECTED and the adapter refuses the message.
 */
enum queue_result broker_queue_publish(struct broker *b, struct session *origin,
    const char *name, size_t len, struct msg *m, uint64_t now_ms);

/*
 * Make s a consumer of queue name. opts->qos 0 is at-most-once, 1 or 2
 * at-least-once (2 is delivered as 2 to MQTT clients that asked for it).
 * prefetch 0 means "as many as the session window allows". Subscribing
 * again replaces the options. Starts dispatching at once.
 */
void broker_queue_subscribe(struct broker *b, struct session *s,
    const char *name, size_t len, const struct sub_opts *opts,
    uint32_t prefetch, uint64_t now_ms);

/*
 * Register s as a consumer without dispatching (broker_subscribe's path
 * for MQTT "$queue/NAME" subscriptions; the caller dispatches with
 * queue_session_online once it has answered the subscribe). Returns q.
 */
struct queue *queue_consumer_add(struct broker *b, struct session *s,
    const char *name, size_t len, const struct sub_opts *opts,
    uint32_t prefetch);

/* Returns false if s was not a consumer. Unacked deliveries stay with s. */
bool broker_queue_unsubscribe(
    struct broker *b, struct session *s, const char *name, size_t len);

#endif

/* ---- core-internal hooks (session.c, broker.c) ---- */

struct queue_set;

struct queue_set *queue_set_new(void);
/* Frees every queue and entry (consumers must be gone). */
void queue_set_free(struct queue_set *qs);

struct queue *queue_ref(struct queue *q);
void queue_unref(struct queue *q);

/*
 * An in-flight queue delivery of s finished (acked or discarded);
 * with dispatch, refill consumers at once.
 */
void queue_settled(struct broker *b, struct queue *q, struct session *s,
    uint64_t now_ms, bool dispatch);
/*
 * A queue delivery of s failed (negative ack, lost connection): the
 * message goes back to the head of its queue, or to the dead-letter
 * queue once max_redeliveries is reached. d stays the caller's; when the
 * entry went back to its queue, d->entry_id is cleared (the record now
 * belongs to the queue again).
 */
void queue_failed(struct broker *b, struct session *s, struct delivery *d,
    const char *why, uint64_t now_ms);
/* s came online: dispatch the queues it consumes. */
void queue_session_online(struct broker *b, struct session *s, uint64_t now_ms);
/* s is ending: drop its consumers. */
void queue_session_end(struct broker *b, struct session *s);
/* Timers: delayed redeliveries; idle empty queues are freed. */
void queue_tick(struct broker *b, uint64_t now_ms);

/* Number of messages waiting in queue name (tests, stats). */
size_t queue_depth(struct broker *b, const char *name, size_t len);

/*
 * Durable storage (store.h): every queue entry has a record from the
 * moment it is enqueued until it is settled, so one handed to an
 * at-least-once consumer and not yet acknowledged survives a crash and
 * is back in its queue after recovery.
 */
const char *queue_name(const struct queue *q, size_t *len);

typedef void queue_entry_fn(void *arg, const struct queue *q, uint64_t id,
    struct msg *m, uint16_t attempts);
/* Visit every waiting entry of every queue (not those in flight). */
void queue_foreach_entry(struct broker *b, queue_entry_fn *fn, void *arg);

/* Recovery: append an entry (takes its own reference on m). */
void queue_restore(struct broker *b, const char *name, size_t len, uint64_t id,
    struct msg *m, uint16_t attempts);
