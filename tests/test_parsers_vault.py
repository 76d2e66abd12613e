"""vault-audit: golden tests on hand-made entries shaped like Vault's documented audit format
(tests/data/vault/audit.jsonl: request/response pairs with HMAC'd tokens and accessors, as the
file audit device writes them; there is no public Vault audit dataset), token lifecycle
sequences, no double counting, tokens never copied, no crash on any input, sniffing."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from ingest.parsers.vault_audit import parse_vault_audit, sniff_vault_audit
from tests.vendor_datasets import JSONISH, VAULT_SAMPLE, ctx, data_files, dumped, local_line, mutate, run_auto

ACC_APPROLE = "hmac-sha256:dc5e35ab64deea6f50b5839ee1df295ecca69a176d4da5e6144d256337c63657"
RAW_LINES = VAULT_SAMPLE.read_bytes().splitlines()


def entry(index: int) -> Any:
    return local_line(VAULT_SAMPLE, index)


def parse(record: Any, **options: str) -> list[Event]:
    """The record's events; a skipped record (no NHI in it) has none."""
    try:
        return parse_vault_audit(record, ctx(**options))
    except RecordSkipped:
        return []


def skip_reason(record: Any) -> str:
    with pytest.raises(RecordSkipped) as skipped:
        parse_vault_audit(record, ctx())
    return skipped.value.reason


def all_events(**options: str) -> list[Event]:
    return [e for raw in RAW_LINES for e in parse(orjson.loads(raw), **options)]


def test_approle_login_issues_the_accessor() -> None:
    # the request entry: its response says everything and more, so it is skipped, not rejected
    assert (
        skip_reason(entry(0)) == "Vault request entry: its response entry carries the request and the outcome"
    )
    assert dumped(parse(entry(1))) == [
        {
            "type": "credential.issued",
            "time": "2026-05-04T08:00:01.104567Z",
            "id": "vault:3b0c6f2e-9d4a-4f7e-8b1c-0a2d4e6f8a01:issued",
            "source": "vault-audit",
            "nhi": "vault:approle/billing-batch",
            "credential": ACC_APPROLE,
            "expires_at": "2026-05-04T09:00:01.104567Z",  # token_ttl 3600
            "method": "vault-approle-login",  # a secret_id, not attestation: attested stays false
            "context": {"ip": "10.20.1.17"},
            "attrs": {
                "mount_type": "approle",
                "token_type": "service",
                "entity_id": "7d2e3f9c-1b4a-4c55-9e0d-2a6b8c1f4e01",
                "vault_request_id": "3b0c6f2e-9d4a-4f7e-8b1c-0a2d4e6f8a01",
                "role": "billing-batch",
                "policies": ["billing-read", "default"],
                # a role id and secret id: a stored secret, the machine's own login
                "session_kind": "key",
                "aliases": ["vault:entity/7d2e3f9c-1b4a-4c55-9e0d-2a6b8c1f4e01"],
                "principal_kind": "machine",
                "kind_evidence": "AppRole login",
            },
        }
    ]


def test_token_use_and_denied_use() -> None:
    (read,) = parse(entry(3))
    assert (read.type, read.nhi, read.credential, read.action, read.resource, read.outcome) == (
        EventType.CREDENTIAL_USED,
        "vault:approle/billing-batch",
        ACC_APPROLE,
        "read secret/data/billing/db",
        "secret/data/billing/db",
        "success",
    )
    assert dumped(parse(entry(5))) == [
        {
            "type": "credential.used",
            "time": "2026-05-04T08:00:09.000900Z",
            "id": "vault:3b0c6f2e-9d4a-4f7e-8b1c-0a2d4e6f8a03:used",
            "source": "vault-audit",
            "nhi": "vault:approle/billing-batch",
            "credential": ACC_APPROLE,
            # the token's token_issue_time 08:00:01 + token_ttl 3600, logged with the use
            "expires_at": "2026-05-04T09:00:01Z",
            "action": "read secret/data/payments/db",
            "resource": "secret/data/payments/db",
            "outcome": "failure",
            "context": {"ip": "203.0.113.50"},
            "attrs": {
                "vault_request_id": "3b0c6f2e-9d4a-4f7e-8b1c-0a2d4e6f8a03",
                "error": "1 error occurred: * permission denied",
                "mount_type": "kv",
                "token_type": "service",
                "entity_id": "7d2e3f9c-1b4a-4c55-9e0d-2a6b8c1f4e01",
                "aliases": ["vault:entity/7d2e3f9c-1b4a-4c55-9e0d-2a6b8c1f4e01"],
                "principal_kind": "machine",
                "kind_evidence": "AppRole login",
            },
        }
    ]


def test_kubernetes_login_is_attested_and_joins_the_k8s_collector_with_a_cluster() -> None:
    (plain,) = parse(entry(7))
    assert (plain.nhi, plain.method, plain.attested) == (
        "vault:k8s/payments/ledger",
        "vault-kubernetes-login",
        True,
    )
    assert plain.context.namespace == "payments"
    assert plain.expires_at == plain.time + timedelta(seconds=1200)
    (joined,) = parse(entry(7), cluster="prod-eu-1")
    assert joined.nhi == "k8s:prod-eu-1/payments/ledger"  # the id the k8s-audit collector uses
    assert joined.context.cluster == "prod-eu-1"


def test_nomad_workload_identity_names_job_and_allocation() -> None:
    (issued,) = parse(entry(9))
    assert dumped([issued]) == [
        {
            "type": "credential.issued",
            "time": "2026-05-04T08:05:00.004000Z",
            "id": "vault:6d2e8f4a-1b6c-4d9e-8f3a-2c4d6e8f0a01:issued",
            "source": "vault-audit",
            "nhi": "vault:nomad/default/billing-export",
            "credential": "hmac-sha256:b5a6a7b415aa25e8ce7918a677c4eb304355e02d758af91cf20708ce3d94a0ac",
            "task": "nomad:5f1c2e3a-7b8d-4e9f-a0b1-c2d3e4f5a6b7",
            "expires_at": "2026-05-04T08:35:00.004000Z",
            "method": "vault-jwt-login",
            "attested": True,
            "context": {"namespace": "default", "ip": "10.30.0.21"},
            "attrs": {
                "mount_type": "jwt",
                "token_type": "service",
                "entity_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                "vault_request_id": "6d2e8f4a-1b6c-4d9e-8f3a-2c4d6e8f0a01",
                "role": "nomad-workloads",
                "nomad_task": "export",
                "policies": ["default", "billing-export"],
                "session_kind": "workload",  # a Nomad workload identity JWT: the platform's proof
                "aliases": ["vault:entity/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"],
                "principal_kind": "machine",
                "kind_evidence": "Nomad job token",
            },
        }
    ]
    (use,) = parse(entry(27))
    assert (use.nhi, use.credential, use.task) == (issued.nhi, issued.credential, issued.task)


def test_child_token_created_then_revoked_by_accessor() -> None:
    used, child = parse(entry(11))
    assert used.action == "update auth/token/create"
    assert (child.method, child.attrs["created_by"]) == ("vault-token-create", "vault:approle/billing-batch")
    # A child token has no auth-method metadata of its own: it is known by its entity.
    assert child.nhi == "vault:entity/7d2e3f9c-1b4a-4c55-9e0d-2a6b8c1f4e01"
    _, revoked = parse(entry(15))
    assert (revoked.type, revoked.credential, revoked.nhi) == (
        EventType.CREDENTIAL_REVOKED,
        child.credential,
        None,
    )
    assert revoked.attrs["revoked_by"] == "vault:approle/billing-batch"


def test_renewal_moves_the_expiry_and_revoke_self_names_the_token() -> None:
    (login,) = parse(entry(7))
    used, renewed = parse(entry(13))
    assert used.action == "update auth/token/renew-self"
    assert (renewed.type, renewed.method, renewed.credential) == (
        EventType.CREDENTIAL_ISSUED,
        "vault-token-renew",
        login.credential,
    )
    assert renewed.expires_at == renewed.time + timedelta(seconds=1200)
    assert renewed.attested is False  # a renewal proves possession of the token, nothing more
    _, gone = parse(entry(17))
    assert (gone.type, gone.nhi, gone.credential) == (
        EventType.CREDENTIAL_REVOKED,
        login.nhi,
        login.credential,
    )


def test_people_and_root_are_human() -> None:
    (alice,) = parse(entry(19))
    assert (alice.nhi, alice.attrs["principal_kind"], alice.method) == (
        "vault:user/alice",
        "human",
        "vault-userpass-login",
    )
    used, lease = parse(entry(21))
    assert used.nhi == "vault:user/alice"
    assert (lease.type, lease.credential, lease.attrs["revoked"]) == (
        EventType.CREDENTIAL_REVOKED,
        "database/creds/billing/2f6c8e1a9b3d5f7a",
        "lease",
    )
    (root,) = parse(entry(25))
    assert (root.nhi, root.attrs["principal_kind"], root.action) == (
        "vault:root",
        "human",
        "update sys/audit/file2",
    )


def test_failed_login_names_nobody_and_makes_nothing() -> None:
    record = entry(23)
    assert record["error"] == "invalid role or secret ID"
    assert parse(record) == []


def test_no_double_counting_across_request_and_response_entries() -> None:
    events = all_events()
    assert len(events) == 18
    assert len({e.id for e in events}) == len(events)
    request_ids = {orjson.loads(raw)["request"]["id"] for raw in RAW_LINES}
    assert {e.id.split(":")[1] for e in events} <= request_ids
    # The same entries read again (a second audit device) give the same ids: applied once.
    assert [e.id for e in all_events()] == [e.id for e in events]


def test_client_tokens_never_reach_events() -> None:
    # log_raw=true writes tokens in clear; plant them everywhere Vault puts a token.
    planted = "hvs.CAESIPLANTEDclientTOKENvalue0123456789abcdefXYZ"
    record = copy.deepcopy(entry(11))
    record["auth"]["client_token"] = planted
    record["request"]["client_token"] = planted
    record["response"]["auth"]["client_token"] = planted + "child"
    record["request"]["data"] = {"display_name": "x", "token": planted}
    blob = " ".join(e.model_dump_json() for e in parse(record))
    assert planted not in blob
    assert ACC_APPROLE in blob


def _safe(record: Any) -> None:
    try:
        events = parse(record)
    except RecordRejected:
        return
    assert all(isinstance(e, Event) for e in events)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_arbitrary_values_only_ever_reject(value: Any) -> None:
    _safe(value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(RAW_LINES) - 1), st.lists(st.integers(0, 50), max_size=5), JSONISH)
def test_mutated_entries_only_ever_reject(index: int, path: list[int], value: Any) -> None:
    _safe(mutate(entry(index), path, value))


def test_sniff_claims_vault_entries_only() -> None:
    assert all(sniff_vault_audit(orjson.loads(raw)) for raw in RAW_LINES)
    folders = ("cloudtrail", "okta", "azure_entra", "github_audit", "k8saudit", "gcpaudit", "aks_kube_audit")
    for path in data_files(*folders):
        for raw in path.read_bytes().splitlines():
            try:
                assert not sniff_vault_audit(orjson.loads(raw)), path.name
            except orjson.JSONDecodeError:
                continue
    native = {
        "type": "credential.used",
        "time": "2026-01-01T00:00:00Z",
        "nhi": "vault:approle/x",
        "request": {},
    }
    assert not sniff_vault_audit(native)


def test_sample_file_replays_through_auto() -> None:
    events, rejects = run_auto(VAULT_SAMPLE)
    assert (len(events), len(rejects)) == (18, 0)
    assert {e.source for e in events} == {"vault-audit"}


def _bare_token_created_by(caller_entry: int, accessor: str, request_id: str) -> Any:
    """entry(11) (a token create) made by the caller of ``caller_entry``, minting a bare token: no
    display name given, so Vault names it ``token``, and no entity of its own."""
    record = copy.deepcopy(entry(11))
    record["auth"] = copy.deepcopy(entry(caller_entry)["response"]["auth"])
    record["request"]["id"] = request_id
    child = record["response"]["auth"]
    child.update({"accessor": accessor, "display_name": "token"})
    child.pop("entity_id")
    return record


def test_bare_tokens_are_told_apart_by_accessor_and_owned_by_their_creator() -> None:
    """Vault names every token created without a display name ``token``: two of them must not
    collapse into one identity, and the person who minted each answers for it."""
    first = parse(_bare_token_created_by(19, "hmac-sha256:aaaa", "req-a"))
    second = parse(_bare_token_created_by(19, "hmac-sha256:bbbb", "req-b"))
    issued = [e for e in first + second if e.type is EventType.CREDENTIAL_ISSUED]
    assert [e.nhi for e in issued] == ["vault:token/hmac-sha256:aaaa", "vault:token/hmac-sha256:bbbb"]
    registered = [e for e in first if e.type is EventType.IDENTITY_REGISTERED]
    assert [(e.nhi, e.owner, e.attrs) for e in registered] == [
        (
            "vault:token/hmac-sha256:aaaa",
            "vault:user/alice",  # alice logged in with userpass (entry 19) and created the token
            {"created_by": "vault:user/alice", "owner_source": "creator"},
        )
    ]
    # The same token at use: the accessor names it again, so uses join the issuance.
    use = copy.deepcopy(entry(3))
    use["auth"] = {"accessor": "hmac-sha256:aaaa", "display_name": "token", "policies": ["ops"]}
    (used,) = parse(use)
    assert used.nhi == "vault:token/hmac-sha256:aaaa"


def test_a_machine_creating_a_bare_token_is_its_creator_but_not_an_owner() -> None:
    events = parse(_bare_token_created_by(1, "hmac-sha256:cccc", "req-c"))
    (registered,) = [e for e in events if e.type is EventType.IDENTITY_REGISTERED]
    assert (registered.owner, registered.attrs) == (None, {"created_by": "vault:approle/billing-batch"})


def test_legacy_nomad_tokens_map_to_the_job_and_the_allocation_is_the_task() -> None:
    """Nomad's legacy Vault integration creates one token per allocation and task, with the
    allocation in its metadata: the identity is the job, never the allocation."""

    def legacy(alloc: str, job: str | None) -> Event:
        record = copy.deepcopy(entry(3))
        meta = {"AllocationID": alloc, "Task": "web", "NodeID": "node-7", "Namespace": "shop"}
        if job:
            meta["JobID"] = job
        record["auth"] = {
            "accessor": f"hmac-sha256:{alloc}",
            "display_name": f"token-{alloc}-web",
            "metadata": meta,
            "policies": ["default", "shop-db"],
            "token_issue_time": "2026-05-04T08:00:00Z",
            "token_ttl": 259200,
        }
        (used,) = parse(record)
        return used

    one, two = legacy("alloc-1", "checkout"), legacy("alloc-2", "checkout")
    assert (one.nhi, two.nhi) == ("vault:nomad/shop/checkout", "vault:nomad/shop/checkout")
    assert (one.task, two.task) == ("nomad:alloc-1", "nomad:alloc-2")
    assert one.context.node == "node-7"
    assert one.expires_at is not None and one.expires_at.isoformat() == "2026-05-07T08:00:00+00:00"
    # Without a job id the allocation still is not the identity: the policies its tasks share are.
    assert legacy("alloc-3", None).nhi == legacy("alloc-4", None).nhi == "vault:nomad/shop/policies/shop-db"


def test_kmip_entries_are_read_like_requests_and_responses() -> None:
    request, response = copy.deepcopy(entry(2)), copy.deepcopy(entry(3))
    request["type"], response["type"] = "kmip-request", "kmip-response"
    assert sniff_vault_audit(request) and sniff_vault_audit(response)
    assert skip_reason(request) == (
        "Vault kmip-request entry: its response entry carries the request and the outcome"
    )
    (used,) = parse(response)
    assert (used.nhi, used.type) == ("vault:approle/billing-batch", EventType.CREDENTIAL_USED)


def test_records_without_a_principal_are_skipped_with_their_reason() -> None:
    assert skip_reason(entry(23)) == (
        "Vault response: a request refused before any token was presented (failed login)"
    )
    unauthenticated = copy.deepcopy(entry(1))
    unauthenticated["response"] = {}
    assert (
        skip_reason(unauthenticated)
        == "Vault response: an unauthenticated request (no token, nothing issued)"
    )
