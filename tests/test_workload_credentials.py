"""Workload credentials used outside their workload: the attacks must be caught, and the instance's
own life, AWS services and Lambda / ECS roles must stay silent (see tests/ct_records.py for where
the record shapes and the stories come from)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.records import Finding
from contract.settings import Settings
from ingest.collect import Collector
from ingest.sources import RawRecord
from streams.embedded import EmbeddedPipeline
from tests.ct_records import (
    AWS_RANGES,
    CW_AGENT,
    KALI_CLI,
    LAMBDA_SDK,
    LAPTOP_CLI,
    PHP_APP,
    SSM_AGENT,
    WINDOWS_CLI,
    delivered,
    instance_call,
    service_call,
    session_call,
    user_call,
)

ROLE, INSTANCE, KEY = "WebAppRole", "i-0123456789abcdef0", "ASIAEXAMPLEWEBAPP001"
ROLE_NHI = f"aws:111122223333:role/{ROLE}"
OPERATOR_IP, STRATUS_UA = "81.2.69.160", "stratus-red-team_0a6fcd8a-1c4e-4c1b-8f0e-0c0d1f2e3a4b"
BOX_PRIVATE, BOX_PUBLIC = "10.0.1.17", "3.144.237.152"


def replay(records: list[dict[str, Any]], settings: Settings | None = None) -> list[Finding]:
    collector = Collector("cloudtrail", settings or Settings())
    found: list[Finding] = []
    pipeline = EmbeddedPipeline(settings or Settings(), None, on_finding=found.append)
    raw = (RawRecord(orjson.dumps(r), r, f"case#{i}") for i, r in enumerate(records))
    pipeline.feed(collector.run(raw))
    pipeline.finish()
    assert collector.rejects == 0
    return found


def opened(found: list[Finding]) -> set[tuple[str, str, str]]:
    return {(f.nhi, f.reason, f.severity) for f in found if f.activity == "create"}


def stratus_steal() -> list[dict[str, Any]]:
    """The operator runs an SSM command on the instance that prints its credentials, then uses them
    from the same laptop and tool: GetCallerIdentity and DescribeInstances."""
    return [
        delivered(0, ROLE, INSTANCE, KEY),
        instance_call(1, ROLE, INSTANCE, KEY, BOX_PRIVATE, SSM_AGENT, "UpdateInstanceInformation"),
        instance_call(3, ROLE, INSTANCE, KEY, BOX_PRIVATE, CW_AGENT, "PutMetricData"),
        user_call(10, "operator", "AKIAEXAMPLEOPERATOR1", OPERATOR_IP, STRATUS_UA, "SendCommand"),
        user_call(11, "operator", "AKIAEXAMPLEOPERATOR1", OPERATOR_IP, STRATUS_UA, "GetCommandInvocation"),
        instance_call(12, ROLE, INSTANCE, KEY, OPERATOR_IP, STRATUS_UA, "GetCallerIdentity"),
        instance_call(12.5, ROLE, INSTANCE, KEY, OPERATOR_IP, STRATUS_UA, "DescribeInstances"),
    ]


def test_stolen_instance_credentials_used_from_the_operators_seat() -> None:
    found = replay(stratus_steal())
    assert opened(found) == {(ROLE_NHI, "credential-in-others-seat", "high")}
    seat = next(f for f in found if f.reason == "credential-in-others-seat")
    assert seat.credential == KEY and seat.details["other_principal"] == "aws:111122223333:user/operator"
    assert seat.details["same_client"] is True and seat.details["address"] == OPERATOR_IP
    assert len(seat.evidence) >= 3  # the delivery, the stolen use, the operator's own call


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_story_in_any_order_within_the_window(seed: int) -> None:
    # Stratus writes its detonation logs newest first; CloudTrail files interleave regions.
    records = stratus_steal()
    random.Random(seed).shuffle(records)
    assert opened(replay(records)) == {(ROLE_NHI, "credential-in-others-seat", "high")}


def test_the_operator_acting_after_the_stolen_use_is_the_same_seat() -> None:
    records = [r for r in stratus_steal() if r["eventName"] not in ("SendCommand", "GetCommandInvocation")]
    records.append(user_call(30, "operator", "AKIAEXAMPLEOPERATOR1", OPERATOR_IP, STRATUS_UA, "ListCommands"))
    assert opened(replay(records)) == {(ROLE_NHI, "credential-in-others-seat", "high")}


def test_outside_every_provider_range_with_ranges_loaded(tmp_path: Path) -> None:
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_bytes(orjson.dumps(AWS_RANGES))
    found = replay(stratus_steal(), Settings(provider_ranges=str(ranges)))
    assert opened(found) == {
        (ROLE_NHI, "credential-in-others-seat", "high"),
        (ROLE_NHI, "credential-outside-networks", "high"),
    }
    # the user's own networks are inside too: the operator's office egress, say
    found = replay(stratus_steal(), Settings(provider_ranges=str(ranges), own_networks="81.2.69.0/24"))
    assert opened(found) == {(ROLE_NHI, "credential-in-others-seat", "high")}


def ssrf_story() -> list[dict[str, Any]]:
    """A web server's role credentials read through SSRF and used from the attacker's host inside AWS,
    first with a Kali CLI, then with a user agent made to look like Windows; the attacker also
    used a leaked IAM user key from that host."""
    role, instance, key = "EC2DatabaseConnection", "i-0bdf91168b50e943e", "ASIAEXAMPLEDBCONN001"
    attacker = "35.169.66.138"
    return [
        delivered(0, role, instance, key),
        instance_call(2, role, instance, key, BOX_PUBLIC, PHP_APP, "DescribeDBInstances"),
        instance_call(4, role, instance, key, BOX_PUBLIC, PHP_APP, "DescribeDBInstances"),
        user_call(30, "devops-ash", "AKIAEXAMPLEDEVOPS01", attacker, KALI_CLI, "DescribeInstances"),
        instance_call(72, role, instance, key, attacker, KALI_CLI, "GetCallerIdentity"),
        instance_call(72.3, role, instance, key, attacker, WINDOWS_CLI, "GetCallerIdentity"),
    ]


def test_ssrf_stolen_credentials_used_from_an_attacker_host_inside_aws(tmp_path: Path) -> None:
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_bytes(orjson.dumps(AWS_RANGES))
    found = replay(ssrf_story(), Settings(provider_ranges=str(ranges)))
    nhi = "aws:111122223333:role/EC2DatabaseConnection"
    # the host is an EC2 address, so "outside the networks" stays silent; everything else speaks
    assert opened(found) == {
        (nhi, "credential-new-platform", "high"),
        (nhi, "credential-off-known-address", "medium"),
        (nhi, "credential-in-others-seat", "high"),
    }
    platform = next(f for f in found if f.reason == "credential-new-platform")
    assert (platform.details["known_platform"], platform.details["platform"]) == ("linux", "linux/kali")
    off = next(f for f in found if f.reason == "credential-off-known-address")
    assert off.details["known_addresses"] == [BOX_PUBLIC]


# --- silent -------------------------------------------------------------------------------------


def test_the_instances_own_agents_and_app_on_its_own_addresses_are_silent() -> None:
    records = [delivered(0, ROLE, INSTANCE, KEY)]
    for minute in range(1, 300, 7):
        records.append(
            instance_call(minute, ROLE, INSTANCE, KEY, BOX_PRIVATE, SSM_AGENT, "UpdateInstanceInformation")
        )
        records.append(instance_call(minute + 1, ROLE, INSTANCE, KEY, BOX_PRIVATE, CW_AGENT, "PutMetricData"))
        records.append(
            instance_call(minute + 2, ROLE, INSTANCE, KEY, BOX_PUBLIC, PHP_APP, "DescribeInstances")
        )
    assert replay(records) == []


def test_calls_an_aws_service_made_with_the_credentials_are_silent() -> None:
    records = [delivered(0, ROLE, INSTANCE, KEY), instance_call(1, ROLE, INSTANCE, KEY, BOX_PUBLIC, PHP_APP)]
    records += [service_call(m, ROLE, INSTANCE, KEY, "cloudformation.amazonaws.com") for m in range(2, 20)]
    records.append(user_call(5, "operator", "AKIAEXAMPLEOPERATOR1", OPERATOR_IP, LAPTOP_CLI))
    assert replay(records) == []


def test_lambda_and_ecs_roles_used_from_aws_are_silent(tmp_path: Path) -> None:
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_bytes(orjson.dumps(AWS_RANGES))
    records = [delivered(0, "fn-role", "my-function", "ASIAEXAMPLELAMBDA001", "lambda.amazonaws.com")]
    records += [delivered(0, "task-role", "3f1c2b", "ASIAEXAMPLEECSTASK01", "ecs-tasks.amazonaws.com")]
    for i, minute in enumerate(range(1, 200, 5)):
        # every invocation environment and task comes from another AWS address
        records.append(
            session_call(
                minute, "fn-role", "my-function", "ASIAEXAMPLELAMBDA001", f"54.160.{i}.10", LAMBDA_SDK
            )
        )
        records.append(
            session_call(minute, "task-role", "3f1c2b", "ASIAEXAMPLEECSTASK01", f"3.144.{i}.20", LAMBDA_SDK)
        )
    assert replay(records, Settings(provider_ranges=str(ranges))) == []


def test_workloads_behind_one_nat_do_not_share_a_seat() -> None:
    nat = "54.160.10.1"
    records = [
        delivered(0, "RoleA", "i-00000000000000aaa", "ASIAEXAMPLEROLEA0001"),
        delivered(0, "RoleB", "i-00000000000000bbb", "ASIAEXAMPLEROLEB0001"),
        instance_call(1, "RoleA", "i-00000000000000aaa", "ASIAEXAMPLEROLEA0001", nat, PHP_APP),
        instance_call(2, "RoleB", "i-00000000000000bbb", "ASIAEXAMPLEROLEB0001", nat, PHP_APP),
    ]
    assert replay(records) == []


def test_a_person_using_their_own_assumed_session_from_their_laptop_is_silent() -> None:
    records = [
        user_call(0, "alice", "AKIAEXAMPLEALICE0001", OPERATOR_IP, LAPTOP_CLI, "AssumeRole"),
        session_call(1, "Admin", "alice-cli", "ASIAEXAMPLEALICEADM1", OPERATOR_IP, LAPTOP_CLI),
        session_call(2, "Admin", "alice-cli", "ASIAEXAMPLEALICEADM1", OPERATOR_IP, LAPTOP_CLI),
    ]
    assert replay(records) == []
