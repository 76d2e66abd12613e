"""A labelled suite on real CloudTrail logs: what each record says, written from the record itself.

The Stratus Red Team detonations are whole sessions of an operator working with long-lived keys
from one laptop, against 34 real accounts; the Panther scenario is a root-credential compromise;
Panther's rule tests include the cases of its IMDS-credential-exfiltration rule. No inventory is
loaded anywhere here: an identity that was merely never registered is no finding, and nothing is
ever a finding on a person or a provider-managed identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.settings import Settings
from ingest.collect import Collector
from ingest.sources import RawRecord, read_path
from nhi.cli import main
from store.store import Store
from streams.embedded import EmbeddedPipeline
from tests.real_datasets import dataset_file, datasets_dir

STRATUS = "cloudtrail/stratus-detonations"
PANTHER = "cloudtrail/panther-rule-tests.jsonl"


@pytest.fixture(scope="module")
def stratus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("stratus") / "stratus.duckdb"
    files = sorted(str(p) for p in (datasets_dir() / STRATUS).glob("*.json"))
    assert len(files) == 34
    assert main(["replay", "--db", str(db), "--format", "auto", "-q", *files]) == 0
    return db


def rows(db: Path, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with Store.open(db, read_only=True) as store:
        return store.rows(sql, params)


def test_the_detonations_give_one_finding_the_backdoor_user(stratus: Path) -> None:
    # 34 attack techniques, none of them a stolen workload credential. The operator's own user and
    # the roles it assumed were never registered, and no inventory covers those accounts: nothing.
    # aws.persistence.iam-create-admin-user creates malicious-iam-user with an access key and no
    # owner tag, from a key (nothing shows a person made it): an identity with keys nobody owns.
    assert rows(stratus, "SELECT detector, reason, severity, nhi FROM findings") == [
        ("unowned-actor", "no-owner", "medium", "aws:229654561268:user/malicious-iam-user")
    ]
    assert rows(stratus, "SELECT count(*) FROM rejects") == [(0,)]


def test_the_operator_is_one_identity_per_account(stratus: Path) -> None:
    # Every detonation runs as IAM user christophe, with an access key, from a laptop (userAgent
    # stratus-red-team_<uuid>): one id per account, no person id beside it, no kind evidence.
    found = rows(
        stratus,
        "SELECT DISTINCT nhi, kind FROM identities WHERE nhi LIKE '%:user/christophe' ORDER BY nhi",
    )
    assert len(found) >= 25 and all(kind is None for _, kind in found)
    assert rows(stratus, "SELECT count(*) FROM events WHERE nhi LIKE '%:human/%'") == [(0,)]


def test_a_console_sign_in_makes_the_user_a_person(stratus: Path) -> None:
    # aws.initial-access.console-login-without-mfa: ConsoleLogin by an IAM user, "MFAUsed": "No".
    nhi = "aws:562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl"
    assert rows(stratus, "SELECT kind, kind_evidence FROM identities WHERE nhi = $n", {"n": nhi}) == [
        ("human", "console sign-in")
    ]


def test_an_sso_session_is_its_permission_set_role_used_by_a_person(stratus: Path) -> None:
    # aws.lateral-movement.ec2-serial-console-send-ssh-public-key: the anonymiser mangled the
    # assumed-role ARN; the session issuer names the Identity Center role.
    found = rows(
        stratus, "SELECT nhi, kind, kind_evidence FROM identities WHERE nhi LIKE 'aws:844015365555:%'"
    )
    assert found == [
        (
            "aws:844015365555:role/AWSReservedSSO_account-admin_599c9e90e350d2ff",
            "human",
            "IAM Identity Center (SSO) session",
        )
    ]


def test_a_user_created_without_an_owner_tag_records_its_creator(stratus: Path) -> None:
    # aws.persistence.iam-create-admin-user: christophe's CreateUser (tag StratusRedTeam=true, no
    # owner tag), AttachUserPolicy and CreateAccessKey for malicious-iam-user. Nothing in the call
    # shows a person made it, so the creator is recorded, not made its owner.
    nhi = "aws:229654561268:user/malicious-iam-user"
    assert rows(stratus, "SELECT owner, owner_source, status FROM identities WHERE nhi = $n", {"n": nhi}) == [
        (None, None, "registered")
    ]
    summary = rows(stratus, "SELECT summary FROM findings WHERE nhi = $n", {"n": nhi})[0][0]
    assert "aws:229654561268:user/christophe created it with no owner tag" in summary
    created = rows(
        stratus,
        "SELECT attrs->>'created_by' FROM events WHERE nhi = $n AND type = 'identity.registered'",
        {"n": nhi},
    )
    assert created == [("aws:229654561268:user/christophe",)]


def test_a_federation_token_is_a_federated_user_nobody_registered(stratus: Path) -> None:
    # aws.persistence.sts-federation-token: GetFederationToken(name=stratus_red_team), then a call
    # as the federated user.
    nhi = "aws:742491224508:federated-user/stratus_red_team"
    assert rows(stratus, "SELECT status, owner_status, scope FROM identities WHERE nhi = $n", {"n": nhi}) == [
        ("unregistered", "none", "aws:742491224508")
    ]


def test_the_summary_counts_the_identities_nobody_owns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(str(p) for p in (datasets_dir() / STRATUS).glob("*.json"))
    assert main(["replay", "--db", str(tmp_path / "s.duckdb"), "-f", "auto", "-q", *files]) == 0
    out = capsys.readouterr().out
    assert "identities have no known owner" in out and "no inventory covers their scope" in out
    assert "findings 1 opened" in out


# --- Panther's IMDS credential exfiltration cases, one record at a time ---------------------------

# AWS's published ranges for the addresses these records use (EC2 us-west-2 holds 52.42.146.205);
# 45.33.32.156 is not AWS's.
RANGES = {"prefixes": [{"ip_prefix": "52.40.0.0/14", "region": "us-west-2", "service": "EC2"}]}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (197, {"credential-outside-networks"}),  # "IMDS Credentials Used From Public IP"
        (198, set()),  # "Normal EC2 Workload From Private IP"
        (199, set()),  # "AWS Service Hostname as Source IP"
        (200, set()),  # "Legitimate SSM Activity" (private address)
        (201, set()),  # "AWS Internal Source IP"
        (202, set()),  # "AWS Service InvokedBy on behalf of instance"
        (203, set()),  # "SSM Messages Service Source": the agent's control channel
        (204, set()),  # "RegisterManagedInstance Event"
        (205, set()),  # "Non-Instance Role"
        # "IMDS Credentials Used From Amazon.com ASN Source IP": inside AWS, and one record alone
        # shows no seat, platform or address to compare with - the other signals need history.
        (206, set()),
    ],
)
def test_panther_imds_exfiltration_cases(tmp_path: Path, line: int, expected: set[str]) -> None:
    ranges = tmp_path / "ip-ranges.json"
    ranges.write_bytes(orjson.dumps(RANGES))
    settings = Settings(provider_ranges=str(ranges))
    raw = dataset_file(PANTHER).read_bytes().splitlines()[line - 1]
    found: list[Any] = []
    pipeline = EmbeddedPipeline(settings, None, on_finding=found.append)
    pipeline.feed(
        Collector("cloudtrail", settings).run([RawRecord(raw, orjson.loads(raw), f"panther:{line}")])
    )
    pipeline.finish()
    assert {f.reason for f in found} == expected


def test_every_cloudtrail_file_keeps_people_and_machines_under_their_principal() -> None:
    for path in sorted((datasets_dir() / "cloudtrail").rglob("*.json*")):
        if path.name.endswith(".labels.jsonl"):
            continue
        for item in Collector("auto", Settings()).run(read_path(path)):
            nhi = getattr(item, "nhi", None)
            assert nhi is None or ":human/" not in nhi, (path.name, nhi)
