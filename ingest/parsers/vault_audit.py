"""HashiCorp Vault audit device entries -> canonical events.

Vault writes two entries per call, ``type: request`` then ``type: response``, sharing
``request.id``. The response repeats the request and adds the outcome (``error``) and any token it
issued (``response.auth``), so only responses are mapped; request entries are skipped (counted,
not rejected). The KMIP secrets engine writes ``kmip-request`` / ``kmip-response`` pairs of the
same shape; they are read the same way. Event ids are ``vault:<request.id>:<kind>``, so the same
entry read from two audit devices counts once.

Who a token belongs to is decided by ``ingest/providers/vault_principal.py`` (the same rules at
issuance and at every use): Kubernetes service accounts, Nomad jobs (the allocation is the task),
AppRoles, people (``vault:user/<name>``, ``attrs.principal_kind = "human"``), root (``vault:root``,
an operator), entities, and bare tokens by their accessor.

Credential ids are token accessors (HMAC'd by default, ``hmac_accessor``; the same token always
maps to the same value, which is all correlation needs). ``client_token`` is never read.
Expiry is issue time + ``token_ttl``; a TTL of 0 (root and other non-expiring tokens) is
"never". Every use carries the token's ``token_issue_time`` and ``token_ttl`` too, so a use's
``expires_at`` is the token's expiry even when its issuance is not in the log. A renewal
(``auth/token/renew*``) answers with the token's auth block and a fresh TTL; it is mapped to
``credential.issued`` (method ``vault-token-renew``) so the recorded expiry follows the token's
real validity. Logins through platform-attested methods (kubernetes, jwt, cert, cloud IAM) are
``attested`` and their tokens ``session_kind = "workload"``; AppRole and token creation are
secrets, not attestation. A token created by a person (``auth/token/create``) with no identity of
its own registers a bare-token identity with that person as creator (``owner_source = creator``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Context, Event, EventType
from contract.identity import ALIASES, CREATED_BY, OWNER_SOURCE, SESSION_KIND
from ingest.parsing import ParseContext
from ingest.providers.vault_principal import WORKLOAD_MOUNTS, Principal, principal_of, session_kind
from ingest.toolkit.build import Emitter, make_context, require_dict
from ingest.toolkit.fields import as_dict, as_int, as_list, text
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
_REQUESTS = frozenset({"request", "kmip-request"})
_RESPONSES = frozenset({"response", "kmip-response"})


def parse_vault_audit(record: Any, ctx: ParseContext) -> list[Event]:
    rec = require_dict(record, SOURCE)
    kind = text(rec.get("type"))
    if kind in _REQUESTS:
        # The matching response entry carries the same request plus its outcome.
        raise RecordSkipped(f"Vault {kind} entry: its response entry carries the request and the outcome")
    if kind not in _RESPONSES:
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
    who = principal_of(caller, path, cluster) if accessor else None
    if who is not None:
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=who.nhi,
            credential=accessor,
            task=who.task,
            # The token's own expiry, logged with every use: known even when its issuance is not.
            expires_at=_expiry(caller),
            action=f"{text(req.get('operation')) or 'unknown'} {path}",
            resource=path,
            outcome="failure" if error else "success",
            context=_with(base, who.context),
            attrs={
                "vault_request_id": request_id,
                "error": " ".join(error.split())[:200] if error else None,
                **_common(caller, req),
                **_about(who),
            },
            principal_kind=who.kind,
            kind_evidence=who.evidence,
        )
    if error is None:
        issued = as_dict(resp.get("auth"))
        if issued and text(issued.get("accessor")):
            _issue(issued, req, path, time, cluster, base, who, em)
        _revoke(req, path, time, accessor, who, em)
    if not em.events:
        raise RecordSkipped(_why_nothing(kind, error, accessor))
    return em.events


def _why_nothing(kind: str, error: str | None, accessor: str | None) -> str:
    if error and not accessor:
        return f"Vault {kind}: a request refused before any token was presented (failed login)"
    if not accessor:
        return f"Vault {kind}: an unauthenticated request (no token, nothing issued)"
    return f"Vault {kind}: a token that names no principal (no display name, entity or metadata)"


def sniff_vault_audit(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and (value.get("type") in _REQUESTS or value.get("type") in _RESPONSES)
        and isinstance(value.get("request"), dict)
        and "time" in value
    )


def _expiry(auth: dict[str, Any]) -> datetime | None:
    """``token_issue_time`` + ``token_ttl``; a TTL of 0 never expires."""
    ttl = as_int(auth.get("token_ttl"))
    issued = parse_time(auth.get("token_issue_time"))
    return add_seconds(issued, ttl) if ttl and issued is not None else None


def _about(who: Principal) -> dict[str, Any]:
    return {ALIASES: list(who.aliases) or None}


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


def _method(mount: str, path: str) -> str:
    if path.startswith("auth/token/renew"):
        return "vault-token-renew"
    if path.startswith("auth/token/create"):
        return "vault-token-create"
    if mount in _LOGIN_MOUNTS or path.startswith("auth/"):
        return f"vault-{mount or path.split('/')[1]}-login"
    return "vault-token"


def _issue(
    issued: dict[str, Any],
    req: dict[str, Any],
    path: str,
    time: datetime,
    cluster: str | None,
    base: Context,
    caller: Principal | None,
    em: Emitter,
) -> None:
    found = principal_of(issued, path, cluster)
    if found is None:
        return
    mount = text(req.get("mount_type")) or ""
    ttl = as_int(issued.get("token_ttl"))
    meta = as_dict(issued.get("metadata"))
    created = path.startswith("auth/token/create")
    attrs = {
        **_common(issued, req),
        "vault_request_id": text(req.get("id")),
        "role": text(meta.get("role")) or text(meta.get("role_name")),
        "nomad_task": text(meta.get("nomad_task")) or text(meta.get("Task")),
        "policies": [
            p for p in as_list(issued.get("token_policies") or issued.get("policies")) if isinstance(p, str)
        ]
        or None,
        CREATED_BY: caller.nhi if caller and created else None,
        SESSION_KIND: session_kind(mount, path, found),
        **_about(found),
    }
    if created and caller is not None and found.nhi.startswith("vault:token/") and caller.nhi != found.nhi:
        # A token minted by hand has no identity of its own: whoever created it answers for it.
        em.emit(
            EventType.IDENTITY_REGISTERED,
            time,
            "registered",
            nhi=found.nhi,
            owner=caller.nhi if caller.human else None,
            attrs={CREATED_BY: caller.nhi, OWNER_SOURCE: "creator" if caller.human else None},
        )
    em.emit(
        EventType.CREDENTIAL_ISSUED,
        time,
        "issued",
        nhi=found.nhi,
        credential=text(issued.get("accessor")),
        task=found.task,
        # token_ttl counts from this response (a renewal restarts it; token_issue_time does not
        # move). 0 or absent: a token that never expires (root, or an explicit ttl of 0).
        expires_at=add_seconds(time, ttl) if ttl else None,
        method=_method(mount, path),
        attested=mount in WORKLOAD_MOUNTS and path.startswith("auth/") and not path.startswith("auth/token/"),
        context=_with(base, found.context),
        attrs=attrs,
        principal_kind=found.kind,
        kind_evidence=found.evidence,
    )


def _revoke(
    req: dict[str, Any],
    path: str,
    time: datetime,
    accessor: str | None,
    caller: Principal | None,
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
    own = caller if caller is not None and path == "auth/token/revoke-self" else None
    em.emit(
        EventType.CREDENTIAL_REVOKED,
        time,
        "revoked",
        nhi=own.nhi if own else None,
        credential=target,
        attrs={
            "revoked": what,
            "revoked_by": caller.nhi if caller else None,
            "vault_request_id": text(req.get("id")),
        },
        principal_kind=own.kind if own else None,
        kind_evidence=own.evidence if own else None,
    )
