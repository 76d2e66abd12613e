"""Prometheus metrics and a health endpoint on one HTTP port, for the worker and the sink.

    GET /metrics   the Prometheus text format of every registry given (prometheus-client)
    GET /healthz   200 {"ok": true, ...} while every check passes, else 503 with what failed

Each component keeps its own ``CollectorRegistry`` (several workers run in one test process);
``nhi run`` serves the worker's and the sink's on one port. The server is a daemon thread, so it
never delays a stop, and it binds where told (``NHI_METRICS_HOST``, default 0.0.0.0: a
Prometheus server scrapes it from elsewhere, and so do container healthchecks).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from contract.errors import ConfigError

# name -> () -> (healthy, detail)
Check = Callable[[], tuple[bool, str]]


def metrics_port_from(given: int | None, environ: dict[str, str] | None = None) -> int | None:
    """``--metrics-port``, else NHI_METRICS_PORT; None = no server."""
    if given is not None:
        return given
    env = os.environ if environ is None else environ
    raw = env.get("NHI_METRICS_PORT", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"NHI_METRICS_PORT={raw!r} is not a port number")
    return int(raw)


class ObserveServer:
    def __init__(self, port: int, registries: Sequence[CollectorRegistry], checks: dict[str, Check]) -> None:
        self.registries = list(registries)
        self.checks = checks
        host = os.environ.get("NHI_METRICS_HOST", "0.0.0.0")
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="nhi-observe", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> ObserveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def metrics(self) -> bytes:
        return b"".join(generate_latest(r) for r in self.registries)

    def health(self) -> tuple[bool, dict[str, Any]]:
        results = {}
        ok = True
        for name, check in self.checks.items():
            try:
                good, detail = check()
            except Exception as exc:  # a check that fails to answer is a failing check
                good, detail = False, f"{type(exc).__name__}: {exc}"
            results[name] = {"ok": good, "detail": detail}
            ok = ok and good
        return ok, {"ok": ok, "checks": results, "time": time.time()}


def _handler(server: ObserveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, server.metrics())
            elif path in ("/healthz", "/health"):
                ok, body = server.health()
                self._reply(200 if ok else 503, "application/json", orjson.dumps(body))
            else:
                self._reply(404, "text/plain", b"not found: /metrics or /healthz\n")

        def _reply(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes every few seconds would flood the logs

    return Handler
