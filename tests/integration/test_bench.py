"""build/jbench, the load generator, checked for correctness (never for
speed): each case is a short run against a real junction (MQTT and STOMP
listeners) whose one-line report must show every key bench/run.sh reads,
no loss, as many deliveries as expected and ordered latency quantiles.
Two negative cases show the checker can fail: nothing listening, and a
fake broker that acknowledges every PUBLISH but forwards only some.
"""
import os
import socket
import socketserver
import struct
import subprocess
import threading

import pytest

from conftest import BUILD

JBENCH = os.path.join(BUILD, "jbench")
TIMEOUT = 30

CONF = ("listener 0 127.0.0.1\nprotocol mqtt\n"
        "listener 0 127.0.0.1\nprotocol stomp\n"
        "allow_anonymous true\npersistence false\n")

FLOW_KEYS = [
    "mode", "proto", "qos", "pubs", "subs", "size", "rate", "window",
    "duration", "published", "acked", "delivered", "expected", "lost",
    "dup", "msgs_per_s", "deliveries_per_s", "p50_us", "p99_us",
    "p999_us", "max_us", "broker_cpu_s", "broker_cpu_us_per_delivery",
    "broker_rss_kb", "gen_cpu_pct",
]
IDLE_KEYS = ["mode", "proto", "conns", "connect_s", "conns_per_s",
             "rss_before_kb", "rss_after_kb", "rss_per_conn_b"]


def jbench(port, *args):
    """Run jbench; returns (exit status, parsed report or None, stderr)."""
    p = subprocess.run([JBENCH, "--port", str(port)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    lines = p.stdout.splitlines()
    report = None
    if lines:
        report = [kv.split("=", 1) for kv in lines[-1].split(" ")]
    return p.returncode, report, p.stderr


def check_flow(rc, report, err, qos2=False):
    assert rc == 0, err
    assert [k for k, _ in report] == FLOW_KEYS
    r = dict(report)
    assert r["mode"] == "flow"
    assert int(r["published"]) > 0
    assert int(r["lost"]) == 0
    assert int(r["delivered"]) == int(r["expected"])
    if qos2:
        assert int(r["dup"]) == 0
    lat = [int(r[k]) for k in ("p50_us", "p99_us", "p999_us", "max_us")]
    assert lat == sorted(lat), r
    return r


@pytest.fixture
def b(make_broker):
    return make_broker(conf=CONF, listeners=2)


def run_mqtt(b, *args):
    rc, report, err = jbench(b.ports["mqtt"], "--duration", 1,
                             "--warmup", 0, *args)
    return rc, report, err


def test_mqtt311_qos1_pairs(b):
    r = check_flow(*run_mqtt(b, "--qos", 1, "--pubs", 2))
    assert r["proto"] == "mqtt311" and r["pubs"] == r["subs"] == "2"
    assert int(r["acked"]) == int(r["published"])


def test_mqtt5_qos2_pairs(b):
    r = check_flow(*run_mqtt(b, "--proto", "mqtt5", "--qos", 2,
                             "--pubs", 2), qos2=True)
    assert r["proto"] == "mqtt5" and r["qos"] == "2"


def test_qos0_fan_out(b):
    r = check_flow(*run_mqtt(b, "--qos", 0, "--topology", "shared",
                             "--pubs", 1, "--subs", 10))
    assert int(r["expected"]) == 10 * int(r["acked"])


def test_fan_in_qos1(b):
    r = check_flow(*run_mqtt(b, "--qos", 1, "--topology", "shared",
                             "--pubs", 4, "--subs", 1))
    assert r["pubs"] == "4" and r["subs"] == "1"


def test_rate_mode(b):
    r = check_flow(*run_mqtt(b, "--rate", 2000, "--pubs", 2,
                             "--broker-pid", b.proc.pid))
    assert r["rate"] == "2000"
    assert int(r["published"]) <= 2000 * 1.5
    assert int(r["broker_rss_kb"]) > 0


def test_stomp_topic_ack_auto(b):
    r = check_flow(*jbench(b.ports["stomp"], "--proto", "stomp",
                           "--dest", "topic", "--ack", "auto",
                           "--duration", 1, "--warmup", 0))
    assert r["proto"] == "stomp"


def test_stomp_queue_client_individual(b):
    r = check_flow(*jbench(b.ports["stomp"], "--proto", "stomp",
                           "--dest", "queue", "--ack", "client-individual",
                           "--pubs", 1, "--subs", 3,
                           "--duration", 1, "--warmup", 0))
    assert r["subs"] == "3"
    assert int(r["expected"]) == int(r["acked"])  # each message once


def test_idle_connections(b):
    rc, report, err = jbench(b.ports["mqtt"], "--idle", 200,
                             "--broker-pid", b.proc.pid)
    assert rc == 0, err
    assert [k for k, _ in report] == IDLE_KEYS
    r = dict(report)
    assert r["mode"] == "idle" and r["conns"] == "200"
    assert int(r["rss_before_kb"]) > 0 and int(r["rss_after_kb"]) > 0


def test_nothing_listening_fails():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # a port held but not listening
    try:
        rc, report, err = jbench(s.getsockname()[1], "--duration", 1)
    finally:
        s.close()
    assert rc == 1
    assert report is None
    assert "refused" in err


# ------------------------------------------------ a broker that loses

def read_packet(f):
    """One MQTT packet from a file object: (first byte, body) or None."""
    head = f.read(1)
    if not head:
        return None
    n, shift = 0, 0
    while True:
        byte = f.read(1)[0]
        n |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return head[0], f.read(n)


def varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


class LossyHandler(socketserver.StreamRequestHandler):
    """MQTT 3.1.1 just enough for jbench: accepts, acknowledges every
    QoS 1 PUBLISH, forwards it at QoS 0 to the subscriber, except every
    fifth, which it drops."""

    def handle(self):
        srv = self.server
        while True:
            pkt = read_packet(self.rfile)
            if pkt is None or pkt[0] >> 4 == 14:
                return
            kind, body = pkt[0] >> 4, pkt[1]
            if kind == 1:
                self.wfile.write(b"\x20\x02\x00\x00")
            elif kind == 8:
                srv.sub = self.wfile
                self.wfile.write(b"\x90\x03" + body[:2] + b"\x01")
            elif kind == 3:
                self.publish(srv, pkt[0], body)

    def publish(self, srv, first, body):
        tlen = struct.unpack(">H", body[:2])[0]
        topic, rest = body[2:2 + tlen], body[2 + tlen:]
        if (first >> 1) & 3:
            if srv.acks:
                self.wfile.write(b"\x40\x02" + rest[:2])
            rest = rest[2:]
        with srv.lock:
            srv.count += 1
            if srv.drops and srv.count % 5 == 0:
                return
            out = struct.pack(">H", tlen) + topic + rest
            srv.sub.write(b"\x30" + varint(len(out)) + out)


class LossyBroker(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, acks=True, drops=True):
        super().__init__(("127.0.0.1", 0), LossyHandler)
        self.lock = threading.Lock()
        self.count = 0
        self.sub = None
        self.acks = acks
        self.drops = drops


def run_against(srv):
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        return jbench(srv.server_address[1], "--qos", 1, "--rate", 500,
                      "--duration", 0.5, "--warmup", 0, "--drain", 0.5)
    finally:
        srv.shutdown()
        srv.server_close()


def test_unacknowledged_messages_fail():
    """A broker that forwards everything but never sends a PUBACK: no
    message counts as lost (none was taken), but the run must not pass."""
    rc, report, err = run_against(LossyBroker(acks=False, drops=False))
    assert rc == 1
    r = dict(report)
    assert int(r["acked"]) == 0 and int(r["lost"]) == 0
    assert "open after the drain" in err


def test_lost_messages_fail():
    srv = LossyBroker()
    rc, report, err = run_against(srv)
    assert rc == 1
    r = dict(report)
    assert int(r["lost"]) > 0
    assert int(r["delivered"]) + int(r["lost"]) == int(r["expected"])
    assert "lost" in err
