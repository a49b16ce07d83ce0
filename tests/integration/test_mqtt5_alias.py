"""MQTT 5.0 topic aliases (3.3.2.3.4) both ways.

Client to server: aliases 1..Topic Alias Maximum (max_topic_alias,
default 10) are accepted and resolved; an alias above the maximum is
DISCONNECT 0x94; an empty topic with an alias never set is 0x82.
Aliases live only as long as the network connection.

Server to client: the broker MAY use aliases up to the client's Topic
Alias Maximum. Both forms are accepted; Raw5 checks every alias it
receives (never above what the client announced, never used before it
was set) and resolves it, so the tests see the real topic."""
from mqtt5raw import (RC_PROTOCOL_ERROR, RC_TOPIC_ALIAS_INVALID,
                      TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM, broker, make_broker,
                      publish5, raw5)  # noqa: F401


def _alias(a):
    return [(TOPIC_ALIAS, a)]


def test_inbound_alias_set_and_used(broker):
    sub = raw5(broker, "al-sub")
    sub.subscribe([("al/#", 1)])
    r = raw5(broker, "al-pub")
    r.publish("al/a", b"1", qos=1, pid=1, props=_alias(1))
    r.publish("", b"2", qos=1, pid=2, props=_alias(1))
    r.publish("", b"3", qos=0, props=_alias(1))
    got = [sub.get() for _ in range(3)]
    assert [(p.topic, p.payload) for p in got] == \
        [("al/a", b"1"), ("al/a", b"2"), ("al/a", b"3")]
    for p in got:
        # the publisher's alias is not passed on (it has no Topic Alias
        # Maximum, so Raw5 would also fail on any alias)
        assert p.alias is None and p.wire_topic == "al/a"


def test_inbound_alias_remapped(broker):
    sub = raw5(broker, "al-remap-sub")
    sub.subscribe([("alr/#", 0)])
    r = raw5(broker, "al-remap")
    r.publish("alr/one", b"1", props=_alias(3))
    r.publish("alr/two", b"2", props=_alias(3))   # new mapping for 3
    r.publish("", b"3", props=_alias(3))
    r.publish("alr/one", b"4", qos=1, pid=4)      # no alias at all
    got = [(p.topic, p.payload) for p in (sub.get() for _ in range(4))]
    assert got == [("alr/one", b"1"), ("alr/two", b"2"), ("alr/two", b"3"),
                   ("alr/one", b"4")]


def test_inbound_alias_up_to_maximum(broker):
    r = raw5(broker, "al-max")
    assert r.connack.props.get(TOPIC_ALIAS_MAXIMUM) == 10
    sub = raw5(broker, "al-max-sub")
    sub.subscribe([("alm/#", 1)])
    for a in range(1, 11):
        r.publish("alm/%d" % a, b"set", props=_alias(a))
    for a in range(10, 0, -1):
        r.publish("", b"use", qos=1, pid=a, props=_alias(a))
    got = [sub.get() for _ in range(20)]
    assert [p.topic for p in got[10:]] == ["alm/%d" % a
                                           for a in range(10, 0, -1)]


def test_inbound_alias_above_maximum(broker):
    r = raw5(broker, "al-over")
    r.send(publish5("alo/t", b"x", props=_alias(11)))
    r.expect_disconnect(RC_TOPIC_ALIAS_INVALID, mosq_silent=True)


def test_inbound_alias_configured_maximum(make_broker):
    b = make_broker("max_topic_alias 2\n")
    r = raw5(b, "al-conf")
    assert r.connack.props.get(TOPIC_ALIAS_MAXIMUM) == 2
    r.publish("alc/t", b"x", props=_alias(2))
    r.send(publish5("alc/t", b"x", props=_alias(3)))
    r.expect_disconnect(RC_TOPIC_ALIAS_INVALID, mosq_silent=True)


def test_inbound_alias_disabled(make_broker):
    b = make_broker("max_topic_alias 0\n")
    r = raw5(b, "al-off")
    assert r.connack.props.get(TOPIC_ALIAS_MAXIMUM, 0) == 0
    r.send(publish5("alo/t", b"x", props=_alias(1)))
    r.expect_disconnect(RC_TOPIC_ALIAS_INVALID, mosq_silent=True)


def test_inbound_alias_unknown(broker):
    r = raw5(broker, "al-unknown")
    r.send(publish5("", b"x", props=_alias(4)))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)


def test_empty_topic_without_alias(broker):
    r = raw5(broker, "al-empty")
    r.send(publish5("", b"x", qos=1, pid=1))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)   # 3.3.2.1


def test_inbound_aliases_do_not_survive_reconnect(broker):
    r = raw5(broker, "al-recon", clean=False, props=[(0x11, 60)])
    r.publish("alx/t", b"x", props=_alias(1))
    r.disconnect()
    r = raw5(broker, "al-recon", clean=False, props=[(0x11, 60)])
    r.send(publish5("", b"x", props=_alias(1)))
    r.expect_disconnect(RC_PROTOCOL_ERROR, mosq_silent=True)


def test_inbound_aliases_are_per_connection(broker):
    a = raw5(broker, "al-conn-a")
    b = raw5(broker, "al-conn-b")
    sub = raw5(broker, "al-conn-sub")
    sub.subscribe([("alp/#", 0)])
    a.publish("alp/a", b"a1", props=_alias(1))
    b.publish("alp/b", b"b1", props=_alias(1))
    a.publish("", b"a2", props=_alias(1))
    b.publish("", b"b2", props=_alias(1))
    got = {(p.topic, p.payload) for p in (sub.get() for _ in range(4))}
    assert got == {("alp/a", b"a1"), ("alp/b", b"b1"), ("alp/a", b"a2"),
                   ("alp/b", b"b2")}


def test_outbound_aliases_within_client_maximum(broker):
    """The subscriber allows 2 aliases; messages on 5 topics in a
    changing order all resolve to the right topic, whichever aliases the
    broker chooses to use (Raw5 checks every one)."""
    sub = raw5(broker, "al-out", props=[(TOPIC_ALIAS_MAXIMUM, 2)])
    sub.subscribe([("alo5/#", 1)])
    pub = raw5(broker, "al-out-pub")
    order = [0, 1, 0, 1, 2, 3, 4, 0, 0, 4, 3, 2, 1, 1, 1, 0, 4]
    want = []
    for i, t in enumerate(order):
        topic = "alo5/topic-%d" % t
        pub.publish(topic, b"%d" % i, qos=i % 3, pid=i + 1)
        want.append((topic, b"%d" % i))
    got = [sub.get() for _ in order]
    assert [(p.topic, p.payload) for p in got] == want
    used = {p.alias for p in got if p.alias is not None}
    assert used <= {1, 2}


def test_outbound_no_alias_when_client_allows_none(broker):
    for props in ([], [(TOPIC_ALIAS_MAXIMUM, 0)]):
        sub = raw5(broker, "al-none", props=props)
        sub.subscribe([("aln/#", 0)])
        pub = raw5(broker, "al-none-pub")
        for i in range(5):
            pub.publish("aln/t", b"%d" % i)
        for i in range(5):
            p = sub.get()
            assert p.alias is None and p.wire_topic == "aln/t"   # 3.1.2-26
        sub.disconnect()
        pub.disconnect()
