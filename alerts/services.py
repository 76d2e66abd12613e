"""Built-in message shapes for the tools SOC teams already use, rendered from the OCSF record.

- Slack incoming webhook: ``text`` (the notification fallback) and Block Kit ``blocks`` (header,
  sections with fields, context); header text <= 150 characters, section text <= 3000, at most
  10 fields of <= 2000. https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit/blocks
- Microsoft Teams (Workflows / Power Automate "post to a channel when a webhook request is
  received", or a legacy incoming webhook): a ``message`` with one Adaptive Card attachment.
  https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference
- PagerDuty Events API v2: ``routing_key``, ``event_action`` trigger/resolve, ``dedup_key`` (the
  finding id, so a finding is one incident), ``payload.summary`` (<= 1024), ``source``,
  ``severity`` (critical/error/warning/info). https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
- Opsgenie Alert API: create ``POST /v2/alerts`` (``message`` <= 130, ``alias`` <= 512 = the
  finding id, ``description`` <= 15000, ``priority`` P1-P5, ``tags``, ``details``), close
  ``POST /v2/alerts/{alias}/close?identifierType=alias``. https://docs.opsgenie.com/docs/alert-api

Secrets: Slack and Teams webhooks are unsigned; the URL itself is the secret (Slack's signing
secret only signs requests Slack sends to you), so keep it in an environment variable (``url_env``)
and out of logs (errors show the host only). PagerDuty's routing key and Opsgenie's API key
(``Authorization: GenieKey``) authenticate each request.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson

from alerts.deliver_http import HttpRequest
from alerts.templates import view

JSON = {"Content-Type": "application/json"}
EMOJI = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":large_blue_circle:"}
PAGERDUTY_SEVERITY = {"high": "error", "medium": "warning", "low": "info"}  # OCSF High is below Critical
OPSGENIE_PRIORITY = {"high": "P2", "medium": "P3", "low": "P4"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mrkdwn(text: str) -> str:
    # Slack's mrkdwn control characters; everything else is shown as written
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(a: dict[str, Any]) -> str:
    verb = {"opened": "", "resolved": "Resolved: ", "reopened": "Reopened: ", "suppressed": "Suppressed: ",
            "unsuppressed": "Unsuppressed: ", "severity-raised": "Escalated: "}.get(a["change"], "")  # fmt: skip
    return f"{verb}{a['title']}"


def facts(a: dict[str, Any]) -> list[tuple[str, str]]:
    out = [("Severity", a["severity"]), ("Change", a["change"] or "-"), ("Identity", a["nhi"]),
           ("Owner", a["owner"] or "none registered")]  # fmt: skip
    if a["credential"]:
        out.append(("Credential", a["credential"]))
    out.append(("Detector", f"{a['detector']} / {a['reason']}"))
    return out


def slack(record: dict[str, Any]) -> dict[str, Any]:
    a = view(record)
    title = headline(a)
    steps = "\n".join(f"{i}. {_mrkdwn(s)}" for i, s in enumerate(a["steps"], 1))
    refs = " · ".join(f"<{u}|{i}>" for i, u in enumerate(a["references"], 1))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, 150), "emoji": True}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _cut(f"{EMOJI.get(a['severity'], '')} {_mrkdwn(a['summary'])}", 3000),
            },
        },
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{_mrkdwn(v)}", 2000)} for k, v in facts(a)][
                :10
            ],
        },
    ]
    if steps and not a["resolved"]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*What to do*\n{steps}", 3000)}}
        )
    context = f"finding `{a['finding_id']}` · {a['status_detail'] or a['status']}" + (
        f" · read: {refs}" if refs else ""
    )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, 3000)}]})
    return {"text": _cut(f"{title}: {a['summary']}", 3000), "blocks": blocks}


def teams(record: dict[str, Any]) -> dict[str, Any]:
    a = view(record)
    color = {"high": "Attention", "medium": "Warning"}.get(a["severity"], "Accent")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": headline(a), "weight": "Bolder", "size": "Medium", "wrap": True,
         "color": "Good" if a["resolved"] else color},
        {"type": "TextBlock", "text": a["summary"], "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts(a)]},
    ]  # fmt: skip
    if a["steps"] and not a["resolved"]:
        body.append({"type": "TextBlock", "text": "What to do", "weight": "Bolder", "wrap": True})
        body.append(
            {
                "type": "TextBlock",
                "text": "\n".join(f"{i}. {s}" for i, s in enumerate(a["steps"], 1)),
                "wrap": True,
            }
        )
    body.append(
        {
            "type": "TextBlock",
            "text": f"finding {a['finding_id']}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": f"Reference {i}", "url": u}
            for i, u in enumerate(a["references"][:3], 1)
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def pagerduty(record: dict[str, Any], routing_key: str) -> dict[str, Any]:
    a = view(record)
    if a["resolved"] or a["suppressed"]:
        # a suppressed finding needs nobody: its incident resolves like a remediated one
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": a["finding_id"]}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": a["finding_id"],
        "payload": {
            "summary": _cut(f"{headline(a)}: {a['summary']}", 1024),
            "source": a["nhi"] or "nhi-evidence",
            "severity": PAGERDUTY_SEVERITY.get(a["severity"], "warning"),
            "timestamp": a["time"],
            "component": a["detector"],
            "group": a["owner"] or "unowned",
            "class": a["reason"],
            "custom_details": {
                "what it means": a["description"],
                "what to do": a["steps"],
                "owner": a["owner"],
                "credential": a["credential"],
                "change": a["change"],
                "alert id": a["alert_id"],
                "evidence events": a["evidence_count"],
            },
        },
        "links": [{"href": u, "text": f"Reference {i}"} for i, u in enumerate(a["references"], 1)],
        "client": "nhi-evidence",
    }


def pagerduty_request(record: dict[str, Any], url: str, routing_key: str) -> HttpRequest:
    return HttpRequest(url, orjson.dumps(pagerduty(record, routing_key)), dict(JSON))


def opsgenie_request(record: dict[str, Any], base: str, api_key: str) -> HttpRequest:
    a = view(record)
    auth = {**JSON, "Authorization": f"GenieKey {api_key}"}
    alias = _cut(a["finding_id"], 512)
    if a["resolved"] or a["suppressed"]:
        path = f"/v2/alerts/{urllib.parse.quote(alias, safe='')}/close?identifierType=alias"
        note = a["status_detail"] or ("suppressed" if a["suppressed"] else "resolved")
        return HttpRequest(
            base.rstrip("/") + path, orjson.dumps({"source": "nhi-evidence", "note": _cut(note, 25000)}), auth
        )
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(a["steps"], 1))
    description = f"{a['summary']}\n\n{a['description']}\n\nWhat to do:\n{steps}\n\n" + "\n".join(
        a["references"]
    )
    details = {k: str(v) for k, v in (("nhi", a["nhi"]), ("owner", a["owner"]), ("credential", a["credential"]),
               ("detector", a["detector"]), ("reason", a["reason"]), ("change", a["change"]),
               ("alert_id", a["alert_id"])) if v}  # fmt: skip
    body = {
        "message": _cut(headline(a) + ": " + a["nhi"], 130),
        "alias": alias,
        "description": _cut(description, 15000),
        "priority": OPSGENIE_PRIORITY.get(a["severity"], "P3"),
        "tags": [t for t in (a["detector"], a["reason"], a["severity"]) if t],
        "details": details,
        "entity": _cut(a["nhi"], 512),
        "source": "nhi-evidence",
    }
    return HttpRequest(base.rstrip("/") + "/v2/alerts", orjson.dumps(body), auth)


def slack_request(record: dict[str, Any], url: str) -> HttpRequest:
    return HttpRequest(url, orjson.dumps(slack(record)), dict(JSON))


def teams_request(record: dict[str, Any], url: str) -> HttpRequest:
    return HttpRequest(url, orjson.dumps(teams(record)), dict(JSON))
