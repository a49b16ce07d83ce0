"""CONNECT handling, keep alive and the CONNECT timeout (MQTT 3.1 / 3.1.1
section 3.1, 3.12, README "MQTT behaviour where the standard leaves a
choice")."""
import time

from mqttraw import (CONNACK, MOSQUITTO, PINGRESP, PINGRESP_PKT, PINGREQ_PKT, SUBACK,
                     Raw, broker, connect_pkt, make_broker, paho,
                     publish_pkt, raw, skip_on_mosquitto, subscribe_pkt)  # noqa: F401


def test_v311_connect_accepted_exact_connack(broker):
    r = Raw(broker)
    r.send(connect_pkt("c-v311", level=4))
    p = r.expect(CONNACK)
    assert p.raw == b"\x20\x02\x00\x00"


def test_v31_mqisdp_connect_accepted_and_serves(broker):
    r = Raw(broker)
    p = r.connect("c-v31", proto=b"MQIsdp", level=3)
    assert (p.sp, p.rc) == (0, 0)
    assert r.subscribe([("v31/t", 1)]) == [1]
    pub = raw(broker, "c-v31-pub", proto=b"MQIsdp", level=3)
    pub.publish("v31/t", b"hello31", qos=1)
    m = r.get()
    assert (m.topic, m.payload, m.qos) == ("v31/t", b"hello31", 1)


def test_v31_long_client_id_accepted(broker):
    # README: any length 1..65535 for 3.1 too (3.1 itself said 23 max).
    p = Raw(broker).connect("x" * 100, proto=b"MQIsdp", level=3)
    assert p.rc == 0


def test_v311_long_client_id_accepted(broker):
    p = Raw(broker).connect("y" * 1000)
    assert p.rc == 0


def test_unknown_protocol_level_connack_1_then_close(broker):
    r = Raw(broker)
    r.send(connect_pkt("c-lvl", level=7))
    got = r.wait_closed()
    assert len(got) == 1 and got[0].raw == b"\x20\x02\x00\x01", got


def test_v31_name_with_v311_level_refused(broker):
    # "MQIsdp" is only ever level 3; level 4 under that name is not 3.1.1.
    r = Raw(broker)
    r.send(connect_pkt("c-mix", proto=b"MQIsdp", level=4))
    got = r.wait_closed()
    assert all(p.type == CONNACK and p.rc != 0 for p in got), got


def test_bad_protocol_name_closed(broker):
    # MQTT-3.1.2-1: must not be processed as MQTT; no CONNACK 0.
    r = Raw(broker)
    r.send(connect_pkt("c-name", proto=b"MQTX", level=4))
    got = r.wait_closed()
    assert all(p.type == CONNACK and p.rc != 0 for p in got), got


def test_reserved_connect_flag_closed_without_connack(broker):
    # MQTT-3.1.2-3
    r = Raw(broker)
    r.send(connect_pkt("c-resv", flags=0x03))
    r.assert_closed_silently()


def test_will_qos_3_closed(broker):
    # MQTT-3.1.2-14
    r = Raw(broker)
    r.send(connect_pkt("c-wq3", will=("w/t", b"x", 3, False)))
    r.assert_closed_silently()


def test_will_retain_without_will_flag_closed(broker):
    # MQTT-3.1.2-15
    r = Raw(broker)
    r.send(connect_pkt("c-wr", flags=0x02 | 0x20))
    r.assert_closed_silently()


def test_will_qos_without_will_flag_closed(broker):
    # MQTT-3.1.2-13
    r = Raw(broker)
    r.send(connect_pkt("c-wqnf", flags=0x02 | 0x08))
    r.assert_closed_silently()


def test_password_without_username_closed_v311(broker):
    # MQTT-3.1.2-22
    r = Raw(broker)
    r.send(connect_pkt("c-pw", password=b"secret"))
    got = r.wait_closed()
    assert all(p.type == CONNACK and p.rc != 0 for p in got), got


def test_zero_length_id_clean_gets_generated_ids(broker):
    a = Raw(broker)
    pa = a.connect("", clean=True)
    assert (pa.sp, pa.rc) == (0, 0)
    b = Raw(broker)
    pb = b.connect("", clean=True)
    assert (pb.sp, pb.rc) == (0, 0)
    # Two generated ids must differ: neither took the other over.
    a.assert_open()
    b.assert_open()


def test_zero_length_id_persistent_refused_with_2(broker):
    # MQTT-3.1.3-8
    r = Raw(broker)
    r.send(connect_pkt("", clean=False))
    got = r.wait_closed()
    assert len(got) == 1 and got[0].raw == b"\x20\x02\x00\x02", got


def test_second_connect_closes(broker):
    # MQTT-3.1.0-2
    r = raw(broker, "c-twice")
    r.send(connect_pkt("c-twice"))
    got = r.wait_closed()
    assert [p for p in got if p.type == CONNACK] == [], got


def test_first_packet_not_connect_closed(broker):
    # MQTT-3.1.0-1
    r = Raw(broker)
    r.send(subscribe_pkt(1, [("nc/t", 0)]))
    r.assert_closed_silently()


def test_first_packet_publish_not_delivered(broker):
    sub = paho(broker, "c-npub-sub")
    sub.subscribe("npub/#", 0)
    r = Raw(broker)
    r.send(publish_pkt("npub/bad", b"no"))
    r.assert_closed_silently()
    pub = paho(broker, "c-npub-pub")
    pub.publish("npub/marker", b"m", 1)
    assert sub.get().topic == "npub/marker"


def test_pingreq_gets_pingresp_bytes(broker):
    r = raw(broker, "c-ping")
    r.send(PINGREQ_PKT)
    p = r.expect(PINGRESP)
    assert p.raw == PINGRESP_PKT


def test_connect_timeout_closes_silent_socket(make_broker):
    b = make_broker("connect_timeout 1\n")
    r = Raw(b)
    t0 = time.monotonic()
    r.assert_closed_silently(timeout=6)
    assert time.monotonic() - t0 >= 0.5


def test_connect_timeout_closes_partial_connect(make_broker):
    b = make_broker("connect_timeout 1\n")
    r = Raw(b)
    r.send(connect_pkt("c-slow")[:5])
    r.assert_closed_silently(timeout=6)


def test_keepalive_silence_closes_and_publishes_will(broker):
    sub = paho(broker, "c-ka-sub")
    sub.subscribe("ka/will", 1)
    r = raw(broker, "c-ka", keepalive=1, will=("ka/will", b"gone", 1, False))
    t0 = time.monotonic()
    r.assert_closed_silently(timeout=8)
    # 1.5 x keep alive (MQTT-3.1.2-24); allow timer granularity.
    # (Mosquitto 2.0.11 takes up to ~5 s; Junction must be prompt.)
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.0
    assert MOSQUITTO or elapsed < 3.0, "closed after %.1fs" % elapsed
    m = sub.get()
    assert (m.topic, m.payload) == ("ka/will", b"gone")


def test_keepalive_pings_keep_connection_open(broker):
    r = raw(broker, "c-ka-ping", keepalive=1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        # Waiting for a close that must not come, 0.5 s at a time.
        assert r.recv_or_none(0.5) is None
        r.send(PINGREQ_PKT)
        assert r.expect(PINGRESP)


def test_keepalive_above_max_refused_with_2(make_broker):
    skip_on_mosquitto("2.0.11 applies max_keepalive to MQTT 5 clients only")
    b = make_broker("max_keepalive 10\n")
    r = Raw(b)
    r.send(connect_pkt("c-maxka", keepalive=20))
    got = r.wait_closed()
    assert len(got) == 1 and got[0].raw == b"\x20\x02\x00\x02", got
    assert Raw(b).connect("c-maxka-ok", keepalive=10).rc == 0


def test_allow_anonymous_false_refused_with_5(make_broker):
    b = make_broker("allow_anonymous false\n")
    r = Raw(b)
    r.send(connect_pkt("c-anon"))
    got = r.wait_closed()
    assert len(got) == 1 and got[0].raw == b"\x20\x02\x00\x05", got
    r = Raw(b)
    r.send(connect_pkt("c-anon-user", username="u", password=b"p"))
    got = r.wait_closed()
    assert len(got) == 1 and got[0].type == CONNACK and got[0].rc in (4, 5)


def test_takeover_closes_first_and_publishes_its_will(broker):
    sub = paho(broker, "c-to-sub")
    sub.subscribe("to/will", 1)
    first = raw(broker, "c-to", will=("to/will", b"first-gone", 1, False))
    second = Raw(broker)
    assert second.connect("c-to").rc == 0
    first.wait_closed()
    m = sub.get()
    assert (m.topic, m.payload) == ("to/will", b"first-gone")
    second.assert_open()


def test_subscribe_before_connack_read_is_served(broker):
    # A client may pipeline packets after CONNECT without waiting.
    r = Raw(broker)
    r.send(connect_pkt("c-pipe") + subscribe_pkt(3, [("pipe/t", 1)]))
    assert r.expect(CONNACK).rc == 0
    p = r.expect(SUBACK)
    assert (p.pid, p.codes) == (3, [1])


def test_will_topic_with_wildcard_closed(broker):
    # MQTT 4.7.1: the Will Topic is a topic name, no wildcards.
    r = Raw(broker)
    r.send(connect_pkt("c-wwild", will=("w/+/x", b"x", 0, False)))
    got = r.wait_closed()
    assert all(p.type == CONNACK and p.rc != 0 for p in got), got


def test_will_topic_invalid_utf8_closed(broker):
    # MQTT-1.5.3-1
    r = Raw(broker)
    r.send(connect_pkt("c-wutf", will=(b"w/\xff", b"x", 0, False)))
    got = r.wait_closed()
    assert all(p.type == CONNACK and p.rc != 0 for p in got), got


def test_takeover_of_persistent_session_keeps_it(broker):
    first = raw(broker, "c-tp", clean=False)
    first.subscribe([("tp/t", 1)])
    second = raw(broker, "c-tp", clean=False)
    assert second.connack.sp == 1
    first.wait_closed()
    pub = raw(broker, "c-tp-pub")
    pub.publish("tp/t", b"to the new connection", qos=1)
    assert second.get().payload == b"to the new connection"
