"""Entra directory audit records -> the initiator's use and what the change did to applications.

The mapping is described in ``ingest/parsers/entra.py``; ids in ``entra_principal``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from contract.events import EventType
from contract.identity import ALIASES, CREATED_BY, KIND_EVIDENCE, MACHINE, OWNER_SOURCE, PRINCIPAL_KIND
from ingest.providers.entra_principal import app_alias, initiator, structured
from ingest.toolkit.build import Emitter, make_context
from ingest.toolkit.fields import as_dict, as_list, ci, text
from ingest.toolkit.times import parse_time

_KEY = re.compile(r"KeyIdentifier=([0-9A-Za-z-]+)([^\]]*)")
_FIELD = re.compile(r"(KeyType|DisplayName|EndDate)=([^,\]]*)")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def audit_events(rec: dict[str, Any], props: dict[str, Any], time: datetime, em: Emitter) -> None:
    activity = (
        text(ci(props, "activityDisplayName"))
        or text(ci(props, "operationName"))
        or text(ci(rec, "operationName"))
        or ""
    )
    norm = " ".join(activity.replace("\u2013", "-").lower().split())
    result = (text(ci(props, "result")) or text(ci(rec, "result")) or "success").lower()
    ok = result in ("success", "0")
    targets = [as_dict(t) for t in as_list(structured(ci(props, "targetResources")))]
    by = initiator(props)
    by_user = as_dict(as_dict(structured(ci(props, "initiatedBy"))).get("user"))
    context = make_context(em.key, ip=ci(by_user, "ipAddress") or ci(rec, "callerIpAddress"))
    common = {
        "activity": activity,
        "correlation_id": text(ci(rec, "correlationId")) or text(ci(props, "correlationId")),
    }
    if by is not None:
        first = targets[0] if targets else {}
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=by[0],
            action=activity or "audit",
            resource=text(ci(first, "displayName")) or text(ci(first, "id")),
            outcome="success" if ok else "failure",
            context=context,
            attrs={**common, "logged_by": text(ci(props, "loggedByService")), **by[1]},
        )
    if not ok:
        return
    changed_by = {**common, "changed_by": by[0] if by else None}
    details = as_list(structured(ci(props, "additionalDetails")))
    for i, target in enumerate(targets):
        ttype = text(ci(target, "type")) or ""
        if ttype not in ("ServicePrincipal", "Application"):
            continue
        object_id, app_id = text(ci(target, "id")), _app_id(target, details)
        if object_id is None and app_id is None:
            continue
        prefix = "sp" if ttype == "ServicePrincipal" else "app"
        nhi = f"entra:{prefix}/{object_id or app_id}"
        attrs = {
            **changed_by,
            "object_id": object_id,
            "app_id": app_id,
            "display_name": text(ci(target, "displayName")),
            PRINCIPAL_KIND: MACHINE,
            KIND_EVIDENCE: "service principal" if prefix == "sp" else "application registration",
            ALIASES: (app_alias(app_id) if object_id else []) or None,
        }
        _target_events(norm, target, targets, nhi, time, attrs, f"t{i}", by, em)


def _app_id(target: dict[str, Any], details: list[Any]) -> str | None:
    for item in details:
        if text(ci(item, "key")) in ("AppId", "appId"):
            return text(ci(item, "value"))
    for prop in as_list(structured(ci(target, "modifiedProperties"))):
        name = text(ci(prop, "displayName")) or ""
        if name in ("AppId", "AppPrincipalId", "TargetId.ServicePrincipalNames"):
            found = _GUID.search(str(ci(prop, "newValue") or ""))
            if found:
                return found.group(0)
    return None


def _keys(value: Any) -> dict[str, dict[str, str]]:
    """KeyIdentifier -> {KeyType, DisplayName, EndDate} from a KeyDescription value."""
    out: dict[str, dict[str, str]] = {}
    for m in _KEY.finditer(str(value or "")):
        out[m.group(1)] = {k: v.strip() for k, v in _FIELD.findall(m.group(2))}
    return out


def _target_events(
    norm: str,
    target: dict[str, Any],
    targets: list[dict[str, Any]],
    nhi: str,
    time: datetime,
    attrs: dict[str, Any],
    tag: str,
    by: tuple[str, dict[str, Any]] | None,
    em: Emitter,
) -> None:
    if norm.startswith(("delete service principal", "delete application", "hard delete application")):
        em.emit(EventType.IDENTITY_DELETED, time, f"{tag}:deleted", nhi=nhi, attrs=attrs)
    elif norm in ("add service principal", "add application"):
        creator: dict[str, Any] = {}
        owner = None
        if by is not None:
            creator[CREATED_BY] = by[0]
            if by[1].get(PRINCIPAL_KIND) == "human":
                # The person who created it answers for it until an owner is added: a weaker owner.
                owner, creator[OWNER_SOURCE] = by[0].removeprefix("entra:user/"), "creator"
        em.emit(
            EventType.IDENTITY_REGISTERED,
            time,
            f"{tag}:registered",
            nhi=nhi,
            owner=owner,
            attrs={**attrs, **creator},
        )
    elif norm.startswith(("add owner to service principal", "add owner to application")):
        owner = next(
            (
                text(ci(t, "userPrincipalName")) or text(ci(t, "id"))
                for t in targets
                if text(ci(t, "type")) == "User"
            ),
            None,
        )
        if owner:
            em.emit(
                EventType.IDENTITY_UPDATED,
                time,
                f"{tag}:owner",
                nhi=nhi,
                owner=owner.lower(),
                attrs={**attrs, OWNER_SOURCE: "log"},
            )
    elif "credentials" in norm or "certificates and secrets" in norm:
        _key_changes(norm, target, nhi, time, attrs, tag, em)


def _key_changes(
    norm: str, target: dict[str, Any], nhi: str, time: datetime, attrs: dict[str, Any], tag: str, em: Emitter
) -> None:
    old: dict[str, dict[str, str]] = {}
    new: dict[str, dict[str, str]] = {}
    plain: dict[str, str] = {}
    for prop in as_list(structured(ci(target, "modifiedProperties"))):
        name = text(ci(prop, "displayName")) or ""
        if name == "KeyDescription":
            old.update(_keys(ci(prop, "oldValue")))
            new.update(_keys(ci(prop, "newValue")))
        elif name == "KeyType":
            plain["KeyType"] = str(ci(prop, "newValue") or "").strip('"[] ')
    added = [k for k in new if k not in old]
    dropped = [k for k in old if k not in new]
    for key_id in added:
        _key_event(EventType.CREDENTIAL_ISSUED, nhi, key_id, new[key_id], time, attrs, tag, em)
    for key_id in dropped:
        _key_event(EventType.CREDENTIAL_REVOKED, nhi, key_id, old[key_id], time, attrs, tag, em)
    if not added and not dropped and not norm.startswith("remove"):
        # A key was added but the log does not identify it: keep the issuance, without an id.
        _key_event(EventType.CREDENTIAL_ISSUED, nhi, None, plain, time, attrs, tag, em)


def _key_event(
    kind: EventType,
    nhi: str,
    key_id: str | None,
    info: dict[str, str],
    time: datetime,
    attrs: dict[str, Any],
    tag: str,
    em: Emitter,
) -> None:
    suffix = "issued" if kind is EventType.CREDENTIAL_ISSUED else "revoked"
    if kind is EventType.CREDENTIAL_REVOKED and key_id is None:
        return
    extra = {"key_type": info.get("KeyType"), "key_display_name": info.get("DisplayName")}
    fields: dict[str, Any] = {"credential": key_id}
    if kind is EventType.CREDENTIAL_ISSUED:
        fields["method"] = "entra-app-credential"
        fields["expires_at"] = parse_time(info.get("EndDate"))  # absent: never expires
        # A secret or certificate added to the application: a long-lived key.
        extra["session_kind"] = "key"
    em.emit(kind, time, f"{tag}:{suffix}:{key_id or '-'}", nhi=nhi, attrs={**attrs, **extra}, **fields)
