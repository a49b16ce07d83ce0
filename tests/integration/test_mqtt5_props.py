"""MQTT 5.0 properties (section 2.2.2, 3.3.2.3): malformed and invalid
property blocks get the right reason code before the close, and the
message properties travel end to end unchanged."""
import pytest

from mqtt5raw import (CONTENT_TYPE, CORRELATION_DATA, MAXIMUM_PACKET_SIZE,
                      MESSAGE_EXPIRY, PAYLOAD_FORMAT, PUBACK, Paho5,
                      RC_MALFORMED, RC_PROTOCOL_ERROR, RC_TOPIC_ALIAS_INVALID,
                      REASON_STRING, RECEIVE_MAXIMUM, REQUEST_PROBLEM_INFO,
                      REQUEST_RESPONSE_INFO, RESPONSE_TOPIC, Raw5,
                      SESSION_EXPIRY, SUBSCRIPTION_ID, TOPIC_ALIAS,
                      USER_PROPERTY, WILL_DELAY, ack5, broker, connect5,
                      make_broker, mstr, paho5, publish5,
                      raw5, skip_on_mosquitto, sub_opts, subscribe5,
                      unsubscribe5, varint)  # noqa: F401

UP = USER_PROPERTY

# ------------------------------------------------ malformed / invalid: CONNECT

def _refused(b, rc, **kw):
    r = Raw5(b)
    r.send(connect5("c5-bad", **kw))
    r.expect_connack_refused(rc, mosq_silent=True)


@pytest.mark.parametrize("props", [
    [(SESSION_EXPIRY, 10), (SESSION_EXPIRY, 10)],
    [(RECEIVE_MAXIMUM, 5), (RECEIVE_MAXIMUM, 6)],
    [(REQUEST_PROBLEM_INFO, 1), (REQUEST_PROBLEM_INFO, 1)],
], ids=["session-expiry", "receive-maximum", "request-problem-info"])
def test_connect_duplicate_property(broker, props):
    _refused(broker, RC_PROTOCOL_ERROR, props=props)


@pytest.mark.parametrize("props", [
    [(RECEIVE_MAXIMUM, 0)],                 # 3.1.2.11.3
    [(MAXIMUM_PACKET_SIZE, 0)],             # 3.1.2.11.4
    [(REQUEST_PROBLEM_INFO, 2)],            # 3.1.2.11.7
    [(REQUEST_RESPONSE_INFO, 2)],           # 3.1.2.11.6
], ids=["receive-max-0", "max-packet-0", "problem-info-2",
        "response-info-2"])
def test_connect_bad_property_value(broker, props):
    _refused(broker, RC_PROTOCOL_ERROR, props=props)


def test_connect_property_not_allowed(broker):
    # 2.2.2.2: an identifier not valid for the packet type is malformed.
    _refused(broker, RC_MALFORMED, props=[(TOPIC_ALIAS, 1)])


def test_connect_unknown_property(broker):
    _refused(broker, RC_MALFORMED, raw_props=b"\x02\x05\x00")


def test_connect_truncated_property_block(broker):
    # Property length 20, but only a session expiry (5 bytes) follows
    # before the client id.
    _refused(broker, RC_MALFORMED,
             raw_props=b"\x14" + b"\x11\x00\x00\x00\x0a")


def test_will_duplicate_property(broker):
    _refused(broker, RC_PROTOCOL_ERROR, will=dict(
        topic="w/t", payload=b"w", props=[(WILL_DELAY, 1), (WILL_DELAY, 2)]))


def test_will_property_not_allowed(broker):
    _refused(broker, RC_MALFORMED, will=dict(
        topic="w/t", payload=b"w", props=[(SESSION_EXPIRY, 5)]))


# ---------------------------------------------- malformed / invalid: PUBLISH

def _publish_rejected(b, rc, **kw):
    r = raw5(b, "c5-badpub")
    r.send(publish5("p5/bad", b"x", **kw))
    r.expect_disconnect(rc, mosq_silent=True, mosq_rc=kw.get("mosq_rc"))
    return r


@pytest.mark.parametrize("props", [
    [(CONTENT_TYPE, "a"), (CONTENT_TYPE, "b")],
    [(PAYLOAD_FORMAT, 1), (PAYLOAD_FORMAT, 1)],
    [(MESSAGE_EXPIRY, 5), (MESSAGE_EXPIRY, 5)],
    [(RESPONSE_TOPIC, "r/a"), (RESPONSE_TOPIC, "r/b")],
    [(CORRELATION_DATA, b"1"), (CORRELATION_DATA, b"2")],
], ids=["content-type", "payload-format", "message-expiry",
        "response-topic", "correlation-data"])
@pytest.mark.parametrize("qos", [0, 1])
def test_publish_duplicate_property(broker, props, qos):
    _publish_rejected(broker, RC_PROTOCOL_ERROR, props=props, qos=qos)


def test_publish_property_not_allowed(broker):
    # Session Expiry is not a PUBLISH property: malformed (2.2.2.2).
    _publish_rejected(broker, RC_MALFORMED, props=[(SESSION_EXPIRY, 5)])


def test_publish_unknown_property(broker):
    _publish_rejected(broker, RC_MALFORMED, raw_props=b"\x02\x7f\x00")


def test_publish_payload_format_2(broker):
    """3.3.2.3.2 defines only 0 and 1 and names no code for another
    value: protocol error or malformed are both accepted."""
    skip_on_mosquitto("accepts Payload Format Indicator 2")
    _publish_rejected(broker, (RC_PROTOCOL_ERROR, RC_MALFORMED),
                      props=[(PAYLOAD_FORMAT, 2)])


def test_publish_truncated_property_block(broker):
    # Property length 30 with 3 bytes of packet left.
    _publish_rejected(broker, RC_MALFORMED, raw_props=b"\x1e\x01\x01")


def test_publish_property_string_past_block(broker):
    # Block of 3 bytes holding a content type whose length says 10.
    _publish_rejected(broker, RC_MALFORMED, raw_props=b"\x03\x03\x00\x0a")


def test_publish_subscription_identifier_from_client(broker):
    skip_on_mosquitto("accepts a Subscription Identifier from a client")
    _publish_rejected(broker, RC_PROTOCOL_ERROR,
                      props=[(SUBSCRIPTION_ID, 3)])        # MQTT-3.3.4-6


def test_publish_topic_alias_zero(broker):
    """MQTT-3.3.2-8 forbids alias 0 without naming a code: 0x94 (topic
    alias invalid), 0x82 (Junction) and 0x81 (Mosquitto) all fit."""
    _publish_rejected(broker, (RC_TOPIC_ALIAS_INVALID, RC_PROTOCOL_ERROR,
                               RC_MALFORMED), props=[(TOPIC_ALIAS, 0)])


def test_bad_publish_does_not_reach_subscribers(broker):
    sub = raw5(broker, "c5-badpub-sub")
    sub.subscribe([("p5/#", 1)])
    _publish_rejected(broker, RC_PROTOCOL_ERROR,
                      props=[(CONTENT_TYPE, "a"), (CONTENT_TYPE, "b")])
    ok = raw5(broker, "c5-badpub-ok")
    ok.publish("p5/marker", b"m", qos=1)
    assert sub.get().topic == "p5/marker"


# -------------------------------------- malformed / invalid: other packets

def test_subscribe_subscription_identifier_zero(broker):
    r = raw5(broker, "c5-sid0")
    r.send(subscribe5(1, [("s/t", 0)], props=[(SUBSCRIPTION_ID, 0)]))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_rc=RC_MALFORMED)   # 3.8.2.1.2


def test_subscribe_duplicate_subscription_identifier(broker):
    r = raw5(broker, "c5-sid2")
    r.send(subscribe5(1, [("s/t", 0)], props=[(SUBSCRIPTION_ID, 1),
                                             (SUBSCRIPTION_ID, 2)]))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)


def test_subscribe_property_not_allowed(broker):
    r = raw5(broker, "c5-subprop")
    r.send(subscribe5(1, [("s/t", 0)], props=[(CONTENT_TYPE, "x")]))
    r.expect_disconnect(RC_MALFORMED, mosq_silent=True)


def test_subscribe_reserved_option_bits(broker):
    r = raw5(broker, "c5-subres")
    r.send(subscribe5(1, [("s/t", 0xC0)]))
    r.expect_disconnect(RC_MALFORMED, mosq_silent=True)   # MQTT-3.8.3-5


def test_subscribe_retain_handling_3(broker):
    r = raw5(broker, "c5-rh3")
    r.send(subscribe5(1, [("s/t", sub_opts(rh=3))]))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_rc=RC_MALFORMED)   # 3.8.3.1


def test_unsubscribe_property_not_allowed(broker):
    r = raw5(broker, "c5-unsprop")
    r.send(unsubscribe5(1, ["s/t"], props=[(SUBSCRIPTION_ID, 4)]))
    r.expect_disconnect(RC_MALFORMED, mosq_silent=True)


def test_puback_duplicate_reason_string(broker):
    r = raw5(broker, "c5-pubackdup")
    r.subscribe([("pa/t", 1)])
    pub = raw5(broker, "c5-pubackdup-pub")
    pub.publish("pa/t", b"x", qos=1)
    m = r.get(ack=False)
    r.send(ack5(PUBACK, m.pid, 0, [(REASON_STRING, "a"),
                                   (REASON_STRING, "b")]))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)


def test_puback_with_properties_accepted(broker):
    r = raw5(broker, "c5-pubackok")
    r.subscribe([("pa/ok", 1)])
    pub = raw5(broker, "c5-pubackok-pub")
    pub.publish("pa/ok", b"1", qos=1)
    m = r.get(ack=False)
    r.send(ack5(PUBACK, m.pid, 0, [(REASON_STRING, "fine"),
                                   (UP, ("k", "v"))]))
    pub.publish("pa/ok", b"2", qos=1, pid=2)
    assert r.get().payload == b"2"
    r.assert_open()


# ------------------------------------------------------------ end to end

FULL = [(PAYLOAD_FORMAT, 1), (MESSAGE_EXPIRY, 100),
        (CONTENT_TYPE, "application/json; charset=utf-8"),
        (RESPONSE_TOPIC, "reply/to/me"), (CORRELATION_DATA, b"\x00\x01\xff"),
        (UP, ("b", "1")), (UP, ("a", "2")), (UP, ("b", "3")),
        (UP, ("b", "1")), (UP, ("", "")), (UP, ("\u00e9t\u00e9", "\u2603"))]


def _check_full(p, max_expiry=100):
    pr = p.props
    assert pr.get(PAYLOAD_FORMAT) == 1
    assert pr.get(CONTENT_TYPE) == "application/json; charset=utf-8"
    assert pr.get(RESPONSE_TOPIC) == "reply/to/me"
    assert pr.get(CORRELATION_DATA) == b"\x00\x01\xff"
    # Order kept, repeats (even identical pairs) allowed (3.3.2.3.7).
    assert pr.user() == [("b", "1"), ("a", "2"), ("b", "3"), ("b", "1"),
                         ("", ""), ("\u00e9t\u00e9", "\u2603")]
    assert 0 < pr.get(MESSAGE_EXPIRY) <= max_expiry       # MQTT-3.3.2-6


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_properties_carried_end_to_end(broker, qos):
    sub = raw5(broker, "c5-e2e-sub")
    sub.subscribe([("e2e/t", qos)])
    pub = raw5(broker, "c5-e2e-pub")
    pub.publish("e2e/t", b'{"v": 1}', qos=qos, props=FULL)
    m = sub.get()
    assert (m.topic, m.payload, m.qos) == ("e2e/t", b'{"v": 1}', qos)
    _check_full(m)


def test_no_properties_when_none_sent(broker):
    sub = raw5(broker, "c5-none-sub")
    sub.subscribe([("none/t", 1)])
    pub = raw5(broker, "c5-none-pub")
    pub.publish("none/t", b"plain", qos=1)
    m = sub.get()
    assert m.props == [], m


def test_properties_kept_for_offline_session(broker):
    sub = raw5(broker, "c5-off-sub", clean=False,
               props=[(SESSION_EXPIRY, 60)])
    sub.subscribe([("off5/t", 1)])
    sub.disconnect()
    pub = raw5(broker, "c5-off-pub")
    pub.publish("off5/t", b"queued", qos=1, props=FULL)
    sub = raw5(broker, "c5-off-sub", clean=False,
               props=[(SESSION_EXPIRY, 60)])
    assert sub.connack.sp == 1
    m = sub.get()
    assert m.payload == b"queued"
    _check_full(m)


def test_properties_kept_on_retained(broker):
    pub = raw5(broker, "c5-ret-pub")
    pub.publish("ret5/props", b"kept", qos=1, retain=True, props=FULL)
    sub = raw5(broker, "c5-ret-sub")
    sub.subscribe([("ret5/props", 1)])
    m = sub.get()
    assert (m.payload, m.retain) == (b"kept", 1)
    _check_full(m)


def test_paho_properties_end_to_end(broker):
    sub = paho5(broker, "c5-paho-sub")
    assert sub.subscribe("paho5/t", 1) == [1]
    pub = paho5(broker, "c5-paho-pub")
    props = Paho5.properties(
        "PUBLISH", PayloadFormatIndicator=1, ContentType="text/plain",
        ResponseTopic="paho5/reply", CorrelationData=b"id-42",
        MessageExpiryInterval=60,
        UserProperty=[("x", "1"), ("y", "2"), ("x", "3")])
    pub.publish("paho5/t", "h\u00e9llo".encode(), 1, props=props)
    m = sub.get()
    assert m.payload == "h\u00e9llo".encode()
    p = m.properties
    assert p.PayloadFormatIndicator == 1
    assert p.ContentType == "text/plain"
    assert p.ResponseTopic == "paho5/reply"
    assert p.CorrelationData == b"id-42"
    assert 0 < p.MessageExpiryInterval <= 60
    assert p.UserProperty == [("x", "1"), ("y", "2"), ("x", "3")]


def test_request_response(broker):
    """Response topic and correlation data pass through untouched, so a
    responder can answer a requester (4.10)."""
    responder = paho5(broker, "c5-responder")
    responder.subscribe("svc/request", 1)
    requester = paho5(broker, "c5-requester")
    requester.subscribe("svc/reply/c5-requester", 1)
    corr = bytes(range(256))
    requester.publish("svc/request", b"2+2", 1, props=Paho5.properties(
        "PUBLISH", ResponseTopic="svc/reply/c5-requester",
        CorrelationData=corr))
    req = responder.get()
    assert req.payload == b"2+2"
    assert req.properties.ResponseTopic == "svc/reply/c5-requester"
    assert req.properties.CorrelationData == corr
    responder.publish(req.properties.ResponseTopic, b"4", 1,
                      props=Paho5.properties(
                          "PUBLISH",
                          CorrelationData=req.properties.CorrelationData))
    rsp = requester.get()
    assert (rsp.topic, rsp.payload) == ("svc/reply/c5-requester", b"4")
    assert rsp.properties.CorrelationData == corr
    assert not hasattr(rsp.properties, "ResponseTopic")


def test_long_property_values(broker):
    sub = raw5(broker, "c5-long-sub")
    sub.subscribe([("long/t", 1)])
    pub = raw5(broker, "c5-long-pub")
    big = "v" * 40000
    pub.publish("long/t", b"p", qos=1, props=[
        (CONTENT_TYPE, "c" * 300), (UP, ("k" * 200, big)),
        (CORRELATION_DATA, bytes(range(256)) * 20)])
    m = sub.get()
    assert m.props.get(CONTENT_TYPE) == "c" * 300
    assert m.props.user() == [("k" * 200, big)]
    assert m.props.get(CORRELATION_DATA) == bytes(range(256)) * 20


def test_property_length_as_multibyte_varint(broker):
    """A property block whose length needs a 2-byte varint, built by
    hand."""
    sub = raw5(broker, "c5-vi-sub")
    sub.subscribe([("vi/t", 0)])
    pub = raw5(broker, "c5-vi-pub")
    body = b"\x26" + mstr("k") + mstr("x" * 200)
    pub.send(publish5("vi/t", b"p", raw_props=varint(len(body)) + body))
    m = sub.get()
    assert m.props.user() == [("k", "x" * 200)]
