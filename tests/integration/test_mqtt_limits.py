"""Configured limits: max_connections, max_queued_messages offline, and
back-pressure on a publisher when an online subscriber's queue is full
(README: "Slow subscribers and full queues")."""
import socket

from mqttraw import (CONNACK, MOSQUITTO, PINGREQ_PKT, PINGRESP, PUBACK,
                     PUBLISH, Raw, broker, connect_pkt, make_broker,
                     publish_pkt, puback_pkt, raw,
                     skip_on_mosquitto)  # noqa: F401


def test_max_connections_per_listener(make_broker):
    skip_on_mosquitto("2.0.11 admits max_connections + 1 clients")
    b = make_broker("max_connections 2\n")
    first = raw(b, "mc-1")
    second = raw(b, "mc-2")
    try:
        third = Raw(b)
        third.send(connect_pkt("mc-3"))
        got = third.wait_closed()
        assert not [p for p in got if p.type == CONNACK and p.rc == 0], got
    except ConnectionRefusedError:
        pass
    first.assert_open()
    second.assert_open()
    first.disconnect()          # returns once the broker closed it
    fourth = raw(b, "mc-4")     # the freed slot can be used again
    fourth.assert_open()


def test_max_queued_messages_offline_keeps_first_n(make_broker):
    b = make_broker("max_queued_messages 5\n")
    r = raw(b, "mq-sub", clean=False)
    r.subscribe([("mq/t", 1)])
    r.disconnect()
    pub = raw(b, "mq-pub")
    for i in range(10):
        pub.publish("mq/t", b"m%d" % i, qos=1, pid=i + 1)
    r = raw(b, "mq-sub", clean=False)
    assert r.connack.sp == 1
    got = [r.get().payload for _ in range(5)]
    assert got == [b"m%d" % i for i in range(5)]
    pub.publish("mq/t", b"live", qos=1, pid=100)
    assert r.get().payload == b"live"   # m5..m9 were dropped


def test_max_queued_messages_qos2_offline(make_broker):
    b = make_broker("max_queued_messages 5\n")
    r = raw(b, "mq2-sub", clean=False)
    r.subscribe([("mq2/t", 2)])
    r.disconnect()
    pub = raw(b, "mq2-pub")
    for i in range(8):
        pub.publish("mq2/t", b"m%d" % i, qos=2, pid=i + 1)
    r = raw(b, "mq2-sub", clean=False)
    got = [r.get().payload for _ in range(5)]
    assert got == [b"m%d" % i for i in range(5)]
    pub.publish("mq2/t", b"live", qos=1, pid=100)
    assert r.get().payload == b"live"


def test_slow_subscriber_back_pressures_publisher(make_broker):
    skip_on_mosquitto("drops QoS 1 over the queue limit after PUBACKing")
    b = make_broker("max_queued_messages 10\n")
    slow = Raw(b, rcvbuf=4096)
    assert slow.connect("bp-slow").rc == 0
    assert slow.subscribe([("bp/t", 1)]) == [1]
    pub = raw(b, "bp-pub")
    body = b"." * 1024
    acked = []
    stalled = None
    for i in range(1, 3000):
        pub.send(publish_pkt("bp/t", b"%06d" % i + body, qos=1, pid=i))
        try:
            pub.wait_for(PUBACK, pid=i, timeout=1.0)
        except socket.timeout:
            stalled = i
            break
        acked.append(i)
    assert stalled is not None, \
        "3000 QoS 1 messages PUBACKed to a subscriber that reads nothing"
    # Now the subscriber reads: every PUBACKed message must be there, in
    # order, and the stalled one follows once the queue drains.
    seqs = []
    while not seqs or seqs[-1] < stalled:
        p = slow.recv(timeout=10)
        assert p.type == PUBLISH, p
        slow.send(puback_pkt(p.pid))
        seqs.append(int(p.payload[:6]))
    assert seqs == acked + [stalled]
    pub.wait_for(PUBACK, pid=stalled, timeout=10)
    pub.assert_open()
    slow.assert_open()


def test_max_inflight_messages_window(make_broker):
    b = make_broker("max_inflight_messages 2\n")
    sub = raw(b, "if-sub")
    sub.subscribe([("if/t", 1), ("if/marker", 0)])
    pub = raw(b, "if-pub")
    for i in range(5):
        pub.publish("if/t", b"m%d" % i, qos=1, pid=i + 1)
    first = [sub.get(ack=False) for _ in range(2)]
    assert [p.payload for p in first] == [b"m0", b"m1"]
    # The window is full: a QoS 0 marker overtakes the queued QoS 1s.
    pub.publish("if/marker", b"x", qos=0)
    assert sub.recv().topic == "if/marker"
    sub.send(puback_pkt(first[0].pid))
    assert sub.get(ack=False).payload == b"m2"
    sub.send(puback_pkt(first[1].pid))
    rest = [sub.get() for _ in range(2)]
    assert [p.payload for p in rest] == [b"m3", b"m4"]


def test_slow_qos0_subscriber_does_not_stall_publisher(broker):
    # README: QoS 0 to a backed-up subscriber is dropped, never
    # back-pressured onto the publisher.
    slow = Raw(broker, rcvbuf=4096)
    assert slow.connect("s0-slow").rc == 0
    slow.subscribe([("s0/t", 0)])
    pub = raw(broker, "s0-pub")
    body = b"." * 4096
    n = 3000                            # 12 MB at a reader that reads nothing
    for i in range(1, n + 1):
        pub.send(publish_pkt("s0/t", b"%06d" % i + body, qos=1, pid=i))
        pub.wait_for(PUBACK, pid=i, timeout=2.0)
    slow.send(PINGREQ_PKT)              # its reply ends the drain
    seqs = []
    retries = 3 if MOSQUITTO else 0     # 2.0.11 may lose that PINGRESP
    while True:
        p = slow.recv_or_none(3)
        if p is None and retries:
            retries -= 1
            slow.send(PINGREQ_PKT)
            continue
        assert p is not None, "no PINGRESP after %d messages" % len(seqs)
        if p.type != PUBLISH:
            assert p.type == PINGRESP, p
            break
        seqs.append(int(p.payload[:6]))
    assert seqs == sorted(set(seqs)), "QoS 0 deliveries out of order"
    assert seqs and seqs[0] == 1
