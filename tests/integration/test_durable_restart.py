"""Durable storage against the real binary: what was acknowledged survives
a clean restart (SIGTERM) and a crash (SIGKILL) -- retained messages,
persistent sessions with their subscriptions, queued QoS 1/2 messages,
in-flight QoS 2 state (resent with the same packet id), inbound QoS 2
ids and queues -- and a store that cannot be read is quarantined.

Each test keeps its store in a pytest tmp_path and restarts the broker
on it with the same config (the port changes, which is fine). Every wait
is on a packet or the broker's own log, never a sleep.
"""
import os

import pytest

from mqttraw import (SUBACK, Closed, PUBCOMP, PUBLISH, PUBREC, PUBREL, MOSQUITTO, subscribe_pkt,
                     close_clients, connect_pkt, pubcomp_pkt, publish_pkt,
                     pubrec_pkt, pubrel_pkt, raw)

pytestmark = pytest.mark.skipif(MOSQUITTO, reason="Junction's own store")

DURABLE_CONF = """\
listener 0 127.0.0.1
protocol mqtt
allow_anonymous true
persistence true
persistence_location {dir}
max_queued_messages 100000
"""


class Durable:
    """A broker on one store directory that can be restarted or killed."""

    def __init__(self, make_broker, path, extra=""):
        self.make_broker = make_broker
        self.conf = DURABLE_CONF.format(dir=path) + extra
        self.b = make_broker(conf=self.conf)

    def restart(self, how):
        """how: "stop" (SIGTERM, clean) or "kill" (SIGKILL, a crash)."""
        close_clients()
        if how == "stop":
            assert self.b.stop() == 0
        else:
            self.b.kill()
        self.b = self.make_broker(conf=self.conf)
        return self.b


@pytest.fixture
def durable(make_broker, tmp_path):
    return Durable(make_broker, str(tmp_path / "store"))


RESTARTS = ["stop", "kill"]


def persistent(b, cid):
    return raw(b, cid, clean=False)


def consume(c, name):
    """Subscribe to a queue: its messages may come before the SUBACK."""
    c.send(subscribe_pkt(1, [("$queue/" + name, 1)]))
    c.wait_for(SUBACK, 1)


@pytest.mark.parametrize("how", RESTARTS)
def test_retained_survives(durable, how):
    p = raw(durable.b, "pub")
    p.publish("ret/a", b"kept", qos=1, retain=True)
    p.publish("ret/b", b"gone", qos=1, retain=True)
    p.publish("ret/b", b"", qos=1, retain=True)  # cleared
    b = durable.restart(how)
    s = raw(b, "s")
    s.subscribe([("ret/#", 1)])
    m = s.get()
    assert (m.topic, m.payload, m.retain) == ("ret/a", b"kept", 1)
    assert s.recv_or_none() is None


@pytest.mark.parametrize("how", RESTARTS)
def test_session_subscriptions_and_queued_messages(durable, how):
    s = persistent(durable.b, "sub")
    s.subscribe([("t/#", 2)])
    s.disconnect()
    p = raw(durable.b, "pub")
    p.publish("t/1", b"one", qos=1, pid=1)
    p.publish("t/2", b"two", qos=2, pid=2)
    b = durable.restart(how)
    s = persistent(b, "sub")
    assert s.connack.sp == 1
    got = [s.get(), s.get()]
    assert [(m.topic, m.payload, m.qos) for m in got] == [
        ("t/1", b"one", 1), ("t/2", b"two", 2)]
    # The subscription itself survived: new messages arrive.
    raw(b, "pub").publish("t/3", b"three", qos=1)
    assert s.get().payload == b"three"


@pytest.mark.parametrize("how", RESTARTS)
def test_inflight_qos2_keeps_packet_ids(durable, how):
    s = persistent(durable.b, "sub")
    s.subscribe([("q/#", 2)])
    p = raw(durable.b, "pub")
    p.publish("q/a", b"released", qos=2, pid=1)
    p.publish("q/b", b"sent", qos=2, pid=2)
    first = s.get(ack=False)
    second = s.get(ack=False)
    s.send(pubrec_pkt(first.pid))
    s.wait_for(PUBREL, first.pid)  # the broker recorded RELEASED first
    b = durable.restart(how)
    s = persistent(b, "sub")
    # PUBREL again for the released one, the same id; DUP resend of the
    # other with its id (MQTT-4.4.0-1), in the original order.
    rel = s.recv()
    assert (rel.type, rel.pid) == (PUBREL, first.pid)
    again = s.expect(PUBLISH)
    assert (again.pid, again.dup, again.payload) == (second.pid, 1, b"sent")
    s.send(pubcomp_pkt(first.pid))
    s.ack(again)
    assert s.recv_or_none() is None


@pytest.mark.parametrize("how", RESTARTS)
def test_inbound_qos2_not_delivered_twice(durable, how):
    s = persistent(durable.b, "sub")
    s.subscribe([("in/#", 2)])
    s.disconnect()
    p = persistent(durable.b, "pub")
    p.send(publish_pkt("in/x", b"once", qos=2, pid=7))
    p.wait_for(PUBREC, 7)  # the id is durable now
    b = durable.restart(how)
    p = persistent(b, "pub")
    p.send(publish_pkt("in/x", b"once", qos=2, pid=7, dup=True))
    p.wait_for(PUBREC, 7)
    p.send(pubrel_pkt(7))
    p.wait_for(PUBCOMP, 7)
    p.publish("in/end", b"marker", qos=1, pid=8)
    s = persistent(b, "sub")
    got = [s.get().payload, s.get().payload]
    assert got == [b"once", b"marker"]


@pytest.mark.parametrize("how", RESTARTS)
def test_queue_survives_with_unacked_entry(durable, how):
    p = raw(durable.b, "pub")
    for i in range(3):
        p.publish("$queue/jobs", b"j%d" % i, qos=1, pid=i + 1)
    c = raw(durable.b, "worker")
    consume(c, "jobs")
    taken = c.get(ack=False)  # handed out, never acknowledged
    assert taken.payload == b"j0"
    b = durable.restart(how)
    c = raw(b, "worker2")
    consume(c, "jobs")
    got = sorted(c.get().payload for _ in range(3))
    assert got == [b"j0", b"j1", b"j2"]
    assert c.recv_or_none() is None


def test_recovery_is_logged(durable):
    s = persistent(durable.b, "sub")
    s.subscribe([("t/#", 1)])
    s.disconnect()
    raw(durable.b, "pub").publish("t/x", b"m", qos=1, retain=True)
    b = durable.restart("kill")
    log = b.drain_log()
    assert "store: recovered 1 sessions, 1 subscriptions, 1 retained, " \
        "1 messages, 1 deliveries" in log, log


def _corrupt(path):
    db = os.path.join(path, "junction.db")
    with open(db, "r+b") as f:
        f.write(b"this is not a junction store at all" * 10)


def test_corrupt_store_is_quarantined(durable, tmp_path):
    raw(durable.b, "pub").publish("ret/a", b"x", qos=1, retain=True)
    close_clients()
    assert durable.b.stop() == 0
    store = str(tmp_path / "store")
    _corrupt(store)
    b = durable.make_broker(conf=durable.conf)
    assert "STORE CORRUPT" in b.drain_log()
    assert os.path.exists(os.path.join(store, "junction.db.bad"))
    # It starts empty and serves.
    s = raw(b, "s")
    s.subscribe([("ret/#", 1), ("live", 1)])
    raw(b, "pub").publish("live", b"ok", qos=1)
    assert s.get().payload == b"ok"
    durable.b = b


def test_corrupt_store_refused_when_configured(make_broker, tmp_path):
    store = str(tmp_path / "store")
    conf = DURABLE_CONF.format(dir=store) + "persistence_corrupt refuse\n"
    b = make_broker(conf=conf)
    raw(b, "pub").publish("ret/a", b"x", qos=1, retain=True)
    close_clients()
    assert b.stop() == 0
    _corrupt(store)
    with pytest.raises(RuntimeError, match="broker exited"):
        make_broker(conf=conf)
    assert not os.path.exists(os.path.join(store, "junction.db.bad"))


def test_disk_cap_refuses_publishes(durable, make_broker, tmp_path):
    close_clients()
    durable.b.kill()
    conf = DURABLE_CONF.format(dir=str(tmp_path / "capped")) + \
        "persistence_max_bytes 20000\n"
    b = make_broker(conf=conf)
    s = persistent(b, "sub")
    s.subscribe([("cap/#", 1)])
    s.disconnect()
    p = raw(b, "pub")
    acked = 0
    with pytest.raises(Closed):
        for _ in range(1000):
            # 3.x: refused by closing the connection, never a PUBACK.
            p.publish("cap/x", b"x" * 200, qos=1, pid=1)
            acked += 1
    assert 0 < acked < 100
    assert "store full" in b.drain_log()


@pytest.mark.parametrize("how", RESTARTS)
def test_queue_consumer_of_persistent_session_survives(durable, how):
    """A persistent session's $queue subscription is a subscription like
    any other: after a restart the session keeps consuming, and messages
    that waited in the queue while it was away are handed to it."""
    c = persistent(durable.b, "qc")
    assert c.subscribe([("$queue/work", 1)]) == [1]
    c.disconnect()
    b = durable.restart(how)
    p = raw(b, "qp")
    p.publish("$queue/work", b"after restart", qos=1)
    c = persistent(b, "qc")
    assert c.connack.sp == 1
    m = c.get()
    assert (m.topic, m.payload) == ("$queue/work", b"after restart")
