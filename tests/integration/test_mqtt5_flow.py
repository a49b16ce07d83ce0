"""MQTT 5.0 flow control (4.9) and the client's Maximum Packet Size
(3.1.2.11.4): the broker never has more unacknowledged QoS 1/2
PUBLISHes towards a client than its Receive Maximum, and never sends a
packet bigger than the client accepts."""
from mqtt5raw import (MAXIMUM_PACKET_SIZE, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                      RECEIVE_MAXIMUM, SESSION_EXPIRY, ack5, broker,
                      make_broker, raw5, skip_on_mosquitto)  # noqa: F401


def _publishes(pkts):
    return [p for p in pkts if p.type == PUBLISH]


def _publish_n(b, topic, n, qos=1, name="f5-pub"):
    pub = raw5(b, name)
    for i in range(n):
        pub.publish(topic, b"m%d" % i, qos=qos, pid=i + 1)
    return pub


def test_receive_maximum_honoured_qos1(broker):
    sub = raw5(broker, "f5-rm1", props=[(RECEIVE_MAXIMUM, 2)])
    sub.subscribe([("rm/q1", 1)])
    _publish_n(broker, "rm/q1", 10)
    # Every PUBLISH was PUBACKed to the publisher, so the broker has
    # decided what to send; a PINGREQ round trip flushes it.
    held = [sub.get(ack=False), sub.get(ack=False)]
    assert _publishes(sub.ping()) == [], "more than 2 in flight"
    skip_on_mosquitto("2.0.11 sends two more PUBLISHes per PUBACK, "
                      "exceeding the client's Receive Maximum")
    got = []
    while held:
        p = held.pop(0)
        got.append(p.payload)
        sub.ack(p)
        if len(got) + len(held) < 10:
            held.append(sub.get(ack=False))
        assert _publishes(sub.ping()) == [], "more than 2 in flight"
    assert got == [b"m%d" % i for i in range(10)]


def test_receive_maximum_honoured_qos2(broker):
    """A QoS 2 delivery holds its slot until PUBCOMP, not PUBREC."""
    sub = raw5(broker, "f5-rm2", props=[(RECEIVE_MAXIMUM, 2)])
    sub.subscribe([("rm/q2", 2)])
    _publish_n(broker, "rm/q2", 5, qos=2)
    a, b = sub.get(ack=False), sub.get(ack=False)
    assert _publishes(sub.ping()) == []
    skip_on_mosquitto("2.0.11 sends two more PUBLISHes per PUBCOMP, "
                      "exceeding the client's Receive Maximum")
    sub.send(ack5(PUBREC, a.pid))
    sub.wait_for(PUBREL, a.pid)
    assert _publishes(sub.ping()) == [], "PUBREC freed a slot"
    sub.send(ack5(PUBCOMP, a.pid))
    c = sub.get(ack=False)
    assert _publishes(sub.ping()) == []
    got = [a.payload, b.payload, c.payload]
    sub.ack(b)
    sub.ack(c)
    got += [sub.get().payload, sub.get().payload]
    assert got == [b"m%d" % i for i in range(5)]


def test_receive_maximum_one_with_offline_queue(broker):
    props = [(RECEIVE_MAXIMUM, 1), (SESSION_EXPIRY, 60)]
    sub = raw5(broker, "f5-rm-off", clean=False, props=props)
    sub.subscribe([("rm/off", 1)])
    sub.disconnect()
    _publish_n(broker, "rm/off", 4)
    sub = raw5(broker, "f5-rm-off", clean=False, props=props)
    got = []
    for _ in range(4):
        p = sub.get(ack=False)
        assert _publishes(sub.ping()) == []
        got.append(p.payload)
        sub.ack(p)
    assert got == [b"m0", b"m1", b"m2", b"m3"]


def test_receive_maximum_above_server_window(make_broker):
    """A client Receive Maximum larger than the broker's own window is
    fine; all messages arrive."""
    b = make_broker("max_inflight_messages 20\n")
    sub = raw5(b, "f5-rm-big", props=[(RECEIVE_MAXIMUM, 1000)])
    sub.subscribe([("rm/big", 1)])
    _publish_n(b, "rm/big", 30)
    got = [sub.get().payload for _ in range(30)]
    assert got == [b"m%d" % i for i in range(30)]


def test_client_maximum_packet_size(broker):
    small = raw5(broker, "f5-mps", props=[(MAXIMUM_PACKET_SIZE, 200)])
    small.subscribe([("mps/t", 1)])
    big = raw5(broker, "f5-mps-big")
    big.subscribe([("mps/t", 1)])
    pub = raw5(broker, "f5-mps-pub")
    pub.publish("mps/t", b"a" * 50, qos=1, pid=1)
    pub.publish("mps/t", b"b" * 500, qos=1, pid=2)
    pub.publish("mps/t", b"c" * 50, qos=0)
    pub.publish("mps/t", b"d" * 50, qos=1, pid=3)
    got = [small.get() for _ in range(3)]
    assert [p.payload for p in got] == [b"a" * 50, b"c" * 50, b"d" * 50]
    assert all(len(p.raw) <= 200 for p in got)
    assert _publishes(small.ping()) == []
    assert [big.get().payload[:1] for _ in range(4)] == \
        [b"a", b"b", b"c", b"d"]


def test_client_maximum_packet_size_does_not_block_window(broker):
    """A discarded packet does not hold an in-flight slot: with Receive
    Maximum 1, the next message still flows (MQTT-3.1.2-25: behave as if
    it had completed sending it)."""
    skip_on_mosquitto("2.0.11 also keeps the discarded message in flight")
    sub = raw5(broker, "f5-mps-rm", props=[(MAXIMUM_PACKET_SIZE, 200),
                                          (RECEIVE_MAXIMUM, 1)])
    sub.subscribe([("mpsrm/t", 1)])
    pub = raw5(broker, "f5-mps-rm-pub")
    pub.publish("mpsrm/t", b"x" * 1000, qos=1, pid=1)
    pub.publish("mpsrm/t", b"after", qos=1, pid=2)
    p = sub.get()
    assert p.payload == b"after"


def test_client_maximum_packet_size_counts_properties(broker):
    """The limit is on the whole packet, properties included."""
    sub = raw5(broker, "f5-mps-props", props=[(MAXIMUM_PACKET_SIZE, 100)])
    sub.subscribe([("mpsp/t", 1)])
    pub = raw5(broker, "f5-mps-props-pub")
    pub.publish("mpsp/t", b"p1", qos=1, pid=1,
                props=[(0x26, ("k", "v" * 150))])
    pub.publish("mpsp/t", b"p2", qos=1, pid=2)
    p = sub.get()
    assert p.payload == b"p2"
    assert len(p.raw) <= 100


def test_client_maximum_packet_size_on_retained(broker):
    pub = raw5(broker, "f5-mps-ret-pub")
    pub.publish("mpsr/big", b"x" * 500, qos=1, retain=True, pid=1)
    pub.publish("mpsr/small", b"y", qos=1, retain=True, pid=2)
    sub = raw5(broker, "f5-mps-ret", props=[(MAXIMUM_PACKET_SIZE, 200)])
    sub.subscribe([("mpsr/+", 1)])
    got = [p for p in _publishes(sub.ping())]
    assert [p.payload for p in got] == [b"y"]
    for p in got:
        sub.ack(p)
