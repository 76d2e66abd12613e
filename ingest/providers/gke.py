"""GKE audit entries (Cloud Logging form, ``serviceName == "k8s.io"``) -> the Kubernetes mapping.

GKE writes each Kubernetes audit event as a Cloud Audit LogEntry: methodName
``io.k8s.<group>.<version>.<resource>[.<subresource>].<verb>``, resourceName
``core/v1/namespaces/NS/pods/NAME[/SUB]``, the user in ``authenticationInfo.principalEmail`` and
the Kubernetes auditID in ``operation.id``. Rather than a second Kubernetes mapping, the entry is
rewritten into an audit.k8s.io Event and given to ``ingest.providers.k8s_events``: the same rules, the same
ids (``k8s:<cluster>/<ns>/<sa>``, ``pod:<cluster>/<ns>/<name>``), so GKE and kube-apiserver logs of
one cluster join. The cluster is ``options["cluster"]``, else ``resource.labels.cluster_name``.

GKE entries carry no ``user.extra``: no credential id, pod or node of a service account's token.
Uses get the credential ``k8s-sa:<cluster>/<ns>/<sa>`` (not called legacy: nothing says so).
"""

from __future__ import annotations

import re
from typing import Any

from contract.errors import RecordSkipped
from contract.events import Event
from ingest.providers.gcp_entry import Entry
from ingest.providers.k8s_events import audit_events, concerns_nhi
from ingest.providers.k8s_request import Request
from ingest.toolkit.fields import as_dict, as_int, text

_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")
# gRPC status codes GKE logs -> the HTTP codes kube-apiserver would have logged.
_GRPC_TO_HTTP = {3: 400, 5: 404, 6: 409, 7: 403, 9: 400, 10: 409, 16: 401}


def is_gke(pp: dict[str, Any]) -> bool:
    return text(pp.get("serviceName")) == "k8s.io" or (text(pp.get("methodName")) or "").startswith("io.k8s.")


def _split_method(method: str) -> tuple[str, str, str, str]:
    """(group, resource, subresource, verb) of ``io.k8s.core.v1.pods.exec.create``."""
    parts = method.split(".")
    if parts[:2] == ["io", "k8s"]:
        parts = parts[2:]
    at = next((i for i, p in enumerate(parts) if _VERSION.match(p)), -1)
    if at < 0 or len(parts) < at + 3:
        return "", "", "", parts[-1] if parts else ""
    group = ".".join(parts[:at])
    rest = parts[at + 1 :]
    verb = rest[-1]
    resource = rest[0]
    sub = rest[1] if len(rest) > 2 else ""
    return ("" if group == "core" else group), resource, sub, verb


def _split_resource_name(name: str) -> tuple[str, str]:
    """(namespace, object name) of ``core/v1/namespaces/NS/pods/NAME[/SUB]``."""
    parts = [p for p in name.split("/") if p]
    if "namespaces" in parts:
        i = parts.index("namespaces")
        ns = parts[i + 1] if len(parts) > i + 1 else ""
        # namespaces/NS/<resource>/<name>: a bare namespaces/NS is the Namespace object itself.
        obj = parts[i + 3] if len(parts) > i + 3 else ""
        return ns, obj
    return "", parts[3] if len(parts) > 3 else ""


def _code(pp: dict[str, Any]) -> int | None:
    status = as_dict(pp.get("status"))
    grpc = as_int(status.get("code"))
    if grpc:
        return _GRPC_TO_HTTP.get(grpc, 500)
    response = as_dict(pp.get("response"))
    if text(response.get("status")) == "Failure":
        return as_int(response.get("code")) or 400
    if status or response:
        return 200
    return None


def gke_events(e: Entry) -> list[Event]:
    entry, pp, ctx = e.entry, e.pp, e.ctx
    group, resource, sub, verb = _split_method(text(pp.get("methodName")) or "")
    username = text(as_dict(pp.get("authenticationInfo")).get("principalEmail")) or ""
    if not concerns_nhi(username, resource.strip()):  # stripped as the audit event's reader does
        return []  # what audit_events would return, without building the audit event first
    cluster = ctx.options.get("cluster") or text(e.labels.get("cluster_name")) or "default"
    ns, name = _split_resource_name(text(pp.get("resourceName")) or "")
    meta = as_dict(pp.get("requestMetadata"))
    ip = text(meta.get("callerIp")) or text(meta.get("callerIP")) or ""
    operation = as_dict(entry.get("operation"))
    audit_id = (
        (text(operation.get("id")) or "") if text(operation.get("producer")) in (None, "k8s.io") else ""
    )
    code = _code(pp)
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": audit_id or e.base_id,
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": username},
        "objectRef": {
            "resource": resource,
            "subresource": sub,
            "apiGroup": group,
            "namespace": ns,
            "name": name,
        },
        "sourceIPs": [ip] if ip else [],
        "userAgent": text(meta.get("callerSuppliedUserAgent")) or "",
        "annotations": {k: v for k, v in as_dict(entry.get("labels")).items() if isinstance(k, str)},
        "requestObject": pp.get("request"),
        "responseObject": pp.get("response"),
    }
    if code is not None:
        ev["responseStatus"] = {"code": code}
    req = Request(ev, ctx, cluster, source="gcp-audit", fallback_time=e.time, extras_known=False)
    req.time_fields = "timestamp / requestAttributes.time / receiveTimestamp"
    try:
        return audit_events(req)
    except RecordSkipped:
        return []  # the entry may still be a GCP service account's use; gcp_audit says why if not
