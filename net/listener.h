/*
 * listener.h - a listening TCP socket for one config listener block, and
 * the table of protocols this build serves.
 *
 * Owns the listening socket and its accept and retry events. Counts the
 * connections it accepted that are still alive (for max_connections);
 * a listener outlives its connections (the server frees it last).
 * Beyond max_connections a connection is accepted and closed at once,
 * with at most one warning per second. When the process runs out of
 * descriptors, accepting pauses for a second instead of spinning.
 */
#ifndef JUNCTION_LISTENER_H
#define JUNCTION_LISTENER_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "core/proto.h"
#include "core/util.h"
#include "net/addr.h"

struct server;

struct listener {
	struct server *srv;
	const struct config_listener *cl; /* borrowed from the config */
	const struct proto_ops *ops;
	int fd; /* -1 once stopped */
	uint32_t nconns; /* live connections accepted here */
	uint32_t refused; /* over max_connections since last warning */
	uint64_t warned_ms; /* last max_connections warning */
	struct event accept_ev;
	struct event retry_ev; /* resumes accepting after EMFILE */
	char name[ADDR_TEXT_MAX]; /* the bound address, "127.0.0.1:1883" */
};

/*
 * Can this build serve every listener of c? Returns 0, or -1 with
 * "FILE:LINE: protocol stomp is not available in this build" in err.
 */
int listener_check(
    const struct config *c, const char *fname, char *err, size_t errlen) WUR;

/*
 * Bind and listen for cl (borrowed; must outlive the listener), logging
 * "listening on ADDR:PORT (PROTO)" at notice level. Returns NULL after
 * logging "FILE:LINE: ..." on failure.
 */
struct listener *listener_new(
    struct server *srv, const struct config_listener *cl) WUR;

/* Close the listening socket: no more accepts. Idempotent. */
void listener_stop(struct listener *l);

/* Free l; its connections must be gone. */
void listener_free(struct listener *l);

#endif
