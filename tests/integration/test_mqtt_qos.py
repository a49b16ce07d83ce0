"""QoS 0/1/2 in both directions (MQTT 3.1.1 sections 3.3-3.7, 4.3, 4.6;
README: inbound QoS 2 method B, delivered QoS = min(pub, sub))."""
import pytest

from mqttraw import (PUBACK, PUBCOMP, PUBREC, PUBREL, broker,
                     make_broker, paho, publish_pkt, pubrel_pkt, raw)  # noqa: F401


def test_qos1_puback_same_packet_id(broker):
    r = raw(broker, "q1-pub")
    r.send(publish_pkt("q1/t", b"x", qos=1, pid=0xBEEF))
    p = r.expect(PUBACK)
    assert p.raw == b"\x40\x02\xbe\xef"


def test_qos2_pubrec_pubcomp_same_packet_id(broker):
    r = raw(broker, "q2-pub")
    r.send(publish_pkt("q2/t", b"x", qos=2, pid=0x0A0B))
    assert r.expect(PUBREC).raw == b"\x50\x02\x0a\x0b"
    r.send(pubrel_pkt(0x0A0B))
    assert r.expect(PUBCOMP).raw == b"\x70\x02\x0a\x0b"


def test_qos2_pipelined_publishes_acked_by_id(broker):
    r = raw(broker, "q2-pipe")
    ids = [5, 6, 7, 65535]
    r.send(b"".join(publish_pkt("q2p/t", b"%d" % i, qos=2, pid=i)
                    for i in ids))
    assert [r.expect(PUBREC).pid for _ in ids] == ids
    r.send(b"".join(pubrel_pkt(i) for i in ids))
    assert [r.expect(PUBCOMP).pid for _ in ids] == ids


def test_pubrel_unknown_id_gets_pubcomp(broker):
    r = raw(broker, "q2-unk")
    r.send(pubrel_pkt(4242))
    assert r.expect(PUBCOMP).pid == 4242
    r.assert_open()


@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_delivered_qos_is_min_of_pub_and_sub(broker, pub_qos):
    subs = {}
    for sq in (0, 1, 2):
        subs[sq] = raw(broker, "min-sub-%d" % sq)
        assert subs[sq].subscribe([("min/t", sq)]) == [sq]
    pub = raw(broker, "min-pub")
    pub.publish("min/t", b"payload-%d" % pub_qos, qos=pub_qos)
    for sq, s in subs.items():
        m = s.get()
        assert m.payload == b"payload-%d" % pub_qos
        assert m.qos == min(pub_qos, sq)
        assert m.dup == 0 and m.retain == 0
        if m.qos:
            assert m.pid != 0
        else:
            assert m.pid is None


def test_inbound_qos2_duplicate_delivered_once(broker):
    sub = raw(broker, "dup-sub")
    sub.subscribe([("dup/t", 2)])
    pub = raw(broker, "dup-pub")
    pub.send(publish_pkt("dup/t", b"only-once", qos=2, pid=77))
    assert pub.expect(PUBREC).pid == 77
    pub.send(publish_pkt("dup/t", b"only-once", qos=2, pid=77, dup=True))
    assert pub.expect(PUBREC).pid == 77
    pub.send(pubrel_pkt(77))
    assert pub.expect(PUBCOMP).pid == 77
    pub.publish("dup/t", b"marker", qos=1, pid=78)
    m = sub.get()
    assert (m.payload, m.qos) == (b"only-once", 2)
    m = sub.get()
    assert m.payload == b"marker"


def test_inbound_qos2_same_id_after_pubcomp_is_new_message(broker):
    sub = raw(broker, "reuse-sub")
    sub.subscribe([("reuse/t", 2)])
    pub = raw(broker, "reuse-pub")
    pub.publish("reuse/t", b"first", qos=2, pid=9)
    pub.publish("reuse/t", b"second", qos=2, pid=9)
    assert sub.get().payload == b"first"
    assert sub.get().payload == b"second"


def test_outbound_packet_ids_nonzero_unique_inflight(broker):
    sub = raw(broker, "ids-sub")
    sub.subscribe([("ids/1", 1), ("ids/2", 2)])
    pub = raw(broker, "ids-pub")
    for i in range(8):
        pub.publish("ids/1", b"a%d" % i, qos=1, pid=i + 1)
        pub.publish("ids/2", b"b%d" % i, qos=2, pid=i + 100)
    got = [sub.get(ack=False) for _ in range(16)]
    pids = [p.pid for p in got]
    assert 0 not in pids
    assert len(set(pids)) == 16, pids
    # Order per topic is the publish order.
    assert [p.payload for p in got if p.topic == "ids/1"] == \
        [b"a%d" % i for i in range(8)]
    assert [p.payload for p in got if p.topic == "ids/2"] == \
        [b"b%d" % i for i in range(8)]


def test_outbound_qos2_full_handshake_exact_bytes(broker):
    sub = raw(broker, "hs-sub")
    sub.subscribe([("hs/t", 2)])
    pub = raw(broker, "hs-pub")
    pub.publish("hs/t", b"z", qos=2)
    p = sub.get(ack=False)
    assert p.qos == 2 and p.first == 0x34
    sub.send(b"\x50\x02" + p.pid.to_bytes(2, "big"))      # PUBREC
    rel = sub.expect(PUBREL)
    assert rel.raw == b"\x62\x02" + p.pid.to_bytes(2, "big")
    sub.send(b"\x70\x02" + p.pid.to_bytes(2, "big"))      # PUBCOMP
    sub.assert_open()


def test_qos1_order_kept_per_publisher(broker):
    sub = raw(broker, "ord-sub")
    sub.subscribe([("ord/t", 1)])
    pub = raw(broker, "ord-pub")
    n = 50
    pub.send(b"".join(publish_pkt("ord/t", b"%d" % i, qos=1, pid=i + 1)
                      for i in range(n)))
    assert [pub.expect(PUBACK).pid for _ in range(n)] == \
        list(range(1, n + 1))
    assert [sub.get().payload for _ in range(n)] == \
        [b"%d" % i for i in range(n)]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_roundtrip_each_qos(broker, qos):
    sub = paho(broker, "pq-sub-%d" % qos)
    assert sub.subscribe("pq/t", qos) == [qos]
    pub = paho(broker, "pq-pub-%d" % qos)
    for i in range(5):
        pub.publish("pq/t", b"m%d" % i, qos)
    got = [sub.get() for _ in range(5)]
    assert [m.payload for m in got] == [b"m%d" % i for i in range(5)]
    assert {m.qos for m in got} == {qos}
    assert not any(m.retain for m in got)


def test_subscriber_puback_unknown_id_ignored(broker):
    sub = raw(broker, "pa-unk")
    sub.send(b"\x40\x02\x12\x34")       # PUBACK nobody asked for
    sub.send(b"\x70\x02\x12\x35")       # PUBCOMP nobody asked for
    sub.assert_open()


def test_inbound_qos2_delivered_before_pubrel(broker):
    # README: method B, the message goes out when the PUBLISH arrives.
    from mqttraw import skip_on_mosquitto
    skip_on_mosquitto("delivers inbound QoS 2 on PUBREL (method A)")
    sub = raw(broker, "mb-sub")
    sub.subscribe([("mb/t", 2)])
    pub = raw(broker, "mb-pub")
    pub.send(publish_pkt("mb/t", b"early", qos=2, pid=31))
    assert pub.expect(PUBREC).pid == 31
    m = sub.get()                       # no PUBREL sent yet
    assert (m.payload, m.qos) == (b"early", 2)
    pub.send(pubrel_pkt(31))
    assert pub.expect(PUBCOMP).pid == 31


def test_inbound_qos2_dedup_across_publisher_reconnect(broker):
    sub = raw(broker, "rx-sub")
    sub.subscribe([("rx/t", 2)])
    pub = raw(broker, "rx-pub", clean=False)
    pub.send(publish_pkt("rx/t", b"exactly once", qos=2, pid=12))
    assert pub.expect(PUBREC).pid == 12
    pub.close()                         # lost before PUBREL
    pub = raw(broker, "rx-pub", clean=False)
    assert pub.connack.sp == 1
    pub.send(publish_pkt("rx/t", b"exactly once", qos=2, pid=12, dup=True))
    assert pub.expect(PUBREC).pid == 12
    pub.send(pubrel_pkt(12))
    assert pub.expect(PUBCOMP).pid == 12
    pub.publish("rx/t", b"marker", qos=1, pid=13)
    assert sub.get().payload == b"exactly once"
    assert sub.get().payload == b"marker"
