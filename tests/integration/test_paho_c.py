"""MQTT 3.1, 3.1.1 and 5.0 behaviour (and MQTT<->STOMP) seen through paho.mqtt.c.

The cases live in one C program, paho_client.c; `paho_client --list` names
them and `paho_client CASE HOST PORT` runs one (exit 0 = pass, the reason
on stderr otherwise). Each case gets a broker of its own, with the extra
config lines some cases need to exercise a limit from the README.
"""
import os
import subprocess

import pytest

from conftest import BUILD

PAHO_CLIENT = os.path.join(BUILD, "tests", "integration", "paho_client")
TIMEOUT = 30

# Cases that need more than the default test config.
EXTRA_CONF = {
    "keepalive_limit": "max_keepalive 30\n",
    "size_limit": "message_size_limit 1000\n",
    "retain_unavailable": "retain_available false\n",
}


def list_cases():
    """The case names, or one pseudo-case that fails if the list cannot be had."""
    try:
        out = subprocess.run([PAHO_CLIENT, "--list"], capture_output=True,
                             text=True, timeout=TIMEOUT, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return ["<%s --list failed: %s>" % (PAHO_CLIENT, e)]
    return out.split()


# Cross-protocol cases talk STOMP too: their broker has both listeners.
BOTH = ("listener 0 127.0.0.1\nprotocol mqtt\n"
        "listener 0 127.0.0.1\nprotocol stomp\nallow_anonymous true\n")


@pytest.mark.parametrize("case", list_cases())
def test_paho(make_broker, case):
    if case.startswith("<"):
        pytest.fail(case[1:-1] + " (build it with make tests)")
    env = dict(os.environ)
    if "stomp" in case:
        b = make_broker(conf=BOTH, listeners=2)
        env["JUNCTION_STOMP_PORT"] = str(b.ports["stomp"])
    else:
        b = make_broker(EXTRA_CONF.get(case, ""))
    try:
        r = subprocess.run([PAHO_CLIENT, case, b.host, str(b.port)],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s: no result after %d s; stderr:\n%s\nbroker log:\n%s"
                    % (case, TIMEOUT, e.stderr or "", b.drain_log()))
    assert b.alive(), "broker died during %s; log:\n%s" % (case, b.drain_log())
    assert r.returncode == 0, "%s failed (exit %d):\n%s\nbroker log:\n%s" % (
        case, r.returncode, r.stderr, b.drain_log()[-4000:])
