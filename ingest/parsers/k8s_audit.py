"""Kubernetes audit logs (``audit.k8s.io/v1`` Event) -> canonical NHI events.

Accepted shapes: one Event per line (kube-apiserver log backend, EKS/Falco exports), an
``EventList`` (webhook backend batch), and the AKS diagnostic wrapper where the Event is a JSON
string in ``properties.log`` (category ``kube-audit`` / ``kube-audit-admin``). GKE audit entries come
in Cloud Logging form (``protoPayload.serviceName == "k8s.io"``): the ``gcp-audit`` format reads
them and hands them to the same rules (``ingest/providers/k8s_events.py``, via ``gke.py``).

Identity: ``user.username == system:serviceaccount:NS:NAME`` -> nhi ``k8s:<cluster>/NS/NAME``.
The cluster is ``options["cluster"]``, else the AKS resourceId's cluster name, else "default".

Mapping (``ingest/providers/k8s_events.py``; the per-resource rules are in ``k8s_objects.py``):

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
- Requests by people, nodes and control-plane users that concern no NHI are skipped with their
  reason (counted per source and reason by the Collector, never a reject): the pipeline tracks
  non-human identities.

What a record shows about the principal: every service account is ``principal_kind = "machine"``;
the control plane's own (kube-controller-manager's controller accounts, kube-proxy, CoreDNS in
``kube-system``: ``k8s_request.CONTROL_PLANE_ACCOUNTS``) is ``managed_by = "kubernetes"``. Tokens
bound to a pod (or node) are ``session_kind = "workload"``; legacy Secret tokens ``key``. A
ServiceAccount created by a person records ``created_by``; its owner is the ``owner``/``team``
annotation (``owner_source = annotation``), else such a label (``label``), else that person
(``creator``).

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

import orjson

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event
from ingest.parsing import ParseContext
from ingest.providers.k8s_events import audit_events
from ingest.providers.k8s_request import Request
from ingest.toolkit.build import looks_native
from ingest.toolkit.fields import as_dict, as_list, text
from ingest.toolkit.times import parse_time

AKS_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})


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
    if text(value.get("category")) in AKS_CATEGORIES:
        return True
    log = props.get("log")
    return isinstance(log, str) and log.lstrip().startswith("{") and '"audit.k8s.io/' in log


def sniff_k8s_audit(value: Any) -> bool:
    if not isinstance(value, dict) or looks_native(value):
        return False
    if _is_audit_event(value):
        return True
    if value.get("kind") == "EventList" and (text(value.get("apiVersion")) or "").startswith("audit.k8s.io/"):
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
        return [log], _aks_cluster(text(value.get("resourceId")) or ""), parse_time(value.get("time"))
    raise RecordRejected("not a Kubernetes audit event (kind Event, apiVersion audit.k8s.io/*)")


def parse_k8s_audit(value: Any, ctx: ParseContext) -> list[Event]:
    items, cluster_hint, wrapper_time = _unwrap(value)
    cluster = ctx.options.get("cluster") or cluster_hint or "default"
    if len(items) == 1:
        return audit_events(Request(items[0], ctx, cluster, fallback_time=wrapper_time))
    out: list[Event] = []
    for ev in items:
        try:
            out.extend(audit_events(Request(ev, ctx, cluster, fallback_time=wrapper_time)))
        except RecordSkipped:
            continue  # one request of the list about no NHI; the others may be
    if not out:
        raise RecordSkipped(
            f"k8s-audit: an EventList of {len(items)} requests, none about a non-human identity"
        )
    return out
