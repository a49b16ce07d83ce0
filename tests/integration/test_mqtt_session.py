"""Persistent sessions (clean session 0), clean session 1, in-flight
resend on reconnect (MQTT 3.1.1 sections 3.1.2.4, 4.1, 4.4)."""
from mqttraw import (PUBREL, broker, make_broker, paho, pubcomp_pkt,
                     puback_pkt, pubrec_pkt, raw)  # noqa: F401


def test_new_persistent_session_has_no_session_present(broker):
    r = raw(broker, "s-new", clean=False)
    assert r.connack.sp == 0


def test_subscriptions_survive_reconnect(broker):
    r = raw(broker, "s-keep", clean=False)
    assert r.subscribe([("keep/t", 1)]) == [1]
    r.disconnect()
    r = raw(broker, "s-keep", clean=False)
    assert r.connack.sp == 1
    pub = raw(broker, "s-keep-pub")
    pub.publish("keep/t", b"still subscribed", qos=1)
    m = r.get()
    assert (m.topic, m.payload, m.qos) == ("keep/t", b"still subscribed", 1)


def test_offline_qos1_qos2_queued_in_order_qos0_not(broker):
    r = raw(broker, "s-off", clean=False)
    r.subscribe([("off/t", 2)])
    r.disconnect()
    pub = raw(broker, "s-off-pub")
    pub.publish("off/t", b"q0-a", qos=0)
    pub.publish("off/t", b"q1-b", qos=1, pid=1)
    pub.publish("off/t", b"q2-c", qos=2, pid=2)
    pub.publish("off/t", b"q0-d", qos=0)
    pub.publish("off/t", b"q1-e", qos=1, pid=3)   # its PUBACK orders q0-d
    r = raw(broker, "s-off", clean=False)
    assert r.connack.sp == 1
    got = [r.get() for _ in range(3)]
    assert [(m.payload, m.qos) for m in got] == \
        [(b"q1-b", 1), (b"q2-c", 2), (b"q1-e", 1)]
    pub.publish("off/t", b"live", qos=1, pid=4)
    m = r.get()
    assert m.payload == b"live"     # the QoS 0 ones were not queued


def test_offline_queue_kept_across_abrupt_close(broker):
    r = raw(broker, "s-abrupt", clean=False)
    r.subscribe([("abr/t", 1)])
    r.close()                       # no DISCONNECT
    # Whether or not the broker has seen the close yet, a QoS 1 message
    # lands in the session (queued, or in flight and resent).
    pub = raw(broker, "s-abrupt-pub")
    pub.publish("abr/t", b"kept", qos=1)
    r = raw(broker, "s-abrupt", clean=False)
    assert r.connack.sp == 1
    assert r.get().payload == b"kept"


def test_clean_session_discards_previous_session(broker):
    r = raw(broker, "s-clean", clean=False)
    r.subscribe([("cl/data", 1)])
    r.disconnect()
    pub = raw(broker, "s-clean-pub")
    pub.publish("cl/data", b"queued-then-discarded", qos=1)
    r = raw(broker, "s-clean", clean=True)
    assert r.connack.sp == 0
    r.subscribe([("cl/marker", 1)])
    pub.publish("cl/data", b"not-subscribed", qos=1, pid=2)
    pub.publish("cl/marker", b"marker", qos=1, pid=3)
    m = r.get()
    assert (m.topic, m.payload) == ("cl/marker", b"marker")
    r.disconnect()
    # A clean session ends with its connection: nothing left to resume.
    r = raw(broker, "s-clean", clean=False)
    assert r.connack.sp == 0


def test_persistent_then_clean_then_persistent_has_no_subs(broker):
    r = raw(broker, "s-pcp", clean=False)
    r.subscribe([("pcp/t", 1)])
    r.disconnect()
    raw(broker, "s-pcp", clean=True).disconnect()
    r = raw(broker, "s-pcp", clean=False)
    assert r.connack.sp == 0
    r.subscribe([("pcp/m", 1)])
    pub = raw(broker, "s-pcp-pub")
    pub.publish("pcp/t", b"old", qos=1)
    pub.publish("pcp/m", b"marker", qos=1, pid=2)
    assert r.get().topic == "pcp/m"


def test_unacked_qos1_resent_with_dup_and_same_id(broker):
    r = raw(broker, "s-dup1", clean=False)
    r.subscribe([("dup1/t", 1)])
    pub = raw(broker, "s-dup1-pub")
    pub.publish("dup1/t", b"resend me", qos=1)
    first = r.get(ack=False)
    assert (first.qos, first.dup) == (1, 0)
    r.disconnect()
    r = raw(broker, "s-dup1", clean=False)
    assert r.connack.sp == 1
    again = r.get(ack=False)
    assert again.payload == b"resend me"
    assert again.pid == first.pid
    assert (again.qos, again.dup) == (1, 1)
    r.send(puback_pkt(again.pid))
    r.disconnect()
    # Acked now: not resent a second time.
    r = raw(broker, "s-dup1", clean=False)
    pub.publish("dup1/t", b"next", qos=1, pid=2)
    m = r.get()
    assert (m.payload, m.dup) == (b"next", 0)


def test_unacked_qos2_publish_resent_with_dup(broker):
    r = raw(broker, "s-dup2", clean=False)
    r.subscribe([("dup2/t", 2)])
    pub = raw(broker, "s-dup2-pub")
    pub.publish("dup2/t", b"q2", qos=2)
    first = r.get(ack=False)
    r.close()
    r = raw(broker, "s-dup2", clean=False)
    again = r.get(ack=False)
    assert (again.payload, again.pid, again.qos, again.dup) == \
        (b"q2", first.pid, 2, 1)
    r.ack(again)
    r.assert_open()


def test_pubrel_resent_after_reconnect(broker):
    r = raw(broker, "s-rel", clean=False)
    r.subscribe([("rel/t", 2)])
    pub = raw(broker, "s-rel-pub")
    pub.publish("rel/t", b"once", qos=2)
    p = r.get(ack=False)
    r.send(pubrec_pkt(p.pid))
    assert r.expect(PUBREL).pid == p.pid
    r.disconnect()                  # before PUBCOMP
    r = raw(broker, "s-rel", clean=False)
    assert r.connack.sp == 1
    rel = r.recv()
    assert rel.type == PUBREL, "expected PUBREL resend, got %r" % rel
    assert rel.raw == b"\x62\x02" + p.pid.to_bytes(2, "big")
    r.send(pubcomp_pkt(p.pid))
    pub.publish("rel/t", b"marker", qos=1, pid=2)
    m = r.get()
    assert m.payload == b"marker"   # the QoS 2 message was not redelivered


def test_paho_persistent_session_gets_offline_messages(broker):
    sub = paho(broker, "s-paho", clean=False)
    sub.subscribe("po/t", 2)
    sub.close()
    pub = paho(broker, "s-paho-pub")
    for i in range(3):
        pub.publish("po/t", b"%d" % i, 2)
    sub = paho(broker, "s-paho", clean=False)
    got = [sub.get() for _ in range(3)]
    assert [m.payload for m in got] == [b"0", b"1", b"2"]
