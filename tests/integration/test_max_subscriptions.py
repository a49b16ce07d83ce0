"""max_subscriptions bounds what one client can make the broker hold:
past it a new filter is refused (SUBACK 0x80 for 3.x, 0x97 quota
exceeded for 5.0, ERROR for STOMP), replacing an existing one is not,
and the client keeps working."""
from mqttraw import raw
from mqtt5raw import raw5


def test_mqtt_311_and_5_refuse_past_the_cap(make_broker):
    b = make_broker("max_subscriptions 2\n")
    c = raw(b, "cap311")
    assert c.subscribe([("a", 1), ("b", 1), ("c", 1)]) == [1, 1, 0x80]
    assert c.subscribe([("a", 0)]) == [0]  # a replacement is fine
    c.assert_open()
    v5 = raw5(b, "cap5")
    assert v5.subscribe([("x", 1), ("$queue/q", 1)]) == [1, 1]
    assert v5.subscribe([("y", 1)]) == [0x97]
    assert v5.unsubscribe("x") == [0]
    assert v5.subscribe([("y", 1)]) == [1]  # room again


def test_stomp_refuses_past_the_cap(make_broker):
    from stompraw import start, raw_connected
    b = start(make_broker, "max_subscriptions 1\n")
    s = raw_connected(b)
    s.subscribe("/topic/one", sid="1")
    s.send_frame("SUBSCRIBE", [("id", "2"), ("destination", "/topic/two")])
    s.expect_error("too many subscriptions")
