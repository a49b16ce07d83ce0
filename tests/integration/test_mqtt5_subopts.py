"""MQTT 5.0 subscription options (3.8.3.1) and subscription identifiers
(3.8.2.1.2, 3.3.4): No Local, Retain As Published, Retain Handling."""
from mqtt5raw import (PUBLISH, SUBSCRIPTION_ID, broker,
                      make_broker, paho5, raw5, skip_on_mosquitto,
                      sub_opts)  # noqa: F401


def _sid(i):
    return [(SUBSCRIPTION_ID, i)]


def _publishes(pkts):
    return [p for p in pkts if p.type == PUBLISH]


# ---------------------------------------------------------------- No Local

def test_no_local(broker):
    me = raw5(broker, "so-nl")
    me.subscribe([("nl/t", sub_opts(1, nl=True))])
    other = raw5(broker, "so-nl-other")
    other.subscribe([("nl/t", 1)])
    me.publish("nl/t", b"mine", qos=1)
    assert other.get().payload == b"mine"
    other.publish("nl/t", b"theirs", qos=1)
    assert me.get().payload == b"theirs"      # MQTT-3.8.3-3: not "mine"
    assert other.get().payload == b"theirs"


def test_without_no_local_own_messages_arrive(broker):
    me = raw5(broker, "so-nl0")
    me.subscribe([("nl0/t", 1)])
    me.publish("nl0/t", b"mine", qos=1)
    assert me.get().payload == b"mine"


def test_no_local_with_overlapping_local_subscription(broker):
    """No Local applies per subscription: a second, overlapping
    subscription without it still delivers the client's own message."""
    me = raw5(broker, "so-nl-ov")
    me.subscribe([("nlo/t", sub_opts(1, nl=True)), ("nlo/#", 1)])
    me.publish("nlo/t", b"mine", qos=1)
    assert me.get().payload == b"mine"
    assert _publishes(me.ping()) == []


def test_no_local_paho(broker):
    me = paho5(broker, "so-nl-paho")
    assert me.subscribe("nlp/t", 1, nl=True) == [1]
    other = paho5(broker, "so-nl-paho-other")
    me.publish("nlp/t", b"mine", 1)
    other.publish("nlp/t", b"theirs", 1)
    m = me.get()
    assert m.payload == b"theirs"


# ------------------------------------------------------ Retain As Published

def test_retain_as_published_live(broker):
    rap = raw5(broker, "so-rap1")
    rap.subscribe([("rap/t", sub_opts(1, rap=True))])
    plain = raw5(broker, "so-rap0")
    plain.subscribe([("rap/t", sub_opts(1, rap=False))])
    pub = raw5(broker, "so-rap-pub")
    pub.publish("rap/t", b"r", qos=1, retain=True)
    pub.publish("rap/t", b"n", qos=1, retain=False, pid=2)
    assert [(p.payload, p.retain) for p in (rap.get(), rap.get())] == \
        [(b"r", 1), (b"n", 0)]                       # MQTT-3.3.1-13
    assert [(p.payload, p.retain) for p in (plain.get(), plain.get())] == \
        [(b"r", 0), (b"n", 0)]                       # MQTT-3.3.1-12
    pub.publish("rap/t", b"", qos=1, retain=True, pid=3)   # clean up


def test_retained_on_subscribe_always_has_retain_flag(broker):
    pub = raw5(broker, "so-rs-pub")
    pub.publish("rs/t", b"kept", qos=1, retain=True)
    for rap in (False, True):
        sub = raw5(broker, "so-rs-%d" % rap)
        sub.subscribe([("rs/t", sub_opts(1, rap=rap))])
        p = sub.get()
        assert (p.payload, p.retain) == (b"kept", 1)      # MQTT-3.3.1-9
        sub.disconnect()


# --------------------------------------------------------- Retain Handling

def _retained(b, topic, payload=b"kept"):
    pub = raw5(b, "so-rh-pub")
    pub.publish(topic, payload, qos=1, retain=True)
    pub.disconnect()


def _marker(b, topic):
    pub = raw5(b, "so-rh-marker")
    pub.publish(topic, b"marker", qos=1)
    pub.disconnect()


def test_retain_handling_0_every_subscribe(broker):
    _retained(broker, "rh0/t")
    sub = raw5(broker, "so-rh0")
    sub.subscribe([("rh0/t", sub_opts(1, rh=0))])
    assert sub.get().payload == b"kept"
    sub.subscribe([("rh0/t", sub_opts(1, rh=0))], pid=2)  # existing one
    assert sub.get().payload == b"kept"                   # MQTT-3.3.1-9


def test_retain_handling_1_only_new_subscription(broker):
    _retained(broker, "rh1/t")
    sub = raw5(broker, "so-rh1")
    sub.subscribe([("rh1/t", sub_opts(1, rh=1))])
    assert sub.get().payload == b"kept"
    sub.subscribe([("rh1/t", sub_opts(1, rh=1))], pid=2)
    _marker(broker, "rh1/t")
    p = sub.get()
    assert (p.payload, p.retain) == (b"marker", 0)        # MQTT-3.3.1-10


def test_retain_handling_1_after_unsubscribe_is_new(broker):
    _retained(broker, "rh1u/t")
    sub = raw5(broker, "so-rh1u")
    sub.subscribe([("rh1u/t", sub_opts(1, rh=1))])
    assert sub.get().payload == b"kept"
    sub.unsubscribe("rh1u/t")
    sub.subscribe([("rh1u/t", sub_opts(1, rh=1))], pid=2)
    assert sub.get().payload == b"kept"


def test_retain_handling_2_never(broker):
    _retained(broker, "rh2/t")
    sub = raw5(broker, "so-rh2")
    sub.subscribe([("rh2/t", sub_opts(1, rh=2))])
    _marker(broker, "rh2/t")
    p = sub.get()
    assert (p.payload, p.retain) == (b"marker", 0)        # MQTT-3.3.1-11


def test_retain_handling_paho(broker):
    _retained(broker, "rhp/t")
    sub = paho5(broker, "so-rhp")
    sub.subscribe("rhp/t", 1, rh=2)
    _marker(broker, "rhp/t")
    assert sub.get().payload == b"marker"


# ---------------------------------------------------- Subscription Ids

def test_subscription_identifier_delivered(broker):
    sub = raw5(broker, "so-sid")
    sub.subscribe([("sid/a", 1)], props=_sid(5))
    sub.subscribe([("sid/b", 1)], pid=2)
    sub.subscribe([("sid/c", 1)], pid=3, props=_sid(268435455))
    pub = raw5(broker, "so-sid-pub")
    for i, t in enumerate(("sid/a", "sid/b", "sid/c")):
        pub.publish(t, b"x", qos=1, pid=i + 1)
    a, b, c = sub.get(), sub.get(), sub.get()
    assert a.props.all(SUBSCRIPTION_ID) == [5]
    assert b.props.all(SUBSCRIPTION_ID) == []
    assert c.props.all(SUBSCRIPTION_ID) == [268435455]   # largest varint


def test_subscription_identifier_on_retained(broker):
    _retained(broker, "sidr/t")
    sub = raw5(broker, "so-sidr")
    sub.subscribe([("sidr/+", 1)], props=_sid(77))
    p = sub.get()
    assert p.retain and p.props.all(SUBSCRIPTION_ID) == [77]


def test_subscription_identifier_replaced_on_resubscribe(broker):
    sub = raw5(broker, "so-sidx")
    sub.subscribe([("sidx/t", 1)], props=_sid(1))
    sub.subscribe([("sidx/t", 1)], pid=2, props=_sid(2))
    pub = raw5(broker, "so-sidx-pub")
    pub.publish("sidx/t", b"1", qos=1)
    assert sub.get().props.all(SUBSCRIPTION_ID) == [2]
    sub.subscribe([("sidx/t", 1)], pid=3)          # no identifier now
    pub.publish("sidx/t", b"2", qos=1, pid=2)
    assert sub.get().props.all(SUBSCRIPTION_ID) == []


def test_subscription_identifier_kept_in_session(broker):
    props = [(0x11, 60)]
    sub = raw5(broker, "so-sids", clean=False, props=props)
    sub.subscribe([("sids/t", 1)], props=_sid(9))
    sub.disconnect()
    pub = raw5(broker, "so-sids-pub")
    pub.publish("sids/t", b"queued", qos=1)
    sub = raw5(broker, "so-sids", clean=False, props=props)
    assert sub.get().props.all(SUBSCRIPTION_ID) == [9]
    pub.publish("sids/t", b"live", qos=1, pid=2)
    assert sub.get().props.all(SUBSCRIPTION_ID) == [9]


def _overlap(b, name):
    sub = raw5(b, name)
    sub.subscribe([("ov/+", 1)], props=_sid(1))
    sub.subscribe([("ov/#", 2)], pid=2, props=_sid(2))
    sub.subscribe([("ov/t", 0)], pid=3)                   # no identifier
    pub = raw5(b, name + "-pub")
    pub.publish("ov/t", b"once", qos=2)
    pub.publish("ov/marker-not-matching/x", b"m", qos=1, pid=2)
    got = []
    while True:
        p = sub.get()
        if p.payload == b"m":
            break
        got.append(p)
    return got


def test_overlapping_subscriptions_identifiers(broker):
    """MQTT-3.3.4-3..5: one copy carrying every matching identifier, or
    one copy per subscription each with its own identifier."""
    got = _overlap(broker, "so-ov-any")
    ids = sorted(i for p in got for i in p.props.all(SUBSCRIPTION_ID))
    assert ids == [1, 2]
    if len(got) > 1:
        assert all(len(p.props.all(SUBSCRIPTION_ID)) <= 1 for p in got)


def test_overlapping_subscriptions_one_copy(broker):
    """Junction's choice (README): one copy at the highest QoS with all
    the identifiers (3.3.4-4)."""
    skip_on_mosquitto("sends one copy per matching subscription "
                      "(allowed by MQTT-3.3.4-5)")
    got = _overlap(broker, "so-ov-one")
    assert len(got) == 1, got
    assert got[0].qos == 2
    assert sorted(got[0].props.all(SUBSCRIPTION_ID)) == [1, 2]


def test_subscription_identifier_paho(broker):
    sub = paho5(broker, "so-sid-paho")
    props = sub.properties("SUBSCRIBE", SubscriptionIdentifier=42)
    sub.subscribe("sidp/t", 1, props=props)
    sub.publish("sidp/t", b"x", 1)
    m = sub.get()
    assert m.properties.SubscriptionIdentifier == [42]


