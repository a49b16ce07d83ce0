"""Retained messages (MQTT 3.1.1 section 3.3.1.3; README: retain_available
false closes a 3.x publisher)."""
from mqttraw import (broker, make_broker, paho, publish_pkt, raw)  # noqa: F401


def test_retained_delivered_on_subscribe_with_retain_flag(broker):
    pub = raw(broker, "r-pub")
    pub.publish("ret/a", b"kept", qos=1, retain=True)
    sub = raw(broker, "r-sub")
    sub.subscribe([("ret/a", 1)])
    m = sub.get()
    assert (m.topic, m.payload, m.retain, m.qos) == ("ret/a", b"kept", 1, 1)


def test_retained_replaced_by_newer(broker):
    pub = raw(broker, "r-rep-pub")
    pub.publish("rep/a", b"old", qos=1, retain=True)
    pub.publish("rep/a", b"new", qos=1, retain=True, pid=2)
    sub = raw(broker, "r-rep-sub")
    sub.subscribe([("rep/a", 1), ("rep/marker", 1)])
    pub.publish("rep/marker", b"m", qos=1, pid=3)
    assert sub.get().payload == b"new"
    assert sub.get().topic == "rep/marker"   # only one retained copy


def test_retained_cleared_by_empty_payload(broker):
    pub = raw(broker, "r-clr-pub")
    pub.publish("clr/a", b"soon gone", qos=1, retain=True)
    pub.publish("clr/a", b"", qos=1, retain=True, pid=2)
    sub = raw(broker, "r-clr-sub")
    sub.subscribe([("clr/#", 1)])
    pub.publish("clr/marker", b"m", qos=1, pid=3)
    m = sub.get()
    assert m.topic == "clr/marker"
    assert m.retain == 0


def test_retained_to_wildcard_filters_with_flag_set(broker):
    pub = raw(broker, "r-wc-pub")
    for t in ("wc/a/x", "wc/b/x", "wc/b/y", "wc"):
        pub.publish(t, t.encode(), qos=1, retain=True)
    sub = raw(broker, "r-wc-sub")
    sub.subscribe([("wc/+/x", 1)])
    got = sorted((m.topic, m.retain) for m in (sub.get(), sub.get()))
    assert got == [("wc/a/x", 1), ("wc/b/x", 1)]
    sub2 = raw(broker, "r-wc-sub2")
    sub2.subscribe([("wc/#", 0)])
    got = sorted((m.topic, m.retain) for m in [sub2.get() for _ in range(4)])
    assert got == [("wc", 1), ("wc/a/x", 1), ("wc/b/x", 1), ("wc/b/y", 1)]


def test_live_delivery_has_retain_flag_clear(broker):
    # MQTT-3.3.1-9
    sub = raw(broker, "r-live-sub")
    sub.subscribe([("live/a", 1)])
    pub = raw(broker, "r-live-pub")
    pub.publish("live/a", b"now", qos=1, retain=True)
    m = sub.get()
    assert (m.payload, m.retain) == (b"now", 0)
    # ... while a new subscriber gets the same message with the flag set.
    late = raw(broker, "r-live-late")
    late.subscribe([("live/a", 1)])
    m = late.get()
    assert (m.payload, m.retain) == (b"now", 1)


def test_retained_qos_downgraded_to_subscription(broker):
    pub = raw(broker, "r-q-pub")
    pub.publish("rq/a", b"two", qos=2, retain=True)
    for sq in (0, 1, 2):
        sub = raw(broker, "r-q-sub%d" % sq)
        sub.subscribe([("rq/a", sq)])
        m = sub.get()
        assert (m.payload, m.qos, m.retain) == (b"two", sq, 1)


def test_retained_qos0_message_stored(broker):
    pub = raw(broker, "r-q0-pub")
    pub.publish("rq0/a", b"zero", qos=0, retain=True)
    pub.assert_open()       # the round trip orders the PUBLISH before us
    sub = raw(broker, "r-q0-sub")
    sub.subscribe([("rq0/a", 2)])
    m = sub.get()
    assert (m.payload, m.qos, m.retain) == (b"zero", 0, 1)


def test_retained_resent_on_resubscribe(broker):
    pub = raw(broker, "r-rs-pub")
    pub.publish("rs/a", b"again", qos=1, retain=True)
    sub = raw(broker, "r-rs-sub")
    sub.subscribe([("rs/a", 1)])
    assert sub.get().payload == b"again"
    sub.subscribe([("rs/a", 1)], pid=2)
    # MQTT-3.8.4-3: retained messages are re-sent on a repeated SUBSCRIBE.
    m = sub.get()
    assert (m.payload, m.retain) == (b"again", 1)


def test_dollar_retained_not_sent_to_hash(broker):
    pub = raw(broker, "r-d-pub")
    pub.publish("$rd/a", b"dollar", qos=1, retain=True)
    pub.publish("rd/a", b"plain", qos=1, retain=True, pid=2)
    sub = raw(broker, "r-d-sub")
    sub.subscribe([("#", 1)])
    m = sub.get()
    assert m.topic == "rd/a"
    pub.publish("rd/marker", b"m", qos=1, pid=3)
    assert sub.get().topic == "rd/marker"


def test_retain_unavailable_closes_retained_publish(make_broker):
    b = make_broker("retain_available false\n")
    sub = paho(b, "r-na-sub")
    sub.subscribe("na/#", 1)
    r = raw(b, "r-na")
    r.send(publish_pkt("na/a", b"x", qos=1, retain=True, pid=1))
    got = r.wait_closed()
    assert got == [], got
    pub = raw(b, "r-na-ok")
    pub.publish("na/b", b"plain", qos=1)
    m = sub.get()
    assert (m.topic, m.payload) == ("na/b", b"plain")
