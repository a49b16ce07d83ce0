/*
 * server.h - the event loop context: one libevent base and everything
 * net/ hangs off it.
 *
 * Owns the event base, the listeners, the 64 KiB scratch buffer every
 * connection reads into, the connection lists, the 1 s tick timer, the
 * signal events and the "kick" event that runs deferred work after the
 * callbacks of a loop turn have unwound. Borrows the broker and config.
 *
 * Invariants:
 *   - conns holds every connection from accept until it is freed.
 *   - dirty holds connections with output queued and no write event
 *     pending; they are flushed once per loop turn (coalescing).
 *   - resume and reap hold connections linked through their one
 *     deferred-work node: a connection is on at most one of them.
 *     Whenever either is non-empty the kick event is active, so the loop
 *     never blocks on work it already has.
 *   - A connection is freed only from the reap list, never from inside
 *     a protocol callback.
 */
#ifndef JUNCTION_SERVER_H
#define JUNCTION_SERVER_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/broker.h"
#include "core/list.h"
#include "net/outq.h"

/* One read from any socket lands here; sized for a full TCP window burst. */
#define SERVER_SCRATCH (64 * 1024)

struct listener;

struct server {
	struct event_base *base;
	struct broker *broker; /* borrowed */
	const struct config *conf; /* borrowed */
	const char *conf_file; /* borrowed, for messages */
	uint8_t *scratch; /* SERVER_SCRATCH bytes */

	struct list conns;
	struct list dirty;
	struct list resume;
	struct list reap;
	uint64_t next_id; /* connection numbers, "c42" */

	struct listener *listeners[CONFIG_MAX_LISTENERS];
	size_t nlisteners;

	int conn_epfd; /* epoll set of connection sockets (conn.c) */
	struct event conn_poll; /* libevent's watch on conn_epfd */
	struct outq_cache outq_cache; /* emptied output queues for reuse */
	struct event kick;
	struct event tick;
	struct event sigint;
	struct event sigterm;
	struct event store_done; /* the store's commit completions */
	struct event store_sync; /* persistence_sync interval timer */
	bool stopping; /* shutdown began */
	struct list drains; /* sockets lingering after we closed them */
};

/* Create the loop context for b; conf and fname must outlive it. */
struct server *server_new(
    struct broker *b, const struct config *conf, const char *fname);

/*
 * Open every configured listener; each logs "listening on ADDR:PORT
 * (PROTO)" once it listens. Returns 0, or -1 after logging why.
 */
int server_listen(struct server *srv) WUR;

/*
 * Begin a clean shutdown: stop accepting, mark the broker as shutting
 * down, close every connection with "server shutting down". Idempotent.
 */
void server_shutdown(struct server *srv);

/* Has shutdown begun and every connection been freed? */
bool server_is_done(const struct server *srv);

/* Make the loop run the deferred lists (resume, reap) without blocking. */
void server_kick(struct server *srv);

/*
 * End of a loop turn: write what the turn queued, commit the store (a
 * disk store syncs the turn's records once and may release deferred
 * acknowledgements), then write what the commit released.
 */
void server_end_turn(struct server *srv);

/* Free the context; every connection must be gone. */
void server_free(struct server *srv);

#endif
