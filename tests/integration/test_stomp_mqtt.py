"""MQTT and STOMP on one set of topics (DESIGN.md "Topics, queues and the
mapping between protocols"): publish on one side, receive on the other,
with paho-mqtt 3.1.1 / 5.0 and raw STOMP; properties <-> headers, dotted
topics, wildcards, retained messages both ways, expiry."""
import time

import pytest

from stompraw import (Mqtt, make_broker, raw_connected, start,  # noqa: F401
                      stomp_client, stomp_send_sync, stomp_subscribe)


@pytest.fixture
def b(make_broker):
    return start(make_broker)


def test_mqtt_publish_to_stomp_subscriber(b):
    s = raw_connected(b)
    s.subscribe("/topic/sensors.*.temp", "t", "client")
    m = Mqtt(b, "m-pub")
    m.publish("sensors/kitchen/temp", b"21.5", qos=1)
    f = s.expect("MESSAGE")
    assert f.headers["destination"] == "/topic/sensors.kitchen.temp"
    assert f.body == b"21.5"
    assert f.headers["subscription"] == "t"
    m.stop()


def test_mqtt_qos0_to_stomp_auto_subscriber(b):
    s = raw_connected(b)
    s.subscribe("/topic/q0", "t", "auto")
    m = Mqtt(b, "m-pub0")
    m.publish("q0", b"zero", qos=0)
    assert s.expect("MESSAGE").body == b"zero"
    m.stop()


@pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5.0"])
def test_stomp_send_to_mqtt_subscriber(b, v5):
    m = Mqtt(b, "m-sub", v5=v5)
    m.subscribe("a/+/c", qos=2)
    c = stomp_client(b)
    stomp_send_sync(c, "/topic/a.b.c", "from stomp")
    msg = m.get()
    assert msg.topic == "a/b/c"
    assert msg.payload == b"from stomp"
    assert msg.qos == 1  # a STOMP SEND is published at QoS 1
    m.stop()


def test_dotted_mqtt_topics(b):
    s = raw_connected(b)
    s.subscribe("/topic/a/b.c", "t")
    m = Mqtt(b, "m-dots")
    m.subscribe("x.y/z")
    m.publish("a.b/c", b"dotted")
    f = s.expect("MESSAGE")
    assert f.headers["destination"] == "/topic/a/b.c"
    s.send_frame("SEND", [("destination", "/topic/x/y.z")], "back")
    assert m.get().topic == "x.y/z"
    m.stop()


@pytest.mark.parametrize("filt", ["/topic/w.#", "/topic/w.>",
                                  "/topic/w.*.*"])
def test_wildcards(b, filt):
    s = raw_connected(b)
    s.subscribe(filt, "w")
    m = Mqtt(b, "m-wild")
    m.publish("w/one/two", b"deep")
    assert s.expect("MESSAGE").headers["destination"] == "/topic/w.one.two"
    m.stop()


def test_properties_mqtt5_to_stomp(b):
    s = raw_connected(b)
    s.subscribe("/topic/props", "p")
    m = Mqtt(b, "m-props", v5=True)
    m.publish("props", b"{}", ContentType="application/json",
              ResponseTopic="replies/here", CorrelationData=b"corr-1",
              UserProperty=[("k1", "v1"), ("k2", "v2")],
              MessageExpiryInterval=60)
    before = int(time.time() * 1000)
    f = s.expect("MESSAGE")
    assert f.headers["content-type"] == "application/json"
    assert f.headers["reply-to"] == "/topic/replies.here"
    assert f.headers["correlation-id"] == "corr-1"
    assert f.headers["k1"] == "v1" and f.headers["k2"] == "v2"
    expires = int(f.headers["expires"])
    assert before < expires <= before + 61000
    m.stop()


def test_headers_stomp_to_mqtt5(b):
    m = Mqtt(b, "m-hdrs", v5=True)
    m.subscribe("hdrs")
    c = raw_connected(b)
    exp = int(time.time() * 1000) + 30000
    c.send_frame("SEND", [("destination", "/topic/hdrs"),
                          ("content-type", "text/plain"),
                          ("reply-to", "/queue/answers"),
                          ("correlation-id", "c-9"),
                          ("expires", str(exp)),
                          ("custom-a", "1"), ("custom-b", "2"),
                          ("persistent", "true"), ("receipt", "r")], "hello")
    c.expect_receipt("r")
    msg = m.get()
    p = msg.properties
    assert p.ContentType == "text/plain"
    assert p.ResponseTopic == "$queue/answers"
    assert p.CorrelationData == b"c-9"
    assert p.UserProperty == [("custom-a", "1"), ("custom-b", "2")]
    assert 0 < p.MessageExpiryInterval <= 30
    m.stop()


def test_retained_mqtt_to_late_stomp(b):
    m = Mqtt(b, "m-ret")
    m.publish("ret/a", b"kept", retain=True)
    s = raw_connected(b)
    s.subscribe("/topic/ret.*", "r")
    f = s.expect("MESSAGE")
    assert f.body == b"kept" and f.headers["retain"] == "true"
    m.stop()


def test_retained_stomp_to_late_mqtt_and_clear(b):
    c = stomp_client(b)
    stomp_send_sync(c, "/topic/sret.x", "kept", retain="true")
    m = Mqtt(b, "m-sret")
    m.subscribe("sret/x")
    msg = m.get()
    assert msg.payload == b"kept" and msg.retain
    stomp_send_sync(c, "/topic/sret.x", "", retain="true")  # clears
    assert m.get().payload == b""
    m2 = Mqtt(b, "m-sret2")
    m2.subscribe("sret/#")
    s = raw_connected(b)
    s.subscribe("/topic/sret.#", "after")
    s.sync()
    s.expect_nothing()
    assert m2.msgs.empty()
    m.stop()
    m2.stop()


def test_stomp_client_ack_at_least_once_while_connected(b):
    s = raw_connected(b)
    s.subscribe("/topic/alo", "a", "client-individual")
    m = Mqtt(b, "m-alo")
    m.publish("alo", b"one", qos=1)
    f = s.expect("MESSAGE")
    s.send_frame("ACK", [("id", f.headers["ack"]), ("receipt", "k")])
    s.expect_receipt("k")
    m.stop()
