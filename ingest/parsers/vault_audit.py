"""HashiCorp Vault audit device entries -> canonical events.

Vault writes two entries per call, ``type: request`` then ``type: response``, sharing
``request.id``. The response repeats the request and adds the outcome (``error``) and any token it
issued (``response.auth``), so only responses are mapped; request entries yield ``[]``. Event ids
are ``vault:<request.id>:<kind>``, so the same entry read from two audit devices counts once.

Identity of a token, from its own ``auth`` block (the same rules at issuance and at every use):

- Kubernetes auth: ``vault:k8s/<ns>/<sa>``; with the source option ``cluster`` set, the Kubernetes
  collector's id ``k8s:<cluster>/<ns>/<sa>`` (and pod tasks ``pod:<cluster>/<ns>/<pod>``).
- Nomad workload identity (JWT claims ``nomad_job_id`` ...): ``vault:nomad/<ns>/<job>``, task
  ``nomad:<allocation id>``; legacy Nomad tokens (``AllocationID`` metadata) keep their token role.
- AppRole: ``vault:approle/<role_name>``; JWT/OIDC machine roles: ``vault:jwt/<role>``;
  token roles (``auth/token/create/<role>``): ``vault:token-role/<role>``; then ``vault:entity/<id>``,
  then ``vault:token/<display_name>``.
- People: root tokens and the userpass / ldap / oidc / okta / github / radius methods ->
  ``vault:human/<name>`` with ``attrs.principal_kind = "human"``.

Credential ids are token accessors (HMAC'd by default, ``hmac_accessor``; the same token always
maps to the same value, which is all correlation needs). ``client_token`` is never read.
Expiry is issue time + ``token_ttl``; a TTL of 0 (root and other non-expiring tokens) is
"never". A renewal (``auth/token/renew*``) answers with the token's auth block and a fresh TTL; it
is mapped to ``credential.issued`` (method ``vault-token-renew``) so the recorded expiry follows the
token's real validity. Logins through platform-attested methods (kubernetes, jwt, cert, cloud IAM)
are ``attested``; AppRole and token creation are secrets, not attestation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.errors import RecordRejected
from contract.events import Context, Event, EventType
from ingest.parsing import ParseContext
from ingest.toolkit.build import Emitter, make_context, require_dict
from ingest.toolkit.fields import as_dict, as_int, as_list, ci, text
from ingest.toolkit.times import add_seconds, parse_time

SOURCE = "vault-audit"

_LOGIN_MOUNTS = {
    "approle",
    "kubernetes",
    "jwt",
    "oidc",
    "userpass",
    "ldap",
    "okta",
    "github",
    "radius",
    "cert",
    "aws",
    "gcp",
    "azure",
}
_ATTESTED_MOUNTS = {"kubernetes", "jwt", "cert", "aws", "gcp", "azure"}
_HUMAN_PREFIXES = ("userpass-", "ldap-", "oidc-", "okta-", "github-", "radius-")


def parse_vault_audit(record: Any, ctx: ParseContext) -> list[Event]:
    rec = require_dict(record, SOURCE)
    kind = text(rec.get("type"))
    if kind == "request":
        return []  # the matching response entry carries the same request plus its outcome
    if kind != "response":
        raise RecordRejected(f"Vault audit entry type {kind!r} is neither request nor response")
    req, resp = as_dict(rec.get("request")), as_dict(rec.get("response"))
    time = parse_time(rec.get("time"))
    if time is None:
        raise RecordRejected("Vault audit entry has no usable time")
    path = text(req.get("path")) or ""
    request_id = text(req.get("id"))
    if request_id is None:
        raise RecordRejected("Vault audit response has no request.id")
    em = Emitter(SOURCE, ctx, f"vault:{request_id}")
    cluster = ctx.options.get("cluster")
    error = text(rec.get("error"))
    base = make_context(em.key, ip=req.get("remote_address"))
    caller = as_dict(rec.get("auth"))
    accessor = text(caller.get("accessor")) or text(req.get("client_token_accessor"))
    caller_id = identity(caller, path, cluster) if accessor else None
    if caller_id is not None:
        nhi, human, task, extra = caller_id
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=nhi,
            credential=accessor,
            task=task,
            action=f"{text(req.get('operation')) or 'unknown'} {path}",
            resource=path,
            outcome="failure" if error else "success",
            context=_with(base, extra),
            attrs={
                "vault_request_id": request_id,
                "error": " ".join(error.split())[:200] if error else None,
                **_common(caller, req),
            },
            human=human,
        )
    if error is None:
        issued = as_dict(resp.get("auth"))
        if issued and text(issued.get("accessor")):
            _issue(issued, req, path, time, cluster, base, caller_id, em)
        _revoke(req, path, time, accessor, caller_id, em)
    return em.events


def sniff_vault_audit(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in ("request", "response")
        and isinstance(value.get("request"), dict)
        and "time" in value
    )


def identity(
    auth: dict[str, Any], path: str, cluster: str | None
) -> tuple[str, bool, str | None, dict[str, str]] | None:
    """(nhi, is a person, task, context fields) for a token's auth block; None when nothing names it."""
    meta = as_dict(auth.get("metadata"))
    name = text(auth.get("display_name")) or ""
    policies = [p for p in as_list(auth.get("policies")) if isinstance(p, str)]
    if name == "root" or ("root" in policies and not meta):
        return "vault:human/root", True, None, {}
    ns, sa = text(ci(meta, "service_account_namespace")), text(ci(meta, "service_account_name"))
    if ns and sa:
        pod = text(meta.get("pod_name")) or text(meta.get("kubernetes.io/pod/name"))
        extra = {
            "namespace": ns,
            "pod_uid": text(meta.get("pod_uid")) or text(meta.get("service_account_pod_uid")) or "",
        }
        if cluster:
            extra["cluster"] = cluster
            return f"k8s:{cluster}/{ns}/{sa}", False, f"pod:{cluster}/{ns}/{pod}" if pod else None, extra
        return f"vault:k8s/{ns}/{sa}", False, f"k8s-pod:{ns}/{pod}" if pod else None, extra
    job = text(meta.get("nomad_job_id"))
    alloc = text(meta.get("nomad_allocation_id")) or text(meta.get("AllocationID"))
    task = f"nomad:{alloc}" if alloc else None
    extra = {"node": text(meta.get("NodeID")) or "", "namespace": text(meta.get("nomad_namespace")) or ""}
    if job:
        return f"vault:nomad/{text(meta.get('nomad_namespace')) or 'default'}/{job}", False, task, extra
    role_name = text(meta.get("role_name"))
    if role_name:
        return f"vault:approle/{role_name}", False, task, extra
    if name.startswith(_HUMAN_PREFIXES) or (text(meta.get("username")) and not text(meta.get("role"))):
        return f"vault:human/{text(meta.get('username')) or name}", True, None, {}
    if text(meta.get("role")):
        return f"vault:jwt/{text(meta.get('role'))}", False, task, extra
    if path.startswith("auth/token/create/") and path.count("/") == 3:
        return f"vault:token-role/{path.rsplit('/', 1)[-1]}", False, task, extra
    entity = text(auth.get("entity_id"))
    if entity:
        return f"vault:entity/{entity}", False, task, extra
    if name:
        return f"vault:token/{name}", False, task, extra
    return None


def _with(base: Context, extra: dict[str, str]) -> Context:
    fields = {k: v for k, v in extra.items() if v}
    return base.model_copy(update=fields) if fields else base


def _common(auth: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    ns = text(as_dict(req.get("namespace")).get("path")) or text(as_dict(req.get("namespace")).get("id"))
    return {
        "vault_namespace": ns if ns and ns != "root" else None,
        "mount_type": text(req.get("mount_type")),
        "token_type": text(auth.get("token_type")),
        "entity_id": text(auth.get("entity_id")),
    }


def _issue(
    issued: dict[str, Any],
    req: dict[str, Any],
    path: str,
    time: datetime,
    cluster: str | None,
    base: Context,
    caller_id: tuple[str, bool, str | None, dict[str, str]] | None,
    em: Emitter,
) -> None:
    found = identity(issued, path, cluster)
    if found is None:
        return
    nhi, human, task, extra = found
    mount = text(req.get("mount_type")) or ""
    if path.startswith("auth/token/renew"):
        method = "vault-token-renew"
    elif path.startswith("auth/token/create"):
        method = "vault-token-create"
    elif mount in _LOGIN_MOUNTS or path.startswith("auth/"):
        method = f"vault-{mount or path.split('/')[1]}-login"
    else:
        method = "vault-token"
    ttl = as_int(issued.get("token_ttl"))
    meta = as_dict(issued.get("metadata"))
    attrs = {
        **_common(issued, req),
        "vault_request_id": text(req.get("id")),
        "role": text(meta.get("role")) or text(meta.get("role_name")),
        "nomad_task": text(meta.get("nomad_task")) or text(meta.get("Task")),
        "policies": [
            p for p in as_list(issued.get("token_policies") or issued.get("policies")) if isinstance(p, str)
        ]
        or None,
        "created_by": caller_id[0] if caller_id and path.startswith("auth/token/create") else None,
    }
    em.emit(
        EventType.CREDENTIAL_ISSUED,
        time,
        "issued",
        nhi=nhi,
        credential=text(issued.get("accessor")),
        task=task,
        # token_ttl counts from this response (a renewal restarts it; token_issue_time does not
        # move). 0 or absent: a token that never expires (root, or an explicit ttl of 0).
        expires_at=add_seconds(time, ttl) if ttl else None,
        method=method,
        attested=mount in _ATTESTED_MOUNTS
        and path.startswith("auth/")
        and not path.startswith("auth/token/"),
        context=_with(base, extra),
        attrs=attrs,
        human=human,
    )


def _revoke(
    req: dict[str, Any],
    path: str,
    time: datetime,
    accessor: str | None,
    caller_id: tuple[str, bool, str | None, dict[str, str]] | None,
    em: Emitter,
) -> None:
    data = as_dict(req.get("data"))
    target: str | None = None
    what = "accessor"
    if path.startswith("auth/token/revoke-accessor"):
        target = text(data.get("accessor")) or (path.split("/", 3)[3] if path.count("/") >= 3 else None)
    elif path == "auth/token/revoke-self":
        target = accessor
    elif path.startswith(("sys/leases/revoke", "sys/revoke")):
        # Lease revocations name a lease (a dynamic secret), or a prefix of many.
        what = "lease"
        target = text(data.get("lease_id")) or text(data.get("prefix"))
        if target is None and path.count("/") >= 3:
            target = path.split("/", 3)[3] or None
    if target is None:
        return
    nhi, human = (
        (caller_id[0], caller_id[1]) if caller_id and path == "auth/token/revoke-self" else (None, False)
    )
    em.emit(
        EventType.CREDENTIAL_REVOKED,
        time,
        "revoked",
        nhi=nhi,
        credential=target,
        attrs={
            "revoked": what,
            "revoked_by": caller_id[0] if caller_id else None,
            "vault_request_id": text(req.get("id")),
        },
        human=human,
    )
