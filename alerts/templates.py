"""User templates for webhooks: any service that takes JSON (or text) gets the body it expects.

A template is Jinja2, rendered in a sandbox (a template can't reach Python internals or files) with
undefined names as errors. Two names are in scope:

- ``alert``: the whole OCSF Detection Finding record, as delivered to a plain webhook;
- ``a``: the fields people template with, flattened (see ``view``): ``a.title``, ``a.summary``,
  ``a.severity``, ``a.change``, ``a.notify``, ``a.resolved``, ``a.nhi``, ``a.owner``,
  ``a.credential``, ``a.detector``, ``a.reason``, ``a.finding_id``, ``a.alert_id``, ``a.time``,
  ``a.steps`` (list), ``a.references`` (list), ``a.description``.

Write JSON with the ``tojson`` filter (``"text": {{ a.summary | tojson }}``), so quotes and
newlines in values are escaped. With a JSON content type, the rendered body must parse as JSON;
a template that fails on an alert dead-letters that alert with the reason, and is not retried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import orjson
from jinja2.sandbox import SandboxedEnvironment

from alerts.worker import DeliveryError
from contract.errors import ConfigError

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _tojson(value: Any) -> str:
    """Plain JSON (Jinja's own tojson escapes for HTML); an undefined name fails with its name."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return orjson.dumps(value, default=str).decode()


_ENV.filters["tojson"] = _tojson


def view(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of an OCSF alert record that messages are made of, by plain names."""
    info = record.get("finding_info", {})
    res = record.get("resources") or [{}]
    notice = record.get("unmapped", {}).get("notification", {})
    remediation = record.get("remediation", {})
    steps = [
        line.split(". ", 1)[1] if ". " in line else line
        for line in str(remediation.get("desc", "")).splitlines()
        if line.strip()
    ]
    millis = record.get("time")
    when = datetime.fromtimestamp(millis / 1000, UTC).isoformat() if isinstance(millis, int) else ""
    return {
        "title": str(info.get("title", "")),
        "description": str(info.get("desc", "")),
        "summary": str(record.get("message", "")),
        "severity": str(record.get("severity", "")).lower(),
        "status": str(record.get("status", "")).lower(),
        "status_detail": str(record.get("status_detail", "")),
        "change": str(notice.get("change", "")),
        "notify": bool(record.get("is_alert", False)),
        "resolved": record.get("status_id") == 4,
        "suppressed": record.get("status_id") == 3,
        "nhi": str(res[0].get("uid", "")),
        "owner": res[0].get("owner", {}).get("uid"),
        "credential": res[1].get("uid") if len(res) > 1 else None,
        "detector": str(info.get("analytic", {}).get("uid", "")),
        "reason": str(record.get("unmapped", {}).get("reason", "")),
        "finding_id": str(info.get("uid", "")),
        "alert_id": str(record.get("metadata", {}).get("uid", "")),
        "time": when,
        "steps": steps,
        "references": list(remediation.get("references", [])),
        "evidence_count": int(info.get("related_events_count", 0)),
    }


class UserTemplate:
    def __init__(self, source: str, origin: str, content_type: str = "application/json") -> None:
        try:
            self._template = _ENV.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template {origin}, line {exc.lineno}: {exc.message}") from exc
        self.origin = origin
        self.content_type = content_type

    @classmethod
    def from_file(cls, path: str | Path, content_type: str = "application/json") -> UserTemplate:
        try:
            source = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"template {path} can't be read: {exc}") from exc
        return cls(source, str(path), content_type)

    def render(self, record: dict[str, Any]) -> bytes:
        try:
            text = self._template.render(alert=record, a=view(record))
        except Exception as exc:  # e.g. an undefined name or a bad filter argument: the template's fault
            raise DeliveryError(f"template {self.origin}: {exc}", retryable=False) from exc
        body = text.encode()
        if "json" in self.content_type:
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise DeliveryError(
                    f"template {self.origin} did not render valid JSON ({exc}); use the tojson filter",
                    retryable=False,
                ) from exc
        return body
