"""A planted token is nowhere in the evidence store: not in any table, not in rejects."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from nhi.cli import main
from store.store import TABLES, Store
from tests.k8s_records import PLANTED, token_request

CT_SECRET = "IQoJb3JpZ2luX2VjEPLANTEDSESSIONTOKEN0123456789"
VAULT_TOKEN = "hvs.CAESIPLANTEDVAULTTOKEN0123456789abcdef"
NATIVE_SECRET = "ghp_PLANTEDNATIVESECRET0123456789abcdef"


def _records() -> list[str]:
    k8s = token_request()
    cloudtrail = {
        "eventVersion": "1.08",
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "10.1.1.1",
        "userAgent": "aws-sdk-go/1.44",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"},
        "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/etl", "roleSessionName": "job-7"},
        "responseElements": {
            "credentials": {
                "accessKeyId": "ASIAPLANTEDKEY000001",
                "sessionToken": CT_SECRET,
                "secretAccessKey": CT_SECRET + "x",
                "expiration": "May 1, 2024, 11:00:00 AM",
            },
            "assumedRoleUser": {"arn": "arn:aws:sts::123456789012:assumed-role/etl/job-7"},
        },
        "eventID": "planted-1",
        "eventType": "AwsApiCall",
    }
    vault = {
        "time": "2024-05-01T10:00:00Z",
        "type": "response",
        "auth": {
            "client_token": VAULT_TOKEN,
            "accessor": "hmac-sha256:planted-accessor",
            "display_name": "approle",
            "policies": ["default"],
            "metadata": {"role_name": "billing"},
            "token_ttl": 3600,
        },
        "request": {
            "id": "req-planted",
            "operation": "update",
            "path": "auth/approle/login",
            "remote_address": "10.2.2.2",
        },
        "response": {"auth": {"client_token": VAULT_TOKEN, "accessor": "hmac-sha256:planted-accessor"}},
    }
    native = {
        "type": "credential.issued",
        "time": "2024-05-01T10:00:00Z",
        "nhi": "agent:x",
        "credential": "k1",
        "attrs": {"headers": {"Authorization": "Bearer " + NATIVE_SECRET}},
    }
    broken = '{"type": "credential.used", "token": "' + NATIVE_SECRET + '", oops'
    return [orjson.dumps(r).decode() for r in (k8s, cloudtrail, vault, native)] + [broken]


@pytest.mark.parametrize("fmt", ["auto"])
def test_planted_secrets_are_in_no_table(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join(_records()) + "\n")
    db = tmp_path / "e.duckdb"
    assert main(["replay", "--db", str(db), "--format", fmt, "-q", str(src)]) == 0
    capsys.readouterr()
    with Store.open(db) as store:
        counts = store.counts()
        assert counts["events"] >= 4 and counts["rejects"] == 1  # the records did land
        dump = []
        for table in TABLES:
            for row in store.rows(f"SELECT * FROM {table}"):
                dump.append(repr(row))
    text = "\n".join(dump)
    for secret in (PLANTED, CT_SECRET, VAULT_TOKEN, NATIVE_SECRET):
        assert secret not in text, f"{secret[:12]}... leaked into the store"
    assert "fp:" in text  # replaced by fingerprints, not silently dropped everywhere
