"""Bad STOMP input: each case gets an ERROR frame with a message header
(and receipt-id when the bad frame asked for a receipt), then the close;
a bystander connection subscribed meanwhile keeps working. Heart-beats:
negotiated both ways, silence beyond the grace closes, 0,0 never does."""
import pytest

from stompraw import Raw, make_broker, raw_connected, start  # noqa: F401

LIMITS = ("message_size_limit 1000\nstomp_max_headers 8\n"
          "stomp_max_header_length 128\nstomp_max_transaction_frames 3\n"
          "connect_timeout 1\nstomp_heartbeat 1000\n")


@pytest.fixture
def b(make_broker):
    return start(make_broker, LIMITS)


def _bystander_ok(b, bystander):
    p = raw_connected(b)
    p.send_frame("SEND", [("destination", "/topic/by"), ("receipt", "p")],
                 "still here")
    p.expect_receipt("p")
    assert bystander.expect("MESSAGE").body == b"still here"


CONNECTED_CASES = [
    ("unknown command", b"FROB\n\n\0", "unknown command"),
    ("missing destination", b"SEND\nreceipt:r9\n\nx\0",
     "missing destination header"),
    ("missing id", b"SUBSCRIBE\ndestination:/topic/x\n\n\0",
     "missing id header"),
    ("bad destination", b"SEND\ndestination:/elsewhere\n\nx\0",
     "destination must start with /topic/ or /queue/"),
    ("wildcard in send", b"SEND\ndestination:/topic/a.#\n\nx\0",
     "wildcards are not allowed here"),
    ("bad wildcard", b"SUBSCRIBE\nid:1\ndestination:/topic/a.b*\n\n\0",
     "wildcard must be a whole level, '#' and '>' last"),
    ("too many headers",
     b"SEND\ndestination:/topic/x\n" + b"".join(
         b"h%d:v\n" % i for i in range(9)) + b"\nx\0", "too many headers"),
    ("header too long", b"SEND\ndestination:/topic/x\nh:" + b"v" * 200 +
     b"\n\nx\0", "header line too long"),
    ("body too large", b"SEND\ndestination:/topic/x\n\n" + b"x" * 1001 +
     b"\0", "body too large"),
    ("content-length too large", b"SEND\ndestination:/topic/x\n"
     b"content-length:5000\n\n", "body too large"),
    ("bad content-length", b"SEND\ndestination:/topic/x\n"
     b"content-length:ten\n\nx\0", "bad content-length"),
    ("bad escape", b"SEND\ndestination:/topic/x\nk:a\\tb\n\nx\0",
     "undefined escape sequence in header"),
    ("no colon", b"SEND\ndestination:/topic/x\nnocolon\n\nx\0",
     "malformed header line"),
    ("body on subscribe",
     b"SUBSCRIBE\nid:1\ndestination:/topic/x\n\nbody\0",
     "this frame must not have a body"),
    ("bad ack mode", b"SUBSCRIBE\nid:1\ndestination:/topic/x\nack:maybe"
     b"\n\n\0", "bad ack or prefetch-count header"),
    ("duplicate id", b"SUBSCRIBE\nid:dup\ndestination:/topic/x\n\n\0"
     b"SUBSCRIBE\nid:dup\ndestination:/topic/y\n\n\0",
     "subscription id already in use"),
    ("unknown subscription", b"UNSUBSCRIBE\nid:none\n\n\0",
     "no such subscription"),
    ("unknown transaction", b"COMMIT\ntransaction:none\n\n\0",
     "unknown transaction"),
    ("transaction too large", b"BEGIN\ntransaction:t\n\n\0" + b"".join(
        b"SEND\ndestination:/topic/x\ntransaction:t\n\nx\0"
        for _ in range(3)), "too many frames in open transactions"),
    ("second CONNECT", b"CONNECT\naccept-version:1.2\n\n\0",
     "unexpected frame"),
    ("server frame", b"MESSAGE\ndestination:/topic/x\n\n\0",
     "unexpected frame"),
    ("topic naming a queue", b"SEND\ndestination:/topic/$queue.x\n\nx\0",
     "use /queue/NAME to reach a queue"),
    ("bad utf-8", b"SEND\ndestination:/topic/x\nk:\xff\n\nx\0",
     "header is not valid UTF-8 or contains NUL"),
]


@pytest.mark.parametrize("bad,message",
                         [(c[1], c[2]) for c in CONNECTED_CASES],
                         ids=[c[0] for c in CONNECTED_CASES])
def test_error_then_close_bystander_unaffected(b, bad, message):
    by = raw_connected(b)
    by.subscribe("/topic/by", "s")
    r = raw_connected(b)
    r.send(bad)
    f = r.expect_error(message)
    assert f.headers["content-type"] == "text/plain"
    _bystander_ok(b, by)


def test_error_carries_receipt_id(b):
    r = raw_connected(b)
    r.send(b"SEND\nreceipt:r9\n\nx\0")
    r.expect_error("missing destination header", receipt="r9")


@pytest.mark.parametrize("bad,message", [
    (b"SEND\ndestination:/topic/x\n\n\0", "expected a CONNECT or STOMP frame"),
    (b"GARBAGE\n\n\0", "unknown command"),
    (b"CONNECT\naccept-version:1.2\nheart-beat:x\n\n\0",
     "bad heart-beat header"),
], ids=["send-first", "garbage", "bad-heart-beat"])
def test_before_connect(b, bad, message):
    by = raw_connected(b)
    by.subscribe("/topic/by", "s")
    r = Raw(b)
    r.send(bad)
    r.expect_error(message)
    _bystander_ok(b, by)


def test_connect_timeout(b):
    r = Raw(b)
    r.expect_error("no CONNECT frame in time")


# ------------------------------------------------------------ heart-beats

def test_heart_beat_negotiation(b):
    r = Raw(b)
    f = r.connect("1.2", "5000,2000")
    assert f.headers["heart-beat"] == "1000,1000"


def test_silent_client_is_closed_and_zero_never(b):
    quiet = raw_connected(b, "1.2", "0,0")
    quiet.subscribe("/topic/hb", "s")
    silent = raw_connected(b, "1.2", "1000,0")  # promised, then silent
    silent.expect_error("heart-beat timeout")
    # Longer than the silent client's grace: the 0,0 client is still served.
    p = raw_connected(b)
    p.send_frame("SEND", [("destination", "/topic/hb")], "alive")
    assert quiet.expect("MESSAGE").body == b"alive"


def test_client_heart_beats_keep_it_open(b):
    r = raw_connected(b, "1.2", "1000,1000")
    for _ in range(3):
        r.expect_heartbeat()  # the server sends ours every second
        r.send(b"\n")  # and we send ours
    r.sync()


def test_server_sends_heart_beats(b):
    r = raw_connected(b, "1.2", "0,1000")
    r.expect_heartbeat(timeout=3)
    r.expect_heartbeat(timeout=3)
    r.sync()
