"""MQTT 5.0 session expiry (3.1.2.11.2, 3.14.2.2.2) and message expiry
(3.3.2.3.3), and `persistent_client_expiration` for 3.1.1 sessions.

The tests about wall-clock expiry itself use time.sleep: nothing the
broker sends can mark "the interval has passed", so they wait for it,
with intervals of 1 s and sleeps of at most 2 s (a broker checking once
a second may be up to a second late)."""
import time

from mqtt5raw import (MESSAGE_EXPIRY, PUBLISH, RC_PROTOCOL_ERROR,
                      SESSION_EXPIRY, broker, disconnect5, make_broker, raw5,
                      skip_on_mosquitto)  # noqa: F401
import mqttraw

EXPIRY_WAIT = 2.0       # > a 1 s interval plus one 1 s housekeeping tick


def _se(s):
    return [(SESSION_EXPIRY, s)]


def _publishes(pkts):
    return [p for p in pkts if p.type == PUBLISH]


def _persistent_sub(b, cid, topic, expiry=60):
    r = raw5(b, cid, clean=False, props=_se(expiry))
    r.subscribe([(topic, 1)])
    return r


# ---------------------------------------------------------- session expiry

def test_session_expiry_absent_means_zero(broker):
    r = raw5(broker, "ex-absent", clean=False)
    r.subscribe([("exa/t", 1)])
    r.disconnect()
    r = raw5(broker, "ex-absent", clean=False)
    assert r.connack.sp == 0                       # 3.1.2.11.2


def test_session_kept_within_expiry(broker):
    r = _persistent_sub(broker, "ex-kept", "exk/t")
    r.disconnect()
    pub = raw5(broker, "ex-kept-pub")
    pub.publish("exk/t", b"queued", qos=1)
    r = raw5(broker, "ex-kept", clean=False, props=_se(60))
    assert r.connack.sp == 1
    assert r.get().payload == b"queued"


def test_session_kept_after_network_drop(broker):
    r = _persistent_sub(broker, "ex-drop", "exd/t")
    r.close()                                          # no DISCONNECT
    pub = raw5(broker, "ex-drop-pub")
    pub.publish("exd/t", b"queued", qos=1)
    r = raw5(broker, "ex-drop", clean=False, props=_se(60))
    assert r.connack.sp == 1
    assert r.get().payload == b"queued"


def test_disconnect_sets_expiry_to_zero(broker):
    r = _persistent_sub(broker, "ex-dis0", "exd0/t")
    r.disconnect(props=_se(0))
    r = raw5(broker, "ex-dis0", clean=False, props=_se(60))
    assert r.connack.sp == 0                           # 3.14.2.2.2


def test_disconnect_changes_expiry(broker):
    """CONNECT 1 s, DISCONNECT raises it to 60 s: after 2 s the session
    is still there."""
    r = _persistent_sub(broker, "ex-dis60", "exd60/t", expiry=1)
    r.disconnect(props=_se(60))
    time.sleep(EXPIRY_WAIT)           # about wall-clock expiry (see top)
    r = raw5(broker, "ex-dis60", clean=False, props=_se(60))
    assert r.connack.sp == 1


def test_disconnect_nonzero_expiry_after_zero_is_protocol_error(broker):
    r = raw5(broker, "ex-dis-bad", clean=False, props=_se(0))
    r.subscribe([("exbad/t", 1)])
    r.send(disconnect5(0, _se(30)))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)  # 3.14.2-2
    r = raw5(broker, "ex-dis-bad", clean=False, props=_se(60))
    assert r.connack.sp == 0          # the session ended with expiry 0


def test_session_expires_on_schedule(broker):
    r = _persistent_sub(broker, "ex-sched", "exs/t", expiry=1)
    r.disconnect()
    pub = raw5(broker, "ex-sched-pub")
    pub.publish("exs/t", b"lost with the session", qos=1)
    time.sleep(EXPIRY_WAIT)           # about wall-clock expiry (see top)
    r = raw5(broker, "ex-sched", clean=False, props=_se(60))
    assert r.connack.sp == 0
    assert _publishes(r.ping()) == []


def test_clean_start_discards_session(broker):
    r = _persistent_sub(broker, "ex-clean", "exc/t")
    r.disconnect()
    r = raw5(broker, "ex-clean", clean=True, props=_se(60))
    assert r.connack.sp == 0
    pub = raw5(broker, "ex-clean-pub")
    pub.publish("exc/t", b"x", qos=1)
    assert _publishes(r.ping()) == []                  # no subscription


def test_persistent_client_expiration_for_311(make_broker):
    skip_on_mosquitto("persistent_client_expiration takes hours at least")
    b = make_broker("persistent_client_expiration 1\n")
    r = mqttraw.raw(b, "ex-311", clean=False)
    r.subscribe([("ex311/t", 1)])
    r.disconnect()
    r = mqttraw.raw(b, "ex-311", clean=False)
    assert r.connack.sp == 1                        # not expired yet
    r.disconnect()
    time.sleep(EXPIRY_WAIT)           # about wall-clock expiry (see top)
    r = mqttraw.raw(b, "ex-311", clean=False)
    assert r.connack.sp == 0


# ---------------------------------------------------------- message expiry

def test_message_expiry_live_delivery(broker):
    sub = raw5(broker, "ex-msg-live")
    sub.subscribe([("exm/t", 1)])
    pub = raw5(broker, "ex-msg-live-pub")
    pub.publish("exm/t", b"x", qos=1, props=[(MESSAGE_EXPIRY, 30)])
    p = sub.get()
    assert 0 < p.props.get(MESSAGE_EXPIRY) <= 30           # MQTT-3.3.2-6


def test_expired_message_not_delivered_to_offline_session(broker):
    r = _persistent_sub(broker, "ex-msg-off", "exo/t")
    r.disconnect()
    pub = raw5(broker, "ex-msg-off-pub")
    pub.publish("exo/t", b"short", qos=1, pid=1, props=[(MESSAGE_EXPIRY, 1)])
    pub.publish("exo/t", b"long", qos=1, pid=2, props=[(MESSAGE_EXPIRY, 30)])
    pub.publish("exo/t", b"forever", qos=1, pid=3)
    time.sleep(EXPIRY_WAIT)           # about wall-clock expiry (see top)
    r = raw5(broker, "ex-msg-off", clean=False, props=_se(60))
    assert r.connack.sp == 1
    a, b = r.get(), r.get()
    assert (a.payload, b.payload) == (b"long", b"forever")
    # 30 s minus the time it waited (rounded up), never more (3.3.2.3.3)
    assert a.props.get(MESSAGE_EXPIRY) <= 29
    assert not b.props.has(MESSAGE_EXPIRY)
    assert _publishes(r.ping()) == []


def test_retained_message_expires(broker):
    pub = raw5(broker, "ex-ret-pub")
    pub.publish("exr/short", b"s", qos=1, retain=True, pid=1,
                props=[(MESSAGE_EXPIRY, 1)])
    pub.publish("exr/long", b"l", qos=1, retain=True, pid=2,
                props=[(MESSAGE_EXPIRY, 30)])
    time.sleep(EXPIRY_WAIT)           # about wall-clock expiry (see top)
    sub = raw5(broker, "ex-ret-sub")
    sub.subscribe([("exr/+", 1)])
    got = _publishes(sub.ping())
    assert [p.payload for p in got] == [b"l"]
    assert got[0].props.get(MESSAGE_EXPIRY) <= 29
    for p in got:
        sub.ack(p)
    pub.publish("exr/long", b"", qos=1, retain=True, pid=3)


def test_retained_with_expiry_delivered_before_it(broker):
    pub = raw5(broker, "ex-ret2-pub")
    pub.publish("exr2/t", b"fresh", qos=1, retain=True,
                props=[(MESSAGE_EXPIRY, 60)])
    sub = raw5(broker, "ex-ret2-sub")
    sub.subscribe([("exr2/t", 1)])
    p = sub.get()
    assert p.retain and 0 < p.props.get(MESSAGE_EXPIRY) <= 60
    pub.publish("exr2/t", b"", qos=1, retain=True, pid=2)
