"""Kubernetes audit: the per-resource rules (who caused them does not matter, what they did to an NHI does).

- ``create serviceaccounts/token`` (TokenRequest) -> credential.issued for the service account in
  objectRef (not the caller). Credential = the ``authentication.kubernetes.io/issued-credential-id``
  annotation (``JTI=...``, the same value the token's later uses carry in ``user.extra``). The token
  in ``responseObject.status.token`` is never copied: without a JTI its keyed fingerprint is the id.
- ``create secrets`` of type ``kubernetes.io/service-account-token`` (or, at Metadata level, named
  ``<sa>-token-xxxxx`` by the tokens-controller) -> credential.issued ``k8s-legacy:...``, no expiry.
- ``serviceaccounts`` create / update|patch / delete -> identity.registered / updated / deleted.
- ``pods`` create -> task.started; delete, ``pods/eviction``, a ``pods/status`` patch to phase
  Succeeded|Failed -> task.ended ``pod:<cluster>/<ns>/<name>`` (ids join by name: deletions at
  Metadata level carry no uid; the uid goes to ``context.pod_uid`` when logged).
- ``jobs`` delete, ``jobs/status`` with a Complete|Failed condition -> task.ended ``job:...``.

Only successful requests change state; a refused TokenRequest mints nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from contract.errors import RecordRejected
from contract.events import Context, Event, EventType
from contract.identity import CREATED_BY, OWNER_SOURCE, SESSION_KIND, WORKLOAD
from ingest.providers.k8s_request import NODE_PREFIX, Request, account_attrs, is_person, normalize_key
from ingest.secrets import fingerprint, scrub
from ingest.toolkit.fields import as_dict, as_list, text
from ingest.toolkit.times import add_seconds, parse_seconds, parse_time

# The TokenRequest API's default lifetime, assumed when the log does not say (Metadata level).
DEFAULT_TOKEN_SECONDS = 3600.0
_OWNER_KEYS = ("nhi-evidence.io/owner", "owner", "team")
_PURPOSE_KEYS = ("nhi-evidence.io/purpose", "purpose", "description", "kubernetes.io/description")
_EXPIRY_KEYS = ("nhi-evidence.io/expires-at", "nhi-evidence.io/expiry")
# The legacy tokens-controller names its Secrets <serviceaccount>-token-<5 random chars>.
_LEGACY_SECRET_NAME = re.compile(r"^(?P<sa>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)-token-[a-z0-9]{5}$")
_DONE_PHASES = frozenset({"Succeeded", "Failed"})


def object_events(req: Request) -> list[Event]:
    rule = _RULES.get(req.resource)
    if rule is None or not req.ok:
        return []
    return rule(req)


def _service_accounts(req: Request) -> list[Event]:
    if req.subresource == "token":
        return [_token_request(req)] if req.verb == "create" else []
    return _service_account(req) if not req.subresource else []


def _secrets(req: Request) -> list[Event]:
    return _legacy_secret(req) if not req.subresource and req.verb == "create" else []


def _meta(req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """(annotations, labels) merged over requestObject and responseObject metadata."""
    annotations: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for obj in req.objects():
        meta = as_dict(obj.get("metadata"))
        annotations.update(as_dict(meta.get("annotations")))
        labels.update(as_dict(meta.get("labels")))
    return annotations, labels


def _first(maps: tuple[dict[str, Any], ...], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        for m in maps:
            value = text(m.get(key))
            if value:
                return value
    return None


def _object_name(req: Request) -> tuple[str, str]:
    """(namespace, name): objectRef first, then the logged object's metadata (creates may lack it)."""
    ns, name = req.namespace, req.name
    for obj in (req.obj("responseObject"), req.obj("requestObject")):
        if obj.get("kind") in ("Status", "DeleteOptions"):
            continue
        meta = as_dict(obj.get("metadata"))
        ns = ns or text(meta.get("namespace")) or ""
        name = name or text(meta.get("name")) or ""
    return ns, name


def _token_request(req: Request) -> Event:
    ns, name = req.namespace, req.name
    if not ns or not name:
        raise RecordRejected("TokenRequest without objectRef namespace/name: the service account is unknown")
    specs = [as_dict(o.get("spec")) for o in req.objects()]
    status = as_dict(req.obj("responseObject").get("status"))
    bound: dict[str, Any] = next((b for s in specs if (b := as_dict(s.get("boundObjectRef")))), {})
    annotations = {
        normalize_key(k): v for k, v in as_dict(req.ev.get("annotations")).items() if isinstance(k, str)
    }
    attrs: dict[str, Any] = account_attrs(ns, name)
    kind, bname, buid = text(bound.get("kind")), text(bound.get("name")), text(bound.get("uid"))
    task = pod_uid = node = None
    if kind == "Pod" and bname:
        task, pod_uid = req.pod_task(ns, bname), buid or None
        # The API server rejects a pod-bound token once its pod is gone: it can't outlive the pod.
        attrs["invalidated_with_task"] = True
    elif kind == "Node" and bname:
        node = bname
    if kind:
        attrs["bound_object"] = f"{kind}/{bname}" if bname else kind
    if kind in ("Pod", "Node") or req.username.startswith(NODE_PREFIX):
        attrs[SESSION_KIND] = WORKLOAD  # minted for a pod (by its kubelet): delivered to the workload
    attested = False
    if req.username.startswith(NODE_PREFIX):
        # Only a kubelet for a pod on its own node passes the node authorizer: the node is known.
        node = node or req.username[len(NODE_PREFIX) :]
        attested = True
    credential = text(annotations.get("authentication.kubernetes.io/issued-credential-id"))
    if not credential:
        token = text(status.get("token"))
        if token:
            credential = fingerprint(token, req.ctx.settings.fingerprint_key)
            attrs["credential_inferred"] = "fingerprint of the issued token"
        elif task is not None:
            credential = f"k8s-pod-token:{req.cluster}/{ns}/{name}@{bname}"
            attrs["credential_inferred"] = "pod-bound token without credential-id"
        else:
            credential = f"k8s-tokenrequest:{req.base_id}"
            attrs["credential_inferred"] = "no credential-id logged"
    expires = parse_time(status.get("expirationTimestamp"))
    if expires is None:
        seconds = next(
            (v for s in specs if (v := parse_seconds(s.get("expirationSeconds"))) is not None), None
        )
        expires = add_seconds(req.at(), seconds)
    if expires is None:
        expires = req.at() + timedelta(seconds=DEFAULT_TOKEN_SECONDS)
        attrs["expires_at_assumed"] = True
    audiences = [a for s in specs for a in as_list(s.get("audiences")) if isinstance(a, str)]
    if audiences:
        attrs["audiences"] = sorted(set(audiences))
    if req.username:
        attrs["requested_by"] = req.username
    if req.ip:
        # The requester's address, not the token's: kept out of context so uses from the pod's
        # own address are not judged as drift against the kubelet's.
        attrs["requester_ip"] = req.ip
    return req.event(
        "issued",
        EventType.CREDENTIAL_ISSUED,
        nhi=req.nhi(ns, name),
        credential=credential,
        task=task,
        expires_at=expires,
        method="k8s-bound-token",
        attested=attested,
        context=Context(cluster=req.cluster, namespace=ns, pod_uid=pod_uid, node=node),
        attrs=attrs,
    )


def _service_account(req: Request) -> list[Event]:
    ns, name = _object_name(req)
    if not ns or not name:
        return []
    key = req.ctx.settings.fingerprint_key
    ctx = Context(cluster=req.cluster, namespace=ns)
    nhi = req.nhi(ns, name)
    by: dict[str, Any] = {"by": req.username} if req.username else {}
    by.update(account_attrs(ns, name))
    if req.verb == "delete":
        return [req.event("deleted", EventType.IDENTITY_DELETED, nhi=nhi, context=ctx, attrs=by)]
    if req.verb not in ("create", "update", "patch"):
        return []
    annotations, labels = _meta(req)
    maps = (annotations, labels)
    owner, source = _first((annotations,), _OWNER_KEYS), "annotation"
    if not owner:
        owner, source = _first((labels,), _OWNER_KEYS), "label"
    if req.verb == "create" and req.username:
        by[CREATED_BY] = req.username
        if not owner and is_person(req.username):
            # The person who created it answers for it until someone is named: a weaker owner.
            owner, source = req.username, "creator"
    if owner:
        by[OWNER_SOURCE] = source
    purpose = _first(maps, _PURPOSE_KEYS)
    expiry = parse_time(_first(maps, _EXPIRY_KEYS))
    fields: dict[str, Any] = {
        # Annotation values are free text: scrubbed like any other copied value.
        "owner": scrub(owner, key) if owner else None,
        "purpose": scrub(purpose, key) if purpose else None,
        "expires_at": expiry,
    }
    if req.verb == "create":
        return [
            req.event("registered", EventType.IDENTITY_REGISTERED, nhi=nhi, context=ctx, attrs=by, **fields)
        ]
    if not any(fields.values()):
        return []  # a patch that touched nothing we track
    return [req.event("updated", EventType.IDENTITY_UPDATED, nhi=nhi, context=ctx, attrs=by, **fields)]


def _legacy_secret(req: Request) -> list[Event]:
    ns, name = _object_name(req)
    sa = ""
    attrs: dict[str, Any] = {"legacy_token": True, SESSION_KIND: "key"}
    for obj in req.objects():
        if text(obj.get("type")) == "kubernetes.io/service-account-token":
            meta = as_dict(obj.get("metadata"))
            sa = sa or text(as_dict(meta.get("annotations")).get("kubernetes.io/service-account.name")) or ""
    if not sa and "tokens-controller" in (req.user_agent or ""):
        m = _LEGACY_SECRET_NAME.match(name)
        if m:
            sa = m.group("sa")
            attrs["credential_inferred"] = "tokens-controller secret name"
    if not sa or not ns:
        return []
    attrs.update(account_attrs(ns, sa))
    if name:
        attrs["secret_name"] = name  # the Secret object's name: "secret" would be read as a secret value
    if req.username:
        attrs["requested_by"] = req.username
    return [
        req.event(
            "issued",
            EventType.CREDENTIAL_ISSUED,
            nhi=req.nhi(ns, sa),
            # One id per service account: uses of a legacy token cannot tell which Secret they read.
            credential=f"k8s-legacy:{req.cluster}/{ns}/{sa}",
            method="k8s-legacy-token",
            context=Context(cluster=req.cluster, namespace=ns),
            attrs=attrs,
        )
    ]


def _pod_facts(obj: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    """(service account, uid, first image, node) of a logged Pod object."""
    if obj.get("kind") not in (None, "Pod"):
        return None, None, None, None
    spec = as_dict(obj.get("spec"))
    sa = text(spec.get("serviceAccountName")) or text(spec.get("serviceAccount"))
    if not sa and spec:
        sa = "default"  # the ServiceAccount admission plugin fills in "default"
    containers = [as_dict(c) for c in as_list(spec.get("containers"))]
    image = next((i for c in containers if (i := text(c.get("image")))), None)
    uid = text(as_dict(obj.get("metadata")).get("uid"))
    return sa or None, uid or None, image, text(spec.get("nodeName")) or None


def _pod(req: Request) -> list[Event]:
    ns, name = _object_name(req)
    if not ns or not name:
        return []
    verb, sub = req.verb, req.subresource
    response, request = req.obj("responseObject"), req.obj("requestObject")
    sa, uid, image, node = _pod_facts(response)
    if sa is None:
        sa, uid2, image, node = _pod_facts(request)
        uid = uid or uid2
    ended_by = ""
    if verb == "delete" and not sub:
        ended_by = "deleted"
        uid = uid or text(as_dict(request.get("preconditions")).get("uid")) or None
    elif verb == "create" and sub == "eviction":
        ended_by = "evicted"
    elif verb in ("update", "patch") and sub == "status":
        body = request or response
        phase = text(as_dict(body.get("status")).get("phase"))
        if phase in _DONE_PHASES:
            ended_by = phase.lower()
            uid = uid or text(as_dict(body.get("metadata")).get("uid")) or None
    nhi = req.nhi(ns, sa) if sa else None
    ctx = Context(cluster=req.cluster, namespace=ns, pod_uid=uid, image=image, node=node)
    task = req.pod_task(ns, name)
    about = account_attrs(ns, sa) if sa else {}
    if ended_by:
        attrs = {"ended_by": ended_by, **({"by": req.username} if req.username else {}), **about}
        return [req.event("task-ended", EventType.TASK_ENDED, task=task, nhi=nhi, context=ctx, attrs=attrs)]
    if verb == "create" and not sub:
        return [
            req.event("task-started", EventType.TASK_STARTED, task=task, nhi=nhi, context=ctx, attrs=about)
        ]
    return []


def _job(req: Request) -> list[Event]:
    ns, name = _object_name(req)
    if not ns or not name:
        return []
    ended_by = ""
    if req.verb == "delete" and not req.subresource:
        ended_by = "deleted"
    elif req.verb in ("update", "patch") and req.subresource == "status":
        body = req.obj("requestObject") or req.obj("responseObject")
        for cond in as_list(as_dict(body.get("status")).get("conditions")):
            c = as_dict(cond)
            if text(c.get("type")) in ("Complete", "Failed") and text(c.get("status")) == "True":
                ended_by = (text(c.get("type")) or "").lower()
                break
    if not ended_by:
        return []
    return [
        req.event(
            "task-ended",
            EventType.TASK_ENDED,
            task=f"job:{req.cluster}/{ns}/{name}",
            context=Context(cluster=req.cluster, namespace=ns),
            attrs={"ended_by": ended_by},
        )
    ]


# One rule per resource; requests on anything else yield nothing here.
_RULES: dict[str, Callable[[Request], list[Event]]] = {
    "serviceaccounts": _service_accounts,
    "secrets": _secrets,
    "pods": _pod,
    "jobs": _job,
}
OBJECT_RESOURCES = frozenset(_RULES)
