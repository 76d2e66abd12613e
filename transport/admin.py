"""Creating the pipeline's topics with explicit layouts (transport module: talks to Kafka).

Explicit instead of broker auto-create: auto-created topics get ``num.partitions`` (usually 1)
and ``cleanup.policy=delete``, which would silently serialise the worker and let the trust and
entity snapshots expire instead of being compacted.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from contract.errors import ConfigError, TransportError
from transport.topics import Topics

TOPIC_ALREADY_EXISTS = 36
# -1 = the broker's default.replication.factor (CreateTopics v4+, Kafka >= 2.4).
DEFAULT_REPLICATION = -1


def replication_from_env(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    raw = env.get("NHI_TOPIC_REPLICATION", "").strip()
    if not raw:
        return DEFAULT_REPLICATION
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"NHI_TOPIC_REPLICATION={raw!r} is not an integer") from None
    if value == 0 or value < -1:
        raise ConfigError("NHI_TOPIC_REPLICATION must be >= 1, or -1 for the broker default")
    return value


def topic_configs(topics: Topics, name: str) -> dict[str, str]:
    if name in topics.compacted():
        return {"cleanup.policy": "compact"}
    return {}


async def ensure_topics(
    bootstrap: str,
    topics: Topics,
    client_options: Mapping[str, Any] | None = None,
    *,
    replication: int | None = None,
    timeout_s: float = 30.0,
) -> dict[str, str]:
    """Create every topic of ``topics`` that is missing; {topic: "created" | "exists"}.

    Idempotent: an existing topic is left as it is (its partition count is not changed, because
    adding partitions would move keys to other partitions under a running worker).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError

    rf = replication_from_env() if replication is None else replication
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), **dict(client_options or {})
    )
    names = topics.all()
    try:
        await admin.start()
        resp: Any = await admin.create_topics([_new_topic(NewTopic, n, topics, rf) for n in names])
        result: dict[str, str] = {}
        for entry in resp.topic_errors:
            topic, code = entry[0], entry[1]
            if code == TOPIC_ALREADY_EXISTS:
                result[topic] = "exists"
            elif code:
                detail = entry[2] if len(entry) > 2 else ""
                raise TransportError(f"can't create Kafka topic {topic}: error {code} {detail}".strip())
            else:
                result[topic] = "created"
        await _wait_for_leaders(admin, names, timeout_s)
        created = [t for t, state in result.items() if state == "created"]
        if created:
            await _wait_until_led(bootstrap, created, topics.partitions, client_options, timeout_s)
        return result
    except KafkaError as exc:
        raise TransportError(f"Kafka at {bootstrap}: can't create topics: {exc!r}") from exc
    except OSError as exc:
        raise TransportError(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
    finally:
        await admin.close()


async def _wait_until_led(
    bootstrap: str,
    names: list[str],
    partitions: int,
    client_options: Mapping[str, Any] | None,
    timeout_s: float,
) -> None:
    """Metadata names a leader before that broker acts as one (KRaft applies it asynchronously), and a
    first produce would then be retried with NotLeaderForPartition warnings. A ListOffsets request is
    answered only by the acting leader (aiokafka retries it until then), so one round trip settles it."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), **dict(client_options or {})
    )
    await consumer.start()
    try:
        await consumer.end_offsets([TopicPartition(n, p) for n in names for p in range(partitions)])
    finally:
        await consumer.stop()


def _new_topic(new_topic: Any, name: str, topics: Topics, rf: int) -> Any:
    topic = new_topic(name, topics.partitions, max(rf, 1), topic_configs=topic_configs(topics, name))
    # aiokafka's NewTopic refuses -1 without a replica assignment although the protocol allows it
    # (KIP-464); set it afterwards so the broker's default.replication.factor applies.
    topic.replication_factor = rf
    return topic


async def _wait_for_leaders(admin: Any, names: list[str], timeout_s: float) -> None:
    """Producing right after creation races metadata propagation; wait until every partition has a leader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described: list[dict[str, Any]] = await admin.describe_topics(names)
        ready = len(described) == len(names) and all(
            d.get("error_code") == 0
            and d.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in d["partitions"])
            for d in described
        )
        if ready:
            return
        if loop.time() > deadline:
            waiting = [d.get("topic") for d in described if d.get("error_code") != 0]
            raise TransportError(f"Kafka topics have no leaders after {timeout_s:.0f}s: {waiting or names}")
        await asyncio.sleep(0.1)
