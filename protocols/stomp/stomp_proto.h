/*
 * stomp_proto.h - the STOMP adapter: STOMP 1.0 / 1.1 / 1.2 sessions onto
 * core/. Pure state machine: bytes in through proto_ops.input, bytes out
 * through struct proto_out, core calls in between. The codec
 * (stomp_codec.h) frames and decodes; destinations map through
 * stomp_dest.h; every STOMP quirk lives here, core never learns the
 * protocol.
 *
 * Each connection opens a clean, non-persistent core session with a
 * generated id (as RabbitMQ's STOMP adapter does). STOMP subscriptions
 * are core subscriptions whose sub_id is a per-connection number; ack
 * mode auto is QoS 0, client and client-individual are QoS 1. The
 * mapping to MQTT and every choice the spec leaves open are in README.md
 * "STOMP".
 *
 * May include core/, conf/ and protocols/stomp/ only.
 */
#ifndef JUNCTION_STOMP_PROTO_H
#define JUNCTION_STOMP_PROTO_H

#include "core/proto.h"

/* The CONNECTED frame's server header (protocols may not see net/version.h). */
#define STOMP_PROTO_SERVER "junction"

extern const struct proto_ops stomp_proto_ops;

#endif
