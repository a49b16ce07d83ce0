"""Interop with a second, independent client: mosquitto_pub / mosquitto_sub
(libmosquitto) against paho-mqtt, through the broker."""
import queue
import subprocess
import threading
import time

import pytest

from mqttraw import WAIT, broker, make_broker, paho  # noqa: F401


def mosquitto_pub(b, *args):
    cmd = ["mosquitto_pub", "-h", b.host, "-p", str(b.port)] + list(args)
    res = subprocess.run(cmd, capture_output=True, timeout=WAIT * 2)
    assert res.returncode == 0, res.stderr.decode()


class Sub:
    """mosquitto_sub with debug output, line buffered: lets the test wait
    for its SUBACK before publishing (no sleep)."""

    def __init__(self, b, topic, qos=0, count=1, extra=()):
        cmd = ["stdbuf", "-oL", "mosquitto_sub", "-h", b.host,
               "-p", str(b.port), "-t", topic, "-q", str(qos),
               "-C", str(count), "-W", "10", "-d", "-F", "MSG %r %q %t %p"]
        self.proc = subprocess.Popen(cmd + list(extra),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = []
        # A thread reads the lines (select() on a buffered pipe would miss
        # lines already pulled into Python's buffer).
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(line.decode(errors="replace").rstrip("\n"))
        self.q.put(None)

    def readline(self, timeout=WAIT):
        try:
            line = self.q.get(timeout=max(timeout, 0))
        except queue.Empty:
            raise AssertionError("mosquitto_sub said nothing; so far: %r"
                                 % self.lines)
        assert line is not None, "mosquitto_sub ended: %r" % self.lines
        self.lines.append(line)
        return line

    def wait_subscribed(self):
        deadline = time.monotonic() + WAIT
        while "received SUBACK" not in self.readline(deadline -
                                                     time.monotonic()):
            pass

    def messages(self, n):
        got = []
        deadline = time.monotonic() + WAIT
        while len(got) < n:
            line = self.readline(deadline - time.monotonic())
            if line.startswith("MSG "):
                got.append(line[4:])
        return got

    def finish(self):
        assert self.proc.wait(timeout=12) == 0, self.lines


@pytest.fixture
def subs():
    made = []
    yield made
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_to_paho(broker, qos):
    sub = paho(broker, "i-paho-sub")
    sub.subscribe("ip/t", 2)
    mosquitto_pub(broker, "-t", "ip/t", "-m", "from mosquitto_pub",
                  "-q", str(qos))
    m = sub.get()
    assert (m.topic, m.payload, m.qos, m.retain) == \
        ("ip/t", b"from mosquitto_pub", qos, 0)


def test_mosquitto_pub_v31_to_paho(broker):
    sub = paho(broker, "i-paho-sub31")
    sub.subscribe("ip31/t", 1)
    mosquitto_pub(broker, "-V", "mqttv31", "-t", "ip31/t", "-m", "old",
                  "-q", "1")
    assert sub.get().payload == b"old"


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_to_mosquitto_sub(broker, subs, qos):
    s = Sub(broker, "is/+", qos=qos, count=2)
    subs.append(s)
    s.wait_subscribed()
    pub = paho(broker, "i-paho-pub")
    pub.publish("is/a", b"one", qos)
    pub.publish("is/b", b"two", 2)
    assert s.messages(2) == ["0 %d is/a one" % qos, "0 %d is/b two" % qos]
    s.finish()


def test_retained_via_mosquitto_pub_r(broker, subs):
    mosquitto_pub(broker, "-r", "-q", "1", "-t", "ir/t", "-m", "sticky")
    sub = paho(broker, "i-ret-sub")
    sub.subscribe("ir/#", 1)
    m = sub.get()
    assert (m.topic, m.payload, m.retain, m.qos) == ("ir/t", b"sticky", 1, 1)
    s = Sub(broker, "ir/t", qos=1, count=1)
    subs.append(s)
    assert s.messages(1) == ["1 1 ir/t sticky"]
    s.finish()
    # Cleared with an empty retained message (mosquitto_pub -n).
    mosquitto_pub(broker, "-r", "-q", "1", "-t", "ir/t", "-n")
    late = paho(broker, "i-ret-late")
    late.subscribe([("ir/t", 1), ("ir/marker", 1)])
    mosquitto_pub(broker, "-q", "1", "-t", "ir/marker", "-m", "m")
    assert late.get().topic == "ir/marker"


def test_mosquitto_sub_persistent_session(broker, subs):
    # mosquitto_sub -c (clean session off) + -i: offline messages queued.
    s = Sub(broker, "iq/t", qos=1, count=1, extra=("-c", "-i", "i-msub"))
    subs.append(s)
    s.wait_subscribed()
    pub = paho(broker, "i-q-pub")
    pub.publish("iq/t", b"first", 1)
    assert s.messages(1) == ["0 1 iq/t first"]
    s.finish()
    pub.publish("iq/t", b"while away", 1)
    s = Sub(broker, "iq/t", qos=1, count=1, extra=("-c", "-i", "i-msub"))
    subs.append(s)
    assert s.messages(1) == ["0 1 iq/t while away"]
    s.finish()
