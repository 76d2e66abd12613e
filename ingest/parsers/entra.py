"""Microsoft Entra ID (Azure AD) sign-in and audit logs -> canonical events.

Shape: the diagnostic-settings export (Log Analytics, Event Hub, storage): top-level ``category``,
``time``, ``properties``. Panther's copies also put the audit sub-category (ApplicationManagement,
Policy, ...) in ``category`` and lower-case some top-level keys; both are accepted.

Sign-ins (``createdDateTime``, status ``errorCode`` 0 = success):

- ServicePrincipalSignInLogs -> ``entra:sp/<appId>`` (else the service principal object id);
  ManagedIdentitySignInLogs (or ``managedIdentityType`` set) -> ``entra:mi/<appId>``.
  Success: ``credential.issued`` for the access token (credential = ``uniqueTokenIdentifier``,
  method ``entra-client-credentials`` / ``entra-managed-identity``), plus ``credential.used`` of
  the app credential that obtained it when the log names it (``servicePrincipalCredentialKeyId``).
  Failure: ``credential.used`` with outcome failure. Sign-in logs carry no token lifetime, so expiry
  is assumed (source option ``token_lifetime_s``, default 3600; managed identities 86400, the
  lifetime of their cached tokens) and flagged ``attrs.expires_at_assumed``.
- SignInLogs / NonInteractiveUserSignInLogs -> people: ``entra:human/<userPrincipalName>`` with
  ``attrs.principal_kind = "human"``. UPNs are compared case-insensitively by Entra, so they are
  lower-cased here (as are owners), so one person is one id.

Audit logs: the initiator's ``credential.used`` (a person or an app), plus
"Add service principal credentials" / "Update application - Certificates and secrets management" (Entra writes an en dash)
-> ``credential.issued`` per added key (KeyIdentifier; expiry from EndDate when logged, else never),
"Remove service principal credentials" (and keys dropped by the update) -> ``credential.revoked``,
"Add service principal" / "Add application" -> ``identity.registered``, "Add owner to ..." ->
``identity.updated`` with the owner's UPN, "Delete service principal" / "Delete application" ->
``identity.deleted``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from contract.errors import RecordRejected
from contract.events import Event, EventType
from ingest.parsing import ParseContext
from ingest.toolkit.build import Emitter, make_context, record_hash, require_dict
from ingest.toolkit.fields import as_dict, as_int, as_list, ci, text
from ingest.toolkit.times import add_seconds, parse_time

SOURCE = "entra"

SIGN_IN = {
    "ServicePrincipalSignInLogs": "sp",
    "MicrosoftServicePrincipalSignInLogs": "sp",
    "ManagedIdentitySignInLogs": "mi",
    "SignInLogs": "user",
    "NonInteractiveUserSignInLogs": "user",
}
# Directory audit: "AuditLogs" in real exports; Panther's copies use the audit sub-category.
AUDIT = {
    "AuditLogs",
    "ApplicationManagement",
    "DirectoryManagement",
    "UserManagement",
    "RoleManagement",
    "GroupManagement",
    "Policy",
    "Authentication",
    "Device",
}
_KEY = re.compile(r"KeyIdentifier=([0-9A-Za-z-]+)([^\]]*)")
_FIELD = re.compile(r"(KeyType|DisplayName|EndDate)=([^,\]]*)")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_entra(record: Any, ctx: ParseContext) -> list[Event]:
    rec = require_dict(record, SOURCE)
    category = text(ci(rec, "category")) or ""
    props = as_dict(ci(rec, "properties"))
    em = Emitter(SOURCE, ctx, "entra:" + record_hash(rec, 12))
    if category in SIGN_IN:
        _sign_in(rec, props, SIGN_IN[category], ctx, em)
    elif category in AUDIT:
        _audit(rec, props, em)
    else:
        raise RecordRejected(f"Entra category {category!r} is not a sign-in or audit log")
    return em.events


def sniff_entra(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(ci(value, "properties"), dict):
        return False
    category = ci(value, "category")
    if category in SIGN_IN or category == "AuditLogs":
        return True
    # Sub-category names are generic (Azure activity logs also say "Policy"): require directory fields.
    props = ci(value, "properties")
    return category in AUDIT and any(
        k in props for k in ("initiatedBy", "activityDisplayName", "loggedByService")
    )


def _time(props: dict[str, Any], rec: dict[str, Any], key: str) -> datetime:
    time = parse_time(props.get(key)) or parse_time(ci(rec, "time"))
    if time is None:
        raise RecordRejected(f"Entra record has no usable {key} or time")
    return time


def _sign_in(rec: dict[str, Any], props: dict[str, Any], kind: str, ctx: ParseContext, em: Emitter) -> None:
    time = _time(props, rec, "createdDateTime")
    code = as_int(as_dict(props.get("status")).get("errorCode"))
    if code is None:
        code = as_int(ci(rec, "resultType"))
    ok = code == 0
    app, sp_id = text(props.get("appId")), text(props.get("servicePrincipalId"))
    if kind != "user" and text(props.get("managedIdentityType")) not in (None, "none"):
        kind = "mi"
    loc = as_dict(props.get("location"))
    context = make_context(
        em.key,
        ip=props.get("ipAddress") or ci(rec, "callerIpAddress"),
        user_agent=props.get("userAgent"),
        # The sign-in's country: a workload that starts signing in from elsewhere is drift.
        region=text(loc.get("countryOrRegion")) or text(ci(rec, "location")),
    )
    risk = text(props.get("riskLevelDuringSignIn"))
    attrs: dict[str, Any] = {
        "app_id": app,
        "app_display_name": text(props.get("appDisplayName")),
        "service_principal_id": sp_id,
        "service_principal_name": text(props.get("servicePrincipalName")),
        "client_credential_type": text(props.get("clientCredentialType")),
        "error_code": code if not ok else None,
        "risk_level": risk if risk not in (None, "none") else None,
        "city": text(loc.get("city")),
        "sign_in_id": text(props.get("id")),
    }
    human = kind == "user"
    if human:
        person = text(props.get("userPrincipalName")) or text(props.get("userId"))
        if person is None:
            raise RecordRejected("Entra user sign-in names no userPrincipalName or userId")
        nhi, method, default_life = f"entra:human/{person.lower()}", "entra-user-sign-in", 3600
    else:
        ident = app or sp_id
        if ident is None:
            raise RecordRejected("Entra service principal sign-in has no appId or servicePrincipalId")
        nhi = f"entra:{kind}/{ident}"
        method = "entra-managed-identity" if kind == "mi" else "entra-client-credentials"
        default_life = 86400 if kind == "mi" else 3600
    key_id = text(props.get("servicePrincipalCredentialKeyId"))
    resource = text(props.get("resourceDisplayName")) or text(props.get("resourceId"))
    if key_id or not ok:
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=nhi,
            credential=key_id,
            action="sign-in",
            resource=resource,
            outcome="success" if ok else "failure",
            context=context,
            attrs=attrs,
            human=human,
        )
    if ok:
        life = as_int(ctx.options.get("token_lifetime_s")) or default_life
        token = (
            text(props.get("uniqueTokenIdentifier"))
            or text(props.get("id"))
            or text(ci(rec, "correlationId"))
        )
        cred_type = (text(props.get("clientCredentialType")) or "").lower()
        em.emit(
            EventType.CREDENTIAL_ISSUED,
            time,
            "issued",
            nhi=nhi,
            credential=token,
            expires_at=add_seconds(time, life),
            method=method,
            # Managed identity and federated (workload identity) tokens rest on the platform's
            # attestation of the workload, not on a stored secret.
            attested=kind == "mi" or cred_type == "federatedidentitycredential",
            context=context,
            attrs={**attrs, "audience": resource, "expires_at_assumed": True},
            human=human,
        )


def _initiator(props: dict[str, Any]) -> tuple[str, bool] | None:
    by = as_dict(props.get("initiatedBy"))
    user, app = as_dict(by.get("user")), as_dict(by.get("app"))
    person = text(user.get("userPrincipalName")) or text(user.get("id"))
    if person:
        return f"entra:human/{person.lower()}", True
    ident = text(app.get("appId")) or text(app.get("servicePrincipalId"))
    return (f"entra:sp/{ident}", False) if ident else None


def _app_id(target: dict[str, Any], props: dict[str, Any]) -> str | None:
    for item in as_list(props.get("additionalDetails")):
        if text(ci(item, "key")) in ("AppId", "appId"):
            return text(ci(item, "value"))
    for prop in as_list(target.get("modifiedProperties")):
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


def _audit(rec: dict[str, Any], props: dict[str, Any], em: Emitter) -> None:
    time = _time(props, rec, "activityDateTime")
    activity = (
        text(props.get("activityDisplayName"))
        or text(props.get("operationName"))
        or text(ci(rec, "operationName"))
        or ""
    )
    norm = " ".join(activity.replace("\u2013", "-").lower().split())
    result = (text(props.get("result")) or text(ci(rec, "result")) or "success").lower()
    ok = result in ("success", "0")
    targets = [as_dict(t) for t in as_list(props.get("targetResources"))]
    initiator = _initiator(props)
    by_ip = as_dict(as_dict(props.get("initiatedBy")).get("user")).get("ipAddress") or ci(
        rec, "callerIpAddress"
    )
    context = make_context(em.key, ip=by_ip)
    common = {
        "activity": activity,
        "correlation_id": text(ci(rec, "correlationId")) or text(props.get("correlationId")),
    }
    if initiator is not None:
        first = targets[0] if targets else {}
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=initiator[0],
            action=activity or "audit",
            resource=text(first.get("displayName")) or text(first.get("id")),
            outcome="success" if ok else "failure",
            context=context,
            attrs={**common, "logged_by": text(props.get("loggedByService"))},
            human=initiator[1],
        )
    if not ok:
        return
    changed_by = {**common, "changed_by": initiator[0] if initiator else None}
    for i, target in enumerate(targets):
        ttype = text(target.get("type")) or ""
        if ttype not in ("ServicePrincipal", "Application"):
            continue
        ident = _app_id(target, props) or text(target.get("id"))
        if ident is None:
            continue
        nhi = f"entra:sp/{ident}"
        attrs = {
            **changed_by,
            "object_id": text(target.get("id")),
            "display_name": text(target.get("displayName")),
        }
        _target_events(norm, target, targets, nhi, time, attrs, f"t{i}", em)


def _target_events(
    norm: str,
    target: dict[str, Any],
    targets: list[dict[str, Any]],
    nhi: str,
    time: datetime,
    attrs: dict[str, Any],
    tag: str,
    em: Emitter,
) -> None:
    if norm.startswith(("delete service principal", "delete application", "hard delete application")):
        em.emit(EventType.IDENTITY_DELETED, time, f"{tag}:deleted", nhi=nhi, attrs=attrs)
    elif norm in ("add service principal", "add application"):
        em.emit(EventType.IDENTITY_REGISTERED, time, f"{tag}:registered", nhi=nhi, attrs=attrs)
    elif norm.startswith(("add owner to service principal", "add owner to application")):
        owner = next(
            (
                text(t.get("userPrincipalName")) or text(t.get("id"))
                for t in targets
                if t.get("type") == "User"
            ),
            None,
        )
        if owner:
            em.emit(
                EventType.IDENTITY_UPDATED, time, f"{tag}:owner", nhi=nhi, owner=owner.lower(), attrs=attrs
            )
    elif "credentials" in norm or "certificates and secrets" in norm:
        old: dict[str, dict[str, str]] = {}
        new: dict[str, dict[str, str]] = {}
        plain: dict[str, str] = {}
        for prop in as_list(target.get("modifiedProperties")):
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
    em.emit(kind, time, f"{tag}:{suffix}:{key_id or '-'}", nhi=nhi, attrs={**attrs, **extra}, **fields)
