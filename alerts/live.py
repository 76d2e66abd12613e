"""Findings in, alerts out: print and/or route each change as it happens.

The hook ``nhi replay --alerts`` passes to EmbeddedPipeline's ``on_finding``, and what
``nhi alerts --bootstrap`` feeds from the findings topic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from alerts.feed import AlertMaker, engine_lookup, recorded_suppressions
from alerts.ocsf import Alert
from alerts.router import DeliveryReport, Router
from alerts.suppress import Suppressor, load_rules
from contract.records import Finding
from store.store import Store
from streams.embedded import EmbeddedPipeline


class LiveAlerts:
    def __init__(
        self,
        maker: AlertMaker,
        router: Router | None = None,
        emit: Callable[[Alert], None] | None = None,
        every_change: bool = False,
    ) -> None:
        self.maker = maker
        self.router = router
        self.emit = emit
        self.every_change = every_change  # emit evidence-only updates too (routes decide for themselves)
        self.count = 0

    @classmethod
    def for_replay(
        cls, route_config: str, suppressor: Suppressor, store: Store | None
    ) -> tuple[LiveAlerts, list[str]]:
        """Routing from ``route_config``, with the suppressions recorded in ``store`` applied (a rules
        file in $NHI_SUPPRESSIONS only changes what is routed; nothing is recorded)."""
        router, warnings = Router.from_file(route_config)
        if store is not None:
            suppressor = suppressor.with_recorded(recorded_suppressions(store, datetime.now(UTC)))
        return cls(AlertMaker(suppressor), router), warnings

    def on_finding(self, finding: Finding) -> None:
        self.handle(self.maker.make(finding))

    def handle(self, alert: Alert) -> None:
        self.count += 1
        if self.emit is not None and (self.every_change or alert.verdict.notify):
            self.emit(alert)
        if self.router is not None:
            self.router.submit(alert)

    @property
    def pending(self) -> int:
        return self.router.pending if self.router is not None else 0

    def close(self, drain_timeout: float = 30.0) -> DeliveryReport | None:
        return self.router.close(drain_timeout) if self.router is not None else None


class ReplayHook:
    """What ``nhi replay --alerts`` hands to EmbeddedPipeline: the printer, then the router."""

    def __init__(self, printer: Callable[[Finding], None] | None, live: LiveAlerts | None) -> None:
        self.printer = printer
        self.live = live
        self.report: DeliveryReport | None = None
        self.warnings: list[str] = []

    def on_finding(self, finding: Finding) -> None:
        if self.printer is not None:
            self.printer(finding)
        if self.live is not None:
            self.live.on_finding(finding)

    def attach(self, pipeline: EmbeddedPipeline) -> None:
        """Owner, trust and placement for the alerts come from the engine's per-NHI state."""
        if self.live is not None:
            self.live.maker.lookup = engine_lookup(pipeline.engine.state.nhis.get)

    def report_lines(self) -> list[str]:
        return self.warnings + (self.report.lines() if self.report is not None else [])


@contextmanager
def replay_alerts(
    route_config: str | None, store: Store | None, printer: Callable[[Finding], None] | None
) -> Iterator[ReplayHook]:
    """Routing for a replay; on exit every queued alert is delivered or dead-lettered."""
    if route_config is None:
        yield ReplayHook(printer, None)
        return
    live, warnings = LiveAlerts.for_replay(route_config, Suppressor(load_rules()), store)
    hook = ReplayHook(printer, live)
    hook.warnings = warnings
    try:
        yield hook
    finally:
        hook.report = live.close()
