"""`/healthz` and `/readyz` on the health-probe address: named checks, 200 when all pass."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Check = Callable[[], bool]


class HealthServer:
    """A tiny HTTP server answering `/healthz` and `/readyz` from registered checks."""

    def __init__(self, host: str, port: int) -> None:
        self.healthz: dict[str, Check] = {"ping": lambda: True}
        self.readyz: dict[str, Check] = {"ping": lambda: True}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0].rstrip("/")
                checks = {"/healthz": outer.healthz, "/readyz": outer.readyz}.get(path)
                if checks is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                failed = []
                for name, check in list(checks.items()):
                    try:
                        ok = check()
                    except Exception:
                        ok = False
                    if not ok:
                        failed.append(name)
                body = ("ok" if not failed else "failed: " + ",".join(failed)).encode()
                self.send_response(200 if not failed else 503)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
