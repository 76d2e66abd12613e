"""Shared by the alert tests: a store made from the engine story, alerts built by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from alerts.context import NhiContext
from alerts.ocsf import Alert
from alerts.suppress import Suppression
from contract.events import event_from_record
from contract.records import Finding
from contract.settings import Settings
from store import Store
from streams.embedded import EmbeddedPipeline
from tests.scenario import rec
from tests.test_engine_semantics import A, story

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def replay(db: Path, records: list[dict[str, Any]]) -> list[Finding]:
    """Run the embedded pipeline over native records into ``db``; the finding changes it made."""
    seen: list[Finding] = []
    with Store.open(db) as store:
        pipeline = EmbeddedPipeline(Settings(), store, on_finding=seen.append)
        pipeline.feed(event_from_record(r) for r in records)
        pipeline.finish()
    return seen


def story_store(db: Path) -> list[Finding]:
    return replay(db, story())


def owner_assigned(minute: float) -> dict[str, Any]:
    """A's new active owner: closes its unowned-actor finding."""
    return rec("identity.updated", minute, nhi=A, owner="bob@example.com")


def finding(
    detector: str = "token-outlived-task",
    severity: str = "high",
    activity: str = "create",
    nhi: str = "k8s:prod/payments/ledger",
    reason: str = "outlived-task",
    fid: str = "f1",
) -> Finding:
    return Finding(
        finding_id=fid, detector=detector, severity=severity, status="resolved" if activity == "close" else "open",  # type: ignore[arg-type]
        nhi=nhi, credential="jti-1", task="pod:p1", reason=reason, summary=f"{detector} on {nhi}",
        first_seen=T0, last_seen=T0 + timedelta(minutes=5), evidence=["e1", "e2"], activity=activity,  # type: ignore[arg-type]
        resolved_at=T0 + timedelta(minutes=9) if activity == "close" else None,
    )  # fmt: skip


def alert(
    f: Finding | None = None,
    owner: str | None = "team-payments",
    namespace: str | None = "payments",
    suppressed: bool = False,
    uid: str = "c1",
) -> Alert:
    sup = Suppression("rule-1", "known", T0 + timedelta(days=30)) if suppressed else None
    return Alert(f or finding(), uid, NhiContext(owner, "active", namespace, "prod", 40), sup)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
