"""The crash loop: publishers at QoS 1 and QoS 2 run at full speed (a
window of outstanding PUBLISHes each) towards an offline persistent
subscriber while the broker is SIGKILLed at random points -- after a
random number of acknowledgements -- and restarted on the same store,
several times. At the end the subscriber reconnects: every message whose
PUBACK / PUBCOMP a publisher saw must arrive, QoS 1 at least once and
QoS 2 exactly once (no payload twice).

The randomness is seeded and the seed is in the failure message.
"""
import random
import socket
import threading

import pytest

from mqttraw import (MOSQUITTO, PUBACK, PUBCOMP, PUBLISH, PUBREC, Closed,
                     close_clients, publish_pkt, pubrel_pkt, raw)
from test_durable_restart import Durable

pytestmark = pytest.mark.skipif(MOSQUITTO, reason="Junction's own store")

KILLS = 5
WINDOW = 32


class Publisher(threading.Thread):
    """Publishes "<prefix>-<n>" at qos with WINDOW PUBLISHes outstanding
    until the connection dies; records what was fully acknowledged."""

    def __init__(self, b, qos, prefix, seq, acked, progress):
        super().__init__(daemon=True)
        self.c = raw(b, "%s-%d" % (prefix, seq))
        self.qos, self.prefix, self.seq = qos, prefix, seq
        self.acked, self.progress = acked, progress
        self.out = {}  # pid -> payload
        self.pid = 0

    def _send_one(self):
        self.pid = self.pid % 65535 + 1
        payload = b"%s-%d" % (self.prefix.encode(), self.seq)
        self.seq += 1
        self.out[self.pid] = payload
        self.c.send(publish_pkt("c/" + self.prefix, payload, self.qos,
                                pid=self.pid))

    def _on(self, p):
        if p.type == PUBREC:
            self.c.send(pubrel_pkt(p.pid))
            return
        assert p.type == (PUBACK if self.qos == 1 else PUBCOMP), p
        self.acked.append(self.out.pop(p.pid))
        self.progress.release()

    def run(self):
        try:
            while True:
                while len(self.out) < WINDOW:
                    self._send_one()
                self._on(self.c.recv())
        except (Closed, OSError, socket.timeout):
            pass  # the broker was killed


def collect(s, marker):
    """Everything delivered to s up to the marker, acknowledging each."""
    got = []
    while True:
        p = s.expect(PUBLISH)
        s.ack(p)
        if p.payload == marker:
            return got
        got.append((p.qos, p.payload))


def test_crash_loop_loses_nothing_acknowledged(make_broker, tmp_path):
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    d = Durable(make_broker, str(tmp_path / "store"))
    s = raw(d.b, "crash-sub", clean=False)
    s.subscribe([("c/#", 2)])
    s.disconnect()
    acked = {1: [], 2: []}
    seqs = {1: 0, 2: 0}
    for _ in range(KILLS):
        progress = threading.Semaphore(0)
        pubs = [Publisher(d.b, q, "q%d" % q, seqs[q], acked[q], progress)
                for q in (1, 2)]
        for p in pubs:
            p.start()
        for _ in range(rnd.randrange(50, 1500)):
            assert progress.acquire(timeout=10), "no acks (seed %d)" % seed
        d.restart("kill")
        for p in pubs:
            p.join(10)
            seqs[p.qos] = p.seq
    raw(d.b, "marker").publish("c/end", b"end", qos=1)
    s = raw(d.b, "crash-sub", clean=False)
    assert s.connack.sp == 1
    got = collect(s, b"end")
    received = {q: [p for qq, p in got if qq == q] for q in (1, 2)}
    for q in (1, 2):
        lost = set(acked[q]) - set(received[q])
        assert not lost, "seed %d: QoS %d lost %d acked messages, e.g. %r" % (
            seed, q, len(lost), sorted(lost)[:5])
    dups = len(received[2]) - len(set(received[2]))
    assert dups == 0, "seed %d: %d QoS 2 duplicates" % (seed, dups)
    assert len(acked[1]) > 0 and len(acked[2]) > 0
    close_clients()
