"""A canonical dataset for the sink tests: engine output over many copies of a story, as Kafka records.

The reference store is the same objects written with Store.write directly; the sink must end up with
equal tables (apart from the times at which rows were written).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.events import Event, event_from_record
from contract.records import Snapshots
from contract.rejects import Reject
from contract.settings import Settings
from store import Batch, Store
from streams.engine import Engine, Output
from tests.kafka_helpers import produce
from tests.test_engine_semantics import story
from transport.codec import encode_entity, encode_event, encode_finding, encode_trust, event_key
from transport.dlq import H_LOCATION, H_REASON, H_SOURCE
from transport.topics import Topics

# Table -> columns that differ between two stores by design: when a row was written, and the hash
# chain links (store/chain.py), which follow each store's insertion order.
CHAIN = ["seq", "prev_hash", "hash"]
COMPARED = {
    "events": ["ingested_at"],
    "identities": [],
    "credentials": [],
    "tasks": [],
    "findings": ["updated_at"],
    "finding_history": ["recorded_at", *CHAIN],
    "trust_scores": CHAIN,
    "rejects": ["received_at"],
}

Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]


@dataclass(slots=True)
class Dataset:
    events: list[Event] = field(default_factory=list)
    out: Output = field(default_factory=Output)
    snapshots: Snapshots = field(default_factory=Snapshots)
    rejects: list[Reject] = field(default_factory=list)

    def batch(self) -> Batch:
        return Batch(
            events=self.events,
            rejects=self.rejects,
            findings=self.out.findings,
            trust=self.out.trust,
            snapshots=Snapshots(
                identities=self.snapshots.identities,
                credentials=self.snapshots.credentials,
                tasks=self.snapshots.tasks,
            ),
        )

    def records(self, topics: Topics) -> list[Record]:
        """Every record as the collectors and the worker would produce it."""
        recs: list[Record] = [(topics.events, event_key(e), encode_event(e), None) for e in self.events]
        for r in self.rejects:
            headers = [(H_REASON, r.reason.encode()), (H_SOURCE, r.source.encode())]
            headers.append((H_LOCATION, (r.location or "").encode()))
            recs.append((topics.dlq, None, r.raw.encode(), headers))
        recs += [(topics.findings, f.nhi.encode(), encode_finding(f), None) for f in self.out.findings]
        # The worker attaches the identity snapshot to an NHI's trust changes; here to its last one.
        identities = {i.nhi: i for i in self.snapshots.identities}
        last = {t.nhi: n for n, t in enumerate(self.out.trust)}
        for n, t in enumerate(self.out.trust):
            ident = identities.get(t.nhi) if last[t.nhi] == n else None
            recs.append((topics.trust, t.nhi.encode(), encode_trust(t, ident), None))
        for row in [*self.snapshots.credentials, *self.snapshots.tasks]:
            key, value = encode_entity(row)
            recs.append((topics.entities, key, value, None))
        return recs


def dataset(copies: int) -> Dataset:
    """``copies`` renamed copies of the engine-semantics story, through the engine."""
    data = Dataset()
    engine = Engine(Settings())
    for i in range(copies):
        for record in story():
            r: dict[str, Any] = dict(record)
            for k in ("nhi", "task", "credential", "owner"):
                if r.get(k):
                    r[k] = f"{r[k]}#{i}"
            data.events.append(event_from_record(r))
    for e in data.events:
        data.out.extend(engine.process(e))
    data.out.extend(engine.flush())
    data.snapshots = engine.drain_snapshots()
    # Identities without a trust change would never reach the trust topic: keep the reference honest.
    with_trust = {t.nhi for t in data.out.trust}
    data.snapshots.identities = [i for i in data.snapshots.identities if i.nhi in with_trust]
    data.rejects = [
        Reject(f'{{"bad": {i}, "token": "fp:0123"}}', f"reason {i}", "native", f"in.jsonl:{i}")
        for i in range(copies // 4 + 1)
    ]
    return data


def produce_records(bootstrap: str, records: list[Record]) -> None:
    asyncio.run(produce(bootstrap, records))


def reference_db(path: Path, data: Dataset) -> Path:
    with Store.open(path) as store:
        store.write(data.batch())
    return path


def table_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with Store.open(path, read_only=True) as store:
        out = {}
        for table, volatile in COMPARED.items():
            exclude = f" EXCLUDE ({', '.join(volatile)})" if volatile else ""
            out[table] = store.rows(f"SELECT *{exclude} FROM {table} ORDER BY ALL")
        return out


def stored_offsets(path: Path, group: str) -> dict[tuple[str, int], int]:
    with Store.open(path, read_only=True) as store:
        return store.load_offsets(group)


def chains_ok(path: Path) -> bool:
    """The tamper-evidence hash chains still verify after the sink's batched, re-delivered writes."""
    with Store.open(path, read_only=True) as store:
        return all(report.ok for report in store.verify_chains())
