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


def test_a_client_that_never_reads_is_not_buffered_without_bound(make_broker):
    """A client that floods PINGREQs and never reads its PINGRESPs: once
    the answers waiting for it pass the connection's high-water mark the
    broker stops reading from it, so the client's own writes block (the
    broker's memory stays bounded) while another client is served as
    usual. Before, the broker read on and buffered answers for ever."""
    b = make_broker()
    s = socket.create_connection((b.host, b.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(packet(0x10, connect_body()))
    chunk = b"\xc0\x00" * 32768  # 64 KiB of PINGREQ
    s.settimeout(2)  # bounds the wait for blocking; not a sync point
    sent = 0
    limit = 64 * 1024 * 1024
    try:
        while sent < limit:
            sent += s.send(chunk)
    except socket.timeout:
        pass
    assert sent < limit, "the broker kept reading %d bytes" % sent
    other = socket.create_connection((b.host, b.port))
    other.settimeout(5)
    other.sendall(packet(0x10, connect_body("other")) + b"\xc0\x00")
    assert read_packet(other)[0] == 2  # CONNACK
    assert read_packet(other)[0] == 13  # PINGRESP
    other.close()
    s.close()


def packet(first, body):
    n, out = len(body), b""
    while True:
        d, n = n & 0x7F, n >> 7
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + out + body


def connect_body(cid="flood"):
    cid = cid.encode()
    return (b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") +
            cid)
