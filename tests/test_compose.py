"""compose.yaml and the Dockerfile can't be run here (no Docker): check what can be checked statically."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from nhi.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
BROKER_SCRIPT = ROOT / ".ci" / "kafka" / "broker.py"
BROKER_TOOLCHAIN = BROKER_SCRIPT.with_name("kafka_toolchain.py")  # where KAFKA_VERSION lives


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _nhi_services() -> dict[str, list[str]]:
    services = _compose()["services"]
    return {name: svc["command"] for name, svc in services.items() if name != "kafka"}


def test_services_and_broker_image() -> None:
    services = _compose()["services"]
    assert set(services) == {"kafka", "ingest", "worker", "sink"}
    # The same Kafka release as the CI broker the tests run against.
    version = re.search(r'^KAFKA_VERSION = "([^"]+)"', BROKER_TOOLCHAIN.read_text(), re.MULTILINE)
    assert version is not None
    assert services["kafka"]["image"] == f"apache/kafka:{version.group(1)}"
    env = services["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for name in ("ingest", "worker", "sink"):
        assert services[name]["environment"]["NHI_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert any(v.startswith("evidence:") for v in services["sink"]["volumes"])


@pytest.mark.parametrize("service", sorted(_nhi_services()))
def test_every_command_parses_with_the_real_cli(service: str) -> None:
    command = _nhi_services()[service]
    assert command[0] == "nhi"
    assert command[1] in COMMANDS, f"compose runs `nhi {command[1]}`, which is not a command of nhi --help"
    args = build_parser().parse_args(command[1:])  # an unknown option exits here
    assert isinstance(args, argparse.Namespace) and callable(args.run)


def test_worker_and_sink_healthchecks_ask_their_own_health_endpoint() -> None:
    services = _compose()["services"]
    for name in ("worker", "sink"):
        command = services[name]["command"]
        port = command[command.index("--metrics-port") + 1]
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/healthz" in probe, name


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    assert "pip install ." in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".kafka" in ignored


def test_compose_requires_a_fingerprint_key() -> None:
    """Compose interpolation: ``${VAR:?message}`` stops ``docker compose up`` with the message when
    VAR is unset or empty, so no service can start on the built-in default key."""
    for name, svc in _compose()["services"].items():
        if name == "kafka":
            continue
        value = svc["environment"]["NHI_FINGERPRINT_KEY"]
        assert re.fullmatch(r"\$\{NHI_FINGERPRINT_KEY:\?[^}]+\}", value), (name, value)
    assert "default-key" not in (ROOT / "compose.yaml").read_text()
