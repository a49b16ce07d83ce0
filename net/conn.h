/*
 * conn.h - one client connection: a non-blocking TCP socket driven by
 * the loop, fed to a protocol adapter, and the struct proto_out that
 * adapter writes through.
 *
 * Owns the socket, the adapter's per-connection state (through the
 * adapter's open/close), a lazily allocated input remainder and a lazily
 * taken output queue (net/outq.h). An idle connection owns neither, so
 * it costs only its struct (list links, the peer text): about 130 bytes.
 * Its socket sits in the server's epoll set, not in a libevent event.
 *
 * Input: bytes are read into the server's shared scratch buffer and
 * handed to proto->input in place; only an unconsumed remainder (a
 * partial frame, or input left while paused) is copied into the
 * connection. The adapter's need hint is honoured: buffered input is not
 * offered again until it reaches need bytes.
 *
 * Output: write() copies, write_msg() copies the header and references
 * the payload (zero copy, holding a msg reference until it is sent).
 * Nothing is written to the socket inside a proto_out call: the
 * connection goes on the server's dirty list and is flushed once at the
 * end of the loop turn, so every write of a turn leaves in one writev.
 *
 * Closing: conn_close() is the one close path. It stops reading, lets
 * queued output flush for one to two seconds (two server ticks), then (from the
 * server's reap list, after every callback has unwound) calls
 * proto->close exactly once, logs "closed: REASON" and frees. A dead
 * peer (EOF, socket error) skips the flush.
 */
#ifndef JUNCTION_CONN_H
#define JUNCTION_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/util.h"

/*
 * Output above HIWAT stops reading from the peer and arms proto->drained;
 * both end once it falls below LOWAT.
 */
#define CONN_HIWAT (256 * 1024)
#define CONN_LOWAT (64 * 1024)
/* How long a socket we closed keeps draining input (see conn_drain). */
#define CONN_DRAIN_MS 1000

struct conn;
struct listener;
struct server;

/*
 * The server's epoll set of connection sockets, watched by libevent as
 * one fd (see struct conn). Init exits on failure; fini after the last
 * connection is freed.
 */
void conn_poll_init(struct server *srv);
void conn_poll_fini(struct server *srv);

/*
 * Adopt the accepted socket fd (non-blocking) from l, peer at sa, and
 * open the listener's protocol on it. Takes ownership of fd.
 */
void conn_accept(struct listener *l, int fd, const struct sockaddr *sa);

/*
 * End c: reason NULL for an orderly end, else a static string logged
 * once. Idempotent (the first reason wins); never frees c in the call.
 */
void conn_close(struct conn *c, const char *reason);

/* Close every connection of srv with reason. */
void conn_close_all(struct server *srv, const char *reason);

/* Write out every connection on srv's dirty list. */
void conn_flush_dirty(struct server *srv);

/* Run deferred work: input of resumed connections, then the reap list. */
void conn_run_deferred(struct server *srv);

/* Close every socket still lingering after its connection (shutdown). */
void conn_drain_all(struct server *srv);

/* About once a second: proto->tick on every open connection. */
void conn_tick_all(struct server *srv, uint64_t now_ms);

#endif
