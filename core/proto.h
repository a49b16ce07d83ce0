/*
 * proto.h - the two seams between net/ and the protocol adapters.
 *
 * struct proto_ops is what each protocol implements (open, input, tick,
 * drained, close); net/ drives it from the event loop. struct proto_out
 * is what net/ implements for output (write bytes, write a message
 * payload zero-copy, pause input, close); adapters call it, and unit
 * tests fake it to run a whole protocol session bytes in, bytes out,
 * without a socket.
 *
 * Pure: no libevent, no sockets.
 */
#ifndef JUNCTION_PROTO_H
#define JUNCTION_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msg.h"

struct broker;

struct proto_out {
	/* Queue len bytes for the peer (copied). */
	void (*write)(void *io, const void *buf, size_t len);
	/*
	 * Queue hdr (copied), then m's payload by reference: takes a
	 * reference on m, dropped once the bytes have left.
	 */
	void (*write_msg)(
	    void *io, const void *hdr, size_t hlen, struct msg *m);
	/* Bytes queued and not yet handed to the kernel. */
	size_t (*pending)(void *io);
	/* Stop (true) or resume (false) reading input: back-pressure. */
	void (*pause)(void *io, bool paused);
	/*
	 * End the connection after flushing what is queued. reason is NULL
	 * for an orderly end, else a static string the boundary logs once.
	 * The adapter's close() is called later, never from inside this call.
	 */
	void (*close)(void *io, const char *reason);
};

struct proto_ops {
	const char *name; /* "mqtt", "stomp" */
	/*
	 * A connection was accepted. peer is "ADDR:PORT" (borrowed, valid
	 * until close). Returns the adapter's per-connection state.
	 */
	void *(*open)(struct broker *b, const struct proto_out *out, void *io,
	    const char *peer, uint64_t now_ms);
	/*
	 * Bytes arrived: consume whole frames from data. Returns the bytes
	 * consumed; sets *need to the total size the unconsumed input must
	 * reach before another call is useful (0 = any more data). After the
	 * adapter has called out->close, it consumes nothing more.
	 */
	size_t (*input)(void *p, const uint8_t *data, size_t len, size_t *need,
	    uint64_t now_ms);
	/* About once a second: keep-alive and other timeouts. */
	void (*tick)(void *p, uint64_t now_ms);
	/* The output queue drained below the low-water mark. */
	void (*drained)(void *p, uint64_t now_ms);
	/*
	 * The connection is gone (peer closed, socket error, or after
	 * out->close). reason is NULL after an orderly out->close, else why.
	 * Frees p.
	 */
	void (*close)(void *p, const char *reason, uint64_t now_ms);
};

#endif
