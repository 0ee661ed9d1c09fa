"""The profiling endpoint (`--enable-pprof`/`ENABLE_PPROF`, `--profiling-bind-address`/`PPROF_ADDR`): the thread
dump, the tracemalloc top, the capped sampling profile over real loopback HTTP, and the refusal of an address
that is not loopback (settings and server)."""

from __future__ import annotations

import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from mcpop.apply.runtime.profiling import ProfilingServer, is_loopback, start_profiling_server
from mcpop.apply.settings import OperatorSettings, SettingsError


def get(srv: ProfilingServer, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{srv.server_address[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def srv() -> Iterator[ProfilingServer]:
    was_tracing = tracemalloc.is_tracing()
    server = start_profiling_server("127.0.0.1", 0, max_seconds=0.3)
    yield server
    server.stop()
    assert tracemalloc.is_tracing() == was_tracing  # stopped again when the endpoint started it


def _busy_worker(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def test_the_thread_dump_names_every_thread_and_its_stack(srv: ProfilingServer) -> None:
    stop = threading.Event()
    t = threading.Thread(target=_busy_worker, args=(stop,), name="busy-worker", daemon=True)
    t.start()
    try:
        status, text = get(srv, "/debug/pprof/goroutine")
        assert status == 200 and "--- thread busy-worker" in text and "_busy_worker" in text
        assert get(srv, "/debug/threads")[1].count("--- thread") >= 2
    finally:
        stop.set()
        t.join()


def test_the_heap_top_lists_the_lines_holding_memory(srv: ProfilingServer) -> None:
    assert tracemalloc.is_tracing()
    held = [bytearray(1 << 20) for _ in range(4)]  # noqa: F841  (held while the snapshot is taken)
    status, text = get(srv, "/debug/pprof/heap?top=5")
    lines = text.splitlines()
    assert status == 200 and lines[0].startswith("traced: ") and 1 <= len(lines) - 1 <= 5
    assert any("test_profiling.py" in line for line in lines[1:])
    assert get(srv, "/debug/pprof/heap?top=none")[0] == 400


def test_the_profile_samples_every_thread_as_folded_stacks_within_its_cap(srv: ProfilingServer) -> None:
    stop = threading.Event()
    t = threading.Thread(target=_busy_worker, args=(stop,), name="busy-worker", daemon=True)
    t.start()
    try:
        started = time.monotonic()
        status, text = get(srv, "/debug/pprof/profile?seconds=600")  # capped at the server's 0.3 s
        assert status == 200 and time.monotonic() - started < 10
    finally:
        stop.set()
        t.join()
    busy = [line for line in text.splitlines() if line.startswith("busy-worker;")]
    assert busy and all(line.rsplit(" ", 1)[1].isdigit() for line in busy)
    assert any("_busy_worker (test_profiling.py:" in line for line in busy)
    assert get(srv, "/debug/pprof/profile?seconds=-1")[0] == 400


def test_one_profile_at_a_time(srv: ProfilingServer) -> None:
    srv.profiling.acquire()
    try:
        assert get(srv, "/debug/pprof/profile?seconds=1")[0] == 409
    finally:
        srv.profiling.release()
    status, index = get(srv, "/debug/pprof/")
    assert status == 200 and "/debug/pprof/heap" in index


def test_an_address_that_is_not_loopback_is_refused_unless_allowed() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("10.0.0.1")
    with pytest.raises(ValueError, match="not loopback"):
        start_profiling_server("0.0.0.0", 0)
    with pytest.raises(ValueError, match="profiling-allow-remote"):
        OperatorSettings(enable_profiling=True, profiling_bind_address=":6060")
    assert OperatorSettings(enable_profiling=True, profiling_bind_address=":6060", profiling_allow_remote=True)
    assert OperatorSettings(profiling_bind_address=":6060")  # off: not served, nothing to refuse


def test_enable_pprof_and_pprof_addr_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcpop.cli.operator import settings_from

    monkeypatch.setenv("ENABLE_PPROF", "true")
    monkeypatch.setenv("PPROF_ADDR", "127.0.0.1:7070")
    s = settings_from([])
    assert s.enable_profiling and s.profiling_bind_address == "127.0.0.1:7070"
    monkeypatch.setenv("PPROF_ADDR", "0.0.0.0:7070")
    with pytest.raises(SettingsError, match="not loopback"):
        settings_from([])
