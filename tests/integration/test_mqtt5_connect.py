"""MQTT 5.0 CONNECT / CONNACK (sections 3.1, 3.2): CONNACK properties,
session present, keep alive negotiation, response and problem
information, AUTH, takeover and keep-alive DISCONNECTs."""
import time

from mqtt5raw import (ASSIGNED_CLIENT_ID, AUTH_DATA, AUTH_METHOD,
                      MAXIMUM_PACKET_SIZE, MAXIMUM_QOS, MOSQUITTO, PUBCOMP,
                      PUBREL, RC_BAD_AUTH_METHOD, RC_KEEP_ALIVE_TIMEOUT,
                      RC_NO_SUBSCRIPTION_EXISTED, RC_PACKET_ID_NOT_FOUND,
                      RC_PROTOCOL_ERROR, RC_RETAIN_NOT_SUPPORTED,
                      RC_SESSION_TAKEN_OVER, RC_TOPIC_FILTER_INVALID,
                      REASON_STRING, RECEIVE_MAXIMUM, REQUEST_PROBLEM_INFO,
                      REQUEST_RESPONSE_INFO, RESPONSE_INFO, RETAIN_AVAILABLE,
                      Raw5, SERVER_KEEP_ALIVE, SESSION_EXPIRY,
                      SHARED_AVAILABLE, SUB_ID_AVAILABLE, TOPIC_ALIAS_MAXIMUM,
                      USER_PROPERTY, WILDCARD_AVAILABLE, ack5, auth5, broker,
                      connect5, make_broker, paho5, publish5, raw5,
                      skip_on_mosquitto)  # noqa: F401


def test_connack_defaults(broker):
    r = raw5(broker, "c5-defaults")
    ack = r.connack
    assert (ack.sp, ack.rc) == (0, 0)
    p = ack.props
    assert not p.has(MAXIMUM_QOS)       # QoS 2 supported (3.2.2.3.4)
    assert p.get(RETAIN_AVAILABLE, 1) == 1
    assert p.get(WILDCARD_AVAILABLE, 1) == 1
    assert p.get(SUB_ID_AVAILABLE, 1) == 1
    assert p.get(SHARED_AVAILABLE, 1) == 1
    assert p.get(TOPIC_ALIAS_MAXIMUM, 0) == 10      # max_topic_alias default
    assert not p.has(ASSIGNED_CLIENT_ID)           # we sent an id
    assert not p.has(RESPONSE_INFO)                # not requested
    assert not p.has(MAXIMUM_PACKET_SIZE)          # none configured
    assert not p.has(SERVER_KEEP_ALIVE)            # 60 s is acceptable
    assert not p.has(AUTH_METHOD) and not p.has(AUTH_DATA)
    r.assert_open()


def test_connack_receive_maximum_is_max_inflight(make_broker):
    b = make_broker("max_inflight_messages 20\n")
    r = raw5(b, "c5-rm")
    assert r.connack.props.get(RECEIVE_MAXIMUM) == 20


def test_connack_retain_not_available(make_broker):
    b = make_broker("retain_available false\n")
    r = raw5(b, "c5-noretain")
    assert r.connack.props.get(RETAIN_AVAILABLE) == 0
    # A retained PUBLISH is then refused with 0x9A (3.3.1.3).
    r.send(publish5("c5/ret", b"x", retain=True))
    r.expect_disconnect(RC_RETAIN_NOT_SUPPORTED)


def test_will_retain_refused_when_retain_not_available(make_broker):
    b = make_broker("retain_available false\n")
    r = Raw5(b)
    r.send(connect5("c5-willret", will=dict(topic="w/t", payload=b"w",
                                             retain=True)))
    r.expect_connack_refused(RC_RETAIN_NOT_SUPPORTED)   # MQTT-3.2.2-12


def test_connack_maximum_packet_size(make_broker):
    b = make_broker("max_packet_size 1000\n")
    r = raw5(b, "c5-mps")
    assert r.connack.props.get(MAXIMUM_PACKET_SIZE) == 1000


def test_connack_topic_alias_maximum_configured(make_broker):
    b = make_broker("max_topic_alias 5\n")
    r = raw5(b, "c5-tam")
    assert r.connack.props.get(TOPIC_ALIAS_MAXIMUM) == 5


def test_assigned_client_identifier(broker):
    r = raw5(broker, "")
    cid = r.connack.props.get(ASSIGNED_CLIENT_ID)
    assert cid, "no Assigned Client Identifier for an empty client id"
    # It names the session: a second client taking it over kicks us.
    r2 = raw5(broker, cid)
    r.expect_disconnect(RC_SESSION_TAKEN_OVER, mosq_silent=True)
    r2.assert_open()


def test_assigned_identifiers_are_distinct(broker):
    a = raw5(broker, "").connack.props.get(ASSIGNED_CLIENT_ID)
    b = raw5(broker, "").connack.props.get(ASSIGNED_CLIENT_ID)
    assert a and b and a != b


def test_server_keep_alive_when_client_asks_zero(make_broker):
    b = make_broker("max_keepalive 60\n")
    r = raw5(b, "c5-ka0", keepalive=0)
    assert r.connack.props.get(SERVER_KEEP_ALIVE) == 60      # MQTT-3.2.2-21


def test_server_keep_alive_when_client_asks_too_much(make_broker):
    b = make_broker("max_keepalive 60\n")
    r = raw5(b, "c5-ka-big", keepalive=120)
    assert r.connack.rc == 0          # 5.0 can say so: not refused as 3.x
    assert r.connack.props.get(SERVER_KEEP_ALIVE) == 60


def test_no_server_keep_alive_when_acceptable(make_broker):
    b = make_broker("max_keepalive 60\n")
    r = raw5(b, "c5-ka-ok", keepalive=30)
    assert r.connack.props.get(SERVER_KEEP_ALIVE, 30) == 30


def test_response_information_when_requested(broker):
    skip_on_mosquitto("sends no Response Information (a MAY in 3.2.2.3.15)")
    r = raw5(broker, "c5-ri", props=[(REQUEST_RESPONSE_INFO, 1)])
    info = r.connack.props.get(RESPONSE_INFO)
    assert isinstance(info, str) and info


def test_no_response_information_unless_requested(broker):
    r = raw5(broker, "c5-ri0", props=[(REQUEST_RESPONSE_INFO, 0)])
    assert not r.connack.props.has(RESPONSE_INFO)       # MQTT-3.1.2-28


def test_request_problem_information_zero(broker):
    """MQTT-3.1.2-29: no Reason String / User Property on anything but
    PUBLISH, CONNACK and DISCONNECT. Provoke acks that would carry one."""
    r = raw5(broker, "c5-rpi0", props=[(REQUEST_PROBLEM_INFO, 0)])
    codes = r.unsubscribe("never/subscribed")
    assert codes == [RC_NO_SUBSCRIPTION_EXISTED]
    assert r.unsuback.props == []
    r.send(ack5(PUBREL, 77))
    comp = r.wait_for(PUBCOMP, 77)
    if not MOSQUITTO:       # 2.0.11 answers 0x00 (see test_mqtt5_acks)
        assert comp.rc == RC_PACKET_ID_NOT_FOUND
    assert not comp.props.has(REASON_STRING)
    assert not comp.props.has(USER_PROPERTY)
    ack = r.publish("c5/rpi", b"x", qos=1, pid=5)
    assert not ack.props.has(REASON_STRING)
    assert not ack.props.has(USER_PROPERTY)
    r.assert_open()


def test_request_problem_information_zero_on_suback(broker):
    skip_on_mosquitto("closes the connection on an invalid filter")
    r = raw5(broker, "c5-rpi0s", props=[(REQUEST_PROBLEM_INFO, 0)])
    assert r.subscribe([("a/#/b", 0)]) == [RC_TOPIC_FILTER_INVALID]
    assert r.suback.props == []


def test_session_present(broker):
    r = raw5(broker, "c5-sp", clean=False, props=[(SESSION_EXPIRY, 60)])
    assert r.connack.sp == 0
    r.subscribe([("sp/t", 1)])
    r.disconnect()
    r = raw5(broker, "c5-sp", clean=False, props=[(SESSION_EXPIRY, 60)])
    assert r.connack.sp == 1
    r.disconnect()
    r = raw5(broker, "c5-sp", clean=True, props=[(SESSION_EXPIRY, 60)])
    assert r.connack.sp == 0                           # MQTT-3.2.2-2


def test_auth_method_refused(broker):
    r = Raw5(broker)
    r.send(connect5("c5-auth", props=[(AUTH_METHOD, "SCRAM-SHA-1"),
                                      (AUTH_DATA, b"client-first")]))
    r.expect_connack_refused(RC_BAD_AUTH_METHOD)


def test_auth_packet_without_method_is_protocol_error(broker):
    r = raw5(broker, "c5-auth-pkt")
    r.send(auth5(0x18, [(AUTH_METHOD, "SCRAM-SHA-1")]))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)


def test_second_connect_is_protocol_error(broker):
    r = raw5(broker, "c5-twice")
    r.send(connect5("c5-twice"))
    # MQTT-3.1.0-2
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)


def test_session_taken_over(broker):
    old = raw5(broker, "c5-take")
    new = raw5(broker, "c5-take")
    old.expect_disconnect(RC_SESSION_TAKEN_OVER, mosq_silent=True)
    new.assert_open()


def test_session_taken_over_by_paho(broker):
    old = raw5(broker, "c5-take-paho")
    new = paho5(broker, "c5-take-paho")
    old.expect_disconnect(RC_SESSION_TAKEN_OVER, mosq_silent=True)
    new.publish("c5/alive", b"x", 1)


def test_keep_alive_timeout(broker):
    r = raw5(broker, "c5-ka", keepalive=1)
    t0 = time.monotonic()
    # Silent from now on: 1.5 x keep alive later the broker gives up.
    r.expect_disconnect(RC_KEEP_ALIVE_TIMEOUT, timeout=4, mosq_silent=True)
    assert time.monotonic() - t0 >= 1.0


def test_keep_alive_respected_while_pinging(broker):
    r = raw5(broker, "c5-ka-ping", keepalive=1)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        # a read that must not return data paces the pings
        assert r.recv_or_none(0.4) is None
        r.assert_open()


def test_connect_with_will_and_user_properties_accepted(broker):
    r = raw5(broker, "c5-full", keepalive=30, props=[
        (SESSION_EXPIRY, 10), (RECEIVE_MAXIMUM, 5),
        (MAXIMUM_PACKET_SIZE, 100000), (TOPIC_ALIAS_MAXIMUM, 3),
        (REQUEST_RESPONSE_INFO, 0), (REQUEST_PROBLEM_INFO, 1),
        (USER_PROPERTY, ("k", "v")), (USER_PROPERTY, ("k", "v2"))],
        will=dict(topic="c5/will", payload=b"bye", qos=1))
    assert r.connack.rc == 0
    r.assert_open()
