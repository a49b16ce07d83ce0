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


def test_overflow_reject_refuses_without_losing_acked(make_broker):
    """queue NAME overflow=reject: a full queue refuses, it never acks
    and drops. 5.0 gets PUBACK 0x97; a 3.1.1 publisher is disconnected
    without an ack; what was acknowledged is all there."""
    from mqttraw import raw, PUBACK as PUBACK3, publish_pkt
    b = make_broker("queue full max_messages=2 overflow=reject\n")
    pub = raw5(b, "rej-pub")
    assert pub.publish("$queue/full", b"1", qos=1, pid=1).rc == 0
    assert pub.publish("$queue/full", b"2", qos=1, pid=2).rc == 0
    assert pub.publish("$queue/full", b"3", qos=1, pid=3).rc == 0x97
    old = raw(b, "rej-311")
    old.send(publish_pkt("$queue/full", b"4", qos=1, pid=9))
    assert all(p.type != PUBACK3 for p in old.wait_closed())
    w = raw5(b, "rej-w")
    assert w.subscribe([("$queue/full", 1)]) == [1]
    assert [w.get().payload for _ in range(2)] == [b"1", b"2"]
    assert w.ping() == []


def test_overflow_reject_stomp_gets_error(make_broker):
    from stompraw import start, raw_connected
    b = start(make_broker, "queue sfull max_messages=1 overflow=reject\n")
    s = raw_connected(b)
    s.send_frame("SEND", [("destination", "/queue/sfull"),
                          ("receipt", "r1")], b"one")
    s.expect_receipt("r1")
    s.send_frame("SEND", [("destination", "/queue/sfull"),
                          ("receipt", "r2")], b"two")
    f = s.expect_error("queue is full")
    assert "receipt-id" not in f.headers or f.headers["receipt-id"] == "r2"


def test_overflow_drop_oldest_keeps_newest(make_broker):
    b = make_broker("queue_overflow drop_oldest\nmax_queued_messages 2\n")
    pub = raw5(b, "do-pub")
    for i in range(4):
        assert pub.publish("$queue/d", b"%d" % i, qos=1, pid=i + 1).rc == 0
    w = raw5(b, "do-w")
    assert w.subscribe([("$queue/d", 1)]) == [1]
    assert [w.get().payload for _ in range(2)] == [b"2", b"3"]
    assert w.ping() == []


def test_queue_prefetch_default_for_stomp(make_broker):
    """queue_prefetch bounds a STOMP queue subscription without its own
    prefetch-count: with 1, a client-individual consumer holds one
    unacknowledged message at a time."""
    from stompraw import start, raw_connected
    b = start(make_broker, "queue_prefetch 1\n")
    pub = raw5(b, "pf-pub")
    for i in range(3):
        pub.publish("$queue/pf", b"%d" % i, qos=1, pid=i + 1)
    s = raw_connected(b)
    s.subscribe("/queue/pf", ack="client-individual")
    first = s.expect("MESSAGE")
    s.sync("before-ack")  # the broker had its chance to send more
    s.send_frame("ACK", [("id", first.headers["ack"])])
    second = s.expect("MESSAGE")
    assert (first.body, second.body) == (b"0", b"1")
