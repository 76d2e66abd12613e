"""Alerts from the Kafka pipeline: the findings topic (and trust, for owners) -> router -> JSONL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from alerts.feed import AlertMaker
from alerts.kafka_source import IdentityCache
from alerts.live import LiveAlerts
from alerts.router import Router
from alerts.routing import parse_routing
from contract.records import Finding, IdentityRow, TrustChange
from tests.alert_helpers import T0, finding, read_jsonl
from tests.kafka_fixtures import create_topic
from transport.codec import encode_finding, encode_trust
from transport.findings_feed import consume_findings
from transport.topics import Topics


def test_findings_topic_alerts_are_routed_with_owners_from_the_trust_topic(
    kafka_bootstrap: str, unique_name: Callable[..., str], tmp_path: Path
) -> None:
    topics = Topics(prefix=unique_name("alerts") + ".", partitions=2)
    nhi = "k8s:prod/payments/ledger"
    changes = [finding(fid="f1"), finding(fid="f2", severity="low"), finding(fid="f1", activity="close")]
    cfg, _ = parse_routing(
        {
            "dead_letters": str(tmp_path / "dead.jsonl"),
            "destinations": {
                "team": {"type": "jsonl", "path": str(tmp_path / "team.jsonl")},
                "all": {"type": "jsonl", "path": str(tmp_path / "all.jsonl")},
            },
            "routes": [
                {"name": "owner", "match": {"owner": ["team-pay*"], "min_severity": "high"}, "to": ["team"]},
                {"name": "all", "to": ["all"]},
            ],
        },
        "test",
    )
    cache = IdentityCache()
    live = LiveAlerts(AlertMaker(lookup=cache.lookup), Router(cfg))

    async def run() -> None:
        for topic in (topics.findings, topics.trust):
            await create_topic(kafka_bootstrap, topic, topics.partitions)
        stop = asyncio.Event()

        def handle(f: Finding) -> None:
            live.on_finding(f)
            if live.count == len(changes):
                stop.set()

        consumer = asyncio.create_task(
            consume_findings(
                kafka_bootstrap,
                topics,
                unique_name("g"),
                handle,
                on_identity=cache.remember,
                pending=lambda: live.pending,
                stop=stop,
            )
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            ident = IdentityRow(nhi, "team-payments", "active", "registered", None, T0, T0, 3, 40, 2)
            trust = encode_trust(TrustChange(nhi, T0, 40, 100, (), "e1"), ident)
            await producer.send_and_wait(topics.trust, trust, key=nhi.encode())
            while nhi not in cache.known:  # the owner is known before any finding of its NHI arrives
                await asyncio.sleep(0.05)
            for f in changes:
                await producer.send_and_wait(topics.findings, encode_finding(f), key=nhi.encode())
        finally:
            await producer.stop()
        stats = await consumer
        assert (stats.findings, stats.identities, stats.commits) == (3, 1, 1)

    asyncio.run(asyncio.wait_for(run(), 120))
    report = live.close()
    everything = read_jsonl(tmp_path / "all.jsonl")
    assert [(r["finding_info"]["uid"], r["activity_id"]) for r in everything] == [
        ("f1", 1),
        ("f2", 1),
        ("f1", 3),
    ]
    team = read_jsonl(tmp_path / "team.jsonl")
    assert [(r["finding_info"]["uid"], r["activity_id"]) for r in team] == [("f1", 1), ("f1", 3)]
    assert team[0]["resources"][0]["owner"] == {
        "uid": "team-payments",
        "name": "team-payments",
        "type_id": 99,
        "type": "Team",
    }
    assert report is not None and report.dead == 0
