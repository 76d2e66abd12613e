"""The routing config: destinations, routes and the dead-letter file, in one YAML file.

    dead_letters: /var/lib/nhi/alerts-dead.jsonl
    destinations:
      soc:
        type: webhook
        url: https://soc.example.com/hooks/nhi
        secret_env: NHI_WEBHOOK_SECRET        # HMAC-SHA256 key (or `secret:` inline)
        retry: {attempts: 5, backoff_s: 1, max_backoff_s: 60}
      siem: {type: syslog, host: 10.0.0.5, port: 6514, protocol: tcp}
      archive: {type: jsonl, path: alerts.jsonl}
      chat: {type: slack, url_env: NHI_SLACK_WEBHOOK}          # or teams
      pagerduty: {type: pagerduty, routing_key_env: NHI_PD_ROUTING_KEY}
      opsgenie: {type: opsgenie, api_key_env: NHI_OPSGENIE_KEY}
      tickets: {type: webhook, url: https://t.example.com/api, secret_env: K, template: ticket.json.j2}
    routes:
      - name: urgent
        match: {min_severity: high}
        to: [soc, siem]
      - name: payments-team
        match: {namespace: "payments*", detector: [token-outlived-task, context-drift]}
        to: [soc]
      - name: everything
        to: [archive]
        include_suppressed: true
        every_change: true                      # evidence-only updates too (an archive, a SIEM)
      - name: on-call
        match: {min_severity: high}
        to: [pagerduty]
        notify_on: [opened, severity-raised, resolved]   # narrower than the policy's default
        throttle: {window_s: 900, per: nhi}     # at most one page per identity per 15 minutes

Checking is two passes, as in pySigma: the model catches shapes and types, then validators
each return issues (errors and warnings) about meaning; ``load_routing`` raises one ConfigError
listing every error, so a config is fixed in one go.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.policy import Change
from contract.compliance import detector_names
from contract.errors import ConfigError
from contract.records import SEVERITY_RANK

SeverityName = Literal["low", "medium", "high"]


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(5, ge=1, le=100)  # tries in all, the first included
    backoff_s: float = Field(1.0, ge=0)  # wait before the 2nd try; doubles each time
    max_backoff_s: float = Field(60.0, ge=0)

    def delay(self, failures: int) -> float:
        """Wait after the ``failures``-th failed try (1-based): exponential, capped."""
        return float(min(self.max_backoff_s, self.backoff_s * (2 ** (failures - 1))))


class _Destination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retry: Retry = Field(default_factory=Retry)
    queue_size: int = Field(1000, ge=1)  # alerts waiting for this destination; beyond it: dead letters


def _value_or_env(value: str | None, env: str | None) -> str:
    return value if value is not None else os.environ.get(env or "", "")


class Webhook(_Destination):
    type: Literal["webhook"]
    url: str
    secret: str | None = None
    secret_env: str | None = None
    timeout_s: float = Field(10.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    template: str | None = None  # a Jinja2 file rendering the body (default: the OCSF record)
    content_type: str = "application/json"

    def key(self) -> bytes:
        return _value_or_env(self.secret, self.secret_env).encode()


class _ChatWebhook(_Destination):
    """Slack and Teams: an unsigned POST; the URL is the secret, so url_env is the better choice."""

    url: str | None = None
    url_env: str | None = None
    timeout_s: float = Field(10.0, gt=0)

    def target(self) -> str:
        return _value_or_env(self.url, self.url_env)


class Slack(_ChatWebhook):
    type: Literal["slack"]


class Teams(_ChatWebhook):
    type: Literal["teams"]


class PagerDuty(_Destination):
    type: Literal["pagerduty"]
    routing_key: str | None = None
    routing_key_env: str | None = None
    url: str = "https://events.pagerduty.com/v2/enqueue"  # EU accounts: events.eu.pagerduty.com
    timeout_s: float = Field(10.0, gt=0)

    def key(self) -> str:
        return _value_or_env(self.routing_key, self.routing_key_env)


class Opsgenie(_Destination):
    type: Literal["opsgenie"]
    api_key: str | None = None
    api_key_env: str | None = None
    url: str = "https://api.opsgenie.com"  # EU accounts: https://api.eu.opsgenie.com
    timeout_s: float = Field(10.0, gt=0)

    def key(self) -> str:
        return _value_or_env(self.api_key, self.api_key_env)


class Syslog(_Destination):
    type: Literal["syslog"]
    host: str
    port: int = Field(514, ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = "udp"
    facility: int = Field(10, ge=0, le=23)  # 10 = authpriv: security/authorization messages
    app_name: str = "nhi-evidence"
    timeout_s: float = Field(5.0, gt=0)


class JsonlFile(_Destination):
    type: Literal["jsonl"]
    path: str


AnyDestination = Webhook | Syslog | JsonlFile | Slack | Teams | PagerDuty | Opsgenie
Destination = Annotated[AnyDestination, Field(discriminator="type")]


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_severity: SeverityName | None = None
    severity: list[SeverityName] | None = None
    detector: list[str] | None = None
    owner: list[str] | None = None  # globs
    namespace: list[str] | None = None  # globs


class Throttle(BaseModel):
    """At most one notification per key within the window (event time); resolutions always pass,
    so a ticket opened by the first one is closed. Held-back notifications are counted."""

    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(gt=0)
    per: Literal["finding", "nhi", "detector", "route"] = "nhi"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    match: Match = Field(default_factory=Match)
    to: list[str] = Field(min_length=1)
    include_suppressed: bool = False  # suppressed alerts go only to routes that ask for them
    include_closed: bool = True  # close activities (the cause went away)
    every_change: bool = False  # also changes the policy does not notify (evidence-only updates)
    notify_on: list[Change] | None = None  # None: the policy's default (every change but evidence)
    throttle: Throttle | None = None


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dead_letters: str
    destinations: dict[str, Destination] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Issue:
    level: Literal["error", "warning"]
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


Validator = Callable[[RoutingConfig], list[Issue]]


def _routes_name_destinations(cfg: RoutingConfig) -> list[Issue]:
    return [
        Issue(
            "error",
            f"routes[{i}] ({r.name}).to",
            f"unknown destination {d!r} (known: {', '.join(cfg.destinations)})",
        )
        for i, r in enumerate(cfg.routes)
        for d in r.to
        if d not in cfg.destinations
    ]


def _unique_route_names(cfg: RoutingConfig) -> list[Issue]:
    seen: set[str] = set()
    out = []
    for i, r in enumerate(cfg.routes):
        if r.name in seen:
            out.append(Issue("error", f"routes[{i}].name", f"route name {r.name!r} is used twice"))
        seen.add(r.name)
    return out


def _unused_destinations(cfg: RoutingConfig) -> list[Issue]:
    used = {d for r in cfg.routes for d in r.to}
    return [
        Issue("warning", f"destinations.{name}", "no route sends to it")
        for name in cfg.destinations
        if name not in used
    ]


def _known_detectors(cfg: RoutingConfig) -> list[Issue]:
    known = set(detector_names())
    return [
        Issue(
            "warning",
            f"routes[{i}] ({r.name}).match.detector",
            f"{d!r} is not a detector ({', '.join(sorted(known))})",
        )
        for i, r in enumerate(cfg.routes)
        for d in r.match.detector or ()
        if d not in known
    ]


def _one_secret(where: str, field: str, value: str | None, env: str | None, what: str) -> list[Issue]:
    if (value is None) == (env is None):
        return [Issue("error", where, f"give exactly one of {field} or {field}_env ({what})")]
    if env is not None and not os.environ.get(env):
        return [Issue("error", f"{where}.{field}_env", f"environment variable {env} is not set")]
    return []


def _url_issues(where: str, url: str) -> list[Issue]:
    if not url.startswith(("http://", "https://")):
        return [Issue("error", where, f"must be an http:// or https:// URL, got {url!r}")]
    if url.startswith("http://") and not url.startswith(("http://127.", "http://localhost")):
        return [Issue("warning", where, "plain http: alerts travel unencrypted")]
    return []


def _webhooks(cfg: RoutingConfig) -> list[Issue]:
    out = []
    for name, d in cfg.destinations.items():
        where = f"destinations.{name}"
        if isinstance(d, Webhook):
            out += _url_issues(f"{where}.url", d.url)
            out += _one_secret(where, "secret", d.secret, d.secret_env, "the HMAC-SHA256 key")
            if d.template is not None and not Path(d.template).is_file():
                out.append(Issue("error", f"{where}.template", f"no such file {d.template}"))
        elif isinstance(d, (Slack, Teams)):
            out += _one_secret(where, "url", d.url, d.url_env, "the webhook URL, which is its secret")
            if d.target():
                out += _url_issues(f"{where}.url", d.target())
        elif isinstance(d, PagerDuty):
            out += _one_secret(where, "routing_key", d.routing_key, d.routing_key_env, "the integration key")
            out += _url_issues(f"{where}.url", d.url)
        elif isinstance(d, Opsgenie):
            out += _one_secret(where, "api_key", d.api_key, d.api_key_env, "the API integration key")
            out += _url_issues(f"{where}.url", d.url)
    return out


def _change_filters(cfg: RoutingConfig) -> list[Issue]:
    return [
        Issue("warning", f"routes[{i}] ({r.name})", "every_change sends every change; notify_on is ignored")
        for i, r in enumerate(cfg.routes)
        if r.every_change and r.notify_on is not None
    ]


def _severity_filters(cfg: RoutingConfig) -> list[Issue]:
    out = []
    for i, r in enumerate(cfg.routes):
        m = r.match
        if (
            m.min_severity
            and m.severity
            and all(SEVERITY_RANK[s] < SEVERITY_RANK[m.min_severity] for s in m.severity)
        ):
            out.append(
                Issue(
                    "error", f"routes[{i}] ({r.name}).match", "severity and min_severity exclude each other"
                )
            )
    return out


def _writable_paths(cfg: RoutingConfig) -> list[Issue]:
    paths = [("dead_letters", cfg.dead_letters)]
    paths += [
        (f"destinations.{n}.path", d.path) for n, d in cfg.destinations.items() if isinstance(d, JsonlFile)
    ]
    return [
        Issue("error", where, f"directory {Path(p).parent} does not exist")
        for where, p in paths
        if not Path(p).resolve().parent.is_dir()
    ]


VALIDATORS: tuple[Validator, ...] = (
    _routes_name_destinations,
    _unique_route_names,
    _unused_destinations,
    _known_detectors,
    _webhooks,
    _severity_filters,
    _change_filters,
    _writable_paths,
)


def validate(cfg: RoutingConfig) -> list[Issue]:
    return [issue for check in VALIDATORS for issue in check(cfg)]


def parse_routing(data: Any, origin: str) -> tuple[RoutingConfig, list[Issue]]:
    """The config and its warnings; ConfigError listing every error otherwise."""
    try:
        cfg = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"error: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"routing config {origin} is not valid:\n  " + "\n  ".join(lines)) from exc
    issues = validate(cfg)
    errors = [i for i in issues if i.level == "error"]
    if errors:
        raise ConfigError(f"routing config {origin} is not valid:\n  " + "\n  ".join(str(i) for i in errors))
    return cfg, [i for i in issues if i.level == "warning"]


def load_routing(path: str | Path) -> tuple[RoutingConfig, list[Issue]]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"routing config {p} can't be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"routing config {p} is not valid YAML: {exc}") from exc
    return parse_routing(_anchor(data, p.parent), str(p))


def _anchor(data: Any, base: Path) -> Any:
    """Relative file paths in the config are relative to the config file, not the working directory."""
    if not isinstance(data, dict):
        return data

    def fix(value: Any) -> Any:
        return str(base / value) if isinstance(value, str) and not Path(value).is_absolute() else value

    out = dict(data)
    if "dead_letters" in out:
        out["dead_letters"] = fix(out["dead_letters"])
    dests = out.get("destinations")
    if isinstance(dests, dict):
        out["destinations"] = {
            name: {**d, **{k: fix(d[k]) for k in ("path", "template") if k in d}}
            if isinstance(d, dict)
            else d
            for name, d in dests.items()
        }
    return out
