"""Kubernetes audit logs (``audit.k8s.io/v1`` Event) -> canonical NHI events.

Accepted shapes: one Event per line (kube-apiserver log backend, EKS/Falco exports), an
``EventList`` (webhook backend batch), and the AKS diagnostic wrapper where the Event is a JSON
string in ``properties.log`` (category ``kube-audit`` / ``kube-audit-admin``). GKE audit entries come
in Cloud Logging form (``protoPayload.serviceName == "k8s.io"``): the ``gcp-audit`` format reads
them and hands them to :func:`audit_events` here (see ``ingest/gke.py``), so one mapping serves all.

Identity: ``user.username == system:serviceaccount:NS:NAME`` -> nhi ``k8s:<cluster>/NS/NAME``.
The cluster is ``options["cluster"]``, else the AKS resourceId's cluster name, else "default".

Mapping (see ``ingest/k8s_objects.py`` for the per-resource rules):

- any request by a service account -> ``credential.used`` (action ``<verb> <resource>[/<sub>]``,
  resource = namespaced path, outcome from responseStatus.code, ip, user agent, pod and node from
  ``user.extra``; ``context.namespace`` is the service account's, where its pod runs, not the
  target's). The credential is the JTI from ``authentication.kubernetes.io/credential-id``;
  without it, a pod-bound token (pod-name extra) gets ``k8s-pod-token:<cluster>/<ns>/<sa>@<pod>``
  and anything else ``k8s-legacy:<cluster>/<ns>/<sa>`` with ``attrs.legacy_token``. Note that
  apiservers before 1.29 log no credential id at all, so there "legacy" means "not pod-bound".
- TokenRequest, legacy token Secrets, ServiceAccount create/update/delete, pod create/delete/
  eviction/completion and Job completion/deletion -> issued / registered / updated / deleted /
  task.started / task.ended, whoever made the request (a person minting a token for a service
  account is an NHI event).
- Requests by people, nodes and control-plane users that concern no NHI -> ``[]`` (counted as a
  record with no events by the Collector, never a reject): the pipeline tracks non-human identities.

Stages: ``RequestReceived`` is skipped (the same request is logged again when it completes);
every later stage of one request maps to the same event ids (``<auditID>/<kind>``), so a request
logged at ResponseStarted and ResponseComplete is applied once.

What Metadata level loses: TokenRequest expiry (assumed 3600 s, the API default, and flagged
``attrs.expires_at_assumed``) and its bound pod (so no task on the issuance), pod uids on deletion,
the service account of a created pod, Secret types (only the tokens-controller naming pattern
identifies legacy token Secrets), and pod/Job completion (needs the status patch bodies). Use
level ``RequestResponse`` for ``serviceaccounts/token`` and ``Request`` for ``pods/status``,
``jobs/status``, ``serviceaccounts`` and ``secrets`` of type service-account-token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from contract.errors import RecordRejected
from contract.events import Context, Event, EventType
from ingest.fieldutil import as_dict, as_list, as_str, build, looks_native
from ingest.k8s_objects import OBJECT_RESOURCES, object_events
from ingest.k8s_request import Request, extras, sa_of
from ingest.parsing import ParseContext
from ingest.timeparse import parse_time

AKS_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})


def audit_events(req: Request) -> list[Event]:
    """All NHI events of one audited request (pure; raises RecordRejected when unusable)."""
    if as_str(req.ev.get("stage")) == "RequestReceived":
        return []
    sa = sa_of(req.username)
    if sa is None and req.resource not in OBJECT_RESOURCES:
        return []  # see concerns_nhi
    return build(_request_events, req, sa)


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
    attrs: dict[str, Any] = {}
    credential = ex.get("authentication.kubernetes.io/credential-id", "")
    if not credential:
        if pod:
            # A pod-bound token from an apiserver that logs no JTI: all tokens of one pod are one
            # credential, which still joins uses to the pod's end.
            credential = f"k8s-pod-token:{req.cluster}/{ns}/{name}@{pod}"
            attrs["credential_inferred"] = "pod-bound token without credential-id"
        elif req.extras_known:
            credential = f"k8s-legacy:{req.cluster}/{ns}/{name}"
            attrs["legacy_token"] = True
        else:
            credential = f"k8s-sa:{req.cluster}/{ns}/{name}"
            attrs["credential_inferred"] = "no credential id in this log form"
    impersonated = as_str(as_dict(req.ev.get("impersonatedUser")).get("username"))
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
    path = urlsplit(as_str(req.ev.get("requestURI"))).path
    return f"{req.verb} {path or '?'}".strip()


def _resource_path(req: Request) -> str | None:
    if not req.resource:
        return urlsplit(as_str(req.ev.get("requestURI"))).path or None
    group = as_str(as_dict(req.ev.get("objectRef")).get("apiGroup"))
    kind = f"{req.resource}.{group}" if group else req.resource
    parts = [f"namespaces/{req.namespace}"] if req.namespace else []
    parts.append(kind)
    if req.name:
        parts.append(req.name)
    if req.subresource:
        parts.append(req.subresource)
    return "/".join(parts)


# --- record shapes -----------------------------------------------------------------------------


def _is_audit_event(value: dict[str, Any]) -> bool:
    if value.get("kind") != "Event":
        return False
    api = value.get("apiVersion")
    if isinstance(api, str):
        return api.startswith("audit.k8s.io/")
    # Trimmed exports drop apiVersion; a core/v1 Event (involvedObject, reason) has no verb.
    return (
        api is None and ("verb" in value or "auditID" in value) and ("objectRef" in value or "user" in value)
    )


def _is_aks(value: dict[str, Any]) -> bool:
    props = value.get("properties")
    if not isinstance(props, dict) or "log" not in props:
        return False
    if as_str(value.get("category")) in AKS_CATEGORIES:
        return True
    log = props.get("log")
    return isinstance(log, str) and log.lstrip().startswith("{") and '"audit.k8s.io/' in log


def sniff_k8s_audit(value: Any) -> bool:
    if not isinstance(value, dict) or looks_native(value):
        return False
    if _is_audit_event(value):
        return True
    if value.get("kind") == "EventList" and as_str(value.get("apiVersion")).startswith("audit.k8s.io/"):
        return True
    return _is_aks(value)


_AKS_CLUSTER = "/managedclusters/"


def _aks_cluster(resource_id: str) -> str | None:
    lowered = resource_id.lower()
    at = lowered.find(_AKS_CLUSTER)
    if at < 0:
        return None
    name = resource_id[at + len(_AKS_CLUSTER) :].split("/", 1)[0]
    return name or None


def _unwrap(value: Any) -> tuple[list[dict[str, Any]], str | None, datetime | None]:
    """(audit events, cluster hint, wrapper time) of one record."""
    if not isinstance(value, dict):
        raise RecordRejected(f"expected a JSON object, got {type(value).__name__}")
    if _is_audit_event(value):
        return [value], None, None
    if value.get("kind") == "EventList":
        items = [i for i in as_list(value.get("items")) if isinstance(i, dict)]
        return items, None, None
    if _is_aks(value):
        log = as_dict(value.get("properties")).get("log")
        if isinstance(log, str):
            try:
                log = orjson.loads(log)
            except orjson.JSONDecodeError:
                raise RecordRejected("AKS kube-audit record: properties.log is not valid JSON") from None
        if not isinstance(log, dict) or not _is_audit_event(log):
            raise RecordRejected("AKS kube-audit record: properties.log is not an audit.k8s.io Event")
        return [log], _aks_cluster(as_str(value.get("resourceId"))), parse_time(value.get("time"))
    raise RecordRejected("not a Kubernetes audit event (kind Event, apiVersion audit.k8s.io/*)")


def parse_k8s_audit(value: Any, ctx: ParseContext) -> list[Event]:
    items, cluster_hint, wrapper_time = _unwrap(value)
    cluster = ctx.options.get("cluster") or cluster_hint or "default"
    out: list[Event] = []
    for ev in items:
        out.extend(audit_events(Request(ev, ctx, cluster, fallback_time=wrapper_time)))
    return out
