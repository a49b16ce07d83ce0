"""MQTT 5.0 will messages (3.1.2.5, 3.1.3.2): Will Delay Interval, the
will at session end, will properties, DISCONNECT reason codes.

Will delay is wall-clock behaviour: the tests wait for the will on a
queue/socket with a timeout and measure when it came; proving that a
cancelled will never comes needs a read that must NOT return data for
longer than the delay."""
import socket
import time

from mqtt5raw import (CONTENT_TYPE, CORRELATION_DATA, MESSAGE_EXPIRY,
                      PAYLOAD_FORMAT, PUBLISH, Paho5, RC_DISCONNECT_WITH_WILL,
                      RC_SESSION_TAKEN_OVER, RESPONSE_TOPIC, SESSION_EXPIRY,
                      USER_PROPERTY, WILL_DELAY, broker, make_broker, paho5,
                      raw5, skip_on_mosquitto)  # noqa: F401


def _watch(b, topic, name="wl-watch"):
    w = raw5(b, name)
    w.subscribe([(topic, 1)])
    return w


def _with_will(b, cid, topic, delay=0, expiry=0, props=(), clean=True):
    wp = list(props)
    if delay:
        wp.append((WILL_DELAY, delay))
    cp = [(SESSION_EXPIRY, expiry)] if expiry else []
    return raw5(b, cid, clean=clean, props=cp,
                will=dict(topic=topic, payload=b"gone:" + cid.encode(),
                          qos=1, props=wp))


def _publishes(pkts):
    return [p for p in pkts if p.type == PUBLISH]


def _marker(b, topic):
    pub = raw5(b, "wl-marker")
    pub.publish(topic, b"marker", qos=1)
    pub.disconnect()


def test_will_sent_on_network_drop(broker):
    w = _watch(broker, "wl/drop")
    c = _with_will(broker, "wl-drop", "wl/drop")
    c.close()
    p = w.get()
    assert (p.topic, p.payload, p.qos) == ("wl/drop", b"gone:wl-drop", 1)


def test_normal_disconnect_discards_will(broker):
    w = _watch(broker, "wl/normal")
    c = _with_will(broker, "wl-normal", "wl/normal")
    c.disconnect(0)
    _marker(broker, "wl/normal")
    assert w.get().payload == b"marker"              # MQTT-3.1.2-10


def test_disconnect_with_will_message(broker):
    w = _watch(broker, "wl/x04")
    c = _with_will(broker, "wl-x04", "wl/x04")
    c.disconnect(RC_DISCONNECT_WITH_WILL)            # 0x04
    assert w.get().payload == b"gone:wl-x04"


def test_disconnect_with_error_code_sends_will(broker):
    """Only a DISCONNECT with 0x00 deletes the will (MQTT-3.1.2-10); a
    client reporting an error (0x80) still has its will published."""
    skip_on_mosquitto("2.0.11 discards the will on any code but 0x04")
    w = _watch(broker, "wl/x80")
    c = _with_will(broker, "wl-x80", "wl/x80")
    c.disconnect(0x80)
    assert w.get().payload == b"gone:wl-x80"


def test_will_properties_carried(broker):
    w = _watch(broker, "wl/props")
    c = _with_will(broker, "wl-props", "wl/props", props=[
        (PAYLOAD_FORMAT, 1), (MESSAGE_EXPIRY, 60),
        (CONTENT_TYPE, "text/plain"), (RESPONSE_TOPIC, "wl/answer"),
        (CORRELATION_DATA, b"\x01\x02"), (USER_PROPERTY, ("why", "test")),
        (USER_PROPERTY, ("why", "again"))])
    c.close()
    p = w.get()
    assert p.payload == b"gone:wl-props"
    pr = p.props
    assert pr.get(PAYLOAD_FORMAT) == 1
    assert 0 < pr.get(MESSAGE_EXPIRY) <= 60
    assert pr.get(CONTENT_TYPE) == "text/plain"
    assert pr.get(RESPONSE_TOPIC) == "wl/answer"
    assert pr.get(CORRELATION_DATA) == b"\x01\x02"
    assert pr.user() == [("why", "test"), ("why", "again")]
    assert not pr.has(WILL_DELAY)


def test_will_properties_paho(broker):
    w = paho5(broker, "wl-paho-watch")
    w.subscribe("wl/paho", 1)
    props = Paho5.properties("WILLMESSAGE", ContentType="a/b",
                             UserProperty=[("k", "v")])
    c = paho5(broker, "wl-paho", will=("wl/paho", b"bye", 1, False, props))
    # Drop the connection without DISCONNECT; paho's thread sees EOF,
    # reports the loss and ends (no reconnect).
    c.c.socket().shutdown(socket.SHUT_RDWR)
    m = w.get()
    assert m.payload == b"bye"
    assert m.properties.ContentType == "a/b"
    assert m.properties.UserProperty == [("k", "v")]
    assert c.disconnects.get(timeout=5) != 0
    c.c.loop_stop()
    c.started = False


def test_will_delay(broker):
    w = _watch(broker, "wl/delay")
    c = _with_will(broker, "wl-delay", "wl/delay", delay=2, expiry=30)
    t0 = time.monotonic()
    c.close()
    p = w.get(timeout=6)
    took = time.monotonic() - t0
    assert p.payload == b"gone:wl-delay"
    assert took >= 1.5, "will after %.2fs, delay is 2s" % took


def test_reconnect_within_delay_cancels_will(broker):
    w = _watch(broker, "wl/cancel")
    c = _with_will(broker, "wl-cancel", "wl/cancel", delay=2, expiry=30)
    c.close()
    c = raw5(broker, "wl-cancel", clean=False, props=[(SESSION_EXPIRY, 30)])
    assert c.connack.sp == 1
    # MQTT-3.1.3-9: never sent. The read must not return data for
    # longer than the delay (with a 1 s housekeeping margin).
    assert w.recv_or_none(3.5) is None
    _marker(broker, "wl/cancel")
    assert w.get().payload == b"marker"


def test_will_at_session_end_before_delay(broker):
    """Session expiry 1 s, will delay 5 s: the will goes when the
    session ends, at about 1 s (3.1.2.5)."""
    w = _watch(broker, "wl/end")
    c = _with_will(broker, "wl-end", "wl/end", delay=5, expiry=1)
    t0 = time.monotonic()
    c.close()
    p = w.get(timeout=4.5)
    took = time.monotonic() - t0
    assert p.payload == b"gone:wl-end"
    assert took < 4.5, "will after %.2fs" % took


def test_will_delay_with_session_expiry_zero(broker):
    """No session expiry: the session ends at the close, so a delayed
    will goes at once."""
    skip_on_mosquitto("2.0.11 waits for the will delay even when the "
                      "session ended")
    w = _watch(broker, "wl/zero")
    c = _with_will(broker, "wl-zero", "wl/zero", delay=30)
    c.close()
    assert w.get(timeout=3).payload == b"gone:wl-zero"


def test_takeover_publishes_undelayed_will(broker):
    """3.1.4: the existing connection of a taken-over session is closed
    and its will (delay 0) is published."""
    skip_on_mosquitto("2.0.11 does not publish the will on a takeover")
    w = _watch(broker, "wl/take")
    old = _with_will(broker, "wl-take", "wl/take", expiry=30)
    new = raw5(broker, "wl-take", clean=False, props=[(SESSION_EXPIRY, 30)])
    old.expect_disconnect(RC_SESSION_TAKEN_OVER, mosq_silent=True)
    assert w.get().payload == b"gone:wl-take"
    new.assert_open()


def test_takeover_within_delay_does_not_publish_will(broker):
    w = _watch(broker, "wl/take2")
    old = _with_will(broker, "wl-take2", "wl/take2", delay=2, expiry=30)
    raw5(broker, "wl-take2", clean=False, props=[(SESSION_EXPIRY, 30)])
    old.expect_disconnect(RC_SESSION_TAKEN_OVER, mosq_silent=True)
    assert w.recv_or_none(3.5) is None      # past the delay: never sent
    _marker(broker, "wl/take2")
    assert w.get().payload == b"marker"
