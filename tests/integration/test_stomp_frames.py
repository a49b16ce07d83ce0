"""STOMP 1.0 / 1.1 / 1.2 against the real binary: version negotiation,
every client frame, receipts, acknowledgements and transactions, with raw
sockets for exact frames and python3-stomp for a real client library."""
import pytest

from stompraw import (Raw, make_broker, raw_connected, start,  # noqa: F401
                      stomp_client, stomp_send_sync, stomp_subscribe)


@pytest.fixture
def b(make_broker):
    return start(make_broker)


# ----------------------------------------------------------- CONNECT

@pytest.mark.parametrize("accept,want", [
    (None, "1.0"), ("1.0", "1.0"), ("1.1", "1.1"), ("1.2", "1.2"),
    ("1.0,1.1", "1.1"), ("1.1,1.2,2.0", "1.2"), ("2.0,1.0", "1.0")])
def test_version_negotiation(b, accept, want):
    r = Raw(b)
    headers = [("host", "h")] + ([("accept-version", accept)] if accept
                                 else [])
    r.send_frame("CONNECT", headers)
    f = r.expect("CONNECTED")
    assert f.headers["version"] == want
    assert f.headers["server"].startswith("junction")
    assert f.headers["session"]
    assert ("heart-beat" in f.headers) == (want != "1.0")


def test_no_common_version(b):
    r = Raw(b)
    r.send_frame("CONNECT", [("accept-version", "2.0,3.0"), ("host", "h")])
    f = r.expect_error()
    assert f.headers["version"] == "1.0,1.1,1.2"


def test_stomp_command_connects(b):
    r = Raw(b)
    f = r.connect("1.2", cmd="STOMP")
    assert f.headers["version"] == "1.2"


def test_login_ignored_when_anonymous(b):
    r = Raw(b)
    r.connect("1.2", extra=[("login", "who"), ("passcode", "ever")])


def test_anonymous_refused(make_broker):
    b = make_broker(conf="listener 0 127.0.0.1\nprotocol stomp\n"
                         "allow_anonymous false\n")
    r = Raw(b)
    r.send_frame("CONNECT", [("accept-version", "1.2"), ("host", "h"),
                             ("login", "u"), ("passcode", "p")])
    r.expect_error("access refused")


# ------------------------------------------------------- python3-stomp

@pytest.mark.parametrize("version", [10, 11, 12])
def test_library_pub_sub(b, version):
    sub = stomp_client(b, version)
    pub = stomp_client(b, version)
    stomp_subscribe(sub, "/topic/lib.%d" % version, sid="a")
    pub.send("/topic/lib.%d" % version, "hi %d" % version,
             headers={"x-app": "yes"})
    m = sub.lsn.get()
    assert m.body == "hi %d" % version
    assert m.headers["destination"] == "/topic/lib.%d" % version
    assert m.headers["x-app"] == "yes"
    assert m.headers["subscription"] == "a"
    pub.disconnect()
    sub.disconnect()


def test_library_client_ack_and_nack_queue(b):
    c = stomp_client(b, 12)
    stomp_send_sync(c, "/queue/lib", "job")
    stomp_subscribe(c, "/queue/lib", sid="q", ack="client-individual")
    m = c.lsn.get()
    assert "redelivered" not in m.headers
    c.nack(m.headers["ack"])
    m = c.lsn.get()
    assert m.headers["redelivered"] == "true"
    assert m.headers["x-delivery-count"] == "2"
    c.ack(m.headers["ack"], receipt="acked")
    c.lsn.receipt("acked")
    c.disconnect()


def test_library_transaction(b):
    sub = stomp_client(b)
    pub = stomp_client(b)
    stomp_subscribe(sub, "/topic/tx")
    tx = pub.begin()
    pub.send("/topic/tx", "in tx", transaction=tx)
    pub.send("/topic/tx", "not in tx", headers={"receipt": "r"})
    pub.lsn.receipt("r")
    assert sub.lsn.get().body == "not in tx"
    pub.commit(tx)
    assert sub.lsn.get().body == "in tx"
    tx = pub.begin()
    pub.send("/topic/tx", "aborted", transaction=tx)
    pub.abort(tx)
    stomp_send_sync(pub, "/topic/tx", "after abort")
    assert sub.lsn.get().body == "after abort"


# ------------------------------------------------------ every frame, raw

def test_send_message_exact_headers(b):
    sub = raw_connected(b)
    sub.subscribe("/topic/a.*.c", "s-1", "client")
    pub = raw_connected(b)
    pub.send_frame("SEND", [("destination", "/topic/a.b.c"),
                            ("content-type", "text/plain"),
                            ("x:odd", "line\nbreak"), ("receipt", "r1")],
                   "body\0with nul")
    pub.expect_receipt("r1")
    m = sub.expect("MESSAGE")
    assert m.headers["subscription"] == "s-1"
    assert m.headers["destination"] == "/topic/a.b.c"
    assert m.headers["content-type"] == "text/plain"
    assert m.headers["content-length"] == str(len(b"body\0with nul"))
    assert m.headers["x:odd"] == "line\nbreak"  # escaped both ways
    assert m.headers["ack"] == m.headers["message-id"]
    assert m.body == b"body\0with nul"


def test_one_message_per_delivery_first_subscription(b):
    sub = raw_connected(b)
    sub.subscribe("/topic/o.#", "first")
    sub.subscribe("/topic/o.*", "second")
    pub = raw_connected(b)
    pub.send_frame("SEND", [("destination", "/topic/o.x"),
                            ("receipt", "r")], "once")
    pub.expect_receipt("r")
    m = sub.expect("MESSAGE")
    assert m.headers["subscription"] == "first"
    sub.sync()
    sub.expect_nothing()


def test_unsubscribe(b):
    r = raw_connected(b)
    r.subscribe("/topic/u", "s")
    r.send_frame("UNSUBSCRIBE", [("id", "s"), ("receipt", "u")])
    r.expect_receipt("u")
    r.send_frame("SEND", [("destination", "/topic/u"), ("receipt", "x")], "")
    r.expect_receipt("x")
    r.expect_nothing()


def test_unsubscribe_by_destination_10(b):
    r = raw_connected(b, "1.0", None)
    r.send_frame("SUBSCRIBE", [("destination", "/topic/u10"),
                               ("receipt", "s")])
    r.expect_receipt("s")
    r.send_frame("SEND", [("destination", "/topic/u10")], "one")
    assert r.expect("MESSAGE").body == b"one"
    r.send_frame("UNSUBSCRIBE", [("destination", "/topic/u10"),
                                 ("receipt", "u")])
    r.expect_receipt("u")


def test_ack_11_and_cumulative_client(b):
    r = raw_connected(b, "1.1")
    r.subscribe("/topic/c", "s", "client")
    for i in range(3):
        r.send_frame("SEND", [("destination", "/topic/c")], str(i))
    ms = [r.expect("MESSAGE") for _ in range(3)]
    assert "ack" not in ms[2].headers  # 1.1 acks by message-id
    r.send_frame("ACK", [("subscription", "s"),
                         ("message-id", ms[2].headers["message-id"]),
                         ("receipt", "a")])
    r.expect_receipt("a")


def test_nack_topic_discards(b):
    r = raw_connected(b)
    r.subscribe("/topic/n", "s", "client-individual")
    r.send_frame("SEND", [("destination", "/topic/n")], "x")
    m = r.expect("MESSAGE")
    r.send_frame("NACK", [("id", m.headers["ack"]), ("receipt", "n")])
    r.expect_receipt("n")
    r.expect_nothing()


def test_transaction_covers_ack(b):
    r = raw_connected(b)
    r.send_frame("SEND", [("destination", "/queue/txack")], "job")
    r.subscribe("/queue/txack", "q", "client-individual")
    m = r.expect("MESSAGE")
    r.send_frame("BEGIN", [("transaction", "t")])
    r.send_frame("ACK", [("id", m.headers["ack"]), ("transaction", "t")])
    r.send_frame("ABORT", [("transaction", "t"), ("receipt", "ab")])
    r.expect_receipt("ab")
    r.close()  # the aborted ACK never happened: the job comes back
    r2 = raw_connected(b)
    r2.subscribe("/queue/txack", "q", "client-individual")
    m = r2.expect("MESSAGE")
    assert m.body == b"job" and m.headers["redelivered"] == "true"
    r2.send_frame("BEGIN", [("transaction", "t")])
    r2.send_frame("ACK", [("id", m.headers["ack"]), ("transaction", "t")])
    r2.send_frame("COMMIT", [("transaction", "t"), ("receipt", "c")])
    r2.expect_receipt("c")
    r2.close()
    r3 = raw_connected(b)
    r3.subscribe("/queue/txack", "q", "client-individual")
    r3.sync()
    r3.expect_nothing()


def test_disconnect_receipt_then_close(b):
    r = raw_connected(b)
    r.send_frame("DISCONNECT", [("receipt", "bye")])
    r.expect_receipt("bye")
    r.expect_closed()


def test_disconnect_without_receipt(b):
    r = raw_connected(b)
    r.send_frame("DISCONNECT")
    r.expect_closed()


def test_expires_in_the_past_is_dropped(b):
    r = raw_connected(b)
    r.subscribe("/topic/exp", "s")
    r.send_frame("SEND", [("destination", "/topic/exp"), ("expires", "1"),
                          ("receipt", "e")], "old")
    r.expect_receipt("e")
    r.expect_nothing()
