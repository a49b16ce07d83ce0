"""Queues from STOMP: /queue/NAME is MQTT's $queue/NAME; competing
consumers round robin; prefetch-count bounds unacknowledged messages; a
NACK or a lost connection redelivers with redelivered:true and
x-delivery-count; max_redeliveries failures dead-letter to NAME.dlq."""
import pytest

from stompraw import Mqtt, make_broker, raw_connected, start  # noqa: F401


@pytest.fixture
def b(make_broker):
    return start(make_broker, "max_redeliveries 2\n")


def test_stomp_and_mqtt_share_a_queue(b):
    m = Mqtt(b, "q-pub")
    m.publish("$queue/shared", b"from mqtt")
    s = raw_connected(b)
    s.subscribe("/queue/shared", "q")
    f = s.expect("MESSAGE")
    assert f.body == b"from mqtt"
    assert f.headers["destination"] == "/queue/shared"
    c = Mqtt(b, "q-sub")
    s.send_frame("UNSUBSCRIBE", [("id", "q"), ("receipt", "u")])
    s.expect_receipt("u")
    c.subscribe("$queue/shared")
    s.send_frame("SEND", [("destination", "/queue/shared")], "from stomp")
    msg = c.get()
    assert msg.topic == "$queue/shared" and msg.payload == b"from stomp"
    m.stop()
    c.stop()


def test_round_robin(b):
    s1 = raw_connected(b)
    s1.subscribe("/queue/rr", "a")
    s2 = raw_connected(b)
    s2.subscribe("/queue/rr", "b")
    p = raw_connected(b)
    for i in range(4):
        p.send_frame("SEND", [("destination", "/queue/rr")], str(i))
    got1 = [s1.expect("MESSAGE").body for _ in range(2)]
    got2 = [s2.expect("MESSAGE").body for _ in range(2)]
    assert sorted(got1 + got2) == [b"0", b"1", b"2", b"3"]


def test_prefetch_count(b):
    s = raw_connected(b)
    s.subscribe("/queue/pf", "q", "client-individual",
                extra=[("prefetch-count", "1")])
    p = raw_connected(b)
    for i in range(2):
        p.send_frame("SEND", [("destination", "/queue/pf"),
                              ("receipt", "r%d" % i)], str(i))
        p.expect_receipt("r%d" % i)
    f = s.expect("MESSAGE")
    assert f.body == b"0"
    s.sync()
    s.expect_nothing()  # the second waits for the first's ACK
    s.send_frame("ACK", [("id", f.headers["ack"])])
    assert s.expect("MESSAGE").body == b"1"


def test_activemq_prefetch_size(b):
    s = raw_connected(b)
    s.subscribe("/queue/amq", "q", "client",
                extra=[("activemq.prefetchSize", "1")])
    p = raw_connected(b)
    for i in range(2):
        p.send_frame("SEND", [("destination", "/queue/amq")], str(i))
    s.expect("MESSAGE")
    s.sync()
    s.expect_nothing()


def test_nack_redelivers_then_dead_letters(b):
    s = raw_connected(b)
    s.send_frame("SEND", [("destination", "/queue/dl"),
                          ("x-app", "keep")], "poison")
    s.subscribe("/queue/dl", "q", "client-individual")
    f = s.expect("MESSAGE")
    assert "redelivered" not in f.headers
    s.send_frame("NACK", [("id", f.headers["ack"])])
    f = s.expect("MESSAGE")
    assert f.headers["redelivered"] == "true"
    assert f.headers["x-delivery-count"] == "2"
    s.send_frame("NACK", [("id", f.headers["ack"])])  # 2nd failure: DLQ
    s.subscribe("/queue/dl.dlq", "d", "client-individual")
    f = s.expect("MESSAGE")
    assert f.headers["destination"] == "/queue/dl.dlq"
    assert f.headers["x-dlq-queue"] == "dl"
    assert f.headers["x-app"] == "keep"
    assert f.body == b"poison"


def test_disconnect_returns_unacked(b):
    s = raw_connected(b)
    s.send_frame("SEND", [("destination", "/queue/back")], "job")
    s.subscribe("/queue/back", "q", "client")
    s.expect("MESSAGE")
    s.close()
    t = raw_connected(b)
    t.subscribe("/queue/back", "q", "client")
    f = t.expect("MESSAGE")
    assert f.body == b"job" and f.headers["redelivered"] == "true"


def test_store_full_is_an_error_not_a_receipt(make_broker, tmp_path):
    """persistence_max_bytes: a SEND whose queue entry the store refuses
    gets ERROR and a close, never the RECEIPT that would promise it was
    kept (as MQTT 3.x publishers are disconnected, 5.0 get 0x97)."""
    b = start(make_broker, "persistence true\npersistence_location %s\n"
              "persistence_max_bytes 20000\n" % (tmp_path / "store"))
    s = raw_connected(b)
    receipts = 0
    for i in range(200):
        s.send_frame("SEND", [("destination", "/queue/capped"),
                              ("receipt", "r%d" % i)], "x" * 200)
        f = s.recv()
        if f.cmd == "ERROR":
            break
        assert f.cmd == "RECEIPT" and f.headers["receipt-id"] == "r%d" % i
        receipts += 1
    assert f.cmd == "ERROR" and f.headers["message"] == "store full", f
    s.expect_closed()
    assert 0 < receipts < 100
    assert "store full" in b.drain_log()
