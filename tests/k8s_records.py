"""Hand-written Kubernetes audit records in kube-apiserver's audit.k8s.io/v1 shapes (test data)."""

from __future__ import annotations

from typing import Any

PLANTED = "eyJhbGciOiJSUzI1NiIsImtpZCI6InBsYW50ZWQifQ.eyJzdWIiOiJwbGFudGVkLXRva2VuIn0.c2lnbmF0dXJlLXBsYW50ZWQ"


def token_request(level: str = "RequestResponse", **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": "5d6a1b2c-0000-4000-8000-000000000001",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/payments/serviceaccounts/ledger/token",
        "verb": "create",
        "user": {"username": "system:node:node-a", "groups": ["system:nodes", "system:authenticated"]},
        "sourceIPs": ["10.0.0.7"],
        "userAgent": "kubelet/v1.30.1 (linux/amd64) kubernetes/abcdef0",
        "objectRef": {
            "resource": "serviceaccounts",
            "namespace": "payments",
            "name": "ledger",
            "apiVersion": "v1",
            "subresource": "token",
        },
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "spec": {
                "audiences": ["https://kubernetes.default.svc"],
                "expirationSeconds": 3607,
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": "ledger-7f9c",
                    "uid": "uid-ledger-7f9c",
                },
            },
        },
        "responseObject": {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3607},
            "status": {"token": PLANTED, "expirationTimestamp": "2024-05-01T11:00:07Z"},
        },
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z",
        "stageTimestamp": "2024-05-01T10:00:00.010000Z",
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authentication.kubernetes.io/issued-credential-id": "JTI=0f7e6d5c-1111-4222-8333-444455556666",
        },
    }
    record.update(extra)
    return record


def k8s_request(verb: str, resource: str, sub: str = "", **extra: Any) -> dict[str, Any]:
    ref = {"resource": resource, "namespace": "batch", "name": "nightly-x1", "apiVersion": "v1"}
    if sub:
        ref["subresource"] = sub
    record: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"id-{verb}-{resource}-{sub}",
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": "alice@example.com"},
        "objectRef": ref,
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": "2024-05-01T12:00:00Z",
    }
    record.update(extra)
    return record
