"""The sink's Prometheus metrics (served by ``transport.observe``) and its health."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SinkMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.records = Counter("nhi_sink_records", "Kafka records stored, per topic", ["topic"], registry=r)
        self.events = Counter("nhi_sink_events", "Events stored (new rows)", registry=r)
        self.rejects = Counter("nhi_sink_rejects", "Rejects stored (DLQ and undecodable records)", registry=r)
        self.findings = Counter("nhi_sink_finding_changes", "Finding changes stored", registry=r)
        self.trust = Counter("nhi_sink_trust_changes", "Trust changes stored", registry=r)
        self.batch = Histogram(
            "nhi_sink_batch_seconds",
            "Time to decode and store one batch (one transaction)",
            buckets=_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "nhi_sink_consumer_lag", "Records not yet read, per partition", ["topic", "partition"], registry=r
        )
        self.polled_at = 0.0  # monotonic time of the loop's last fetch
        self.failed: BaseException | None = None
        self._lag_at = 0.0

    def health(self) -> tuple[bool, str]:
        if self.failed is not None:
            return False, f"the sink failed: {type(self.failed).__name__}: {self.failed}"
        age = time.monotonic() - self.polled_at
        if age > 10:
            return False, f"no fetch for {age:.0f}s"
        return True, "fetching"

    async def observe_lag(self, consumer: Any) -> None:
        now = time.monotonic()
        if now - self._lag_at < 2.0:
            return
        self._lag_at = now
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            pos = await consumer.position(tp)
            if end is not None and pos is not None:
                self.lag.labels(tp.topic, str(tp.partition)).set(max(0, end - pos))
