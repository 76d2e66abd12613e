"""Microsoft Entra ID (Azure AD) sign-in and audit logs -> canonical events.

Shapes: the diagnostic-settings export (Event Hub, storage: top-level ``category``, ``time``,
``properties`` in camelCase) and Log Analytics rows (flat, PascalCase columns: ``Type`` names the
table, ``CreatedDateTime``, ``AppId``, ``Status``...; dynamic columns such as ``InitiatedBy`` may be
JSON text). Panther's copies also put the audit sub-category (ApplicationManagement, Policy, ...)
in ``category`` and lower-case some top-level keys; all are read case-insensitively.

Ids (``ingest/providers/entra_principal.py``): a service principal, managed identities included, is
``entra:sp/<service principal object id>`` (the id sign-in and audit logs both carry) with
``entra:appid/<appId>`` in ``attrs.aliases``; an application object ``entra:app/<object id>``; a user
``entra:user/<upn>``. Microsoft's first-party apps (``appOwnerTenantId`` a Microsoft tenant) are
``managed_by = "microsoft"``.

Sign-ins (status ``errorCode`` 0 = success):

- ServicePrincipalSignInLogs, ManagedIdentitySignInLogs (``principal_kind = "machine"``): success
  -> ``credential.issued`` for the access token (credential = ``uniqueTokenIdentifier``, method
  ``entra-client-credentials`` / ``entra-managed-identity``), plus ``credential.used`` of the app
  credential that obtained it when the log names it (``servicePrincipalCredentialKeyId``). Failure:
  ``credential.used`` with outcome failure. Sign-in logs carry no token lifetime, so expiry is
  assumed (source option ``token_lifetime_s``, default 3600; managed identities 86400, the lifetime
  of their cached tokens) and flagged ``attrs.expires_at_assumed``. ``session_kind``: a secret or
  certificate is ``key``; a managed identity or a federated (workload identity) credential
  ``workload``.
- SignInLogs, NonInteractiveUserSignInLogs and ADFSSignInLogs (AD FS federated sign-ins) -> people,
  ``principal_kind = "human"`` with the sign-in as evidence (MFA when the log says it was required),
  ``session_kind = "person"``.

Audit logs: the initiator's ``credential.used`` (a person or a service principal), plus
"Add service principal credentials" / "Update application - Certificates and secrets management"
(Entra writes an en dash) -> ``credential.issued`` per added key (KeyIdentifier; expiry from
EndDate when logged, else never), "Remove service principal credentials" (and keys dropped by the
update) -> ``credential.revoked``, "Add service principal" / "Add application" ->
``identity.registered`` with its creator (``created_by``; a person who created it is its owner,
``owner_source = creator``), "Add owner to ..." -> ``identity.updated`` with the added user's UPN
(``owner_source = log``), "Delete service principal" / "Delete application" -> ``identity.deleted``.
Other Entra categories (provisioning, risk events...) are skipped with their reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from contract.identity import SESSION_KIND, WORKLOAD
from ingest.parsing import ParseContext
from ingest.providers.entra_audit import audit_events
from ingest.providers.entra_principal import person_attrs, service_principal, structured, user_id
from ingest.toolkit.build import Emitter, make_context, record_hash, require_dict
from ingest.toolkit.fields import as_dict, as_int, ci, text
from ingest.toolkit.times import add_seconds, parse_time

SOURCE = "entra"

# Diagnostic-settings categories and Log Analytics table names (``Type``), lower-cased.
SIGN_IN = {
    "serviceprincipalsigninlogs": "sp",
    "microsoftserviceprincipalsigninlogs": "sp",
    "aadserviceprincipalsigninlogs": "sp",
    "managedidentitysigninlogs": "mi",
    "aadmanagedidentitysigninlogs": "mi",
    "signinlogs": "user",
    "noninteractiveusersigninlogs": "user",
    "aadnoninteractiveusersigninlogs": "user",
    "adfssigninlogs": "adfs",
}
# Directory audit: "AuditLogs" in real exports; Panther's copies use the audit sub-category.
AUDIT = {
    "auditlogs",
    "applicationmanagement",
    "directorymanagement",
    "usermanagement",
    "rolemanagement",
    "groupmanagement",
    "policy",
    "authentication",
    "device",
}
# Other Entra diagnostic categories: valid records, but about no sign-in or directory change.
OTHER = {
    "provisioninglogs",
    "aadprovisioninglogs",
    "riskyusers",
    "userriskevents",
    "riskyserviceprincipals",
    "serviceprincipalriskevents",
    "aadriskyusers",
    "aaduserriskevents",
    "networkaccesstrafficlogs",
    "microsoftgraphactivitylogs",
    "enrichedoffice365auditlogs",
    "b2crequestlogs",
    "aadcustomsecurityattributeauditlogs",
}
_DIRECTORY_FIELDS = ("initiatedBy", "activityDisplayName", "loggedByService")
_FLAT_TIMES = ("createdDateTime", "activityDateTime", "TimeGenerated")
_EVIDENCE = {
    "signinlogs": "interactive sign-in",
    "noninteractiveusersigninlogs": "sign-in of a user's session",
    "aadnoninteractiveusersigninlogs": "sign-in of a user's session",
    "adfssigninlogs": "AD FS federated sign-in",
}


def _category(rec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(lower-cased category or table, the properties) of a diagnostic export or a flat row."""
    props = ci(rec, "properties")
    if isinstance(props, dict):
        return (text(ci(rec, "category")) or "").lower(), props
    # A Log Analytics row: the columns are the properties; Type names the table.
    kind = (text(ci(rec, "Type")) or "").lower()
    category = (text(ci(rec, "category")) or "").lower()
    return (kind if kind in SIGN_IN or kind == "auditlogs" else category or kind), rec


def parse_entra(record: Any, ctx: ParseContext) -> list[Event]:
    rec = require_dict(record, SOURCE)
    category, props = _category(rec)
    em = Emitter(SOURCE, ctx, "entra:" + record_hash(rec, 12))
    if category in SIGN_IN:
        _sign_in(rec, props, category, ctx, em)
    elif category in AUDIT:
        audit_events(rec, props, _time(props, rec, "activityDateTime"), em)
    elif category in OTHER:
        raise RecordSkipped(f"Entra {category} records are not read: only sign-in and audit logs are")
    else:
        raise RecordRejected(f"Entra category {category or None!r} is not a sign-in or audit log")
    if not em.events:
        raise RecordSkipped(f"Entra {category}: names neither its initiator nor an application it changed")
    return em.events


def sniff_entra(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    props = ci(value, "properties")
    if isinstance(props, dict):
        category = (text(ci(value, "category")) or "").lower()
        if category in SIGN_IN or category == "auditlogs":
            return True
        # Sub-category names are generic (Azure activity logs also say "Policy"): require directory fields.
        return category in AUDIT and any(k in props for k in _DIRECTORY_FIELDS)
    # A flat Log Analytics row: its table, and a sign-in or audit time column.
    kind = (text(ci(value, "Type")) or "").lower()
    return (kind in SIGN_IN or kind == "auditlogs") and any(ci(value, k) is not None for k in _FLAT_TIMES)


def _time(props: dict[str, Any], rec: dict[str, Any], key: str) -> datetime:
    time = parse_time(ci(props, key)) or parse_time(ci(rec, "time", "TimeGenerated"))
    if time is None:
        raise RecordRejected(f"Entra record has no usable {key} or time")
    return time


def _location(props: dict[str, Any], rec: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(location details, country): ``location`` is an object in exports, a country column in rows."""
    details = structured(ci(props, "locationDetails")) or structured(ci(props, "location"))
    details = as_dict(details)
    country = text(details.get("countryOrRegion")) or text(ci(props, "location")) or text(ci(rec, "location"))
    return details, country


def _outcome(props: dict[str, Any], rec: dict[str, Any]) -> int | None:
    code = as_int(as_dict(structured(ci(props, "status"))).get("errorCode"))
    if code is None:
        code = as_int(ci(props, "resultType")) if ci(props, "resultType") is not None else None
    if code is None:
        code = as_int(ci(rec, "resultType"))
    return code


def _sign_in(
    rec: dict[str, Any], props: dict[str, Any], category: str, ctx: ParseContext, em: Emitter
) -> None:
    time = _time(props, rec, "createdDateTime")
    code = _outcome(props, rec)
    ok = code == 0
    kind = SIGN_IN[category]
    app, sp_id = text(ci(props, "appId")), text(ci(props, "servicePrincipalId"))
    mi_type = text(ci(props, "managedIdentityType"))
    if kind == "sp" and mi_type not in (None, "none"):
        kind = "mi"
    loc, country = _location(props, rec)
    context = make_context(
        em.key,
        ip=ci(props, "ipAddress") or ci(rec, "callerIpAddress"),
        user_agent=ci(props, "userAgent"),
        # The sign-in's country: a workload that starts signing in from elsewhere is drift.
        region=country,
    )
    risk = text(ci(props, "riskLevelDuringSignIn"))
    cred_type = (text(ci(props, "clientCredentialType")) or "").lower()
    attrs: dict[str, Any] = {
        "app_id": app,
        "app_display_name": text(ci(props, "appDisplayName")),
        "service_principal_id": sp_id,
        "service_principal_name": text(ci(props, "servicePrincipalName")),
        "client_credential_type": text(ci(props, "clientCredentialType")),
        "error_code": code if not ok else None,
        "risk_level": risk if risk not in (None, "none") else None,
        "city": text(loc.get("city")),
        "sign_in_id": text(ci(props, "id")),
    }
    if kind in ("user", "adfs"):
        person = text(ci(props, "userPrincipalName")) or text(ci(props, "userId"))
        if person is None:
            raise RecordRejected("Entra user sign-in names no userPrincipalName or userId")
        evidence = _EVIDENCE.get(category, "user sign-in")
        if (text(ci(props, "authenticationRequirement")) or "").lower() == "multifactorauthentication":
            evidence += " with MFA"
        nhi, method, default_life = user_id(person), "entra-user-sign-in", 3600
        attrs.update(person_attrs(person, evidence))
        attrs[SESSION_KIND] = "person"
        if kind == "adfs":
            method = "entra-adfs-sign-in"
    else:
        found = service_principal(sp_id, app, owner_tenant=text(ci(props, "appOwnerTenantId")))
        if found is None:
            raise RecordRejected("Entra service principal sign-in has no servicePrincipalId or appId")
        nhi, about = found
        attrs.update(about)
        if kind == "mi":
            attrs.update(kind_evidence="managed identity", managed_identity_type=mi_type)
        method = "entra-managed-identity" if kind == "mi" else "entra-client-credentials"
        default_life = 86400 if kind == "mi" else 3600
        if kind == "mi" or cred_type == "federatedidentitycredential":
            attrs[SESSION_KIND] = WORKLOAD  # the platform's proof of the workload, no stored secret
        elif cred_type in ("clientsecret", "clientassertion", "certificate"):
            attrs[SESSION_KIND] = "key"
    key_id = text(ci(props, "servicePrincipalCredentialKeyId"))
    resource = text(ci(props, "resourceDisplayName")) or text(ci(props, "resourceId"))
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
        )
    if ok:
        life = as_int(ctx.options.get("token_lifetime_s")) or default_life
        token = (
            text(ci(props, "uniqueTokenIdentifier"))
            or text(ci(props, "id"))
            or text(ci(rec, "correlationId"))
        )
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
        )
