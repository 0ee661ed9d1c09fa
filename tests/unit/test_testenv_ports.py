"""tools/testenv's control-plane ports: below the kernel's ephemeral range, so a port chosen for a component is
never handed out again as the local port of an outgoing connection before the component listens on it (a
kube-scheduler "bind: address already in use" was seen under load); distinct; never one something listens on."""

from __future__ import annotations

import socket
from pathlib import Path

from test_release_tool import load


def test_ports_are_below_the_ephemeral_range_distinct_and_free() -> None:
    testenv = load("testenv")
    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    taken: set[int] = set()
    for _ in range(20):
        port = testenv.free_port(taken)
        assert testenv.PORT_RANGE[0] <= port < testenv.PORT_RANGE[1] < low <= high and port not in taken
        taken.add(port)


def test_a_port_something_listens_on_is_never_chosen() -> None:
    testenv = load("testenv")
    listening = []
    try:
        for port in range(*testenv.PORT_RANGE):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            s.listen()
            listening.append(s)
            if len(listening) == 2000:
                break
        held = {s.getsockname()[1] for s in listening}
        assert all(testenv.free_port() not in held for _ in range(50))
    finally:
        for s in listening:
            s.close()
