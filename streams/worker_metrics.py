"""The worker's Prometheus metrics (served by ``transport.observe``): what went in and out,
consumer lag per partition, batch latency per stage, findings, rejects and the state it holds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.worker_stats import WorkerStats

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.events_in = Counter(
            "nhi_worker_events_in", "Canonical events read from the events topic", registry=r
        )
        self.events_out = Counter(
            "nhi_worker_events_judged",
            "(NHI, event) pairs released by the reorder buffers and judged",
            registry=r,
        )
        self.findings = Counter("nhi_worker_findings", "Finding changes sent", registry=r)
        self.trust = Counter("nhi_worker_trust_changes", "Trust changes sent", registry=r)
        self.rejects = Counter(
            "nhi_worker_rejects", "Events-topic records that are not canonical events", registry=r
        )
        self.late = Counter(
            "nhi_worker_late_events", "Events that arrived behind what was released", registry=r
        )
        self.batch = Histogram(
            "nhi_worker_batch_seconds",
            "Time to handle one take batch",
            ["stage"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "nhi_worker_consumer_lag",
            "Records not yet read, per input partition",
            ["topic", "partition"],
            registry=r,
        )
        self.held = Gauge("nhi_worker_held_events", "Events held for ordering", registry=r)
        self.nhis = Gauge("nhi_worker_state_nhis", "NHI states held in memory", registry=r)
        self.keys = Gauge("nhi_worker_state_resolver_keys", "Resolver keys held in memory", registry=r)
        self.horizon = Gauge(
            "nhi_worker_release_horizon_seconds",
            "Event time (epoch seconds) a judge partition releases up to: its slowest input's mark less "
            "the reorder window (-1: an input not heard from yet; +Inf: every input idle)",
            ["partition"],
            registry=r,
        )
        self._seen = WorkerStats()

    def sync(self, st: WorkerStats) -> None:
        """Move the counters on by what ``st`` counted since the last call."""
        seen = self._seen
        for counter, now, before in (
            (self.events_in, st.events, seen.events),
            (self.events_out, st.judged, seen.judged),
            (self.findings, st.findings, seen.findings),
            (self.trust, st.trust, seen.trust),
            (self.rejects, st.rejects, seen.rejects),
            (self.late, st.late, seen.late),
        ):
            if now > before:
                counter.inc(now - before)
        seen.events, seen.judged, seen.findings = st.events, st.judged, st.findings
        seen.trust, seen.rejects, seen.late = st.trust, st.rejects, st.late
        self.held.set(st.held)
