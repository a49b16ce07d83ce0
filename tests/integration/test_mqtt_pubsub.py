"""Topic matching, SUBSCRIBE / UNSUBSCRIBE, invalid topics (MQTT 3.1.1
sections 3.8, 3.10, 4.7, README: invalid filters close)."""
import pytest

from mqttraw import (PUBACK, PUBLISH, SUBACK, UNSUBACK, broker,
                     make_broker, paho, publish_pkt, raw, subscribe_pkt,
                     unsubscribe_pkt)  # noqa: F401

TOPICS = ["a", "a/b", "a/b/c", "a/", "/a", "ab", "b/b", "a/x/c", "/",
          "a/b/c/d"]

# filter -> the TOPICS it must match (everything else must not).
MATCHES = {
    "a/#": {"a", "a/b", "a/b/c", "a/", "a/x/c", "a/b/c/d"},
    "a/+": {"a/b", "a/"},
    "+/+": {"a/b", "a/", "/a", "b/b", "/"},
    "+": {"a", "ab"},
    "#": set(TOPICS),
    "a/+/c": {"a/b/c", "a/x/c"},
    "/+": {"/a", "/"},
    "+/b": {"a/b", "b/b"},
    "a/b": {"a/b"},
    "a/+/#": {"a/b", "a/b/c", "a/", "a/x/c", "a/b/c/d"},
}


@pytest.mark.parametrize("filt", sorted(MATCHES))
def test_wildcard_matching(broker, filt):
    sub = paho(broker, "m-sub")
    sub.subscribe([(filt, 0), ("zz-marker", 0)])
    pub = paho(broker, "m-pub")
    for t in TOPICS:
        pub.publish(t, t.encode(), 1)
    pub.publish("zz-marker", b"end", 1)
    got = [m.topic for m in sub.get_until("zz-marker")]
    expected = [t for t in TOPICS if t in MATCHES[filt]]
    assert got == expected


def test_dollar_topics_not_matched_by_leading_wildcards(broker):
    # MQTT-4.7.2-1
    wild = paho(broker, "d-wild")
    wild.subscribe([("#", 0), ("+/bar", 0), ("+", 0)])
    dollar = paho(broker, "d-dollar")
    dollar.subscribe([("$foo/#", 0), ("zz", 0)])
    plus = paho(broker, "d-plus")
    plus.subscribe([("$foo/+", 0), ("zz", 0)])
    pub = paho(broker, "d-pub")
    pub.publish("$foo/bar", b"d", 1)
    pub.publish("zz", b"end", 1)
    assert [m.topic for m in wild.get_until("zz")] == []
    assert [m.topic for m in dollar.get_until("zz")] == ["$foo/bar"]
    assert [m.topic for m in plus.get_until("zz")] == ["$foo/bar"]


def test_overlapping_subscriptions_one_copy_at_max_qos(broker):
    sub = raw(broker, "ov-sub")
    assert sub.subscribe([("ov/#", 0), ("ov/b", 2)]) == [0, 2]
    pub = raw(broker, "ov-pub")
    pub.publish("ov/b", b"once", qos=2)
    pub.publish("ov/marker", b"m", qos=1)
    m = sub.get()
    assert (m.topic, m.payload, m.qos) == ("ov/b", b"once", 2)
    m = sub.get()
    assert (m.topic, m.qos) == ("ov/marker", 0)


def test_subscribe_several_filters_codes_in_order(broker):
    r = raw(broker, "s-multi")
    r.send(subscribe_pkt(0x1234, [("sm/2", 2), ("sm/0", 0), ("sm/1", 1),
                                  ("sm/#", 2), ("sm/+/x", 0)]))
    p = r.expect(SUBACK)
    assert p.raw == b"\x90\x07\x12\x34\x02\x00\x01\x02\x00"


def test_subscribe_qos_granted_and_resubscribe_replaces(broker):
    sub = raw(broker, "s-re")
    assert sub.subscribe([("re/t", 2)]) == [2]
    assert sub.subscribe([("re/t", 0)], pid=2) == [0]
    pub = raw(broker, "s-re-pub")
    pub.publish("re/t", b"x", qos=2)
    m = sub.get()
    assert m.qos == 0
    pub.publish("re/t", b"marker", qos=1)
    m = sub.get()
    assert m.payload == b"marker"     # one subscription, not two


@pytest.mark.parametrize("filt", ["a/#/b", "a+", "#a", "a/b#", "a/+b"])
def test_invalid_filter_closes(broker, filt):
    r = raw(broker, "s-bad")
    r.send(subscribe_pkt(1, [("ok/x", 0), (filt, 0)]))
    got = r.wait_closed()
    assert [p for p in got if p.type == SUBACK] == [], got


def test_subscribe_without_filters_closes(broker):
    # MQTT-3.8.3-3
    r = raw(broker, "s-empty")
    r.send(subscribe_pkt(1, []))
    r.assert_closed_silently()


def test_subscribe_qos_3_closes(broker):
    # MQTT-3-8.3-4
    r = raw(broker, "s-q3")
    r.send(subscribe_pkt(1, [("q3/t", 3)]))
    r.assert_closed_silently()


def test_filter_deeper_than_max_topic_levels_refused(make_broker):
    b = make_broker("max_topic_levels 4\n")
    r = raw(b, "s-deep")
    codes = r.subscribe([("l1/l2/l3/l4", 1), ("l1/l2/l3/l4/l5", 1),
                         ("l1/+/#", 2)])
    assert codes == [1, 0x80, 2]
    pub = raw(b, "s-deep-pub")
    pub.publish("l1/l2/l3/l4", b"four", qos=1)
    m = r.get()
    assert (m.topic, m.qos) == ("l1/l2/l3/l4", 1)
    r.assert_open()


def test_unsubscribe_stops_delivery(broker):
    sub = raw(broker, "u-sub")
    assert sub.subscribe([("un/a", 1), ("un/b", 1)]) == [1, 1]
    pub = raw(broker, "u-pub")
    pub.publish("un/a", b"1", qos=1)
    assert sub.get().payload == b"1"
    sub.send(unsubscribe_pkt(0x0102, ["un/a"]))
    p = sub.expect(UNSUBACK)
    assert p.raw == b"\xb0\x02\x01\x02"
    pub.publish("un/a", b"2", qos=1)
    pub.publish("un/b", b"marker", qos=1)
    m = sub.get()
    assert (m.topic, m.payload) == ("un/b", b"marker")


def test_unsubscribe_unknown_filter_still_acked(broker):
    sub = raw(broker, "u-unk")
    sub.send(unsubscribe_pkt(9, ["never/subscribed"]))
    assert sub.expect(UNSUBACK).pid == 9


@pytest.mark.parametrize("topic", ["w/+", "w/#", "+", "#", "w/+/x"])
def test_publish_wildcard_topic_closes(broker, topic):
    # MQTT-3.3.2-2
    sub = paho(broker, "pw-sub")
    sub.subscribe("#", 0)
    r = raw(broker, "pw-bad")
    r.send(publish_pkt(topic, b"bad", qos=0))
    r.assert_closed_silently()
    pub = paho(broker, "pw-pub")
    pub.publish("pw/marker", b"m", 1)
    assert sub.get().topic == "pw/marker"


def test_publish_empty_topic_closes(broker):
    # MQTT-4.7.3-1
    r = raw(broker, "pe-bad")
    r.send(publish_pkt("", b"bad", qos=1, pid=1))
    r.assert_closed_silently()


def test_paho_v31_client_pubsub(broker):
    sub = paho(broker, "p31-sub", v31=True)
    assert sub.subscribe("p31/t", 1) == [1]
    pub = paho(broker, "p31-pub", v31=True)
    pub.publish("p31/t", b"payload \x00\xff", 1)
    m = sub.get()
    assert (m.topic, m.payload, m.qos) == ("p31/t", b"payload \x00\xff", 1)


def test_large_payload_roundtrip(broker):
    data = bytes(range(256)) * 1024     # 256 KiB, 3-byte remaining length
    sub = paho(broker, "big-sub")
    sub.subscribe("big/t", 1)
    pub = paho(broker, "big-pub")
    pub.publish("big/t", data, 1)
    m = sub.get()
    assert m.payload == data


def test_empty_payload_delivered(broker):
    sub = raw(broker, "ep-sub")
    sub.subscribe([("ep/t", 0)])
    pub = raw(broker, "ep-pub")
    pub.publish("ep/t", b"", qos=0)
    m = sub.get()
    assert m.raw == b"\x30\x06\x00\x04ep/t"


def test_publisher_receives_own_message(broker):
    # 3.1.1 has no No Local: a subscriber gets its own publishes.
    r = raw(broker, "own")
    r.subscribe([("own/t", 1)])
    r.send(publish_pkt("own/t", b"self", qos=1, pid=7))
    seen = {}
    for _ in range(2):
        p = r.recv()
        seen[p.type] = p
        if p.type == PUBLISH:
            r.ack(p)
    assert seen[PUBLISH].payload == b"self"
    assert seen[PUBACK].pid == 7
