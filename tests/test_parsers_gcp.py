"""gcp-audit: golden tests on real Cloud Audit Log entries (../shared/datasets/gcpaudit) and on
hand-written entries for the methods the samples lack (key deletion, account deletion, STS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from contract.settings import Settings
from ingest.parsers.gcp_audit import parse_gcp_audit, sniff_gcp_audit
from ingest.parsing import ParseContext
from ingest.secrets import fingerprint
from tests.real_datasets import dataset_line

SETTINGS = Settings()
GCP = "gcpaudit/panther-rule-tests.jsonl"


def parse(record: Any, **options: str) -> list[Event]:
    return parse_gcp_audit(record, ParseContext(SETTINGS, options=options))


def test_create_service_account_key_user_managed_never_expires() -> None:
    # Line 140: staging@company.io creates a user-managed key (valid before 9999-12-31).
    [e] = parse(dataset_line(GCP, 139))
    assert e.to_json_dict() == {
        "type": "credential.issued",
        "time": "2023-03-09T15:50:36.148000Z",
        "id": "1iyadj0d5bmj/issued",
        "source": "gcp-audit",
        "nhi": "gcp:gcp-project1/created-service-account@gcp-project1.iam.gserviceaccount.com",
        "credential": "gcp-key:69049163b190437ab9279b28e8afa24bb5c5b076",
        "method": "gcp-service-account-key",
        "attrs": {
            "caller": "staging@company.io",
            "requester_ip": "1.2.3.4",
            "principal_kind": "machine",
            "kind_evidence": "GCP service account",
            "session_kind": "key",  # a downloadable key: long-lived, whoever holds the file
        },
    }
    assert e.expires_at is None


def test_create_service_account() -> None:
    # Line 141: the account the key above belongs to.
    [e] = parse(dataset_line(GCP, 140))
    assert (e.type, e.nhi, e.purpose, e.id) == (
        EventType.IDENTITY_REGISTERED,
        "gcp:gcp-project1/created-service-account@gcp-project1.iam.gserviceaccount.com",
        "sa with limited permissions",
        "1iyadj0d5bcq/registered",
    )


def test_generate_access_token_via_gke_metadata_server() -> None:
    # Line 102: GenerateAccessToken for a target account, caller a principal subject, no lifetime.
    [e] = parse(dataset_line(GCP, 101))
    at = datetime(2024, 8, 29, 19, 30, 36, 339983, tzinfo=UTC)
    assert e.type is EventType.CREDENTIAL_ISSUED
    assert e.nhi == "gcp:sample_project_id/sample@email.com"
    assert e.time == at
    assert e.expires_at == datetime(2024, 8, 29, 20, 30, 36, 339983, tzinfo=UTC)  # default 3600 s
    assert e.method == "gcp-generate-access-token"
    material = "\x1f".join(
        ("example_principal_subject", "sample@email.com", at.isoformat(), "GenerateAccessToken")
    )
    assert e.credential == fingerprint(material, SETTINGS.fingerprint_key)
    assert e.attrs == {
        "caller": "example_principal_subject",
        "delegation_chain": ["projects/-/serviceAccounts/xxxxx.iam.gserviceaccount.com"],
        "requester_ip": "gce-internal-ip",
        # minted through the metadata server's internal address: the workload's token
        "session_kind": "workload",
        "expires_at_assumed": True,
    }


def test_sign_jwt_by_a_key_authenticated_service_account() -> None:
    # Line 100: a service account (authenticated with key a378...) signs a JWT as itself.
    used, issued = parse(dataset_line(GCP, 99))
    assert used.to_json_dict() == {
        "type": "credential.used",
        "time": "2024-02-26T17:15:16.314854Z",
        "id": "1hu88qbef4d2o/used",
        "source": "gcp-audit",
        "nhi": "gcp:company/some-project@company.iam.gserviceaccount.com",
        "credential": "gcp-key:a378358365ff3d22e9c1a72fecf4605ddff76b47",
        "action": "SignJwt",
        "resource": "projects/-/serviceAccounts/114885146936855121342",
        "outcome": "success",
        "context": {"ip": "1.2.3.4"},
        "attrs": {"principal_kind": "machine", "kind_evidence": "GCP service account", "session_kind": "key"},
    }
    assert (issued.type, issued.nhi, issued.method) == (
        EventType.CREDENTIAL_ISSUED,
        "gcp:company/some-project@company.iam.gserviceaccount.com",
        "gcp-sign-jwt",
    )


def test_denied_sign_jwt_is_a_failed_use_and_no_issuance() -> None:
    # Line 101: the same call with granted=false.
    [e] = parse(dataset_line(GCP, 100))
    assert (e.type, e.outcome) == (EventType.CREDENTIAL_USED, "failure")


def test_failed_create_service_account_registers_nothing() -> None:
    # Line 138: status.code 7 (PERMISSION_DENIED) for a service account caller.
    [e] = parse(dataset_line(GCP, 137))
    assert (e.type, e.outcome, e.action) == (
        EventType.CREDENTIAL_USED,
        "failure",
        "google.iam.admin.v1.CreateServiceAccount",
    )


def test_gke_entry_uses_the_kubernetes_mapping() -> None:
    # Line 188: container-engine-robot creates kube-system/gke-metrics-agent on a GKE cluster.
    used, started = parse(dataset_line(GCP, 187))
    assert used.nhi == "gcp:some-project/container-engine-robot@some-project.iam.gserviceaccount.com"
    assert (used.context.region, used.context.ip) == ("us-west1", "10.0.0.1")
    assert started.to_json_dict() == {
        "type": "task.started",
        "time": "2024-02-13T12:45:06.073905Z",
        "id": "1fcd329e65580e5622727cce19106bad/task-started",
        "source": "gcp-audit",
        "nhi": "k8s:some-project-cluster/kube-system/gke-metrics-agent",
        "task": "pod:some-project-cluster/kube-system/gke-metrics-agent",
        "context": {
            "cluster": "some-project-cluster",
            "namespace": "kube-system",
            "image": "gke.gcr.io/gke-metrics-agent:latest",
        },
        # GKE's own agent in kube-system: Google's, never the customer's unowned identity
        "attrs": {
            "principal_kind": "machine",
            "kind_evidence": "GKE system service account",
            "managed_by": "gcp",
        },
    }


def test_gke_service_account_use_is_not_called_legacy() -> None:
    # Line 34: a Kubernetes service account listing pods on GKE; the sample has no timestamp.
    record = dataset_line(GCP, 33)
    with pytest.raises(RecordRejected, match="no usable timestamp"):
        parse(record)
    [e] = parse({**record, "timestamp": "2024-02-13T12:00:00Z"}, cluster="gke-prod")
    assert e.nhi == "k8s:gke-prod/kube-system/default"
    assert e.credential == "k8s-sa:gke-prod/kube-system/default"
    assert "legacy_token" not in e.attrs
    assert (e.action, e.resource) == ("list pods", "namespaces/default/pods")


def test_people_touching_no_service_account_are_skipped_with_a_reason() -> None:
    # Line 1: bob@example.com SetIamPolicy, no timestamp - irrelevant, so not even a reject.
    with pytest.raises(RecordSkipped, match="a person's call that touches no service account"):
        parse(dataset_line(GCP, 0))


def _entry(method: str, service: str, request: dict[str, Any], **pp: Any) -> dict[str, Any]:
    # The LogEntry shape of the real samples above (iam.googleapis.com admin activity).
    return {
        "insertId": f"ins-{method}",
        "logName": "projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity",
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo": {"principalEmail": "ops@acme.example"},
            "requestMetadata": {"callerIp": "203.0.113.9"},
            "serviceName": service,
            "methodName": method,
            "request": request,
            "status": {},
            **pp,
        },
        "resource": {"type": "service_account", "labels": {"project_id": "acme-prod"}},
        "timestamp": "2024-06-01T08:00:00.123456789Z",
    }


def test_delete_key_and_account() -> None:
    key = "projects/acme-prod/serviceAccounts/etl@acme-prod.iam.gserviceaccount.com/keys/abc123"
    [revoked] = parse(
        _entry("google.iam.admin.v1.DeleteServiceAccountKey", "iam.googleapis.com", {"name": key})
    )
    assert (revoked.type, revoked.credential, revoked.nhi) == (
        EventType.CREDENTIAL_REVOKED,
        "gcp-key:abc123",
        "gcp:acme-prod/etl@acme-prod.iam.gserviceaccount.com",
    )
    assert revoked.time == datetime(2024, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
    name = "projects/acme-prod/serviceAccounts/etl@acme-prod.iam.gserviceaccount.com"
    [deleted] = parse(
        _entry("google.iam.admin.v1.DeleteServiceAccount", "iam.googleapis.com", {"name": name})
    )
    assert (deleted.type, deleted.nhi) == (
        EventType.IDENTITY_DELETED,
        "gcp:acme-prod/etl@acme-prod.iam.gserviceaccount.com",
    )


def test_generate_access_token_lifetime_and_impersonation_chain() -> None:
    request = {
        "name": "projects/-/serviceAccounts/deployer@acme-prod.iam.gserviceaccount.com",
        "lifetime": "600s",
    }
    delegation = [{"firstPartyPrincipal": {"principalEmail": "ci@acme-prod.iam.gserviceaccount.com"}}]
    record = _entry("GenerateAccessToken", "iamcredentials.googleapis.com", request)
    record["protoPayload"]["authenticationInfo"]["serviceAccountDelegationInfo"] = delegation
    [e] = parse(record)
    assert e.nhi == "gcp:acme-prod/deployer@acme-prod.iam.gserviceaccount.com"
    assert e.expires_at == datetime(2024, 6, 1, 8, 10, 0, 123456, tzinfo=UTC)
    assert e.attrs["delegation_chain"] == ["ci@acme-prod.iam.gserviceaccount.com"]
    assert "expires_at_assumed" not in e.attrs


def test_workload_identity_federation_exchange() -> None:
    # Shape of Google's documented STS example: subject in principalSubject, mapped principal in metadata.
    principal = "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/gh/subject/repo:acme/app"
    record = _entry(
        "google.identity.sts.v1.SecurityTokenService.ExchangeToken",
        "sts.googleapis.com",
        {
            "grantType": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subjectToken": "eyJsecretsecretsecret",
        },
        metadata={"mapped_principal": principal},
        resourceName="projects/123/locations/global/workloadIdentityPools/gh/providers/github",
    )
    record["protoPayload"]["authenticationInfo"] = {"principalSubject": "repo:acme/app:ref:refs/heads/main"}
    [e] = parse(record)
    assert (e.type, e.nhi, e.method) == (
        EventType.CREDENTIAL_ISSUED,
        f"gcp:acme-prod/{principal}",
        "gcp-workload-identity-federation",
    )
    assert e.attrs["provider"].endswith("/providers/github")
    assert "eyJsecretsecretsecret" not in e.model_dump_json()


def test_sniff() -> None:
    assert sniff_gcp_audit(dataset_line(GCP, 96))  # a trimmed entry: protoPayload only
    assert not sniff_gcp_audit({"type": "credential.used", "time": "2024-01-01T00:00:00Z", "nhi": "x"})
    assert not sniff_gcp_audit({"protoPayload": "text"})


def test_create_service_account_names_the_account_in_resource_name_and_its_creator() -> None:
    """Admin Activity entries whose response is not logged name the new account only in
    resourceName (projects/P/serviceAccounts/EMAIL): not a reject. The person who created it is
    its creator and, until someone is named, its owner."""
    record = _entry(
        "google.iam.admin.v1.CreateServiceAccount",
        "iam.googleapis.com",
        {"account_id": "etl", "name": "projects/acme-prod", "service_account": {"display_name": "ETL"}},
        resourceName="projects/acme-prod/serviceAccounts/etl-7@acme-prod.iam.gserviceaccount.com",
    )
    [e] = parse(record)
    assert (e.type, e.nhi, e.owner, e.purpose) == (
        EventType.IDENTITY_REGISTERED,
        "gcp:acme-prod/etl-7@acme-prod.iam.gserviceaccount.com",
        "ops@acme.example",
        "ETL",
    )
    assert e.attrs["created_by"] == "ops@acme.example"
    assert e.attrs["owner_source"] == "creator"
    # Labels, where the logged object carries them, name an owner stronger than the creator.
    record["protoPayload"]["request"]["service_account"]["labels"] = {"team": "data-eng"}
    [labelled] = parse(record)
    assert (labelled.owner, labelled.attrs["owner_source"]) == ("data-eng", "label")
    # A service account creating one (Terraform's, say) is recorded as creator, not as an owner.
    record["protoPayload"]["authenticationInfo"] = {"principalEmail": "tf@acme-prod.iam.gserviceaccount.com"}
    del record["protoPayload"]["request"]["service_account"]["labels"]
    used, by_machine = parse(record)  # the creating service account's own use, then the account
    assert used.nhi == "gcp:acme-prod/tf@acme-prod.iam.gserviceaccount.com"
    assert (
        by_machine.owner is None and by_machine.attrs["created_by"] == "tf@acme-prod.iam.gserviceaccount.com"
    )
    assert "owner_source" not in by_machine.attrs


def test_a_path_with_users_in_it_never_becomes_the_identity_users() -> None:
    """``serviceAccounts/users/alice@example.com``: the segment after serviceAccounts is not an
    account, so the identity is never ``gcp:<project>/users``."""
    name = "projects/acme-prod/serviceAccounts/users/alice@example.com"
    record = _entry("GenerateAccessToken", "iamcredentials.googleapis.com", {"name": name})
    [e] = parse(record)
    assert e.nhi == "gcp:acme-prod/alice@example.com"
    key = _entry(
        "google.iam.admin.v1.DeleteServiceAccountKey", "iam.googleapis.com", {"name": f"{name}/keys/k1"}
    )
    [revoked] = parse(key)
    assert revoked.nhi == "gcp:acme-prod/alice@example.com"


def test_service_agents_are_googles_and_default_accounts_the_customers() -> None:
    def used_by(account: str) -> Event:
        record = _entry("google.storage.v1.Storage.GetObject", "storage.googleapis.com", {})
        record["protoPayload"]["authenticationInfo"] = {"principalEmail": account}
        [e] = parse(record)
        return e

    agent = used_by("service-123456789012@gcp-sa-cloudbuild.iam.gserviceaccount.com")
    # The agent lives in a Google project; it acts in the entry's project, the scope it is seen in.
    assert agent.nhi == "gcp:acme-prod/service-123456789012@gcp-sa-cloudbuild.iam.gserviceaccount.com"
    assert (agent.attrs["managed_by"], agent.attrs["principal_kind"]) == ("gcp", "machine")
    for managed in (
        "123456789012@cloudservices.gserviceaccount.com",
        "service-123456789012@compute-system.iam.gserviceaccount.com",
        "service-123456789012@container-engine-robot.iam.gserviceaccount.com",
        "service-org-42@gcp-sa-logging.iam.gserviceaccount.com",
    ):
        assert used_by(managed).attrs["managed_by"] == "gcp", managed
    for customers in (
        "123456789012-compute@developer.gserviceaccount.com",
        "acme-prod@appspot.gserviceaccount.com",
        "etl@acme-prod.iam.gserviceaccount.com",
    ):
        assert "managed_by" not in used_by(customers).attrs, customers


def test_session_kind_of_uses() -> None:
    record = _entry("google.storage.v1.Storage.GetObject", "storage.googleapis.com", {})
    record["protoPayload"]["authenticationInfo"] = {"principalEmail": "etl@acme-prod.iam.gserviceaccount.com"}
    [plain] = parse(record)
    assert "session_kind" not in plain.attrs  # a token from somewhere: the entry doesn't say where
    record["protoPayload"]["requestMetadata"]["callerNetwork"] = (
        "//compute.googleapis.com/projects/acme-prod/global/networks/__unknown__"
    )
    [inside] = parse(record)
    assert inside.attrs["session_kind"] == "workload"


def test_workforce_federation_is_a_person() -> None:
    principal = "principal://iam.googleapis.com/locations/global/workforcePools/staff/subject/alice"
    record = _entry(
        "google.identity.sts.v1.SecurityTokenService.ExchangeToken",
        "sts.googleapis.com",
        {"grantType": "urn:ietf:params:oauth:grant-type:token-exchange"},
        metadata={"mapped_principal": principal},
        resourceName="locations/global/workforcePools/staff/providers/okta",
    )
    [e] = parse(record)
    assert (e.attrs["principal_kind"], e.attrs["session_kind"]) == ("human", "person")
