"""The profiling endpoint (`--enable-pprof`/`ENABLE_PPROF` on `--profiling-bind-address`/`PPROF_ADDR`): Python's
equivalents of Go's pprof handlers, plain text, GET only, no authentication (so loopback only by default:
`kubectl port-forward` reaches it).

- `/debug/pprof/` lists the others;
- `/debug/pprof/goroutine` (also `/debug/threads`): every thread's stack, by name;
- `/debug/pprof/heap?top=N`: the N source lines holding the most memory allocated since the endpoint
  started (tracemalloc, started with the endpoint and only then: it slows allocation), with totals;
- `/debug/pprof/profile?seconds=N`: a sampling CPU profile of N seconds (at most `MAX_SECONDS`): every
  thread's stack is read from `sys._current_frames()` every `INTERVAL` seconds and the samples are written
  as folded stacks (`thread;outer;...;inner COUNT`, one line each, most frequent first), which flame graph
  tools read. One profile at a time; a second request meanwhile is answered 409.
"""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

MAX_SECONDS = 60.0
DEFAULT_SECONDS = 10.0
INTERVAL = 0.01
DEFAULT_TOP = 25
MAX_TOP = 1000
#: frames tracemalloc keeps per allocation
TRACE_FRAMES = 1

INDEX = """mcpop profiling endpoint
/debug/pprof/goroutine      every thread's stack (also /debug/threads)
/debug/pprof/heap?top=N     the N source lines holding the most memory (tracemalloc), default 25
/debug/pprof/profile?seconds=N  a sampling CPU profile as folded stacks, N <= 60, default 10
"""


def is_loopback(host: str) -> bool:
    """Whether `host` (an address to bind) is a loopback address or `localhost`."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def thread_dump() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    return "\n".join(f"--- thread {names.get(ident, ident)} ({ident})\n" + "".join(traceback.format_stack(frame))
                     for ident, frame in sorted(sys._current_frames().items()))  # fmt: skip


def heap_top(top: int) -> str:
    """The `top` source lines by memory allocated and still held since tracemalloc started."""
    if not tracemalloc.is_tracing():
        return "tracemalloc is not tracing (the endpoint starts it)\n"
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>"))
    )
    stats = snapshot.statistics("lineno")
    current, peak = tracemalloc.get_traced_memory()
    lines = [f"traced: {current} bytes now, {peak} bytes at peak; top {min(top, len(stats))} of {len(stats)} lines"]
    lines += [f"{s.size} bytes in {s.count} blocks: {s.traceback[0].filename}:{s.traceback[0].lineno}"
              for s in stats[:top]]  # fmt: skip
    return "\n".join(lines) + "\n"


def _stack(frame: FrameType | None) -> list[str]:
    out: list[str] = []
    while frame is not None:
        code = frame.f_code
        out.append(f"{code.co_name} ({code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno})")
        frame = frame.f_back
    return out[::-1]


def sample(seconds: float, interval: float = INTERVAL, sleep: Callable[[float], None] = time.sleep) -> Counter[str]:
    """Folded stacks of every other thread, sampled every `interval` for `seconds`."""
    me = threading.get_ident()
    counts: Counter[str] = Counter()
    end = time.monotonic() + seconds
    while True:
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident != me:
                counts[";".join([names.get(ident, str(ident)), *_stack(frame)])] += 1
        if time.monotonic() >= end:
            return counts
        sleep(interval)


def folded(counts: Counter[str]) -> str:
    return "".join(f"{stack} {n}\n" for stack, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class _Handler(BaseHTTPRequestHandler):
    server: ProfilingServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _number(self, query: dict[str, list[str]], name: str, default: float) -> float | None:
        raw = (query.get(name) or [str(default)])[0]
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if value > 0 else None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path.rstrip("/") or "/"
        if path in ("/debug/pprof", "/"):
            self._send(200, INDEX)
        elif path in ("/debug/pprof/goroutine", "/debug/threads"):
            self._send(200, thread_dump())
        elif path == "/debug/pprof/heap":
            top = self._number(query, "top", DEFAULT_TOP)
            if top is None:
                self._send(400, "top: a number of lines, more than 0\n")
                return
            self._send(200, heap_top(int(min(top, MAX_TOP))))
        elif path == "/debug/pprof/profile":
            seconds = self._number(query, "seconds", DEFAULT_SECONDS)
            if seconds is None:
                self._send(400, "seconds: a number of seconds, more than 0\n")
                return
            if not self.server.profiling.acquire(blocking=False):
                self._send(409, "a profile is being taken: try again when it ends\n")
                return
            try:
                counts = sample(min(seconds, self.server.max_seconds), self.server.interval)
            finally:
                self.server.profiling.release()
            self._send(200, folded(counts))
        else:
            self._send(404, INDEX)


class ProfilingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, max_seconds: float = MAX_SECONDS,
                 interval: float = INTERVAL) -> None:  # fmt: skip
        super().__init__(address, _Handler)
        self.max_seconds = max_seconds
        self.interval = interval
        self.profiling = threading.Lock()
        self.started_tracemalloc = False

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.started_tracemalloc:
            tracemalloc.stop()


def start_profiling_server(host: str, port: int, *, allow_remote: bool = False, max_seconds: float = MAX_SECONDS,
                           interval: float = INTERVAL) -> ProfilingServer:  # fmt: skip
    """Serve the profiling endpoint in a thread; starts tracemalloc. A bind address that is not loopback is
    refused unless `allow_remote` (the endpoint has no authentication)."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"the profiling endpoint would listen on {host or '0.0.0.0'}, not loopback: it has no "
                         "authentication; bind 127.0.0.1 (kubectl port-forward reaches it) or set "
                         "--profiling-allow-remote")  # fmt: skip
    srv = ProfilingServer((host, port), max_seconds=max_seconds, interval=interval)
    if not tracemalloc.is_tracing():
        tracemalloc.start(TRACE_FRAMES)
        srv.started_tracemalloc = True
    threading.Thread(target=srv.serve_forever, name="profiling", daemon=True).start()
    return srv


__all__ = ["ProfilingServer", "folded", "heap_top", "is_loopback", "sample", "start_profiling_server", "thread_dump"]
