/*
 * mqtt_proto.h - the MQTT adapter: MQTT 3.1 / 3.1.1 / 5.0 sessions onto
 * core/. Pure state machine: bytes in through proto_ops.input, bytes out
 * through struct proto_out, core calls in between. All MQTT quirks live
 * here; core never learns the protocol.
 */
#ifndef JUNCTION_MQTT_PROTO_H
#define JUNCTION_MQTT_PROTO_H

#include "core/proto.h"

extern const struct proto_ops mqtt_proto_ops;

#endif
