"""All NHI events of one audited Kubernetes request: its use by a service account, and what it did
to identities (``k8s_objects``). Shared by the ``k8s-audit`` format and GKE entries of ``gcp-audit``;
the mapping is described in ``ingest/parsers/k8s_audit.py``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from contract.errors import RecordSkipped
from contract.events import Context, Event, EventType
from contract.identity import SESSION_KIND, WORKLOAD
from ingest.providers.k8s_objects import OBJECT_RESOURCES, object_events
from ingest.providers.k8s_request import Request, account_attrs, extras, sa_of
from ingest.toolkit.build import build
from ingest.toolkit.fields import as_dict, text


def audit_events(req: Request) -> list[Event]:
    """All NHI events of one audited request (pure; raises RecordRejected when unusable)."""
    if text(req.ev.get("stage")) == "RequestReceived":
        raise RecordSkipped(
            f"{req.source}: RequestReceived stage (the request is logged again when it completes)"
        )
    sa = sa_of(req.username)
    if sa is None and req.resource not in OBJECT_RESOURCES:
        # see concerns_nhi
        raise RecordSkipped(
            f"{req.source}: {_requester(req.username)} request that touches no service account"
        )
    events = build(_request_events, req, sa)
    if not events:
        raise RecordSkipped(
            f"{req.source}: {_requester(req.username)} request on {req.resource} that changes no identity"
        )
    return events


def _requester(username: str) -> str:
    if username.startswith("system:node:"):
        return "a node's"
    if username.startswith("system:"):
        return "a control-plane component's"
    return "a person's" if username else "an anonymous"


def _request_events(req: Request, sa: tuple[str, str] | None) -> list[Event]:
    out: list[Event] = []
    if sa is not None:
        out.append(_used(req, sa))
    out.extend(object_events(req))
    return out


def concerns_nhi(username: str, resource: str) -> bool:
    """Whether a request can yield events at all. Most don't: they are neither made by a service
    account nor on the objects the per-resource rules read, and need not be read further."""
    return sa_of(username) is not None or resource in OBJECT_RESOURCES


def _used(req: Request, sa: tuple[str, str]) -> Event:
    ns, name = sa
    ex = extras(as_dict(req.ev.get("user")))
    pod = ex.get("authentication.kubernetes.io/pod-name", "")
    pod_uid = ex.get("authentication.kubernetes.io/pod-uid") or None
    node = ex.get("authentication.kubernetes.io/node-name") or None
    attrs: dict[str, Any] = account_attrs(ns, name)
    credential = ex.get("authentication.kubernetes.io/credential-id", "")
    if pod:
        attrs[SESSION_KIND] = WORKLOAD  # a token bound to its pod: the kubelet delivered it to the workload
    if not credential:
        if pod:
            # A pod-bound token from an apiserver that logs no JTI: all tokens of one pod are one
            # credential, which still joins uses to the pod's end.
            credential = f"k8s-pod-token:{req.cluster}/{ns}/{name}@{pod}"
            attrs["credential_inferred"] = "pod-bound token without credential-id"
        elif req.extras_known:
            credential = f"k8s-legacy:{req.cluster}/{ns}/{name}"
            attrs["legacy_token"] = True
            attrs[SESSION_KIND] = "key"  # a Secret-stored token that never expires
        else:
            credential = f"k8s-sa:{req.cluster}/{ns}/{name}"
            attrs["credential_inferred"] = "no credential id in this log form"
    impersonated = text(as_dict(req.ev.get("impersonatedUser")).get("username"))
    if impersonated:
        attrs["impersonated_user"] = impersonated
    return req.event(
        "used",
        EventType.CREDENTIAL_USED,
        nhi=req.nhi(ns, name),
        credential=credential,
        task=req.pod_task(ns, pod) if pod else None,
        action=_action(req),
        resource=_resource_path(req),
        outcome=req.outcome,
        context=Context(
            cluster=req.cluster,
            namespace=ns,
            pod_uid=pod_uid,
            node=node,
            ip=req.ip,
            user_agent=req.user_agent,
        ),
        attrs=attrs,
    )


def _action(req: Request) -> str:
    if req.resource:
        return f"{req.verb} {req.resource}" + (f"/{req.subresource}" if req.subresource else "")
    path = urlsplit(text(req.ev.get("requestURI")) or "").path
    return f"{req.verb} {path or '?'}".strip()


def _resource_path(req: Request) -> str | None:
    if not req.resource:
        return urlsplit(text(req.ev.get("requestURI")) or "").path or None
    group = text(as_dict(req.ev.get("objectRef")).get("apiGroup")) or ""
    kind = f"{req.resource}.{group}" if group else req.resource
    parts = [f"namespaces/{req.namespace}"] if req.namespace else []
    parts.append(kind)
    if req.name:
        parts.append(req.name)
    if req.subresource:
        parts.append(req.subresource)
    return "/".join(parts)
