"""Delivery against real local receivers: an HTTP server checking the HMAC signature, UDP and TCP
syslog listeners parsing RFC 5424, dead letters, routing rules and config validation."""

from __future__ import annotations

import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from alerts.deliver_webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from alerts.router import Router
from alerts.routing import parse_routing
from contract.errors import ConfigError
from nhi.cli import main
from tests.alert_helpers import alert, finding, read_jsonl, story_store

KEY = "s3cret-for-tests"


class Hook(ThreadingHTTPServer):
    """Accepts POSTs; the first ``fail_first`` get HTTP 503; a bad signature gets 401."""

    def __init__(self, fail_first: int = 0, always: int | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first = fail_first
        self.always = always
        self.requests = 0
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv = self.server
        with srv.lock:
            srv.requests += 1
            n = srv.requests
            ok = verify_signature(
                KEY.encode(), self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER]
            )
            if not ok:
                srv.bad_signatures += 1
                code = 401
            elif srv.always is not None:
                code = srv.always
            elif n <= srv.fail_first:
                code = 503
            else:
                code = 200
                srv.accepted.append(orjson.loads(body))
        self.send_response(code)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[Hook]:
    servers: list[Hook] = []

    def make(**kw: Any) -> Hook:
        srv = Hook(**kw)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv

    yield make  # type: ignore[misc]
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def config(tmp_path: Path, destinations: dict[str, Any], routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"dead_letters": str(tmp_path / "dead.jsonl"), "destinations": destinations, "routes": routes}


def webhook(url: str, attempts: int = 4) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": KEY, "retry": {"attempts": attempts, "backoff_s": 0.01}}


def router_for(cfg: dict[str, Any]) -> Router:
    parsed, _ = parse_routing(cfg, "test")
    return Router(parsed)


def test_webhook_signs_and_retries_until_the_server_accepts(tmp_path: Path, hook_server: Any) -> None:
    srv = hook_server(fail_first=2)
    router = router_for(config(tmp_path, {"soc": webhook(srv.url)}, [{"name": "all", "to": ["soc"]}]))
    router.submit(alert())
    report = router.close()
    assert srv.bad_signatures == 0
    assert srv.requests == 3
    assert [r["finding_info"]["uid"] for r in srv.accepted] == ["f1"]
    assert report.destinations["soc"].delivered == 1 and report.destinations["soc"].retries == 2
    assert read_jsonl(tmp_path / "dead.jsonl") == []


def test_a_failing_destination_dead_letters_intact_and_does_not_block_the_others(
    tmp_path: Path, hook_server: Any
) -> None:
    down = hook_server(always=503)
    up = hook_server()
    cfg = config(
        tmp_path,
        {"down": webhook(down.url, attempts=3), "up": webhook(up.url)},
        [{"name": "all", "to": ["down", "up"]}],
    )
    router = router_for(cfg)
    sent = [alert(finding(fid=f"f{i}"), uid=f"c{i}") for i in range(5)]
    for a in sent:
        assert router.submit(a) == ["down", "up"]  # returns at once: delivery is in the background
    report = router.close()
    assert len(up.accepted) == 5
    dead = read_jsonl(tmp_path / "dead.jsonl")
    assert [d["alert"]["finding_info"]["uid"] for d in dead] == [f"f{i}" for i in range(5)]
    assert all(d["destination"] == "down" and "HTTP 503" in d["error"] and d["attempts"] == 3 for d in dead)
    assert dead[0]["alert"] == up.accepted[0]  # the whole record, not a summary
    assert down.requests == 15
    assert report.dead == 5


def test_client_errors_are_not_retried(tmp_path: Path, hook_server: Any) -> None:
    srv = hook_server(always=400)
    router = router_for(config(tmp_path, {"soc": webhook(srv.url)}, [{"name": "all", "to": ["soc"]}]))
    router.submit(alert())
    router.close()
    assert srv.requests == 1
    assert "HTTP 400" in read_jsonl(tmp_path / "dead.jsonl")[0]["error"]


def test_a_full_queue_dead_letters_instead_of_blocking(tmp_path: Path) -> None:
    dead_port = _closed_tcp_port()
    dest = {"type": "syslog", "host": "127.0.0.1", "port": dead_port, "protocol": "tcp", "queue_size": 1}
    dest["retry"] = {"attempts": 2, "backoff_s": 0.01}
    router = router_for(config(tmp_path, {"siem": dest}, [{"name": "all", "to": ["siem"]}]))
    for i in range(20):
        router.submit(alert(finding(fid=f"f{i}"), uid=f"c{i}"))
    report = router.close()
    dead = read_jsonl(tmp_path / "dead.jsonl")
    assert len(dead) == 20 and report.dead == 20  # every alert accounted for, none lost
    assert any("queue full" in d["error"] for d in dead)


RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    rb"(?P<sd>\[nhi@32473(?: [a-z_]+=\"(?:[^\"\\\]]|\\.)*\")*\]) (?P<msg>.*)$",
    re.S,
)


def parse_5424(frame: bytes) -> dict[str, Any]:
    m = RFC5424.match(frame)
    assert m is not None, frame[:200]
    pri = int(m["pri"])
    return {"facility": pri // 8, "severity": pri % 8, "msgid": m["msgid"].decode(), "sd": m["sd"].decode(),
            "record": orjson.loads(m["msg"])}  # fmt: skip


class _UDP(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.frames.append(self.request[0])  # type: ignore[attr-defined]


class _TCP(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        # RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG, repeated on one connection
        while True:
            digits = b""
            while (c := self.rfile.read(1)) not in (b" ", b""):
                digits += c
            if not digits:
                return
            self.server.frames.append(self.rfile.read(int(digits)))  # type: ignore[attr-defined]


@pytest.fixture(params=["udp", "tcp"])
def syslog_listener(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, list[bytes]]]:
    cls = socketserver.ThreadingUDPServer if request.param == "udp" else socketserver.ThreadingTCPServer
    server = cls(("127.0.0.1", 0), _UDP if request.param == "udp" else _TCP)
    server.frames = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield request.param, server.server_address[1], server.frames  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_syslog_rfc5424_frames_with_pri_from_severity(tmp_path: Path, syslog_listener: Any) -> None:
    protocol, port, frames = syslog_listener
    dest = {"type": "syslog", "host": "127.0.0.1", "port": port, "protocol": protocol, "facility": 10}
    router = router_for(config(tmp_path, {"siem": dest}, [{"name": "all", "to": ["siem"]}]))
    sent = [
        alert(finding(severity="high", fid="f1")),
        alert(finding(severity="medium", fid="f2")),
        alert(finding(severity="low", fid="f3")),
        alert(finding(activity="close", fid="f1"), uid="c9"),
    ]
    for a in sent:
        router.submit(a)
    assert router.close().destinations["siem"].delivered == 4
    deadline = 200
    while len(frames) < 4 and deadline:  # the listener thread may still be reading the last frame
        threading.Event().wait(0.01)
        deadline -= 1
    got = sorted((parse_5424(f) for f in frames), key=lambda p: p["severity"])
    assert [(p["facility"], p["severity"]) for p in got] == [(10, 3), (10, 4), (10, 5), (10, 6)]
    assert got[0]["msgid"] == "finding-create" and got[3]["msgid"] == "finding-close"
    assert 'finding_id="f1"' in got[0]["sd"] and got[0]["record"]["class_uid"] == 2004


def test_routes_by_severity_detector_owner_and_namespace(tmp_path: Path) -> None:
    dests = {
        n: {"type": "jsonl", "path": str(tmp_path / f"{n}.jsonl")} for n in ("sev", "det", "own", "ns", "sup")
    }
    routes = [
        {"name": "urgent", "match": {"min_severity": "high"}, "to": ["sev"]},
        {"name": "drift", "match": {"detector": ["context-drift"]}, "to": ["det"]},
        {"name": "payments-owners", "match": {"owner": ["team-pay*"]}, "to": ["own"]},
        {"name": "web", "match": {"namespace": ["web"]}, "to": ["ns"]},
        {"name": "audit", "to": ["sup"], "include_suppressed": True},
    ]
    router = router_for(config(tmp_path, dests, routes))
    assert router.submit(alert(finding(severity="high"))) == ["sev", "own", "sup"]
    assert router.submit(alert(finding(severity="low", detector="context-drift"), owner=None)) == [
        "det",
        "sup",
    ]
    assert router.submit(alert(finding(severity="medium"), owner="team-web", namespace="web")) == [
        "ns",
        "sup",
    ]
    assert router.submit(alert(finding(severity="high"), suppressed=True)) == ["sup"]
    router.close()
    assert len(read_jsonl(tmp_path / "sup.jsonl")) == 4
    assert read_jsonl(tmp_path / "sup.jsonl")[3]["status_id"] == 3


def test_config_errors_are_all_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    bad = config(
        tmp_path,
        {
            "soc": {"type": "webhook", "url": "ftp://x", "secret_env": "NO_SUCH_SECRET"},
            "siem": {"type": "syslog", "host": "h", "protocol": "udp"},
        },
        [{"name": "a", "to": ["soc", "nowhere"]}, {"name": "a", "to": ["soc"]}],
    )
    with pytest.raises(ConfigError) as err:
        parse_routing(bad, "routes.yaml")
    text = str(err.value)
    for expected in ("unknown destination 'nowhere'", "used twice", "ftp://x", "NO_SUCH_SECRET is not set"):
        assert expected in text
    _, warnings = parse_routing({**bad, "destinations": {"soc": webhook("http://127.0.0.1:1/")}, "routes": [
        {"name": "a", "match": {"detector": ["no-such-detector"]}, "to": ["soc"]}]}, "r")  # fmt: skip
    assert any("not a detector" in str(w) for w in warnings)
    with pytest.raises(ConfigError, match=r"destinations\.soc"):
        parse_routing({**bad, "destinations": {"soc": {"type": "pager"}}}, "r")


def test_nhi_alerts_route_delivers_the_store_and_replay_alerts_delivers_as_it_runs(
    tmp_path: Path, hook_server: Any
) -> None:
    srv = hook_server()
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        yaml.safe_dump(config(tmp_path, {"soc": webhook(srv.url)}, [{"name": "all", "to": ["soc"]}]))
    )
    db = tmp_path / "e.duckdb"
    story_store(db)
    assert main(["alerts", "--db", str(db), "--route", str(routes), "--quiet"]) == 0
    assert len(srv.accepted) == 4
    events = tmp_path / "in.jsonl"
    from tests.test_engine_semantics import story

    events.write_bytes(b"\n".join(orjson.dumps(r) for r in story()))
    assert (
        main(["replay", "-q", "--db", str(tmp_path / "r.duckdb"), "--alerts", str(routes), str(events)]) == 0
    )
    assert len(srv.accepted) == 8
    assert {r["metadata"]["uid"] for r in srv.accepted[:4]} == {
        r["metadata"]["uid"] for r in srv.accepted[4:]
    }


def _closed_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
