"""Queues over MQTT ($queue/NAME): competing consumers, messages waiting
for a consumer, redelivery after a negative ack or a lost connection,
dead-lettering to NAME.dlq, all against the real broker."""
from mqttraw import PUBLISH
from mqtt5raw import raw5


def test_messages_wait_then_go_to_one_consumer(make_broker):
    b = make_broker()
    pub = raw5(b, "q-pub")
    for i in range(4):
        pub.publish("$queue/jobs", b"job%d" % i, qos=1, pid=i + 1)
    w = raw5(b, "q-w")
    assert w.subscribe([("$queue/jobs", 1)]) == [1]
    got = [w.get().payload for _ in range(4)]
    assert got == [b"job0", b"job1", b"job2", b"job3"]
    assert w.ping() == []  # nothing more: each message went once


def test_competing_consumers_split_the_work(make_broker):
    b = make_broker()
    a, c = raw5(b, "q-a"), raw5(b, "q-c")
    assert a.subscribe([("$queue/work", 1)]) == [1]
    assert c.subscribe([("$queue/work", 1)]) == [1]
    pub = raw5(b, "q-pub2")
    for i in range(10):
        pub.publish("$queue/work", b"%d" % i, qos=1, pid=i + 1)
    got_a = [p.payload for p in a.ping() if p.type == PUBLISH]
    got_c = [p.payload for p in c.ping() if p.type == PUBLISH]
    assert len(got_a) == 5 and len(got_c) == 5
    assert sorted(got_a + got_c, key=int) == [b"%d" % i for i in range(10)]


def test_negative_ack_redelivers_then_dead_letters(make_broker):
    b = make_broker("max_redeliveries 2\n")
    w = raw5(b, "q-nack")
    assert w.subscribe([("$queue/poison", 1)]) == [1]
    pub = raw5(b, "q-pub3")
    pub.publish("$queue/poison", b"bad", qos=1)
    first = w.get(ack=False)
    assert not first.dup
    w.ack(first, rc=0x80)
    again = w.get(ack=False)
    assert again.payload == b"bad" and again.dup
    assert ("x-delivery-count", "2") in again.props.user()
    w.ack(again, rc=0x80)  # second failure: dead-lettered
    assert w.ping() == []
    d = raw5(b, "q-dlq")
    assert d.subscribe([("$queue/poison.dlq", 1)]) == [1]
    p = d.get()
    assert p.payload == b"bad"
    assert p.topic == "$queue/poison.dlq"
    user = p.props.user()
    assert ("x-dlq-queue", "poison") in user
    assert ("x-dlq-reason", "negative acknowledgement") in user


def test_lost_consumer_hands_message_to_another(make_broker):
    b = make_broker()
    a = raw5(b, "q-lost-a")
    assert a.subscribe([("$queue/h", 1)]) == [1]
    pub = raw5(b, "q-pub4")
    pub.publish("$queue/h", b"precious", qos=1)
    assert a.get(ack=False).payload == b"precious"
    c = raw5(b, "q-lost-c")
    assert c.subscribe([("$queue/h", 1)]) == [1]
    a.close()  # unacked, connection lost
    p = c.get()
    assert p.payload == b"precious" and p.dup


def test_queue_publish_is_not_a_topic(make_broker):
    b = make_broker()
    t = raw5(b, "q-topic")
    assert t.subscribe([("$queue/#", 1), ("#", 1)]) == [1, 1]
    pub = raw5(b, "q-pub5")
    pub.publish("$queue/only", b"x", qos=1)
    assert t.ping() == []  # queues bypass topic subscribers
