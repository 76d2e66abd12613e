"""Slack, Teams, PagerDuty, Opsgenie and templated webhooks, delivered to local receivers that check
each service's documented payload shape (tests/service_receivers.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.feed import AlertMaker
from alerts.router import Router
from alerts.routing import parse_routing
from alerts.templates import UserTemplate
from contract.errors import ConfigError
from nhi.cli import main
from tests.alert_helpers import finding, read_jsonl, replay
from tests.service_receivers import GENIE_KEY, ROUTING_KEY, Receiver, start
from tests.test_alerts_delivery import KEY, Hook
from tests.test_alerts_policy import reopening_story

SERVICES = ("slack", "teams", "pagerduty", "opsgenie")


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    servers = {s: start(s) for s in SERVICES}
    yield servers
    for srv in servers.values():
        srv.shutdown()
        srv.server_close()


def destinations(r: dict[str, Receiver]) -> dict[str, Any]:
    fast = {"attempts": 3, "backoff_s": 0.01}
    return {
        "slack": {"type": "slack", "url": r["slack"].url + "/services/T000/B000/XXXX", "retry": fast},
        "teams": {"type": "teams", "url": r["teams"].url + "/workflows/abc?sig=secret", "retry": fast},
        "pagerduty": {"type": "pagerduty", "routing_key": ROUTING_KEY, "url": r["pagerduty"].url + "/v2/enqueue",
                      "retry": fast},
        "opsgenie": {"type": "opsgenie", "api_key": GENIE_KEY, "url": r["opsgenie"].url, "retry": fast},
    }  # fmt: skip


def test_every_service_gets_its_documented_shape_through_nhi_alerts(
    tmp_path: Path, receivers: dict[str, Receiver]
) -> None:
    db = tmp_path / "e.duckdb"
    replay(db, reopening_story())  # opened, resolved, reopened (and two evidence-only updates)
    routes = tmp_path / "routes.yaml"
    cfg = {"dead_letters": "dead.jsonl", "destinations": destinations(receivers),
           "routes": [{"name": "people", "to": list(SERVICES)}]}  # fmt: skip
    routes.write_text(yaml.safe_dump(cfg))
    assert main(["alerts", "--db", str(db), "--route", str(routes), "--quiet"]) == 0
    for name, srv in receivers.items():
        assert srv.rejected == [], (name, srv.rejected)
        assert len(srv.accepted) == 3, name
    assert read_jsonl(tmp_path / "dead.jsonl") == []
    pd = [body for _, body in receivers["pagerduty"].accepted]
    assert [e["event_action"] for e in pd] == ["trigger", "resolve", "trigger"]
    assert len({e["dedup_key"] for e in pd}) == 1  # one finding, one incident
    assert pd[0]["payload"]["severity"] == "error" and pd[0]["payload"]["custom_details"]["what to do"]
    og = [path for path, _ in receivers["opsgenie"].accepted]
    assert og[0] == "/v2/alerts" and og[1].endswith("/close?identifierType=alias") and og[2] == "/v2/alerts"
    create = receivers["opsgenie"].accepted[0][1]
    assert create["priority"] == "P2" and "What to do:" in create["description"]
    slack = receivers["slack"].accepted[0][1]
    assert slack["text"] and slack["blocks"][0]["type"] == "header"
    assert any("What to do" in b.get("text", {}).get("text", "") for b in slack["blocks"])
    assert receivers["slack"].accepted[1][1]["blocks"][0]["text"]["text"].startswith("Resolved: ")
    card = receivers["teams"].accepted[0][1]["attachments"][0]["content"]
    assert card["body"][0]["text"] and any(a["type"] == "Action.OpenUrl" for a in card["actions"])


def test_a_rate_limit_is_waited_out_as_the_service_asks(
    tmp_path: Path, receivers: dict[str, Receiver]
) -> None:
    receivers["slack"].throttle_first = 1
    cfg = {"dead_letters": str(tmp_path / "dead.jsonl"), "destinations": {"chat": destinations(receivers)["slack"]},
           "routes": [{"name": "all", "to": ["chat"]}]}  # fmt: skip
    router = Router(parse_routing(cfg, "t")[0])
    router.submit(AlertMaker().make(finding()))
    stats = router.close().destinations["chat"]
    assert (stats.delivered, stats.retries, stats.dead) == (1, 1, 0)
    assert receivers["slack"].requests == 2


def test_a_rejected_request_is_dead_lettered_at_once_with_the_service_reason_and_no_secret(
    tmp_path: Path, receivers: dict[str, Receiver]
) -> None:
    dests = destinations(receivers)
    dests["pagerduty"]["routing_key"] = "too-short"
    dests["opsgenie"]["api_key"] = "wrong"
    cfg = {"dead_letters": str(tmp_path / "dead.jsonl"), "destinations": dests,
           "routes": [{"name": "all", "to": ["pagerduty", "opsgenie"]}]}  # fmt: skip
    router = Router(parse_routing(cfg, "t")[0])
    router.submit(AlertMaker().make(finding()))
    router.close()
    dead = {d["destination"]: d for d in read_jsonl(tmp_path / "dead.jsonl")}
    assert dead["pagerduty"]["attempts"] == 1 and "routing_key: 32 characters" in dead["pagerduty"]["error"]
    assert dead["opsgenie"]["attempts"] == 1 and "HTTP 401" in dead["opsgenie"]["error"]
    assert receivers["pagerduty"].requests == 1


def test_a_chat_webhook_url_never_appears_in_errors(tmp_path: Path) -> None:
    cfg = {"dead_letters": str(tmp_path / "dead.jsonl"),
           "destinations": {"chat": {"type": "slack", "url": "http://127.0.0.1:9/services/T0/B0/SECRETPART",
                                     "retry": {"attempts": 1}}},
           "routes": [{"name": "all", "to": ["chat"]}]}  # fmt: skip
    router = Router(parse_routing(cfg, "t")[0])
    router.submit(AlertMaker().make(finding()))
    router.close()
    (dead,) = read_jsonl(tmp_path / "dead.jsonl")
    assert "SECRETPART" not in dead["error"] and "127.0.0.1:9" in dead["error"]


TICKET = """{
  "summary": {{ a.title | tojson }},
  "priority": {{ {"high": 1, "medium": 2, "low": 3}[a.severity] }},
  "assignee": {{ (a.owner or "soc-queue") | tojson }},
  "body": {{ (a.summary ~ "\\n\\n" ~ a.steps | join("\\n")) | tojson }},
  "finding": {{ alert.finding_info.uid | tojson }},
  "state": {{ ("closed" if a.resolved else "open") | tojson }}
}
"""


def test_a_user_template_shapes_a_signed_webhook(tmp_path: Path) -> None:
    srv = Hook()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        (tmp_path / "ticket.json.j2").write_text(TICKET)
        cfg = {"dead_letters": "dead.jsonl", "routes": [{"name": "all", "to": ["tickets"]}],
               "destinations": {"tickets": {"type": "webhook", "url": srv.url, "secret": KEY,
                                            "template": "ticket.json.j2"}}}  # fmt: skip
        routes = tmp_path / "routes.yaml"
        routes.write_text(yaml.safe_dump(cfg))
        router, _ = Router.from_file(routes)
        maker = AlertMaker()
        f = replace(finding(), summary='credential "jti-1" <used> late')
        router.submit(maker.make(f))
        router.submit(maker.make(replace(f, activity="close", status="resolved")))
        router.close()
        assert srv.bad_signatures == 0  # the rendered body is what was signed
        opened, closed = srv.accepted
        assert opened["summary"] == "Credential still valid after its task ended"
        assert opened["priority"] == 1 and opened["assignee"] == "soc-queue"
        assert (
            '"jti-1" <used>' in opened["body"] and opened["state"] == "open" and closed["state"] == "closed"
        )
    finally:
        srv.shutdown()
        srv.server_close()


def test_template_mistakes_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 1"):
        UserTemplate('{"a": {{ a.title }', "t.j2")
    from alerts.ocsf import to_ocsf
    from alerts.worker import DeliveryError
    from tests.alert_helpers import alert

    record = to_ocsf(alert())
    with pytest.raises(DeliveryError, match="no_such") as err:
        UserTemplate('{"a": {{ a.no_such | tojson }}}', "t.j2").render(record)
    assert err.value.retryable is False
    with pytest.raises(DeliveryError, match="tojson"):
        UserTemplate('{"a": {{ a.summary }}}', "t.j2").render(record)


def test_service_configs_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SLACK_URL", raising=False)
    cfg = {"dead_letters": str(tmp_path / "d.jsonl"), "routes": [{"name": "a", "to": ["s", "p", "o", "w"]}],
           "destinations": {"s": {"type": "slack", "url_env": "NO_SLACK_URL"},
                            "p": {"type": "pagerduty"},
                            "o": {"type": "opsgenie", "api_key": "k", "api_key_env": "K"},
                            "w": {"type": "webhook", "url": "https://x", "secret": "k", "template": "nope.j2"}}}  # fmt: skip
    with pytest.raises(ConfigError) as err:
        parse_routing(cfg, "routes.yaml")
    text = str(err.value)
    for expected in ("NO_SLACK_URL is not set", "exactly one of routing_key or routing_key_env",
                     "exactly one of api_key or api_key_env", "no such file nope.j2"):  # fmt: skip
        assert expected in text, text
