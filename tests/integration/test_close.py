"""The broker's last words reach a client that is still writing: after a
DISCONNECT with a reason code the broker drains the socket briefly
instead of closing on unread input, which would answer the client's next
write with a reset that destroys the DISCONNECT before it is read."""
import socket

from mqtt5raw import ack5, connect5, publish5

PUBREC, PUBREL, DISCONNECT = 5, 6, 14


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))  # exactly what the packet needs
        if not chunk:
            raise EOFError("closed after %r" % buf)
        buf += chunk
    return buf


def read_packet(s):
    """One packet, reading no further than it (as Paho's client does)."""
    first = read_exact(s, 1)[0]
    n, mul = 0, 1
    while True:
        c = read_exact(s, 1)[0]
        n += (c & 0x7F) * mul
        mul *= 128
        if not c & 0x80:
            break
    return first >> 4, read_exact(s, n)


def test_receive_maximum_disconnect_survives_a_chatty_client(make_broker):
    """As Paho's interoperability test_flow_control2: one QoS 2 PUBLISH
    more than Receive Maximum, then a PUBREL for every PUBREC, read one
    packet at a time, so the client is still writing when the broker
    closes."""
    b = make_broker("max_inflight_messages 20\n")
    s = socket.create_connection((b.host, b.port))
    s.settimeout(5)
    s.sendall(connect5("chatty"))
    assert read_packet(s)[0] == 2  # CONNACK
    s.sendall(b"".join(publish5("rm/t", b"x" * 100, qos=2, pid=i)
                       for i in range(1, 22)))
    seen = []
    try:
        while True:
            ptype, body = read_packet(s)
            seen.append(ptype)
            if ptype == PUBREC:
                s.sendall(ack5(PUBREL, int.from_bytes(body[:2], "big")))
            elif ptype == DISCONNECT:
                assert body[0] == 0x93, body
                return
    except (EOFError, OSError) as e:
        raise AssertionError("no DISCONNECT 0x93 (%r) after %r" % (e, seen))
    finally:
        s.close()
