"""MQTT 5.0 reason codes on PUBACK/PUBREC/PUBREL/PUBCOMP/SUBACK/UNSUBACK
and the server's DISCONNECT reasons (sections 2.4, 3.4-3.11, 3.14)."""
from mqtt5raw import (PUBACK, PUBCOMP, PUBREC, PUBREL, RC_MALFORMED,
                      RC_NO_MATCHING_SUBSCRIBERS, RC_NO_SUBSCRIPTION_EXISTED,
                      RC_PACKET_ID_NOT_FOUND, RC_PACKET_TOO_LARGE,
                      RC_PROTOCOL_ERROR, RC_RECEIVE_MAX_EXCEEDED,
                      RC_SUCCESS, RC_TOPIC_FILTER_INVALID, SESSION_EXPIRY,
                      ack5, broker, make_broker, mstr, packet, publish5,
                      raw5, skip_on_mosquitto, subscribe5)  # noqa: F401


def test_suback_granted_qos(broker):
    r = raw5(broker, "a5-granted")
    assert r.subscribe([("g/0", 0), ("g/1", 1), ("g/2", 2)]) == [0, 1, 2]


def test_suback_topic_filter_invalid_keeps_connection(broker):
    """5.0 reports an invalid filter in SUBACK (0x8F) and the valid ones
    of the same SUBSCRIBE are still granted."""
    skip_on_mosquitto("closes the connection on an invalid filter")
    r = raw5(broker, "a5-badfilter")
    codes = r.subscribe([("ok/t", 1), ("a/#/b", 0), ("c+", 0), ("ok/u", 2)])
    assert codes == [1, RC_TOPIC_FILTER_INVALID, RC_TOPIC_FILTER_INVALID, 2]
    pub = raw5(broker, "a5-badfilter-pub")
    pub.publish("ok/t", b"x", qos=1)
    assert r.get().topic == "ok/t"


def test_unsuback_no_subscription_existed(broker):
    r = raw5(broker, "a5-unsub")
    r.subscribe([("u/a", 0)])
    assert r.unsubscribe(["u/a", "u/b", "u/a"]) == \
        [RC_SUCCESS, RC_NO_SUBSCRIPTION_EXISTED, RC_NO_SUBSCRIPTION_EXISTED]


def test_unsubscribe_stops_delivery(broker):
    r = raw5(broker, "a5-unsub2")
    r.subscribe([("u2/a", 1), ("u2/m", 1)])
    assert r.unsubscribe("u2/a") == [RC_SUCCESS]
    pub = raw5(broker, "a5-unsub2-pub")
    pub.publish("u2/a", b"gone", qos=1)
    pub.publish("u2/m", b"marker", qos=1, pid=2)
    assert r.get().payload == b"marker"


def test_pubrel_unknown_id_gets_pubcomp_0x92(broker):
    skip_on_mosquitto("answers PUBCOMP 0x00 for an unknown packet id")
    r = raw5(broker, "a5-pubrel")
    r.send(ack5(PUBREL, 4242))
    p = r.wait_for(PUBCOMP, 4242)
    assert p.rc == RC_PACKET_ID_NOT_FOUND
    r.assert_open()


def test_puback_to_publisher(broker):
    r = raw5(broker, "a5-puback")
    ack = r.publish("nobody/listens", b"x", qos=1)
    # 0x10 (no matching subscribers) is allowed; it is still a success.
    assert ack.rc in (RC_SUCCESS, RC_NO_MATCHING_SUBSCRIBERS)
    sub = raw5(broker, "a5-puback-sub")
    sub.subscribe([("some/listens", 1)])
    ack = r.publish("some/listens", b"x", qos=1, pid=2)
    assert ack.rc == RC_SUCCESS


def test_qos2_handshake_reason_codes(broker):
    sub = raw5(broker, "a5-q2-sub")
    sub.subscribe([("q2/t", 2)])
    r = raw5(broker, "a5-q2-pub")
    r.send(publish5("q2/t", b"x", qos=2, pid=9))
    rec = r.wait_for(PUBREC, 9)
    assert rec.rc in (RC_SUCCESS, RC_NO_MATCHING_SUBSCRIBERS)
    r.send(ack5(PUBREL, 9))
    assert r.wait_for(PUBCOMP, 9).rc == RC_SUCCESS
    m = sub.get(ack=False)
    sub.send(ack5(PUBREC, m.pid))
    rel = sub.wait_for(PUBREL, m.pid)
    assert rel.rc == RC_SUCCESS
    sub.send(ack5(PUBCOMP, m.pid))
    sub.assert_open()


def test_pubrec_error_ends_the_exchange(broker):
    """PUBREC >= 0x80 from a subscriber completes the QoS 2 flow: no
    PUBREL, and the message is not sent again, not even to the resumed
    session (4.3.3)."""
    props = [(SESSION_EXPIRY, 60)]
    sub = raw5(broker, "a5-recerr", clean=False, props=props)
    sub.subscribe([("recerr/t", 2)])
    pub = raw5(broker, "a5-recerr-pub")
    pub.publish("recerr/t", b"refused", qos=2)
    m = sub.get(ack=False)
    sub.send(ack5(PUBREC, m.pid, 0x80))
    assert [p for p in sub.ping() if p.type == PUBREL] == []
    pub.publish("recerr/t", b"next", qos=2, pid=2)
    assert sub.get().payload == b"next"
    sub.disconnect()
    sub = raw5(broker, "a5-recerr", clean=False, props=props)
    assert sub.connack.sp == 1
    pub.publish("recerr/t", b"marker", qos=1, pid=3)
    assert sub.get().payload == b"marker"


def test_puback_error_finishes_plain_subscription(broker):
    """PUBACK >= 0x80 (e.g. 0x80 unspecified, 0x97 quota exceeded) from a
    subscriber: the delivery is finished, never resent."""
    props = [(SESSION_EXPIRY, 60)]
    sub = raw5(broker, "a5-ackerr", clean=False, props=props)
    sub.subscribe([("ackerr/t", 1)])
    other = raw5(broker, "a5-ackerr-other")
    other.subscribe([("ackerr/t", 1)])
    pub = raw5(broker, "a5-ackerr-pub")
    pub.publish("ackerr/t", b"nack", qos=1)
    m = sub.get(ack=False)
    sub.send(ack5(PUBACK, m.pid, 0x97))
    assert other.get().payload == b"nack"      # others unaffected
    sub.disconnect()
    sub = raw5(broker, "a5-ackerr", clean=False, props=props)
    pub.publish("ackerr/t", b"marker", qos=1, pid=2)
    assert sub.get().payload == b"marker"
    assert other.get().payload == b"marker"


# -------------------------------------------------- server DISCONNECT codes

def test_packet_too_large(make_broker):
    b = make_broker("max_packet_size 1000\n")
    sub = raw5(b, "a5-big-sub")
    sub.subscribe([("big/#", 1)])
    r = raw5(b, "a5-big")
    r.publish("big/ok", b"x" * 900, qos=1)
    r.send(publish5("big/no", b"x" * 2000, qos=1, pid=2))
    r.expect_disconnect(RC_PACKET_TOO_LARGE, mosq_silent=True)
    assert sub.get().topic == "big/ok"
    pub = raw5(b, "a5-big-pub2")
    pub.publish("big/marker", b"m", qos=1)
    assert sub.get().topic == "big/marker"    # the big one never arrived


def test_receive_maximum_exceeded(make_broker):
    """More unacknowledged QoS 2 PUBLISHes than the advertised Receive
    Maximum: DISCONNECT 0x93 (MQTT-3.3.4-9)."""
    skip_on_mosquitto("answers PUBREC 0x97 (quota exceeded) instead")
    b = make_broker("max_inflight_messages 20\n")
    r = raw5(b, "a5-rmax")
    assert r.connack.props.get(0x21) == 20
    for i in range(1, 21):
        r.send(publish5("rmax/t", b"%d" % i, qos=2, pid=i))
    for i in range(1, 21):
        assert r.wait_for(PUBREC, i).rc < 0x80
    r.send(publish5("rmax/t", b"21", qos=2, pid=21))
    r.expect_disconnect(RC_RECEIVE_MAX_EXCEEDED, mosq_silent=True)


def test_receive_maximum_counts_only_unreleased(make_broker):
    """Completed exchanges free their slot: 3 x 20 QoS 2 messages in
    windows of 20 are fine."""
    b = make_broker("max_inflight_messages 20\n")
    r = raw5(b, "a5-rmax-ok")
    for w in range(3):
        ids = range(1 + 20 * w, 21 + 20 * w)
        for i in ids:
            r.send(publish5("rmax/ok", b"%d" % i, qos=2, pid=i))
        for i in ids:
            r.wait_for(PUBREC, i)
        for i in ids:
            r.send(ack5(PUBREL, i))
        for i in ids:
            r.wait_for(PUBCOMP, i)
    r.assert_open()


def test_malformed_publish_qos3(broker):
    r = raw5(broker, "a5-q3")
    r.send(packet(0x36, mstr("q3/t") + b"\x00\x01\x00x"))
    r.expect_disconnect(RC_MALFORMED, mosq_silent=True)   # MQTT-3.3.1-4


def test_malformed_topic_runs_past_packet(broker):
    r = raw5(broker, "a5-short")
    r.send(packet(0x30, b"\x00\x20abc\x00"))
    r.expect_disconnect(RC_MALFORMED, mosq_silent=True)


def test_malformed_invalid_utf8_topic(broker):
    r = raw5(broker, "a5-utf8")
    r.send(packet(0x30, mstr(b"bad/\xff\xfe") + b"\x00"))
    r.expect_disconnect(RC_MALFORMED, mosq_silent=True)   # MQTT-1.5.4-1


def test_subscribe_without_filters_is_protocol_error(broker):
    r = raw5(broker, "a5-nofilter")
    r.send(subscribe5(1, []))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True,
                        mosq_rc=RC_MALFORMED)             # MQTT-3.8.3-2
