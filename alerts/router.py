"""The router: match each alert against the routes and hand its OCSF record to every destination
of every matching route (once per destination), each through its own background worker.

A route takes the changes the notification policy notifies (or only those in its ``notify_on``,
or every change with ``every_change``), and its throttle holds back repeats within its window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from alerts import services
from alerts.deliver_file import JsonlTransport
from alerts.deliver_http import HttpTransport
from alerts.deliver_syslog import SyslogTransport
from alerts.deliver_webhook import WebhookTransport
from alerts.ocsf import Alert, to_ocsf
from alerts.routing import (
    AnyDestination,
    Match,
    Opsgenie,
    PagerDuty,
    Route,
    RoutingConfig,
    Slack,
    Syslog,
    Teams,
    Throttle,
    Webhook,
    load_routing,
)
from alerts.templates import UserTemplate
from alerts.worker import DeadLetters, DeliveryWorker, Transport, WorkerStats
from contract.records import SEVERITY_RANK


def _globs(patterns: list[str] | None, value: str | None) -> bool:
    if patterns is None:
        return True
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


def matches(match: Match, alert: Alert) -> bool:
    f, ctx = alert.finding, alert.context
    if match.min_severity and SEVERITY_RANK[f.severity] < SEVERITY_RANK[match.min_severity]:
        return False
    if match.severity is not None and f.severity not in match.severity:
        return False
    if match.detector is not None and f.detector not in match.detector:
        return False
    return _globs(match.owner, ctx.owner) and _globs(match.namespace, ctx.namespace)


def wants_change(route: Route, alert: Alert) -> bool:
    """Whether the route takes this kind of change (the notification policy, or the route's own list)."""
    if route.every_change:
        return True
    notice = alert.verdict
    if route.notify_on is None:
        return notice.notify
    # a route's own list narrows or widens the kinds, but a quiet (suppressed) change stays quiet
    return notice.change in route.notify_on and (notice.notify or not alert.suppressed)


def route_applies(route: Route, alert: Alert) -> bool:
    if alert.suppressed and not route.include_suppressed:
        return False
    if alert.finding.activity == "close" and not route.include_closed:
        return False
    return wants_change(route, alert) and matches(route.match, alert)


class Throttles:
    """Per route: when each key (finding, NHI, detector or the whole route) was last notified."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self.held: dict[str, int] = {}

    @staticmethod
    def key(throttle: Throttle, alert: Alert) -> str:
        f = alert.finding
        return {"finding": f.finding_id, "nhi": f.nhi, "detector": f.detector, "route": ""}[throttle.per]

    def allow(self, route: Route, alert: Alert) -> bool:
        """False when the route notified the same key less than its window ago (event time)."""
        if route.throttle is None or route.every_change or alert.verdict.change == "resolved":
            return True
        slot = (route.name, self.key(route.throttle, alert))
        now = alert.time.timestamp()
        last = self._last.get(slot)
        if last is not None and 0 <= now - last < route.throttle.window_s:
            self.held[route.name] = self.held.get(route.name, 0) + 1
            return False
        self._last[slot] = now
        return True


def make_transport(dest: AnyDestination) -> Transport:
    if isinstance(dest, Webhook):
        template = UserTemplate.from_file(dest.template, dest.content_type) if dest.template else None
        return WebhookTransport(dest.url, dest.key(), dest.timeout_s, dest.headers, template)
    if isinstance(dest, Slack):
        url = dest.target()
        return HttpTransport(lambda r: services.slack_request(r, url), dest.timeout_s, secret_url=True)
    if isinstance(dest, Teams):
        url = dest.target()
        return HttpTransport(lambda r: services.teams_request(r, url), dest.timeout_s, secret_url=True)
    if isinstance(dest, PagerDuty):
        pd_url, routing_key = dest.url, dest.key()
        return HttpTransport(lambda r: services.pagerduty_request(r, pd_url, routing_key), dest.timeout_s)
    if isinstance(dest, Opsgenie):
        og_url, api_key = dest.url, dest.key()
        return HttpTransport(lambda r: services.opsgenie_request(r, og_url, api_key), dest.timeout_s)
    if isinstance(dest, Syslog):
        return SyslogTransport(
            dest.host, dest.port, dest.protocol, dest.facility, dest.app_name, dest.timeout_s
        )
    return JsonlTransport(dest.path)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    routed: int  # alerts that matched at least one route
    unrouted: int
    dead_letters: Path
    destinations: dict[str, WorkerStats]
    throttled: dict[str, int] = field(default_factory=dict)  # per route: held back by its throttle

    @property
    def dead(self) -> int:
        return sum(s.dead for s in self.destinations.values())

    def lines(self) -> list[str]:
        out = [f"alerts routed {self.routed}, matched no route {self.unrouted}"]
        for route, n in self.throttled.items():
            out.append(f"  route {route}: {n} notification(s) held back by its throttle (still in the store)")
        for name, s in self.destinations.items():
            line = f"  {name}: delivered {s.delivered}, retries {s.retries}, dead letters {s.dead}"
            if s.errors:
                line += f" (last error: {s.errors[-1]})"
            out.append(line)
        if self.dead:
            out.append(f"  dead letters (alert + error) are in {self.dead_letters}")
        return out


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        transports: Callable[[AnyDestination], Transport] = make_transport,
    ) -> None:
        self.config = config
        self.dead = DeadLetters(config.dead_letters)
        self.workers = {
            name: DeliveryWorker(name, transports(dest), dest.retry, self.dead, dest.queue_size)
            for name, dest in config.destinations.items()
        }
        self.routed = 0
        self.unrouted = 0
        self.throttles = Throttles()

    @classmethod
    def from_file(cls, path: str | Path) -> tuple[Router, list[str]]:
        """The router and the config's warnings (as text)."""
        config, warnings = load_routing(path)
        return cls(config), [str(w) for w in warnings]

    def destinations_for(self, alert: Alert) -> list[str]:
        names: dict[str, None] = {}
        for route in self.config.routes:
            if route_applies(route, alert) and self.throttles.allow(route, alert):
                names.update(dict.fromkeys(route.to))
        return list(names)

    def submit(self, alert: Alert) -> list[str]:
        """Queue ``alert`` for its destinations; never blocks. Returns the destination names."""
        names = self.destinations_for(alert)
        if not names:
            self.unrouted += 1
            return names
        self.routed += 1
        record = to_ocsf(alert)
        for name in names:
            self.workers[name].submit(record)
        return names

    @property
    def pending(self) -> int:
        return sum(w.pending for w in self.workers.values())

    def close(self, drain_timeout: float = 30.0) -> DeliveryReport:
        """Deliver what is queued (each destination gets ``drain_timeout``); the rest is dead-lettered."""
        stats = {name: w.close(drain_timeout) for name, w in self.workers.items()}
        return DeliveryReport(self.routed, self.unrouted, self.dead.path, stats, dict(self.throttles.held))
