"""Real-Kafka fixtures: one broker per test session, unique names per test, explicit topic creation.

Where the broker comes from, first match wins:
  1. NHI_KAFKA_BOOTSTRAP (what `make test` and external CI brokers set); it must answer, no fallback.
  2. .kafka/bootstrap, written by `make kafka-up` / `.ci/kafka/broker.py up`, if that broker answers.
  3. testcontainers' KafkaContainer, only where a Docker daemon actually responds.
  4. `.ci/kafka/broker.py up` (local JVM broker from Maven Central), stopped again at session end.
No broker: the kafka tests FAIL when CI is set (a silently skipped suite is a green lie) and skip otherwise.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BROKER_SCRIPT = REPO_ROOT / ".ci" / "kafka" / "broker.py"
# Override for the Docker path; a 7.x Confluent image because testcontainers' KafkaContainer start
# script (and its KRaft support) is written for that line.
TC_IMAGE = os.environ.get("NHI_KAFKA_TC_IMAGE", "confluentinc/cp-kafka:7.9.0")


def _load_broker_module() -> ModuleType:
    """Import .ci/kafka/broker.py for its stdlib Metadata probe (it's a script, not a package)."""
    name = "nhi_ci_kafka_broker"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BROKER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


_broker = _load_broker_module()


def broker_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    """True if any host:port in a comma-separated bootstrap list answers a Kafka Metadata request."""
    return any(_broker.is_healthy(hp.strip(), timeout) for hp in bootstrap.split(",") if hp.strip())


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"no Kafka broker (CI is set, so this fails rather than skips): {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason}")


def _docker_running() -> bool:
    try:
        # import_module keeps mypy from needing docker's (absent) type stubs.
        docker = importlib.import_module("docker")
        docker.from_env(timeout=3).ping()
    except Exception:  # no SDK, no socket, daemon down, permission denied: all mean "no Docker here"
        return False
    return True


def _broker_cmd(action: str) -> subprocess.CompletedProcess[str]:
    # stderr is captured so a failure can be reported in the skip/fail reason.
    return subprocess.run(
        [sys.executable, str(BROKER_SCRIPT), action],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address (host:port) of a real Apache Kafka broker for this test session."""
    env = os.environ.get("NHI_KAFKA_BOOTSTRAP", "").strip()
    if env:
        if not broker_answers(env, timeout=10):
            # Explicit configuration that is wrong is an error, not a reason to start something else.
            pytest.fail(f"NHI_KAFKA_BOOTSTRAP={env} does not answer a Kafka Metadata request", pytrace=False)
        yield env
        return

    state_file = REPO_ROOT / ".kafka" / "bootstrap"
    existing = state_file.read_text().strip() if state_file.exists() else ""
    if existing and broker_answers(existing):
        yield existing  # someone else's `make kafka-up`: theirs to stop
        return

    if _docker_running():
        try:
            from testcontainers.community.kafka import KafkaContainer

            container = KafkaContainer(TC_IMAGE).with_kraft()
            container.start(timeout=120)
        except Exception as exc:
            print(f"testcontainers Kafka failed ({exc!r}); falling back to the local broker", file=sys.stderr)
        else:
            try:
                yield str(container.get_bootstrap_server())
            finally:
                container.stop()
            return

    up = _broker_cmd("up")
    if up.returncode != 0:
        last = "\n".join(up.stderr.strip().splitlines()[-15:])
        _unavailable(f"`.ci/kafka/broker.py up` failed (exit {up.returncode}):\n{last}")
    address = up.stdout.strip().splitlines()[-1]
    try:
        yield address
    finally:
        _broker_cmd("down")


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[..., str]:
    """Factory for per-test unique topic / group ids: ``unique_name("g")`` -> ``g-test_x-1a2b3c4d``.

    Topics and groups outlive a test on a shared broker; unique names keep reruns and neighbours apart.
    """
    # Kafka topic names allow [A-Za-z0-9._-] and at most 249 chars.
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:120]

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{base}-{uuid.uuid4().hex[:8]}"

    return make


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int,
    *,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Create ``name`` with an explicit partition count and wait until every partition has a leader.

    Explicit creation instead of auto-create: auto-created topics get num.partitions=1, which would hide
    partitioning bugs; and waiting for leaders avoids first-produce races against metadata propagation.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await admin.start()
    try:
        resp: Any = await admin.create_topics(
            [
                NewTopic(
                    name, num_partitions=partitions, replication_factor=1, topic_configs=dict(configs or {})
                )
            ]
        )
        for entry in resp.topic_errors:
            topic, code = entry[0], entry[1]
            if code:
                detail = entry[2] if len(entry) > 2 else ""
                raise RuntimeError(f"create_topics({topic}) failed: error {code} {detail}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            described: list[dict[str, Any]] = await admin.describe_topics([name])
            parts = described[0].get("partitions", []) if described else []
            if (
                described
                and described[0].get("error_code") == 0
                and len(parts) == partitions
                and all(p.get("leader", -1) >= 0 for p in parts)
            ):
                return
            if loop.time() > deadline:
                raise TimeoutError(f"topic {name} has no leaders after {timeout_s}s: {described}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


@pytest.fixture
def new_topic(kafka_bootstrap: str, unique_name: Callable[..., str]) -> Callable[..., str]:
    """Sync factory: ``new_topic(3)`` creates a unique 3-partition topic and returns its name.

    Call it outside a running event loop; inside async code await ``create_topic`` instead.
    """

    def make(partitions: int, *, prefix: str = "t", configs: Mapping[str, str] | None = None) -> str:
        name = unique_name(prefix)
        asyncio.run(create_topic(kafka_bootstrap, name, partitions, configs=configs))
        return name

    return make
