"""``nhi query`` against a running sink: its query server answers when the sink holds the store's lock.

``run_remote`` returns None when no live server is announced for the file (no ``<db>.query.json``,
its process is gone, or nothing listens on its port), so the caller can report the original lock
error; a refused or failing query raises QueryError with the same message ``run_query`` would give.
See store/query_server.py for the design and its limits.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from contract.errors import QueryError
from store.query_wire import CONTENT_TYPE, QUERY_PATH, TOKEN_HEADER, decode_result, server_file
from store.readonly import QueryResult

TIMEOUT_S = 3600.0  # a socket timeout, not a query limit: big analytical queries take a while


def _announced(db_path: str | Path) -> dict[str, Any] | None:
    try:
        info = orjson.loads(server_file(db_path).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    except PermissionError as exc:
        raise QueryError(
            f"{server_file(db_path)}: can't read the sink's query file ({exc.strerror})"
        ) from exc
    if not isinstance(info, dict) or not {"host", "port", "pid", "token"} <= info.keys():
        return None
    return info if _alive(int(info["pid"])) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # the sink died without removing its file (SIGKILL): a stale announcement
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def run_remote(
    db_path: str | Path, sql: str, params: Mapping[str, object] | None = None
) -> QueryResult | None:
    """Run read-only ``sql`` on the sink holding ``db_path``; None when no sink serves queries for it."""
    info = _announced(db_path)
    if info is None:
        return None
    try:
        body = orjson.dumps({"sql": sql, "params": dict(params or {})})
    except TypeError as exc:
        raise QueryError(f"query parameters must be text, numbers, booleans or null: {exc}") from exc
    conn = http.client.HTTPConnection(str(info["host"]), int(info["port"]), timeout=TIMEOUT_S)
    try:
        conn.request(
            "POST",
            QUERY_PATH,
            body=body,
            headers={"Content-Type": "application/json", TOKEN_HEADER: str(info["token"])},
        )
        response = conn.getresponse()
        payload = response.read()
    except ConnectionRefusedError:
        return None  # the pid was reused by another process; nothing serves this file
    except OSError as exc:
        raise QueryError(f"the sink's query server at {info['host']}:{info['port']} failed: {exc}") from exc
    finally:
        conn.close()
    if response.status == 200 and response.getheader("Content-Type") == CONTENT_TYPE:
        return decode_result(payload)
    try:
        message = str(orjson.loads(payload)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = payload[:200].decode("utf-8", "replace")
    raise QueryError(message if response.status == 400 else f"the sink's query server: {message}")
