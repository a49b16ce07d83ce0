"""STOMP test helpers, shared by the test_stomp_* suites.

* Raw: STOMP over a plain socket, for exact frames and malformed input.
  Frames are parsed here (content-length bodies, heart-beat EOLs counted,
  1.1/1.2 header unescaping), so a test sees exactly what the broker sent.
* stomp_client(): a python3-stomp connection (1.0, 1.1 or 1.2) whose
  listener feeds queues; tests wait on those queues with timeouts, never
  on sleeps. Subscriptions are synchronised with receipts.
* Mqtt: a paho-mqtt 1.6 client (3.1.1 or 5.0) whose messages land in a
  queue, for the cross-protocol suites.
* start(): a broker with one MQTT and one STOMP listener.
"""
import queue
import socket
import threading
import time

import paho.mqtt.client as mqtt
import stomp
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import broker, make_broker  # noqa: F401

TIMEOUT = 5

BASE = ("listener 0 127.0.0.1\nprotocol mqtt\n"
        "listener 0 127.0.0.1\nprotocol stomp\nallow_anonymous true\n")


def start(make_broker, extra=""):
    """A broker serving MQTT and STOMP; extra config lines appended."""
    return make_broker(conf=BASE + extra, listeners=2)


# ------------------------------------------------------------------ raw

class Frame:
    def __init__(self, cmd, headers, body):
        self.cmd = cmd
        self.header_list = headers
        self.headers = {}
        for k, v in headers:
            self.headers.setdefault(k, v)  # 1.2: the first one wins
        self.body = body

    def __repr__(self):
        return "Frame(%s, %r, %r)" % (self.cmd, self.header_list, self.body)


def _unescape(s):
    out, i = [], 0
    table = {"n": "\n", "c": ":", "\\": "\\", "r": "\r"}
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append(table.get(s[i + 1], "?"))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _escape(s):
    return (s.replace("\\", "\\\\").replace("\n", "\\n")
            .replace(":", "\\c").replace("\r", "\\r"))


class Raw:
    """One STOMP connection over a plain socket."""

    def __init__(self, b):
        self.sock = socket.create_connection(("127.0.0.1", b.ports["stomp"]),
                                             timeout=TIMEOUT)
        self.buf = b""
        self.version = "1.0"
        self.heartbeats = 0  # EOLs received between frames

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def frame_bytes(self, cmd, headers=(), body=b"", escape=True):
        esc = escape and self.version != "1.0" and cmd not in (
            "CONNECT", "STOMP")
        lines = [cmd]
        for k, v in headers:
            lines.append("%s:%s" % ((_escape(k), _escape(v)) if esc
                                    else (k, v)))
        if isinstance(body, str):
            body = body.encode()
        if b"\0" in body:
            lines.append("content-length:%d" % len(body))
        return ("\n".join(lines) + "\n\n").encode() + body + b"\0"

    def send_frame(self, cmd, headers=(), body=b""):
        self.send(self.frame_bytes(cmd, headers, body))

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no frame; have %r" % self.buf)
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed; have %r" % self.buf)
        self.buf += chunk

    def _skip_eols(self):
        while True:
            if self.buf.startswith(b"\n"):
                self.buf = self.buf[1:]
            elif self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            else:
                return
            self.heartbeats += 1

    def _parse(self):
        """A whole frame from the buffer, or None."""
        self._skip_eols()
        end = self.buf.find(b"\n\n")
        if end < 0:
            return None
        head = self.buf[:end].decode().replace("\r\n", "\n").split("\n")
        cmd, headers = head[0], []
        esc = self.version != "1.0" and cmd != "CONNECTED"
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers.append((_unescape(k), _unescape(v)) if esc else (k, v))
        start = end + 2
        clen = dict(reversed(headers)).get("content-length")
        if clen is not None:
            stop = start + int(clen)
            if len(self.buf) < stop + 1:
                return None
            assert self.buf[stop:stop + 1] == b"\0", self.buf
        else:
            stop = self.buf.find(b"\0", start)
            if stop < 0:
                return None
        f = Frame(cmd, headers, self.buf[start:stop])
        self.buf = self.buf[stop + 1:]
        return f

    def recv(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            f = self._parse()
            if f is not None:
                return f
            self._fill(deadline)

    def expect(self, cmd, timeout=TIMEOUT):
        f = self.recv(timeout)
        assert f.cmd == cmd, f
        return f

    def expect_heartbeat(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        seen = self.heartbeats
        while True:
            self._skip_eols()
            if self.heartbeats > seen:
                return
            self._fill(deadline)

    def expect_closed(self, timeout=TIMEOUT):
        """Nothing but EOLs until the broker closes the connection."""
        deadline = time.monotonic() + timeout
        while True:
            self._skip_eols()
            assert self.buf == b"", self.buf
            try:
                self._fill(deadline)
            except ConnectionError:
                return
            except ConnectionResetError:
                return

    def expect_error(self, message=None, receipt=None):
        f = self.expect("ERROR")
        if message is not None:
            assert f.headers.get("message") == message, f
        if receipt is not None:
            assert f.headers.get("receipt-id") == receipt, f
        self.expect_closed()
        return f

    def expect_nothing(self, timeout=0.3):
        """No frame arrives within timeout (used only after a sync point
        proved the broker already handled what could produce one)."""
        try:
            f = self.recv(timeout)
        except TimeoutError:
            return
        raise AssertionError("unexpected %r" % f)

    def connect(self, version="1.2", hb="0,0", extra=(), cmd="CONNECT"):
        headers = [("accept-version", version), ("host", "localhost")]
        if hb is not None:
            headers.append(("heart-beat", hb))
        self.send_frame(cmd, headers + list(extra))
        f = self.expect("CONNECTED")
        self.version = f.headers.get("version", "1.0")
        return f

    def sync(self, rid="sync"):
        """A receipt round trip: everything sent before is handled."""
        self.send_frame("BEGIN", [("transaction", "tx-" + rid),
                                  ("receipt", rid)])
        self.expect_receipt(rid)
        self.send_frame("ABORT", [("transaction", "tx-" + rid)])

    def expect_receipt(self, rid):
        f = self.expect("RECEIPT")
        assert f.headers["receipt-id"] == rid, f
        return f

    def subscribe(self, dest, sid="s1", ack="auto", extra=()):
        self.send_frame("SUBSCRIBE", [("id", sid), ("destination", dest),
                                      ("ack", ack), ("receipt", "sub-" + sid)]
                        + list(extra))
        self.expect_receipt("sub-" + sid)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_connected(b, version="1.2", hb="0,0"):
    r = Raw(b)
    r.connect(version, hb)
    return r


# ------------------------------------------------------------ python3-stomp

class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()
        self.errors = queue.Queue()
        self.receipts = queue.Queue()
        self.disconnected = threading.Event()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_error(self, frame):
        self.errors.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers.get("receipt-id"))

    def on_disconnected(self):
        self.disconnected.set()

    def get(self, timeout=TIMEOUT):
        return self.messages.get(timeout=timeout)

    def receipt(self, rid, timeout=TIMEOUT):
        got = self.receipts.get(timeout=timeout)
        assert got == rid, got


def stomp_client(b, version=12, heartbeats=(0, 0)):
    """A connected python3-stomp client; its Listener is .lsn."""
    hp = [("127.0.0.1", b.ports["stomp"])]
    if version == 10:
        c = stomp.Connection10(hp)
    else:
        cls = stomp.Connection11 if version == 11 else stomp.Connection12
        c = cls(hp, heartbeats=heartbeats)
    c.lsn = Listener()
    c.set_listener("t", c.lsn)
    c.connect(wait=True)
    return c


_seq = [0]


def stomp_subscribe(c, dest, sid="1", ack="auto", **headers):
    """Subscribe and wait for the receipt."""
    _seq[0] += 1
    rid = "sub-%d" % _seq[0]
    c.subscribe(dest, id=sid, ack=ack, headers=dict(headers, receipt=rid))
    c.lsn.receipt(rid)


def stomp_send_sync(c, dest, body, **headers):
    """SEND and wait for its receipt (the broker owns the message)."""
    _seq[0] += 1
    rid = "send-%d" % _seq[0]
    c.send(dest, body, headers=dict(headers, receipt=rid))
    c.lsn.receipt(rid)


# ------------------------------------------------------------- paho-mqtt

class Mqtt:
    """A paho-mqtt client on the broker's MQTT listener."""

    def __init__(self, b, client_id, v5=False):
        self.v5 = v5
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        self.c = mqtt.Client(client_id=client_id, protocol=proto)
        self.msgs = queue.Queue()
        self.acks = queue.Queue()
        connected = threading.Event()
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.on_connect = lambda *a: connected.set()
        self.c.on_subscribe = lambda c, u, mid, *a: self.acks.put(mid)
        self.c.connect("127.0.0.1", b.ports["mqtt"])
        self.c.loop_start()
        assert connected.wait(TIMEOUT)

    def subscribe(self, topic, qos=1):
        _, mid = self.c.subscribe(topic, qos)
        assert self.acks.get(timeout=TIMEOUT) == mid

    def publish(self, topic, payload, qos=1, retain=False, **props):
        p = None
        if props:
            p = Properties(PacketTypes.PUBLISH)
            for k, v in props.items():
                setattr(p, k, v)
        info = self.c.publish(topic, payload, qos, retain, properties=p)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def get(self, timeout=TIMEOUT):
        return self.msgs.get(timeout=timeout)

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()
