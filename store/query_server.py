"""Read-only SQL over HTTP from the process that holds the evidence store: ``nhi query`` while the sink runs.

DuckDB lets one process open a file for writing and then no other process may open it, not even
read-only. So the sink answers queries itself: a small HTTP server on 127.0.0.1 runs each query on
its own cursor of the sink's database. A cursor is a separate connection to the same database, so
it sees committed data only, and each request runs in one read transaction: the answer is a
consistent snapshot as of the last committed batch (events, findings, trust and offsets of a batch
appear together or not at all), and the sink keeps writing meanwhile (MVCC).

Guarded like ``run_query``: the same ``plan_query`` refuses anything but reads, external access is
switched off for the database and its configuration locked. Discovery: ``<db>.query.json`` with
host, port, pid and a random token (mode 0600, so only the file's owner can ask), removed on exit.

Limits: queries run one at a time (a long query delays the next, never the sink's writes), inside
the sink process (its memory), without a timeout; the server listens on loopback only, so
``nhi query`` must run on the same host (in Compose: ``docker compose exec sink nhi query ...``).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import warnings
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

from contract.errors import QueryError
from store.query_wire import CONTENT_TYPE, QUERY_PATH, TOKEN_HEADER, encode_result, write_server_file
from store.readonly import execute_plan, friendly_error, plan_query

MAX_BODY = 1 << 20  # bytes of SQL + parameters accepted per request


class QueryServer:
    """Serves read-only queries on a cursor of ``con`` (the store's connection) until ``stop``."""

    def __init__(self, con: duckdb.DuckDBPyConnection, db_path: str | Path, port: int = 0) -> None:
        self.db_path = Path(db_path)
        self.token = secrets.token_urlsafe(32)
        self.lock = threading.Lock()  # one query at a time on the one cursor
        self._cursor = con.cursor()
        # Session settings first (a cursor does not inherit them), then database-wide guards:
        # after lock_configuration nobody, the sink included, can change a setting again.
        self._cursor.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.query_server = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.file: Path | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="nhi-query-server", daemon=True
        )
        self._thread.start()
        host, port = self.address
        self.file = write_server_file(
            self.db_path,
            {
                "host": host,
                "port": port,
                "pid": os.getpid(),
                "token": self.token,
                "db": str(self.db_path.resolve()),
            },
        )

    def stop(self) -> None:
        """Remove the discovery file first (new clients go to the file again), then finish requests."""
        if self.file is not None:
            with suppress(FileNotFoundError):
                if json.loads(self.file.read_text()).get("token") == self.token:
                    self.file.unlink()
            self.file = None
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        with self.lock, suppress(duckdb.Error):
            self._cursor.close()

    def run(self, sql: str, params: dict[str, object]) -> bytes:
        """One request: the Arrow IPC result, or QueryError with the message run_query would give."""
        plan = plan_query(sql, params)
        with self.lock:
            cur = self._cursor
            try:
                cur.begin()  # one snapshot for every statement of the request
                try:
                    result = execute_plan(cur, plan)
                    description = result.description or []
                    with warnings.catch_warnings():
                        # "Arrow output on a DB-API result makes an extra copy": fine for a query answer.
                        warnings.simplefilter("ignore")
                        table = result.to_arrow_table()
                finally:
                    cur.rollback()  # nothing to keep: the statements are reads
            except duckdb.Error as exc:
                raise friendly_error(exc, self.db_path) from exc
        return encode_result(table, [str(d[0]) for d in description], [str(d[1]) for d in description])


class _Handler(BaseHTTPRequestHandler):
    server_version = "nhi-query"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the sink's own output stays readable; a request log would also show the SQL

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._reply(status, json.dumps({"error": message}).encode())

    def do_GET(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "POST a query to /query")

    def do_POST(self) -> None:
        server: QueryServer = self.server.query_server  # type: ignore[attr-defined]
        given = self.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), server.token.encode()):
            self._error(HTTPStatus.UNAUTHORIZED, "wrong or missing token (read it from the .query.json file)")
            return
        if self.path != QUERY_PATH:
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint {self.path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request larger than {MAX_BODY} bytes")
            return
        try:
            request = json.loads(self.rfile.read(length))
            sql, params = request["sql"], request.get("params") or {}
            if not isinstance(sql, str) or not isinstance(params, dict):
                raise TypeError("sql must be a string and params an object")
        except (ValueError, KeyError, TypeError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, f"bad request: {exc}")
            return
        try:
            body = server.run(sql, params)
        except QueryError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except Exception as exc:  # a bug must answer the client, not kill the request thread silently
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")
            return
        self._reply(HTTPStatus.OK, body, CONTENT_TYPE)
