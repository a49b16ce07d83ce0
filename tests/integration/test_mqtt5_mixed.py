"""MQTT 5.0 next to 3.1 and 3.1.1 on one broker: properties are dropped
for the older clients (their packets have no room for them) while topic,
payload, QoS and retain follow the usual rules; messages from 3.x reach
5.0 subscribers without properties."""
import struct

import mqttraw
from mqtt5raw import (CONTENT_TYPE, CORRELATION_DATA, MESSAGE_EXPIRY,
                      PAYLOAD_FORMAT, RESPONSE_TOPIC, TOPIC_ALIAS,
                      USER_PROPERTY, Paho5, broker, make_broker, paho5,
                      raw5)  # noqa: F401

PROPS = [(PAYLOAD_FORMAT, 1), (MESSAGE_EXPIRY, 60),
         (CONTENT_TYPE, "text/plain"), (RESPONSE_TOPIC, "mx/reply"),
         (CORRELATION_DATA, b"cid"), (USER_PROPERTY, ("k", "v"))]


def v311(b, cid, **kw):
    return mqttraw.raw(b, cid, **kw)


def v31(b, cid, **kw):
    return mqttraw.raw(b, cid, proto=b"MQIsdp", level=3, **kw)


def _exact_3x(p, topic, payload):
    """A 3.x PUBLISH body is exactly topic [+ packet id] + payload."""
    want = mqttraw.mstr(topic)
    if p.qos:
        want += struct.pack("!H", p.pid)
    assert p.body == want + payload, p.body[:80]


def test_v5_publisher_v311_subscriber(broker):
    sub = v311(broker, "mx-311")
    sub.subscribe([("mx/a", 2)])
    pub = raw5(broker, "mx-5pub")
    for q in (0, 1, 2):
        pub.publish("mx/a", b"payload-%d" % q, qos=q, pid=q + 1, props=PROPS)
    for q in (0, 1, 2):
        p = sub.get()
        assert (p.topic, p.qos, p.retain) == ("mx/a", q, 0)
        _exact_3x(p, "mx/a", b"payload-%d" % q)


def test_v5_publisher_v31_subscriber(broker):
    sub = v31(broker, "mx-31")
    sub.subscribe([("mx/b", 1)])
    pub = raw5(broker, "mx-5pub31")
    pub.publish("mx/b", b"for 3.1", qos=2, props=PROPS)
    p = sub.get()
    assert p.qos == 1                          # min(2, granted 1)
    _exact_3x(p, "mx/b", b"for 3.1")


def test_v5_retained_to_v311(broker):
    pub = raw5(broker, "mx-5ret")
    pub.publish("mx/ret", b"kept", qos=1, retain=True, props=PROPS)
    sub = v311(broker, "mx-311ret")
    sub.subscribe([("mx/ret", 1)])
    p = sub.get()
    assert (p.retain, p.qos) == (1, 1)
    _exact_3x(p, "mx/ret", b"kept")
    # live delivery to an existing 3.1.1 subscription: retain flag 0
    pub.publish("mx/ret", b"live", qos=1, retain=True, pid=2, props=PROPS)
    p = sub.get()
    assert p.retain == 0
    _exact_3x(p, "mx/ret", b"live")
    pub.publish("mx/ret", b"", qos=1, retain=True, pid=3)


def test_v5_alias_resolved_for_v311(broker):
    sub = v311(broker, "mx-311alias")
    sub.subscribe([("mx/alias", 0)])
    pub = raw5(broker, "mx-5alias")
    pub.publish("mx/alias", b"1", props=[(TOPIC_ALIAS, 1)])
    pub.publish("", b"2", props=[(TOPIC_ALIAS, 1)])
    for payload in (b"1", b"2"):
        p = sub.get()
        _exact_3x(p, "mx/alias", payload)


def test_v311_publisher_v5_subscriber(broker):
    sub = raw5(broker, "mx-5sub")
    sub.subscribe([("mx/c", 2)])
    pub = v311(broker, "mx-311pub")
    for q in (0, 1, 2):
        pub.publish("mx/c", b"from 3.1.1 %d" % q, qos=q, pid=q + 1)
    for q in (0, 1, 2):
        p = sub.get()
        assert (p.topic, p.payload, p.qos) == ("mx/c", b"from 3.1.1 %d" % q,
                                               q)
        assert p.props == []


def test_v31_publisher_v5_subscriber_retained(broker):
    pub = v31(broker, "mx-31pub")
    pub.publish("mx/d", b"from 3.1", qos=1, retain=True)
    sub = raw5(broker, "mx-5sub-d")
    sub.subscribe([("mx/d", 1)])
    p = sub.get()
    assert (p.payload, p.retain, p.props) == (b"from 3.1", 1, [])
    pub.publish("mx/d", b"", qos=1, retain=True, pid=2)


def test_mixed_fan_out(broker):
    s31 = v31(broker, "mx-fan-31")
    s31.subscribe([("mx/fan", 0)])
    s311 = v311(broker, "mx-fan-311")
    s311.subscribe([("mx/fan", 1)])
    s5 = raw5(broker, "mx-fan-5")
    s5.subscribe([("mx/fan", 2)])
    sp = paho5(broker, "mx-fan-paho")
    sp.subscribe("mx/fan", 2)
    pub = raw5(broker, "mx-fan-pub")
    pub.publish("mx/fan", b"to all", qos=2, props=PROPS)
    old = v311(broker, "mx-fan-oldpub")
    old.publish("mx/fan", b"from old", qos=1)
    for s, q in ((s31, 0), (s311, 1)):
        a, b = s.get(), s.get()
        assert (a.qos, b.qos) == (q, min(q, 1))
        _exact_3x(a, "mx/fan", b"to all")
        _exact_3x(b, "mx/fan", b"from old")
    a, b = s5.get(), s5.get()
    assert (a.payload, a.qos, b.payload, b.qos) == \
        (b"to all", 2, b"from old", 1)
    assert a.props.get(CONTENT_TYPE) == "text/plain"
    assert a.props.user() == [("k", "v")]
    assert b.props == []
    # paho hands a QoS 2 message over at PUBREL, so "from old" (QoS 1)
    # may overtake it there.
    a, b = sorted((sp.get(), sp.get()), key=lambda m: m.payload != b"to all")
    assert (a.payload, b.payload) == (b"to all", b"from old")
    assert a.properties.CorrelationData == b"cid"
    assert not hasattr(b.properties, "CorrelationData")


def test_v5_will_to_v311_watcher(broker):
    w = v311(broker, "mx-will-watch")
    w.subscribe([("mx/will", 1)])
    c = raw5(broker, "mx-will-5", will=dict(
        topic="mx/will", payload=b"bye", qos=1,
        props=[(CONTENT_TYPE, "x/y"), (USER_PROPERTY, ("a", "b"))]))
    c.close()
    p = w.get()
    _exact_3x(p, "mx/will", b"bye")


def test_paho_v5_and_v311_clients(broker):
    old = mqttraw.paho(broker, "mx-paho311")
    old.subscribe("mx/paho", 1)
    new = paho5(broker, "mx-paho5")
    new.subscribe("mx/paho", 1)
    new.publish("mx/paho", b"v5", 1, props=Paho5.properties(
        "PUBLISH", ContentType="c/t"))
    old.publish("mx/paho", b"v311", 1)
    assert [old.get().payload, old.get().payload] == [b"v5", b"v311"]
    a, b = new.get(), new.get()
    assert (a.payload, a.properties.ContentType) == (b"v5", "c/t")
    assert b.payload == b"v311" and not hasattr(b.properties, "ContentType")
