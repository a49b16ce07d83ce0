"""Every drop and every bad client is counted: the counters the broker
reports at shutdown reflect what the clients did."""
import re
import socket

from mqttraw import Raw


def stats(log):
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"stat (\w+) (\d+)", log)}


def test_malformed_and_protocol_errors_are_counted(make_broker):
    b = make_broker()
    for _ in range(3):  # 5-byte remaining length: malformed
        s = socket.create_connection((b.host, b.port))
        s.sendall(b"\x10\xff\xff\xff\xff\x01")
        assert s.recv(16) == b""
        s.close()
    s = socket.create_connection((b.host, b.port))
    s.sendall(b"\xc0\x00")  # PINGREQ before CONNECT: protocol error
    assert s.recv(16) == b""
    s.close()
    ok = Raw(b)
    assert ok.connect("stats-ok").rc == 0
    ok.close()
    assert b.stop() == 0
    st = stats("".join(b.log))
    assert st["malformed"] == 3
    assert st["protocol_errors"] == 1
    assert st["connections_total"] == 5
    assert st["connections_current"] == 0


def test_offline_drops_are_counted(make_broker):
    b = make_broker("max_queued_messages 2\n")
    sub = Raw(b)
    assert sub.connect("stats-sub", clean=False).rc == 0
    assert sub.subscribe([("stats/t", 1)]) == [1]
    sub.disconnect()
    pub = Raw(b)
    assert pub.connect("stats-pub").rc == 0
    for i in range(1, 6):
        pub.publish("stats/t", b"x", qos=1, pid=i)
    pub.publish("stats/t", b"q0", qos=0)
    pub.assert_open()  # PINGREQ round trip: every PUBLISH above has been routed once PINGRESP is back
    pub.close()
    assert b.stop() == 0
    st = stats("".join(b.log))
    assert st["dropped_queue_full"] == 3
    assert st["dropped_offline_qos0"] == 1
