"""k8s-audit: golden tests on real records (../shared/datasets) and on hand-written ones shaped
like kube-apiserver's output (audit.k8s.io/v1 Event), plus the token-never-copied guarantee."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from contract.settings import Settings
from ingest.parsers.k8s_audit import parse_k8s_audit, sniff_k8s_audit
from ingest.parsing import ParseContext
from ingest.secrets import fingerprint
from tests.k8s_records import PLANTED, k8s_request, token_request
from tests.real_datasets import dataset_line

SETTINGS = Settings()
CTX = ParseContext(SETTINGS)
PANTHER = "k8saudit/panther-rule-tests.jsonl"
FALCO = "k8saudit/falco-trace-files.jsonl"
AKS = "aks_kube_audit/panther-rule-tests.jsonl"


def parse(record: Any, **options: str) -> list[Event]:
    """The record's events; a skipped record (about no NHI) has none (its reason: ``skip_reason``)."""
    try:
        return parse_k8s_audit(record, ParseContext(SETTINGS, options=options))
    except RecordSkipped:
        return []


def skip_reason(record: Any) -> str:
    with pytest.raises(RecordSkipped) as skipped:
        parse_k8s_audit(record, CTX)
    return skipped.value.reason


def dumped(events: list[Event]) -> list[dict[str, Any]]:
    return [e.to_json_dict() for e in events]


# --- real records --------------------------------------------------------------------------------


def test_kubelet_token_request_metadata_level() -> None:
    # Panther line 10: the kubelet's TokenRequest for kube-proxy, logged at Metadata level (EKS).
    assert dumped(parse(dataset_line(PANTHER, 9))) == [
        {
            "type": "credential.issued",
            "time": "2025-08-26T17:40:49.320496Z",
            "id": "e5ca89e7-8686-4b7c-b666-f8b863b6f21c/issued",
            "source": "k8s-audit",
            "nhi": "k8s:default/kube-system/kube-proxy",
            "credential": "JTI=2e6389af-b8bc-4c26-92d2-714fbe9cb4fa",
            # Metadata level logs no expiry: the TokenRequest API default, flagged as assumed.
            "expires_at": "2025-08-26T18:40:49.320496Z",
            "method": "k8s-bound-token",
            "attested": True,
            "context": {
                "cluster": "default",
                "namespace": "kube-system",
                "node": "ip-192-168-3-178.us-west-2.compute.internal",
            },
            "attrs": {
                "expires_at_assumed": True,
                "requested_by": "system:node:ip-192-168-3-178.us-west-2.compute.internal",
                "requester_ip": "54.212.83.236",
                # kube-proxy is a kube-system add-on every distribution installs: Kubernetes' own
                "principal_kind": "machine",
                "kind_evidence": "Kubernetes control-plane service account",
                "managed_by": "kubernetes",
                "session_kind": "workload",  # minted by the kubelet for its node's pod
            },
        }
    ]


def test_service_account_use_with_panther_rewritten_extras() -> None:
    # Panther line 2: coredns watching endpointslices, refused (403); user.extra keys rewritten
    # as authentication_kubernetes_io_slash_pod-name, and no credential-id logged.
    [e] = parse(dataset_line(PANTHER, 1), cluster="eks-prod")
    assert e.type is EventType.CREDENTIAL_USED
    assert e.id == "e2626946-90e1-4d0c-829e-ad5a78572926/used"
    assert e.nhi == "k8s:eks-prod/kube-system/coredns"
    assert e.credential == "k8s-pod-token:eks-prod/kube-system/coredns@coredns-57ff979f67-bl27n"
    assert e.task == "pod:eks-prod/kube-system/coredns-57ff979f67-bl27n"
    assert e.action == "watch endpointslices"
    assert e.resource == "endpointslices.discovery.k8s.io"
    assert e.outcome == "failure"
    assert e.time == datetime(2022, 11, 29, 22, 34, 6, 892000, tzinfo=UTC)  # zone-less: UTC
    assert e.context.model_dump(exclude_none=True) == {
        "cluster": "eks-prod",
        "namespace": "kube-system",
        "pod_uid": "5b9488ae-5563-42aa-850b-b0d82edb3e22",
        "ip": "10.0.27.115",
        "user_agent": "Go-http-client/2.0",
    }
    assert "legacy_token" not in e.attrs


def test_tokens_controller_secret_is_a_legacy_issuance() -> None:
    # Falco line 35: kube-controller-manager's tokens-controller creating default-token-7v4pb
    # (Metadata level: the Secret type is not logged, the controller's naming pattern is).
    [e] = parse(dataset_line(FALCO, 34))
    assert e.type is EventType.CREDENTIAL_ISSUED
    assert (e.nhi, e.credential, e.method) == (
        "k8s:default/test2/default",
        "k8s-legacy:default/test2/default",
        "k8s-legacy-token",
    )
    assert e.expires_at is None  # legacy secret-based tokens never expire
    assert e.attrs["legacy_token"] is True and e.attrs["secret_name"] == "default-token-7v4pb"


def test_human_creates_and_deletes_a_service_account() -> None:
    # Falco lines 36 and 47: minikube-user creates, then deletes, default/myacct.
    [created] = parse(dataset_line(FALCO, 35))
    [deleted] = parse(dataset_line(FALCO, 46))
    assert (created.type, created.nhi, created.id) == (
        EventType.IDENTITY_REGISTERED,
        "k8s:default/default/myacct",
        "db4a8c97-3bd2-4ee7-a0d9-b6e367a458e3/registered",
    )
    # The person who created it is its creator and, until someone is named, its owner.
    assert created.attrs == {
        "by": "minikube-user",
        "created_by": "minikube-user",
        "owner_source": "creator",
        "principal_kind": "machine",
        "kind_evidence": "Kubernetes service account",
    }
    assert created.owner == "minikube-user"
    assert (deleted.type, deleted.nhi) == (EventType.IDENTITY_DELETED, "k8s:default/default/myacct")
    assert deleted.time == datetime(2018, 10, 26, 13, 19, 30, 37091, tzinfo=UTC)


def test_controller_creates_a_pod() -> None:
    # Falco line 22: replicaset-controller (a 2018 secret-based token) creates a pod, RequestResponse.
    used, started = parse(dataset_line(FALCO, 21))
    assert used.type is EventType.CREDENTIAL_USED
    assert used.nhi == "k8s:default/kube-system/replicaset-controller"
    assert used.credential == "k8s-legacy:default/kube-system/replicaset-controller"
    assert used.attrs == {
        "legacy_token": True,
        "session_kind": "key",  # a Secret-stored token that never expires
        "principal_kind": "machine",
        "kind_evidence": "Kubernetes control-plane service account",
        "managed_by": "kubernetes",  # kube-controller-manager's own controller
    }
    assert (used.action, used.resource, used.outcome) == ("create pods", "namespaces/default/pods", "success")
    assert started.type is EventType.TASK_STARTED
    assert started.task == "pod:default/default/nginx-deployment-7998647bdf-4j7t7"
    assert started.nhi == "k8s:default/default/default"  # the pod's service account
    assert started.context.pod_uid == "6b5d73bb-d8ff-11e8-a2e6-080027728ac4"
    assert started.context.image == "nginx"


def test_human_action_on_no_nhi_is_skipped_with_a_reason() -> None:
    # Falco line 1: system:anonymous creates a namespace - nothing about an NHI.
    assert skip_reason(dataset_line(FALCO, 0)) == (
        "k8s-audit: a control-plane component's request that touches no service account"
    )


def test_aks_wrapper_cluster_from_resource_id() -> None:
    # AKS line 30 (metrics-server listing nodes) carries no time; real diagnostic exports have a
    # top-level `time` and `resourceId`, added here to the real record.
    record = dataset_line(AKS, 29)
    with pytest.raises(RecordRejected, match="no usable timestamp"):
        parse(record)
    record = {
        **record,
        "time": "2024-05-01T10:00:00Z",
        "resourceId": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-prod",
    }
    [e] = parse(record)
    assert e.nhi == "k8s:aks-prod/kube-system/metrics-server"
    assert e.credential == "k8s-legacy:aks-prod/kube-system/metrics-server"
    assert (e.action, e.resource, e.time) == ("list nodes", "nodes", datetime(2024, 5, 1, 10, tzinfo=UTC))
    # an explicit cluster option wins over the record
    assert parse(record, cluster="west")[0].nhi == "k8s:west/kube-system/metrics-server"


def test_aks_human_token_request_is_an_nhi_event() -> None:
    # AKS line 27: persistence-user@example.com mints a token for default/backdoor-sa (time added).
    [e] = parse({**dataset_line(AKS, 26), "time": "2024-05-01T10:00:00Z"})
    assert (e.type, e.nhi, e.attested, e.task) == (
        EventType.CREDENTIAL_ISSUED,
        "k8s:default/default/backdoor-sa",
        False,  # minted by a person, not by the kubelet for a pod on its node
        None,
    )
    assert e.credential is not None and e.credential.startswith("k8s-tokenrequest:")
    assert e.attrs["requested_by"] == "persistence-user@example.com"
    assert e.attrs["requester_ip"] == "1.2.3.4"
    assert e.context.ip is None  # the requester's address is not where the token lives


# --- hand-written records (kube-apiserver audit.k8s.io/v1 shapes) ----------------------------------


def test_token_request_request_response_level() -> None:
    [e] = parse(token_request(), cluster="prod")
    assert e.to_json_dict() == {
        "type": "credential.issued",
        "time": "2024-05-01T10:00:00Z",
        "id": "5d6a1b2c-0000-4000-8000-000000000001/issued",
        "source": "k8s-audit",
        "nhi": "k8s:prod/payments/ledger",
        "credential": "JTI=0f7e6d5c-1111-4222-8333-444455556666",
        "task": "pod:prod/payments/ledger-7f9c",
        "expires_at": "2024-05-01T11:00:07Z",
        "method": "k8s-bound-token",
        "attested": True,
        "context": {
            "cluster": "prod",
            "namespace": "payments",
            "node": "node-a",
            "pod_uid": "uid-ledger-7f9c",
        },
        "attrs": {
            "bound_object": "Pod/ledger-7f9c",
            "invalidated_with_task": True,
            "audiences": ["https://kubernetes.default.svc"],
            "requested_by": "system:node:node-a",
            "requester_ip": "10.0.0.7",
            "principal_kind": "machine",
            "kind_evidence": "Kubernetes service account",
            "session_kind": "workload",  # bound to its pod: delivered to the workload
        },
    }


def test_token_in_response_never_appears_in_events() -> None:
    for record in (token_request(), token_request(annotations={})):
        events = parse(record)
        assert events
        for e in events:
            assert PLANTED not in e.model_dump_json()
            assert "plantedSig" not in e.model_dump_json()
    # without a JTI the credential id is the token's keyed fingerprint, not the token
    [e] = parse(token_request(annotations={}))
    assert e.credential == fingerprint(PLANTED, SETTINGS.fingerprint_key)


def test_token_request_expiry_from_expiration_seconds() -> None:
    record = token_request()
    record["responseObject"] = {"kind": "Status"}
    [e] = parse(record)
    assert e.expires_at == datetime(2024, 5, 1, 11, 0, 7, tzinfo=UTC)  # received + 3607 s
    assert "expires_at_assumed" not in e.attrs


def test_refused_token_request_mints_nothing() -> None:
    assert skip_reason(token_request(responseStatus={"code": 403})) == (
        "k8s-audit: a node's request on serviceaccounts that changes no identity"
    )


def test_stages_share_ids_and_request_received_is_skipped() -> None:
    use = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "aa11",
        "verb": "get",
        "user": {
            "username": "system:serviceaccount:payments:ledger",
            "extra": {
                "authentication.kubernetes.io/credential-id": ["JTI=0f7e6d5c-1111-4222-8333-444455556666"],
                "authentication.kubernetes.io/node-name": ["node-a"],
                "authentication.kubernetes.io/pod-name": ["ledger-7f9c"],
                "authentication.kubernetes.io/pod-uid": ["uid-ledger-7f9c"],
            },
        },
        "sourceIPs": ["10.1.2.3"],
        "objectRef": {"resource": "secrets", "namespace": "payments", "name": "db", "apiVersion": "v1"},
        "requestReceivedTimestamp": "2024-05-01T10:05:00Z",
    }
    received = {**use, "stage": "RequestReceived"}
    started = {**use, "stage": "ResponseStarted", "responseStatus": {"code": 200}}
    complete = {**use, "stage": "ResponseComplete", "responseStatus": {"code": 200}}
    assert skip_reason(received) == (
        "k8s-audit: RequestReceived stage (the request is logged again when it completes)"
    )
    [a], [b] = parse(started), parse(complete)
    assert a.id == b.id == "aa11/used"
    assert b.credential == "JTI=0f7e6d5c-1111-4222-8333-444455556666"
    assert b.task == "pod:default/payments/ledger-7f9c"
    assert (b.context.node, b.context.pod_uid, b.context.ip) == ("node-a", "uid-ledger-7f9c", "10.1.2.3")
    assert b.resource == "namespaces/payments/secrets/db"


def test_pod_deletion_at_metadata_level_joins_by_name() -> None:
    [e] = parse(k8s_request("delete", "pods"), cluster="prod")
    assert (e.type, e.task, e.nhi, e.context.pod_uid) == (
        EventType.TASK_ENDED,
        "pod:prod/batch/nightly-x1",
        None,
        None,
    )
    assert e.attrs == {"ended_by": "deleted", "by": "alice@example.com"}


def test_pod_deletion_with_response_object_carries_uid_and_nhi() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "nightly-x1", "uid": "u-1"},
        "spec": {"serviceAccountName": "etl"},
    }
    [e] = parse(k8s_request("delete", "pods", level="RequestResponse", responseObject=pod))
    assert (e.context.pod_uid, e.nhi) == ("u-1", "k8s:default/batch/etl")


def test_pod_and_job_completion() -> None:
    status = {"metadata": {"uid": "u-1"}, "status": {"phase": "Succeeded"}}
    [pod] = parse(k8s_request("patch", "pods", "status", requestObject=status))
    assert (pod.type, pod.task, pod.context.pod_uid, pod.attrs["ended_by"]) == (
        EventType.TASK_ENDED,
        "pod:default/batch/nightly-x1",
        "u-1",
        "succeeded",
    )
    running = {"status": {"phase": "Running"}}
    assert parse(k8s_request("patch", "pods", "status", requestObject=running)) == []
    done = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    [job] = parse(k8s_request("update", "jobs", "status", requestObject=done))
    assert (job.task, job.attrs) == ("job:default/batch/nightly-x1", {"ended_by": "complete"})
    [evicted] = parse(k8s_request("create", "pods", "eviction"))
    assert evicted.attrs["ended_by"] == "evicted"


def test_service_account_owner_from_annotations() -> None:
    sa = {
        "kind": "ServiceAccount",
        "metadata": {
            "name": "nightly-x1",
            "annotations": {"nhi-evidence.io/owner": "team-data", "description": "nightly ETL"},
            "labels": {"team": "ignored-when-annotated"},
        },
    }
    [e] = parse(
        k8s_request(
            "create", "serviceaccounts", level="Request", requestObject=sa, responseStatus={"code": 201}
        )
    )
    assert (e.type, e.owner, e.purpose) == (EventType.IDENTITY_REGISTERED, "team-data", "nightly ETL")
    assert (e.attrs["owner_source"], e.attrs["created_by"]) == ("annotation", "alice@example.com")
    [u] = parse(
        k8s_request("patch", "serviceaccounts", requestObject={"metadata": {"labels": {"owner": "bob"}}})
    )
    assert (u.type, u.owner, u.attrs["owner_source"]) == (EventType.IDENTITY_UPDATED, "bob", "label")
    assert "created_by" not in u.attrs  # a patch is not a creation
    assert parse(k8s_request("patch", "serviceaccounts", requestObject={"secrets": []})) == []


def test_secret_of_service_account_token_type() -> None:
    secret = {
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "ci-token", "annotations": {"kubernetes.io/service-account.name": "ci"}},
        "data": {"token": "c2VjcmV0LXRva2VuLXZhbHVl"},
    }
    [e] = parse(
        k8s_request("create", "secrets", level="Request", requestObject=secret, responseStatus={"code": 201})
    )
    assert (e.nhi, e.credential, e.expires_at) == (
        "k8s:default/batch/ci",
        "k8s-legacy:default/batch/ci",
        None,
    )
    assert "c2VjcmV0LXRva2VuLXZhbHVl" not in e.model_dump_json()


def test_event_list_and_unrecognised_records() -> None:
    batch = {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "items": [token_request(), k8s_request("delete", "pods")],
    }
    assert sniff_k8s_audit(batch)
    assert [e.type for e in parse(batch)] == [EventType.CREDENTIAL_ISSUED, EventType.TASK_ENDED]
    with pytest.raises(RecordRejected):
        parse({"kind": 0})  # the Falco trace's deliberately malformed line
    with pytest.raises(RecordRejected):
        parse(["not", "an", "object"])


def test_core_v1_event_is_not_claimed() -> None:
    core_event = {
        "kind": "Event",
        "apiVersion": "v1",
        "involvedObject": {"kind": "Pod"},
        "reason": "Scheduled",
    }
    assert not sniff_k8s_audit(core_event)
    native = {"type": "credential.used", "time": "2024-05-01T10:00:00Z", "nhi": "k8s:x/y/z", "kind": "Event"}
    assert not sniff_k8s_audit({k: v for k, v in native.items() if k != "kind"})


def test_parsing_does_not_mutate_the_record() -> None:
    record = token_request()
    before = copy.deepcopy(record)
    parse(record)
    assert record == before


def test_only_kube_system_controllers_are_kubernetes_managed() -> None:
    def used_by(namespace: str, name: str) -> Event:
        record = k8s_request("get", "configmaps")
        record["user"] = {"username": f"system:serviceaccount:{namespace}:{name}"}
        [e] = parse(record)
        return e

    assert used_by("kube-system", "job-controller").attrs["managed_by"] == "kubernetes"
    # The same name elsewhere, or a customer's controller in kube-system, is the customer's.
    assert "managed_by" not in used_by("batch", "job-controller").attrs
    assert "managed_by" not in used_by("kube-system", "aws-load-balancer-controller").attrs
    assert used_by("batch", "etl").attrs["principal_kind"] == "machine"
