"""cloudtrail: golden tests on real records (../shared/datasets/cloudtrail), the Panther attack
stories as sequences, secrets never copied, no crash on any input, sniffing, whole-file replay."""

from __future__ import annotations

import copy
import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import RecordRejected
from contract.events import Event, EventType
from ingest.parsers.cloudtrail import parse_cloudtrail, sniff_cloudtrail
from ingest.toolkit.times import parse_time
from tests.vendor_datasets import JSONISH, ctx, data_file, data_files, dumped, line, mutate, run_auto

DOCS = "cloudtrail/awsdocs-iam-user-guide-examples.jsonl"
PANTHER = "cloudtrail/panther-rule-tests.jsonl"
ROOT_STORY = "cloudtrail/panther-scenarios/compromised-root-creds__attacker_cloudtrail.jsonl"
MALFORMED = "cloudtrail/awsdocs-iam-user-guide-malformed-originals.jsonl"
AWS_CLI = "aws-cli/1.11.10 Python/2.7.8 Linux/3.2.45-0.6.wd.865.49.315.metal1.x86_64 botocore/1.4.67"


def parse(record: Any) -> list[Event]:
    return parse_cloudtrail(record, ctx())


# --- golden: real records ------------------------------------------------------------------------


def test_cross_account_assume_role_by_iam_user() -> None:
    # AWS docs line 2: JohnDoe (account 7777...) assumes EC2-dev in account 1111...: his key is used,
    # and the role gets a session credential bound to the session as its task.
    assert dumped(parse(line(DOCS, 1))) == [
        {
            "type": "credential.used",
            "time": "2014-07-18T15:07:39Z",
            "id": "ct:b11888203db198dc5fe8eaed:used",
            "source": "cloudtrail",
            "nhi": "aws:777788889999:user/JohnDoe",
            "credential": "AKIAQRSTUVWXYZEXAMPLE",
            "action": "sts:AssumeRole",
            "resource": "arn:aws:iam::111122223333:role/EC2-dev",
            "outcome": "success",
            "context": {"region": "us-east-2", "ip": "192.0.2.101", "user_agent": AWS_CLI},
            "attrs": {
                "principal_type": "IAMUser",
                "aws_event_id": "dEXAMPLE-ac7f-466c-a608-4ac8dEXAMPLE",
                "session_kind": "key",
            },
        },
        {
            "type": "credential.issued",
            "time": "2014-07-18T15:07:39Z",
            "id": "ct:b11888203db198dc5fe8eaed:issued",
            "source": "cloudtrail",
            "nhi": "aws:111122223333:role/EC2-dev",
            "credential": "AKIAQRSTUVWXYZEXAMPLE",
            "task": "aws-session:111122223333/EC2-dev/JohnDoe-EC2-dev",
            # The documentation example really says 2023 for a 2014 call; we keep what is logged.
            "expires_at": "2023-07-18T16:07:39Z",
            "method": "sts-assume-role",
            "context": {"region": "us-east-2", "ip": "192.0.2.101", "user_agent": AWS_CLI},
            "attrs": {
                "aws_event_id": "dEXAMPLE-ac7f-466c-a608-4ac8dEXAMPLE",
                "role_session_name": "JohnDoe-EC2-dev",
                "source_identity": "JohnDoe",
                "issued_by": "aws:777788889999:user/JohnDoe",
                "session_kind": "assumed",
                "aliases": ["arn:aws:iam::111122223333:role/EC2-dev"],
            },
        },
    ]


def test_web_identity_is_attested_and_keeps_the_subject() -> None:
    assert dumped(parse(line(DOCS, 6))) == [
        {
            "type": "credential.issued",
            "time": "2016-03-23T01:39:51Z",
            "id": "ct:46c605021a3a2ce2a878e56a:issued",
            "source": "cloudtrail",
            "nhi": "aws:444455556666:role/FederatedWebIdentityRole",
            "credential": "ASIACQRSTUVWRAOEXAMPLE",
            "task": "aws-session:444455556666/FederatedWebIdentityRole/MyAssignedRoleSessionName",
            "expires_at": "2016-03-23T02:39:51Z",
            "method": "sts-assume-role-web-identity",
            "attested": True,
            "context": {
                "region": "us-east-2",
                "ip": "192.0.2.101",
                "user_agent": "aws-cli/1.3.23 Python/2.7.6 Linux/2.6.18-164.el5",
            },
            "attrs": {
                "aws_event_id": "bEXAMPLE-0b30-4246-b28c-e3da3EXAMPLE",
                "role_session_name": "MyAssignedRoleSessionName",
                "source_identity": "MyWebIdentityUser",
                "web_identity_subject": "<id of user>",
                "identity_provider": "accounts.google.com",
                "session_kind": "workload",
                "aliases": ["arn:aws:iam::444455556666:role/FederatedWebIdentityRole"],
                "principal_kind": "machine",
                "kind_evidence": "web identity federation (a workload's token)",
            },
        }
    ]


def test_lambda_service_assume_role_with_panther_time_format() -> None:
    # Panther line 447: eventTime "2024-06-02 20:27:12" (no zone: UTC) and the console-style
    # expiration "Jun 2, 2024, 10:37:12 PM"; the caller is the Lambda service, not an identity.
    assert dumped(parse(line(PANTHER, 446))) == [
        {
            "type": "credential.issued",
            "time": "2024-06-02T20:27:12Z",
            "id": "ct:e573385499d55be52c303292:issued",
            "source": "cloudtrail",
            "nhi": "aws:123456789123:role/my_role_arn",
            "credential": "REDACTED",
            "task": "aws-session:123456789123/my_role_arn/awslambda_55_20240602202712548",
            "expires_at": "2024-06-02T22:37:12Z",
            "method": "sts-assume-role",
            "attested": True,
            "context": {"region": "us-west-2", "user_agent": "lambda.amazonaws.com"},
            "attrs": {
                "aws_event_id": "1f3d7d49-6637-3304-b959-9be15f20215d",
                "role_session_name": "awslambda_55_20240602202712548",
                "issued_by": "lambda.amazonaws.com",
                "session_kind": "workload",
                "aliases": ["arn:aws:iam::123456789123:role/my_role_arn"],
                "principal_kind": "machine",
                "kind_evidence": "Lambda execution role: assumed by lambda.amazonaws.com",
            },
        }
    ]


def test_instance_profile_session_names_the_instance() -> None:
    (used,) = parse(line(PANTHER, 196))
    assert used.nhi == "aws:123456789012:role/MyAppRole"
    assert used.task == "aws-session:123456789012/MyAppRole/i-0abcdef1234567890"
    assert used.context.instance == "i-0abcdef1234567890"
    assert used.context.ip == "45.33.32.156"


def test_lower_cased_user_identity_keys_are_read() -> None:
    # Panther line 104 writes accesskeyid / sessioncontext; the call is still attributed.
    (used,) = parse(line(PANTHER, 103))
    assert (used.nhi, used.credential, used.task) == (
        "aws:112233445566:role/TestAdmin",
        "ASIASWJRT64Z7ZLFLJNI",
        "aws-session:112233445566/TestAdmin/alan",
    )


def test_failed_assume_role_is_only_a_failed_use() -> None:
    # Panther line 159: errorCode ExpiredToken - the response elements are there but nothing was issued.
    (used,) = parse(line(PANTHER, 158))
    assert used.type is EventType.CREDENTIAL_USED
    assert (used.outcome, used.attrs["error_code"]) == ("failure", "ExpiredToken")


# --- people ---------------------------------------------------------------------------------------


def test_console_login_is_a_person() -> None:
    assert dumped(parse(line(DOCS, 7))) == [
        {
            "type": "credential.used",
            "time": "2014-07-16T15:49:27Z",
            "id": "ct:74ee59835dc85550f8808375:used",
            "source": "cloudtrail",
            "nhi": "aws:111122223333:user/JohnDoe",
            "action": "signin:ConsoleLogin",
            "outcome": "success",
            "context": {
                "ip": "192.0.2.110",
                "user_agent": "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0",
            },
            "attrs": {
                "principal_type": "IAMUser",
                "aws_event_id": "3fcfb182-98f8-4744-bd45-10a395ab61cb",
                "session_kind": "person",
                "principal_kind": "human",
                "kind_evidence": "console sign-in",
            },
        }
    ]
    (failed,) = parse(line(DOCS, 8))
    assert (failed.nhi, failed.outcome) == ("aws:111122223333:user/JaneDoe", "failure")


def test_saml_and_sso_sessions_are_a_person_using_the_role() -> None:
    # One principal, one id: the role; that a person used it is evidence on the event.
    (saml,) = parse(line(DOCS, 5))
    assert saml.nhi == "aws:444455556666:role/SAMLTestRoleShibboleth"
    assert saml.task == "aws-session:444455556666/SAMLTestRoleShibboleth/MyAssignedRoleSessionName"
    assert (saml.attrs["principal_kind"], saml.attrs["kind_evidence"]) == (
        "human",
        "SAML federation of a person",
    )
    (sso,) = parse(line(PANTHER, 62))  # IAM Identity Center console sign-in
    assert sso.nhi == "aws:187901811700:role/AWSReservedSSO_DevAdmin_635426549a280cc6"
    assert sso.attrs["role_session_name"] == "nicholas.hakmiller"
    assert sso.attrs["kind_evidence"] == "IAM Identity Center (SSO) session"


def test_an_iam_user_is_one_identity_in_the_console_and_from_the_cli() -> None:
    # AWS docs line 1: GetUserPolicy signed with a key but invoked through signin (the console).
    (console,) = parse(line(DOCS, 0))
    assert console.nhi == "aws:444455556666:user/JaneDoe"
    assert (console.attrs["principal_kind"], console.attrs["session_kind"]) == ("human", "person")
    cli = copy.deepcopy(line(DOCS, 0))
    cli["userIdentity"].pop("invokedBy")
    cli["userAgent"] = AWS_CLI
    (used,) = parse(cli)
    assert used.nhi == console.nhi
    assert "principal_kind" not in used.attrs and used.attrs["session_kind"] == "key"


def test_no_ids_for_people_apart_from_their_principal() -> None:
    for path in data_files("cloudtrail"):
        events, _ = run_auto(path)
        for e in events:
            assert e.nhi is None or ":human/" not in e.nhi, (path.name, e)


# --- sequences: the Panther attack story and role chaining ------------------------------------------


def _story(rel: str) -> list[Event]:
    return [e for raw in data_file(rel).read_bytes().splitlines() for e in parse(orjson.loads(raw))]


def test_root_creates_a_user_and_a_key_which_is_then_used() -> None:
    events = _story(ROOT_STORY)
    tracy = [(e.type, e.credential) for e in events if e.nhi == "aws:493859302102:user/tracy_stone"]
    assert tracy == [
        (EventType.IDENTITY_REGISTERED, None),
        (EventType.CREDENTIAL_ISSUED, "AKIASWJJJ66ZZZII4IYY"),
        (EventType.CREDENTIAL_USED, "AKIASWJJJ66ZZZII4IYY"),
    ]
    issued = next(
        e for e in events if e.type is EventType.CREDENTIAL_ISSUED and e.credential == "AKIASWJJJ66ZZZII4IYY"
    )
    assert issued.method == "iam-access-key" and issued.expires_at is None  # access keys never expire
    assert issued.attrs["changed_by"] == "aws:493859302102:root"
    registered = next(e for e in events if e.type is EventType.IDENTITY_REGISTERED)
    # created without an owner tag: its creator is accountable, a weaker owner
    assert (registered.owner, registered.attrs["owner_source"]) == ("aws:493859302102:root", "creator")
    assert registered.attrs["created_by"] == "aws:493859302102:root"
    # Everything root did is a person's action; the placeholder eventIDs ("1") don't collide.
    root = [e for e in events if e.nhi == "aws:493859302102:root"]
    assert root and all(e.attrs["principal_kind"] == "human" for e in root)
    assert len({e.id for e in events}) == len(events)


def test_role_chaining_issue_then_use() -> None:
    chain = line(DOCS, 3)  # a JohnDoe session (key AKIAI44...) assumes JohnRole2
    used_by_caller, issued = parse(chain)
    assert (used_by_caller.nhi, used_by_caller.credential) == (
        "aws:111111111111:role/JohnDoe",
        "AKIAI44QH8DHBEXAMPLE",
    )
    assert (issued.nhi, issued.credential) == ("aws:111111111111:role/JohnRole2", "ASIAWHOJDLGPOEXAMPLE")
    # The next hop, shaped like AWS docs line 5 (a role session deleting a bucket) but made with
    # the chained session: it resolves to the same NHI, credential and task as the issuance.
    nxt = copy.deepcopy(line(DOCS, 4))
    nxt["userIdentity"]["arn"] = "arn:aws:sts::111111111111:assumed-role/JohnRole2/Role2WithTags"
    nxt["userIdentity"]["accountId"] = "111111111111"
    nxt["userIdentity"]["accessKeyId"] = "ASIAWHOJDLGPOEXAMPLE"
    nxt["eventTime"] = "2019-10-02T22:20:00Z"
    (use,) = parse(nxt)
    assert (use.type, use.nhi, use.credential, use.task) == (
        EventType.CREDENTIAL_USED,
        issued.nhi,
        issued.credential,
        issued.task,
    )
    assert use.time > issued.time


# --- IAM lifecycle, shaped like the documented events ------------------------------------------------


def _iam(name: str, params: dict[str, Any], response: Any = None, error: str | None = None) -> dict[str, Any]:
    base = copy.deepcopy(line(PANTHER, 187))  # a real CreateAccessKey record as the envelope
    base.update(eventName=name, requestParameters=params, responseElements=response)
    if error:
        base["errorCode"] = error
    return base


def test_access_key_deactivated_deleted_and_reactivated() -> None:
    _, revoked = parse(
        _iam("UpdateAccessKey", {"userName": "ci", "accessKeyId": "AKIAOLD", "status": "Inactive"})
    )
    assert (revoked.type, revoked.nhi, revoked.credential) == (
        EventType.CREDENTIAL_REVOKED,
        "aws:123456789:user/ci",
        "AKIAOLD",
    )
    _, deleted = parse(_iam("DeleteAccessKey", {"userName": "ci", "accessKeyId": "AKIAOLD"}))
    assert (deleted.type, deleted.credential) == (EventType.CREDENTIAL_REVOKED, "AKIAOLD")
    _, back = parse(_iam("UpdateAccessKey", {"userName": "ci", "accessKeyId": "AKIAOLD", "status": "Active"}))
    assert (back.type, back.attrs["reactivated"]) == (EventType.CREDENTIAL_ISSUED, True)
    (only_use,) = parse(_iam("DeleteAccessKey", {"accessKeyId": "AKIAOLD"}, error="NoSuchEntity"))
    assert only_use.outcome == "failure"


def test_roles_created_with_owner_tag_tagged_and_deleted() -> None:
    tags = [{"key": "Owner", "value": "team-payments@example.com"}]
    _, created = parse(
        _iam("CreateRole", {"roleName": "deployer", "tags": tags, "description": "CI deploys"})
    )
    assert (created.type, created.nhi, created.owner, created.purpose) == (
        EventType.IDENTITY_REGISTERED,
        "aws:123456789:role/deployer",
        "team-payments@example.com",
        "CI deploys",
    )
    _, tagged = parse(_iam("TagRole", {"roleName": "deployer", "tags": tags}))
    assert (tagged.type, tagged.owner) == (EventType.IDENTITY_UPDATED, "team-payments@example.com")
    assert len(parse(_iam("TagRole", {"roleName": "deployer", "tags": [{"key": "env", "value": "x"}]}))) == 1
    _, gone = parse(_iam("DeleteUser", {"userName": "old-bot"}))
    assert (gone.type, gone.nhi) == (EventType.IDENTITY_DELETED, "aws:123456789:user/old-bot")


def test_eventbridge_delivery_is_unwrapped() -> None:
    detail = line(DOCS, 1)
    wrapped = {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.sts",
        "detail": detail,
    }
    assert sniff_cloudtrail(wrapped)
    assert [e.to_json_dict() for e in parse(wrapped)] == dumped(parse(detail))


# --- times and rejects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jun 2, 2024, 8:27:12 PM", datetime(2024, 6, 2, 20, 27, 12, tzinfo=UTC)),
        ("Jan 01, 2019 0:00:00 PM", datetime(2019, 1, 1, 12, 0, 0, tzinfo=UTC)),
        ("Nov 1, 2020 8:30:20 AM", datetime(2020, 11, 1, 8, 30, 20, tzinfo=UTC)),
        ("Dec 12, 2024, 12:19:32 AM", datetime(2024, 12, 12, 0, 19, 32, tzinfo=UTC)),
        ("2024-06-02 20:27:12", datetime(2024, 6, 2, 20, 27, 12, tzinfo=UTC)),
        ("2024-06-02 19:41:40.000000000", datetime(2024, 6, 2, 19, 41, 40, tzinfo=UTC)),
        ("2024-06-02T21:27:12+01:00", datetime(2024, 6, 2, 20, 27, 12, tzinfo=UTC)),
        ("redacted", None),
    ],
)
def test_time_formats(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_unusable_records_are_rejected_with_a_reason() -> None:
    no_time = line(PANTHER, 38)
    with pytest.raises(RecordRejected, match="eventTime is missing"):
        parse(no_time)
    with pytest.raises(RecordRejected, match="no principal with an account"):
        parse(line(PANTHER, 310))  # userIdentity {"type": "AssumedRole", "userName": "TestRole"} only
    with pytest.raises(RecordRejected, match="expected a JSON object"):
        parse(["not", "a", "record"])


# --- secrets --------------------------------------------------------------------------------------------


def test_planted_secrets_never_reach_events() -> None:
    record = copy.deepcopy(line(DOCS, 3))
    session_token = "FwoGZXIvYXdzEPLANTEDSESSIONTOKENzzzzzzzzzzzzzz"
    secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTEDKEY"
    record["responseElements"]["credentials"].update(sessionToken=session_token, secretAccessKey=secret_key)
    record["requestParameters"]["policy"] = f"secretAccessKey={secret_key}"
    record["userAgent"] = f'aws-cli/2 token="{session_token}"'
    blob = " ".join(e.model_dump_json() for e in parse(record))
    assert session_token not in blob and secret_key not in blob
    assert "ASIAWHOJDLGPOEXAMPLE" in blob  # the access key id is an id, and is kept


# --- robustness -------------------------------------------------------------------------------------------


def _safe(record: Any) -> None:
    try:
        events = parse(record)
    except RecordRejected:
        return
    for e in events:
        assert isinstance(e, Event)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_arbitrary_values_only_ever_reject(value: Any) -> None:
    _safe(value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 448), st.lists(st.integers(0, 50), max_size=4), JSONISH)
def test_mutated_real_records_only_ever_reject(index: int, path: list[int], value: Any) -> None:
    _safe(mutate(line(PANTHER, index), path, value))


# --- sniffing and whole files through --format auto ---------------------------------------------------


def test_sniff_claims_cloudtrail_only() -> None:
    for path in data_files("cloudtrail"):
        for raw in path.read_bytes().splitlines():
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            assert sniff_cloudtrail(value) is ("malformed" not in path.name), path.name
    for folder in ("okta", "azure_entra", "github_audit", "k8saudit", "gcpaudit", "aks_kube_audit"):
        for path in data_files(folder):
            assert not any(
                sniff_cloudtrail(orjson.loads(r))
                for r in path.read_bytes().splitlines()
                if r.startswith(b"{")
            )
    native = {
        "type": "credential.used",
        "time": "2026-01-01T00:00:00Z",
        "nhi": "aws:1:role/x",
        "action": "sts:AssumeRole",
    }
    assert not sniff_cloudtrail(native)


# file -> (events, rejects) through Collector("auto"); rejects are Panther test stubs without a
# time or a principal, and the five documentation blocks that are not JSON at all.
EXPECTED = {
    "awsdocs-iam-user-guide-examples.jsonl": (13, 0),
    "awsdocs-iam-user-guide-malformed-originals.jsonl": (0, 5),
    "panther-rule-tests.jsonl": (451, 15),
    "compromised-root-creds__attacker_cloudtrail.jsonl": (15, 0),
    "compromised-root-creds__victim_cloudtrail.jsonl": (4, 0),
    "enrichment-example__attacker_cloudtrail.jsonl": (9, 0),
    "enrichment-example__victim_cloudtrail.jsonl": (4, 0),
}


def test_every_cloudtrail_file_replays_through_auto() -> None:
    seen = {}
    for path in data_files("cloudtrail"):
        events, rejects = run_auto(path)
        assert not [r for r in rejects if r.reason.startswith("parser error")], path.name
        assert all(r.reason for r in rejects)
        assert {e.source for e in events} <= {"cloudtrail"}
        seen[path.name] = (len(events), len(rejects))
        if "malformed" in path.name:
            assert len(rejects) == 5 and not events
            assert Counter(r.source for r in rejects) == {"auto": 5}
    assert seen == EXPECTED


def test_missing_sts_expiration_is_assumed_not_never() -> None:
    record = copy.deepcopy(line(DOCS, 1))
    del record["responseElements"]["credentials"]["expiration"]
    record["requestParameters"]["durationSeconds"] = 900
    _, issued = parse(record)
    assert issued.expires_at == issued.time + timedelta(seconds=900)
    assert issued.attrs["expires_at_assumed"] is True


def test_gzipped_records_document_as_delivered_to_s3(tmp_path: Path) -> None:
    records = [line(DOCS, i) for i in range(10)]
    path = tmp_path / "123456789012_CloudTrail_us-east-2_20140718T1510Z_abc.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps({"Records": records}, option=orjson.OPT_INDENT_2)))
    events, rejects = run_auto(path)
    assert not rejects
    assert [e.id for e in events] == [e.id for r in records for e in parse(r)]


def test_the_partition_stays_in_ids() -> None:
    # GovCloud and China ARNs name their partition; the same account id in two partitions is two
    # accounts.
    gov = copy.deepcopy(line(DOCS, 1))
    gov["userIdentity"]["arn"] = "arn:aws-us-gov:iam::777788889999:user/JohnDoe"
    gov["requestParameters"]["roleArn"] = "arn:aws-us-gov:iam::111122223333:role/EC2-dev"
    gov["awsRegion"] = "us-gov-west-1"
    used, issued = parse(gov)
    assert used.nhi == "aws-us-gov:777788889999:user/JohnDoe"
    assert issued.nhi == "aws-us-gov:111122223333:role/EC2-dev"


def test_an_identity_center_user_signing_in_is_a_person_not_a_reject() -> None:
    # The userIdentity of a request made for an IAM Identity Center user, as the CloudTrail User
    # Guide documents it (no ARN, no access key: an onBehalfOf user id in an identity store).
    record = {
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "IdentityCenterUser",
            "accountId": "123456789012",
            "onBehalfOf": {
                "userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
                "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-9067642ac7",
            },
            "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE",
        },
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "UserAuthentication",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "Mozilla/5.0",
        "recipientAccountId": "123456789012",
    }
    (used,) = parse(record)
    assert used.nhi == "aws:123456789012:sso-user/544894e8-80c1-707f-60e3-3ba6510dfac1"
    assert (used.attrs["principal_kind"], used.attrs["kind_evidence"]) == (
        "human",
        "IAM Identity Center user",
    )
    assert used.credential is None  # a sign-in credential id is not a key to follow
