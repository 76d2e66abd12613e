"""Local stand-ins for Slack, Teams, PagerDuty and Opsgenie (127.0.0.1): each checks the request
against the service's documented payload shape and answers as the service does.

- Slack incoming webhooks (api.slack.com/messaging/webhooks, Block Kit reference): JSON with
  ``text`` and/or ``blocks`` (<= 50); header text plain_text <= 150; section text <= 3000;
  fields <= 10 of <= 2000; context elements <= 10. 200 ``ok``; 400 ``invalid_blocks``.
- Teams Workflows webhook: ``type`` message, ``attachments`` with contentType
  application/vnd.microsoft.card.adaptive and an AdaptiveCard (``type``, ``version``, ``body``). 202.
- PagerDuty Events API v2 (developer.pagerduty.com/docs/events-api-v2): ``routing_key`` 32
  characters, ``event_action`` trigger|acknowledge|resolve, ``dedup_key`` <= 255; a trigger needs
  ``payload.summary`` (<= 1024), ``payload.source``, ``payload.severity``
  critical|error|warning|info. 202 ``{"status": "success", ...}``; 400 ``invalid event``.
- Opsgenie Alert API (docs.opsgenie.com/docs/alert-api): ``Authorization: GenieKey <key>``;
  create ``POST /v2/alerts`` with ``message`` (1-130), ``alias`` <= 512, ``description`` <= 15000,
  ``priority`` P1-P5, ``tags`` strings, ``details`` string map; close
  ``POST /v2/alerts/{alias}/close?identifierType=alias``. 202; 401 for a wrong key; 422 otherwise.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

Answer = tuple[int, bytes, dict[str, str]]
Check = Callable[[str, dict[str, str], Any], list[str]]

ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # 32 characters, as PagerDuty's are
GENIE_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"


def _str(v: Any, lo: int = 1, hi: int = 10**9) -> bool:
    return isinstance(v, str) and lo <= len(v) <= hi


def slack_problems(path: str, headers: dict[str, str], body: Any) -> list[str]:
    p: list[str] = []
    if not isinstance(body, dict) or not (_str(body.get("text")) or body.get("blocks")):
        return ["needs text or blocks"]
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        p.append("blocks: a list of at most 50")
    for i, b in enumerate(blocks):
        t = b.get("type")
        if t == "header":
            if b["text"].get("type") != "plain_text" or not _str(b["text"].get("text"), 1, 150):
                p.append(f"blocks[{i}]: header text must be plain_text of 1-150 characters")
        elif t == "section":
            text, fields = b.get("text"), b.get("fields")
            if text is None and fields is None:
                p.append(f"blocks[{i}]: section needs text or fields")
            if text is not None and not _str(text.get("text"), 1, 3000):
                p.append(f"blocks[{i}]: section text 1-3000 characters")
            if fields is not None and (
                len(fields) > 10 or not all(_str(f.get("text"), 1, 2000) for f in fields)
            ):
                p.append(f"blocks[{i}]: at most 10 fields of 1-2000 characters")
        elif t == "context":
            if not 1 <= len(b.get("elements", [])) <= 10:
                p.append(f"blocks[{i}]: context needs 1-10 elements")
        elif t not in ("divider", "actions", "image", "rich_text"):
            p.append(f"blocks[{i}]: unknown block type {t!r}")
    return p


def teams_problems(path: str, headers: dict[str, str], body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["type must be 'message'"]
    atts = body.get("attachments")
    if not isinstance(atts, list) or not atts:
        return ["attachments: a non-empty list"]
    p = []
    for a in atts:
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
            p.append("attachment contentType must be application/vnd.microsoft.card.adaptive")
        card = a.get("content", {})
        if card.get("type") != "AdaptiveCard" or not _str(card.get("version")):
            p.append("content must be an AdaptiveCard with a version")
        if not isinstance(card.get("body"), list) or not all("type" in e for e in card["body"]):
            p.append("card body: a list of typed elements")
        for act in card.get("actions", []):
            if act.get("type") == "Action.OpenUrl" and not _str(act.get("url")):
                p.append("Action.OpenUrl needs a url")
    return p


def pagerduty_problems(path: str, headers: dict[str, str], body: Any) -> list[str]:
    p = []
    if not _str(body.get("routing_key"), 32, 32):
        p.append("routing_key: 32 characters")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        p.append(f"event_action {action!r}")
    if "dedup_key" in body and not _str(body["dedup_key"], 1, 255):
        p.append("dedup_key: 1-255 characters")
    if action != "trigger" and "dedup_key" not in body:
        p.append(f"{action} needs a dedup_key")
    if action == "trigger":
        pl = body.get("payload", {})
        if not _str(pl.get("summary"), 1, 1024):
            p.append("payload.summary: 1-1024 characters")
        if not _str(pl.get("source")):
            p.append("payload.source is required")
        if pl.get("severity") not in ("critical", "error", "warning", "info"):
            p.append(f"payload.severity {pl.get('severity')!r}")
        if "timestamp" in pl:
            try:
                datetime.fromisoformat(pl["timestamp"])
            except (TypeError, ValueError):
                p.append("payload.timestamp: ISO 8601")
        if "custom_details" in pl and not isinstance(pl["custom_details"], dict):
            p.append("payload.custom_details: an object")
    for link in body.get("links", []):
        if not _str(link.get("href")):
            p.append("links[].href is required")
    return p


def opsgenie_problems(path: str, headers: dict[str, str], body: Any) -> list[str]:
    url = urllib.parse.urlsplit(path)
    if url.path == "/v2/alerts":
        p = []
        if not _str(body.get("message"), 1, 130):
            p.append("message: 1-130 characters")
        for key, limit in (("alias", 512), ("description", 15000), ("entity", 512), ("source", 100)):
            if key in body and not _str(body[key], 1, limit):
                p.append(f"{key}: at most {limit} characters")
        if body.get("priority", "P3") not in ("P1", "P2", "P3", "P4", "P5"):
            p.append(f"priority {body.get('priority')!r}")
        if not all(isinstance(t, str) for t in body.get("tags", [])):
            p.append("tags: strings")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in body.get("details", {}).items()):
            p.append("details: a map of strings")
        return p
    parts = url.path.split("/")
    if len(parts) == 5 and parts[:3] == ["", "v2", "alerts"] and parts[4] == "close":
        query = urllib.parse.parse_qs(url.query)
        if query.get("identifierType") != ["alias"]:
            return ["close by alias needs identifierType=alias"]
        return [f"unexpected close field {k}" for k in body if k not in ("user", "source", "note")]
    return [f"no such endpoint {url.path}"]


class Receiver(ThreadingHTTPServer):
    def __init__(self, service: str, check: Check, ok: int, ok_body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service
        self.check = check
        self.ok = ok
        self.ok_body = ok_body
        self.accepted: list[tuple[str, Any]] = []
        self.rejected: list[list[str]] = []
        self.requests = 0
        self.throttle_first = 0  # answer the first n requests 429 with Retry-After
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        with self.lock:
            self.requests += 1
            if self.requests <= self.throttle_first:
                return 429, b'{"message": "rate limited"}', {"Retry-After": "0.2"}
            if headers.get("content-type", "").split(";")[0] != "application/json":
                self.rejected.append(["Content-Type must be application/json"])
                return 400, b"invalid_payload", {}
            if self.service == "opsgenie" and headers.get("authorization") != f"GenieKey {GENIE_KEY}":
                self.rejected.append(["bad GenieKey"])
                return 401, b'{"message": "Could not authenticate"}', {}
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                self.rejected.append(["body is not JSON"])
                return 400, b"invalid_payload", {}
            problems = self.check(path, headers, body)
            if problems:
                self.rejected.append(problems)
                code = {"slack": 400, "pagerduty": 400, "teams": 400, "opsgenie": 422}[self.service]
                return code, orjson.dumps({"status": "invalid event", "errors": problems}), {}
            self.accepted.append((path, body))
            return self.ok, self.ok_body, {}


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        code, body, extra = self.server.answer(self.path, headers, raw)
        self.send_response(code)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


RECEIVERS: dict[str, tuple[Check, int, bytes]] = {
    "slack": (slack_problems, 200, b"ok"),
    "teams": (teams_problems, 202, b""),
    "pagerduty": (pagerduty_problems, 202, b'{"status": "success", "message": "Event processed"}'),
    "opsgenie": (opsgenie_problems, 202, b'{"result": "Request will be processed", "took": 0.1}'),
}


def start(service: str) -> Receiver:
    check, ok, ok_body = RECEIVERS[service]
    srv = Receiver(service, check, ok, ok_body)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
