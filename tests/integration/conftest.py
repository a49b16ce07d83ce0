"""Shared fixtures: start the real junction binary on an ephemeral port.

The broker is started with a config whose listener port is 0; it logs
"listening on ADDR:PORT (PROTO)" once per listener before it serves, and
the fixture reads stderr until it sees every listener (synchronisation on
the broker's own output, never a sleep). Each broker is stopped by pid
with SIGTERM at teardown, and a broker that crashed or did not exit
cleanly fails the test that used it.
"""
import os
import re
import select
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
JUNCTION = os.path.join(BUILD, "junction")
LISTEN_RE = re.compile(r"listening on ([0-9.]+):(\d+) \((\w+)\)")


class Broker:
    """A running junction process."""

    def __init__(self, conf_text, listeners=1):
        self.dir = tempfile.mkdtemp(prefix="junction-test-")
        self.conf = os.path.join(self.dir, "junction.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.log = []
        self._buf = b""
        self.ports = {}
        self.proc = subprocess.Popen(
            [JUNCTION, "-c", self.conf],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._wait_listening(listeners)
        except Exception:
            self.kill()  # never leave a half-started broker running
            raise
        self.host = "127.0.0.1"
        self.port = self.ports.get("mqtt") or next(iter(self.ports.values()))

    def _readline(self, deadline):
        """One line of the broker's stderr. Reads the pipe with os.read
        into our own buffer: select() cannot see lines already sitting in
        a Python file object's buffer."""
        fd = self.proc.stderr.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("broker did not start: " + "".join(self.log))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("broker exited: " + "".join(self.log))
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        line = line.decode(errors="replace") + "\n"
        self.log.append(line)
        return line

    def _wait_listening(self, n):
        deadline = time.monotonic() + 20
        seen = 0
        while seen < n:
            m = LISTEN_RE.search(self._readline(deadline))
            if m:
                self.ports.setdefault(m.group(3), int(m.group(2)))
                self.ports.setdefault(m.group(3) + str(seen), int(m.group(2)))
                seen += 1

    def drain_log(self):
        """Collect whatever the broker logged so far (non-blocking)."""
        fd = self.proc.stderr.fileno()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self._buf += chunk
        if self._buf:
            self.log.append(self._buf.decode(errors="replace"))
            self._buf = b""
        return "".join(self.log)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM by pid; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self._buf + self.proc.stderr.read()
        self._buf = b""
        if rest:
            self.log.append(rest.decode(errors="replace"))
        return self.proc.returncode

    def kill(self):
        """SIGKILL by pid (crash tests)."""
        self.proc.kill()
        self.proc.wait()


BASE_CONF = """\
listener 0 127.0.0.1
protocol mqtt
allow_anonymous true
"""


@pytest.fixture
def make_broker():
    """Factory: make_broker(extra_conf="", conf=None) -> Broker."""
    started = []

    def make(extra="", conf=None, listeners=1):
        b = Broker((conf if conf is not None else BASE_CONF) + extra, listeners)
        started.append(b)
        return b

    yield make
    for b in started:
        was_alive = b.alive()
        rc = b.stop()
        if was_alive:
            assert rc == 0, "broker exited with %s; log:\n%s" % (rc, "".join(b.log))


@pytest.fixture
def broker(make_broker):
    """A broker with the default test config."""
    return make_broker()
