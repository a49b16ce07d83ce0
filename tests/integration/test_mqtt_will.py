"""Will messages (MQTT 3.1.1 section 3.1.2.5-3.1.2.7)."""
import socket

from mqttraw import (broker, make_broker, paho, raw, seeded_garbage)  # noqa: F401


def will_sub(b, name, qos=2):
    s = raw(b, "w-sub-" + name)
    s.subscribe([("will/" + name, qos), ("will/marker", 1)])
    return s


def test_will_on_socket_close_without_disconnect(broker):
    sub = will_sub(broker, "close")
    r = raw(broker, "w-close", will=("will/close", b"bye", 1, False))
    r.close()
    m = sub.get()
    assert (m.topic, m.payload, m.retain) == ("will/close", b"bye", 0)


def test_will_on_protocol_error(broker):
    sub = will_sub(broker, "perr")
    r = raw(broker, "w-perr", will=("will/perr", b"broken", 1, False))
    r.send(b"\x00\x00\xff\xff\xff")    # packet type 0 is reserved
    r.wait_closed()
    m = sub.get()
    assert (m.topic, m.payload) == ("will/perr", b"broken")


def test_will_on_garbage_after_connect(broker):
    sub = will_sub(broker, "garb")
    r = raw(broker, "w-garb", will=("will/garb", b"garbage", 1, False))
    r.send(b"\xf7" + seeded_garbage(1, 200))    # type 15 is reserved in 3.x
    r.wait_closed()
    assert sub.get().payload == b"garbage"


def test_will_on_keepalive_timeout(broker):
    sub = will_sub(broker, "ka")
    r = raw(broker, "w-ka", keepalive=1, will=("will/ka", b"silent", 1, False))
    r.wait_closed(timeout=8)
    assert sub.get().payload == b"silent"


def test_will_on_takeover(broker):
    sub = will_sub(broker, "take")
    first = raw(broker, "w-take", will=("will/take", b"taken", 1, False))
    raw(broker, "w-take")
    first.wait_closed()
    assert sub.get().payload == b"taken"


def test_no_will_after_disconnect(broker):
    sub = will_sub(broker, "disc")
    r = raw(broker, "w-disc", will=("will/disc", b"must not", 1, False))
    r.disconnect()                      # waits for the broker's close
    pub = raw(broker, "w-disc-pub")
    pub.publish("will/marker", b"marker", qos=1)
    m = sub.get()
    assert (m.topic, m.payload) == ("will/marker", b"marker")


def test_no_will_after_disconnect_then_takeover_of_new_conn(broker):
    # A will belongs to its connection: a later session with the same id
    # and no will publishes nothing when taken over.
    sub = will_sub(broker, "own")
    raw(broker, "w-own", will=("will/own", b"old", 1, False)).disconnect()
    second = raw(broker, "w-own")
    raw(broker, "w-own")
    second.wait_closed()
    pub = raw(broker, "w-own-pub")
    pub.publish("will/marker", b"marker", qos=1)
    assert sub.get().topic == "will/marker"


def test_will_retain_honoured(broker):
    r = raw(broker, "w-ret", will=("will/ret", b"retained will", 1, True))
    live = will_sub(broker, "ret")
    r.close()
    m = live.get()
    assert (m.payload, m.retain) == (b"retained will", 0)   # live copy
    late = raw(broker, "w-ret-late")
    late.subscribe([("will/ret", 1)])
    m = late.get()
    assert (m.payload, m.retain) == (b"retained will", 1)


def test_will_not_retained_without_flag(broker):
    r = raw(broker, "w-nret", will=("will/nret", b"plain will", 1, False))
    live = will_sub(broker, "nret")
    r.close()
    assert live.get().payload == b"plain will"
    late = raw(broker, "w-nret-late")
    late.subscribe([("will/nret", 1), ("will/marker", 1)])
    pub = raw(broker, "w-nret-pub")
    pub.publish("will/marker", b"marker", qos=1)
    assert late.get().topic == "will/marker"


def test_will_qos_and_min_with_subscription(broker):
    s2 = will_sub(broker, "qos", qos=2)
    s1 = raw(broker, "w-sub-qos1")
    s1.subscribe([("will/qos", 1)])
    r = raw(broker, "w-qos", will=("will/qos", b"q2 will", 2, False))
    r.close()
    m = s2.get()
    assert (m.payload, m.qos) == (b"q2 will", 2)
    m = s1.get()
    assert (m.payload, m.qos) == (b"q2 will", 1)
    r = raw(broker, "w-qos0", will=("will/qos", b"q0 will", 0, False))
    r.close()
    assert s2.get().qos == 0


def test_will_for_v31_client(broker):
    sub = will_sub(broker, "v31")
    r = raw(broker, "w-v31", proto=b"MQIsdp", level=3,
            will=("will/v31", b"old protocol", 1, False))
    r.close()
    assert sub.get().payload == b"old protocol"


def test_paho_will_on_abrupt_close(broker):
    sub = paho(broker, "w-paho-sub")
    sub.subscribe("will/paho", 1)
    c = paho(broker, "w-paho", will=("will/paho", b"paho died", 1, False))
    c.c.socket().shutdown(socket.SHUT_RDWR)     # no DISCONNECT
    m = sub.get()
    assert m.payload == b"paho died"
