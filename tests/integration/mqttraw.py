"""MQTT 3.1 / 3.1.1 test helpers: a hand-made packet builder and decoder,
a raw-socket client, a paho wrapper, and an opt-in switch to run the
suite against Debian's Mosquitto instead of Junction.

Everything waits on events (socket reads and queue gets with generous
timeouts), never on sleeps.

    JUNCTION_TEST_AGAINST=mosquitto python3 -m pytest -q tests/integration -k mqtt

runs the same tests against /usr/sbin/mosquitto, to check the tests
themselves. Tests of Junction decisions that Mosquitto does not share
call skip_on_mosquitto(reason).

Test modules import the fixtures they use from here:

    from mqttraw import make_broker, broker  # noqa: F401

make_broker and broker override the conftest fixtures of the same name
(and delegate to them when running against Junction).
"""
import os
import queue
import random
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

AGAINST = os.environ.get("JUNCTION_TEST_AGAINST", "junction")
MOSQUITTO = AGAINST == "mosquitto"
MOSQUITTO_BIN = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")

WAIT = 5.0          # generous bound for anything that should happen
SHORT = 0.5         # bound for "nothing else arrives" checks without marker

# Packet types (MQTT 3.1.1 table 2.1).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
         6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
         10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
         14: "DISCONNECT"}


def skip_on_mosquitto(reason):
    if MOSQUITTO:
        pytest.skip("mosquitto differs: " + reason)


# --------------------------------------------------------------- encoding

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def mstr(s):
    """MQTT UTF-8 string (bytes are sent as they are)."""
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def packet(first_byte, body=b""):
    return bytes([first_byte]) + varint(len(body)) + body


def connect_pkt(client_id="", clean=True, keepalive=60, will=None,
                username=None, password=None, proto=b"MQTT", level=4,
                flags=None):
    """will = (topic, payload, qos, retain). flags overrides the flag byte."""
    f = 0
    if clean:
        f |= 0x02
    payload = mstr(client_id)
    if will is not None:
        wt, wp, wq, wr = will
        f |= 0x04 | (wq << 3) | (0x20 if wr else 0)
        payload += mstr(wt) + mstr(wp)
    if username is not None:
        f |= 0x80
        payload += mstr(username)
    if password is not None:
        f |= 0x40
        payload += mstr(password)
    if flags is not None:
        f = flags
    body = mstr(proto) + bytes([level, f]) + struct.pack("!H", keepalive)
    return packet(0x10, body + payload)


def publish_pkt(topic, payload=b"", qos=0, retain=False, dup=False, pid=None,
                first_byte=None):
    if isinstance(payload, str):
        payload = payload.encode()
    fb = 0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    if first_byte is not None:
        fb = first_byte
    body = mstr(topic)
    if qos or pid is not None:
        body += struct.pack("!H", pid if pid is not None else 1)
    return packet(fb, body + payload)


def subscribe_pkt(pid, filters, first_byte=0x82):
    """filters: [(filter, qos), ...]"""
    body = struct.pack("!H", pid)
    for f, q in filters:
        body += mstr(f) + bytes([q])
    return packet(first_byte, body)


def unsubscribe_pkt(pid, filters):
    body = struct.pack("!H", pid)
    for f in filters:
        body += mstr(f)
    return packet(0xA2, body)


def puback_pkt(pid):
    return packet(0x40, struct.pack("!H", pid))


def pubrec_pkt(pid):
    return packet(0x50, struct.pack("!H", pid))


def pubrel_pkt(pid, first_byte=0x62):
    return packet(first_byte, struct.pack("!H", pid))


def pubcomp_pkt(pid):
    return packet(0x70, struct.pack("!H", pid))


PINGREQ_PKT = b"\xc0\x00"
PINGRESP_PKT = b"\xd0\x00"
DISCONNECT_PKT = b"\xe0\x00"


# --------------------------------------------------------------- decoding

class Packet:
    """One decoded packet from the broker."""

    def __init__(self, first, body):
        self.first = first
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body
        self.raw = None
        t = self.type
        if t == CONNACK:
            self.sp = body[0] & 1
            self.ack_flags = body[0]
            self.rc = body[1]
        elif t == PUBLISH:
            self.qos = (self.flags >> 1) & 3
            self.dup = (self.flags >> 3) & 1
            self.retain = self.flags & 1
            n = struct.unpack("!H", body[:2])[0]
            self.topic = body[2:2 + n].decode()
            off = 2 + n
            self.pid = None
            if self.qos:
                self.pid = struct.unpack("!H", body[off:off + 2])[0]
                off += 2
            self.payload = body[off:]
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            self.pid = struct.unpack("!H", body[:2])[0]
        elif t == SUBACK:
            self.pid = struct.unpack("!H", body[:2])[0]
            self.codes = list(body[2:])

    def __repr__(self):
        extra = ""
        if self.type == PUBLISH:
            extra = " %r q%d d%d r%d pid=%s %r" % (
                self.topic, self.qos, self.dup, self.retain, self.pid,
                self.payload[:40])
        elif self.type == CONNACK:
            extra = " sp=%d rc=%d" % (self.sp, self.rc)
        elif hasattr(self, "pid"):
            extra = " pid=%d" % self.pid
        if self.type == SUBACK:
            extra += " codes=%r" % self.codes
        return "<%s%s>" % (NAMES.get(self.type, "?%d" % self.type), extra)


class Closed(Exception):
    """The broker closed the connection."""


class Raw:
    """A raw MQTT connection: send bytes, read whole packets."""

    def __init__(self, b, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect((b.host, b.port))
        self.buf = b""
        self.pending = []   # packets set aside by wait_for()
        self.closed = False
        _track(self)

    # -- bytes
    def send(self, data):
        """Send; a broker that already closed us is not an error here."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def shutdown_write(self):
        """Half-close: the broker sees EOF (it may have closed us already)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            raise Closed()
        self.buf += data

    def _take(self):
        """A whole packet from the buffer, or None."""
        if len(self.buf) < 2:
            return None
        n, mul, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            c = self.buf[i]
            n += (c & 0x7F) * mul
            mul *= 128
            i += 1
            if not c & 0x80:
                break
            if i > 4:
                raise AssertionError("broker sent a bad remaining length")
        if len(self.buf) < i + n:
            return None
        p = Packet(self.buf[0], self.buf[i:i + n])
        p.raw = self.buf[:i + n]
        self.buf = self.buf[i + n:]
        return p

    def recv(self, timeout=WAIT):
        """Next packet; raises Closed on EOF, socket.timeout on timeout."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            p = self._take()
            if p is not None:
                return p
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no packet within %.1fs" % timeout)
            self._fill(left)

    def expect(self, ptype, timeout=WAIT):
        p = self.recv(timeout)
        assert p.type == ptype, "expected %s, got %r" % (NAMES[ptype], p)
        return p

    def wait_for(self, ptype, pid=None, timeout=WAIT):
        """Next packet of ptype (and pid), setting others aside for recv()
        in their order: acks and deliveries may interleave."""
        seen = []
        try:
            while True:
                p = self.recv(timeout)
                if p.type == ptype and (pid is None or p.pid == pid):
                    return p
                seen.append(p)
        finally:
            self.pending = seen + self.pending

    def recv_or_none(self, timeout=SHORT):
        try:
            return self.recv(timeout)
        except socket.timeout:
            return None

    def wait_closed(self, timeout=WAIT):
        """Read until EOF; returns the packets received before it.
        Fails if the connection is still open after timeout."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection not closed within %.1fs "
                                     "(got %r)" % (timeout, got))
            try:
                got.append(self.recv(left))
            except Closed:
                return got
            except socket.timeout:
                continue

    def assert_closed_silently(self, timeout=WAIT):
        got = self.wait_closed(timeout)
        assert got == [], "expected a close with no reply, got %r" % got

    def assert_open(self):
        """A PINGREQ round trip proves the connection still serves."""
        self.send(PINGREQ_PKT)
        self.wait_for(PINGRESP)

    # -- MQTT
    def connect(self, client_id="", **kw):
        self.send(connect_pkt(client_id, **kw))
        return self.expect(CONNACK)

    def subscribe(self, filters, pid=1):
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe_pkt(pid, filters))
        p = self.expect(SUBACK)
        assert p.pid == pid
        return p.codes

    def publish(self, topic, payload=b"", qos=0, retain=False, pid=1,
                dup=False):
        """Publish and complete the QoS handshake."""
        self.send(publish_pkt(topic, payload, qos, retain, dup,
                              pid if qos else None))
        if qos == 1:
            self.wait_for(PUBACK, pid)
        elif qos == 2:
            self.wait_for(PUBREC, pid)
            self.send(pubrel_pkt(pid))
            self.wait_for(PUBCOMP, pid)

    def ack(self, p):
        """Complete the subscriber side of a delivery p."""
        if p.qos == 1:
            self.send(puback_pkt(p.pid))
        elif p.qos == 2:
            self.send(pubrec_pkt(p.pid))
            r = self.wait_for(PUBREL, p.pid)
            assert r.flags == 2, r
            self.send(pubcomp_pkt(p.pid))

    def get(self, timeout=WAIT, ack=True):
        """Next PUBLISH (acked unless told)."""
        p = self.expect(PUBLISH, timeout)
        if ack:
            self.ack(p)
        return p

    def disconnect(self):
        self.send(DISCONNECT_PKT)
        try:
            self.wait_closed()
        finally:
            self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw(b, client_id=None, **kw):
    """A raw connection; connected (CONNACK 0 checked) when client_id given."""
    r = Raw(b)
    if client_id is not None:
        ack = r.connect(client_id, **kw)
        assert ack.rc == 0, ack
        r.connack = ack
    return r


# --------------------------------------------------------------- paho

class Paho:
    """paho-mqtt 1.6 client with queues fed by its callbacks."""

    def __init__(self, b, client_id="", clean=True, v31=False, keepalive=60,
                 will=None, username=None, password=None):
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.b = b
        self.c = mqtt.Client(client_id=client_id, clean_session=clean,
                             protocol=mqtt.MQTTv31 if v31 else mqtt.MQTTv311,
                             reconnect_on_failure=False)
        if will:
            self.c.will_set(*will)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.keepalive = keepalive
        self.msgs = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = {}
        self.unsubacks = {}
        self.lock = threading.Lock()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.started = False
        _track(self)

    def _on_connect(self, c, u, flags, rc):
        self.connacks.put((flags.get("session present", 0), rc))

    def _on_message(self, c, u, m):
        self.msgs.put(m)

    def _q(self, table, mid):
        with self.lock:
            return table.setdefault(mid, queue.Queue())

    def _on_subscribe(self, c, u, mid, granted):
        self._q(self.subacks, mid).put(list(granted))

    def _on_unsubscribe(self, c, u, mid):
        self._q(self.unsubacks, mid).put(True)

    def connect(self):
        self.c.connect(self.b.host, self.b.port, self.keepalive)
        self.c.loop_start()
        self.started = True
        sp, rc = self.connacks.get(timeout=WAIT)
        return sp, rc

    def subscribe(self, topic, qos=0):
        """topic: a filter or a list of (filter, qos). Returns granted."""
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == 0
        return self._q(self.subacks, mid).get(timeout=WAIT)

    def unsubscribe(self, topic):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == 0
        self._q(self.unsubacks, mid).get(timeout=WAIT)

    def publish(self, topic, payload, qos=0, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        info.wait_for_publish(WAIT)
        assert info.is_published(), "publish to %s not completed" % topic

    def get(self, timeout=WAIT):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %.1fs" % timeout)

    def get_until(self, marker_topic, timeout=WAIT):
        """Messages received before the next one on marker_topic."""
        got = []
        while True:
            m = self.get(timeout)
            if m.topic == marker_topic:
                return got
            got.append(m)

    def close(self):
        if self.started:
            # Ask the network thread to stop once DISCONNECT is written,
            # so it does not sit out its 1 s select timeout.
            self.c._thread_terminate = True
            try:
                self.c.disconnect()
            finally:
                self.c.loop_stop()
            self.started = False


def paho(b, client_id="", **kw):
    """A connected paho client (CONNACK 0 checked)."""
    p = Paho(b, client_id, **kw)
    sp, rc = p.connect()
    assert rc == 0, "paho connect rc %d" % rc
    return p


# Clients opened by a test are closed when it ends.
_open = []


def _track(c):
    _open.append(c)


def close_clients():
    """Close every client a test opened (before its brokers stop)."""
    while _open:
        c = _open.pop()
        try:
            c.close()
        except Exception:
            pass


# --------------------------------------------------------------- brokers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Junction config keys that Mosquitto 2.0 has under the same name.
MOSQUITTO_KEYS = {"max_keepalive", "max_connections", "max_queued_messages",
                  "message_size_limit", "retain_available", "allow_anonymous",
                  "max_inflight_messages", "max_queued_bytes",
                  "max_packet_size"}


class MosquittoBroker:
    """/usr/sbin/mosquitto with the equivalent of a Junction test config."""

    def __init__(self, extra):
        self.dir = tempfile.mkdtemp(prefix="junction-mosq-")
        self.host = "127.0.0.1"
        self.port = free_port()
        self.ports = {"mqtt": self.port}
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                 "persistence false",
                 "log_dest file %s/mosquitto.log" % self.dir,
                 "log_type all"]
        for line in extra.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key = line.split()[0]
            if key not in MOSQUITTO_KEYS:
                pytest.skip("mosquitto has no config key " + key)
            lines.append(line)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = []
        self.proc = subprocess.Popen([MOSQUITTO_BIN, "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: %s" %
                                   self.proc.stderr.read().decode())
            try:
                socket.create_connection((self.host, self.port), 0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("mosquitto did not start")
                time.sleep(0.02)  # bounded readiness poll, not sync

    def drain_log(self):
        try:
            with open(os.path.join(self.dir, "mosquitto.log")) as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def make_broker(make_broker):
    """Overrides conftest's make_broker: make_broker(extra_conf).

    Against Junction it is conftest's factory; against Mosquitto it starts
    MosquittoBroker with the same contract (SIGTERM at teardown, exit 0
    if it was still alive). Either way the test's clients are closed
    first, so the brokers stop with nobody connected."""
    if not MOSQUITTO:
        yield make_broker
        close_clients()
        return
    started = []

    def make(extra="", conf=None, listeners=1):
        assert conf is None, "custom full configs are Junction-only"
        b = MosquittoBroker(extra)
        started.append(b)
        return b

    yield make
    close_clients()
    for b in started:
        was_alive = b.alive()
        rc = b.stop()
        if was_alive:
            assert rc == 0, "mosquitto exited with %s; log:\n%s" % (
                rc, b.drain_log()[-4000:])


@pytest.fixture
def broker(make_broker):
    return make_broker()


# --------------------------------------------------------------- checks

class Bystander:
    """A healthy client connected before something bad happens; check()
    proves it still gets its messages and the broker still serves."""

    def __init__(self, b, name):
        self.b = b
        self.topic = "by/" + name
        self.sub = paho(b, "by-sub-" + name)
        self.sub.subscribe(self.topic, 1)
        self.n = 0

    def check(self):
        assert self.b.alive(), "broker died"
        self.n += 1
        payload = b"still-here-%d" % self.n
        pub = paho(self.b, "by-pub-%d-%s" % (self.n, self.topic[3:]))
        pub.publish(self.topic, payload, 1)
        m = self.sub.get()
        assert (m.topic, m.payload) == (self.topic, payload)
        pub.close()


def seeded_garbage(seed, n):
    rnd = random.Random(seed)
    return bytes(rnd.randrange(256) for _ in range(n))
