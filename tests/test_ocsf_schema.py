"""Every alert the demo and the engine story produce is checked against the OCSF 1.8.0 facts in
tests/ocsf_facts.py: required attributes present, recommended ones present or excused, no
unknown or deprecated attribute, types and enum values as the schema defines them."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.ocsf import OCSF_VERSION
from nhi.cli import main
from tests.alert_helpers import alert, finding, story_store
from tests.ocsf_facts import AT_LEAST_ONE, NOT_APPLICABLE, OBJECTS, RECOMMENDED, REQUIRED, SCHEMA_VERSION


def _type_ok(typ: str, value: Any) -> bool:
    if typ in ("integer_t", "long_t"):
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "timestamp_t":  # epoch milliseconds
        return isinstance(value, int) and not isinstance(value, bool) and value > 10**12
    if typ == "ip_t":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if typ in ("string_t", "hostname_t", "username_t"):
        return isinstance(value, str) and value != ""
    if typ == "boolean_t":
        return isinstance(value, bool)
    if typ == "json_t":
        return True
    if typ == "object":
        return isinstance(value, dict)
    return isinstance(value, dict) and typ in OBJECTS  # an object type: checked on its own


def check(obj: str, value: dict[str, Any], path: str, problems: list[str]) -> None:
    facts = OBJECTS[obj]
    for name, (req, typ, array, enum, deprecated) in facts.items():
        here = f"{path}.{name}"
        if name not in value:
            if req == REQUIRED:
                problems.append(f"{here}: required, missing")
            elif req == RECOMMENDED and (obj, name) not in NOT_APPLICABLE:
                problems.append(f"{here}: recommended, missing and not excused")
            continue
        if deprecated:
            problems.append(f"{here}: deprecated in OCSF {SCHEMA_VERSION}")
        items = value[name]
        if array != isinstance(items, list):
            problems.append(f"{here}: {'an array' if array else 'not an array'} in the schema")
            continue
        for i, item in enumerate(items if array else [items]):
            where = f"{here}[{i}]" if array else here
            if not _type_ok(typ, item):
                problems.append(f"{where}: {item!r} is not a {typ}")
            elif enum is not None and item not in enum:
                problems.append(f"{where}: {item!r} is not one of the enum ids {enum}")
            elif typ in OBJECTS:
                check(typ, item, where, problems)
    for name in value:
        if name not in facts:
            problems.append(f"{path}.{name}: not an attribute of {obj} in OCSF {SCHEMA_VERSION}")
    if obj in AT_LEAST_ONE and not any(k in value for k in AT_LEAST_ONE[obj]):
        problems.append(f"{path}: needs at least one of {AT_LEAST_ONE[obj]}")


def problems_of(record: dict[str, Any]) -> list[str]:
    out: list[str] = []
    check("detection_finding", record, "", out)
    return out


@pytest.fixture(scope="module")
def demo_records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    db = tmp_path_factory.mktemp("ocsf") / "demo.duckdb"
    assert main(["demo", "--db", str(db), "--identities", "150", "--seed", "3", "-q"]) == 0
    out = tmp_path_factory.mktemp("ocsf") / "alerts.jsonl"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["alerts", "--db", str(db), "--every-change"]) == 0
    out.write_text(buf.getvalue())
    return [orjson.loads(line) for line in buf.getvalue().splitlines()]


def test_the_version_we_claim_is_the_version_we_check() -> None:
    assert OCSF_VERSION == SCHEMA_VERSION


def test_every_demo_alert_is_a_valid_detection_finding(demo_records: list[dict[str, Any]]) -> None:
    assert len(demo_records) > 100
    bad = {i: p for i, r in enumerate(demo_records) if (p := problems_of(r))}
    assert not bad, next(iter(bad.values()))
    kinds = {(r["finding_info"]["analytic"]["uid"], r["activity_id"]) for r in demo_records}
    assert {k[0] for k in kinds} == {"token-outlived-task", "unowned-actor", "context-drift"}
    assert {k[1] for k in kinds} >= {1, 2}


def test_alerts_carry_the_recommended_pivots(demo_records: list[dict[str, Any]]) -> None:
    for r in demo_records:
        assert r["confidence_id"] in (1, 2, 3) and r["metadata"]["product"]["uid"] == "nhi-evidence"
        assert r["remediation"]["desc"].startswith("1. ") and r["remediation"]["references"]
        assert r["finding_info"]["desc"] and r["finding_info"]["desc"] != r["message"]
        users = [e["actor"]["user"] for e in r["evidences"]]
        assert users and all(u["type_id"] == 4 and u["type"] == "Service" for u in users)
        observed = {o["type_id"] for o in r["observables"]}
        assert {10, 31} <= observed  # the NHI as a resource and as a user
    # the credential, the IPs and the resources acted on appear wherever the evidence has them
    observed = {(o["type_id"], o["name"].split("[")[0]) for r in demo_records for o in r["observables"]}
    assert {(19, "resources"), (2, "evidences"), (10, "evidences")} <= observed
    owners = [r["resources"][0]["owner"] for r in demo_records if "owner" in r["resources"][0]]
    assert owners and all(o["uid"] == o["name"] for o in owners)


def test_story_alerts_and_hand_made_ones_validate_too(tmp_path: Path) -> None:
    from alerts.feed import StoreFeed
    from alerts.ocsf import to_ocsf
    from alerts.suppress import Suppressor

    db = tmp_path / "e.duckdb"
    story_store(db)
    records = [to_ocsf(a) for a in StoreFeed(str(db), Suppressor()).poll()]
    records += [
        to_ocsf(alert(finding(activity=a), suppressed=s)) for a in ("create", "close") for s in (True, False)
    ]
    for r in records:
        assert problems_of(r) == [], r["finding_info"]["uid"]


def test_the_checker_catches_what_it_is_for() -> None:
    from alerts.ocsf import to_ocsf

    rec = to_ocsf(alert())
    broken = orjson.loads(orjson.dumps(rec))
    del broken["finding_info"]["uid"]
    broken["severity_id"] = 7
    broken["finding_info"]["related_events"][0]["product_uid"] = "nhi-evidence"
    broken["metadata"]["made_up"] = 1
    broken["resources"][0]["owner"]["type_id"] = "4"
    found = "\n".join(problems_of(broken))
    for expected in ("finding_info.uid: required", "severity_id: 7 is not one of", "product_uid: deprecated",
                     "metadata.made_up: not an attribute", "owner.type_id: '4' is not a integer_t"):  # fmt: skip
        assert expected in found, found
