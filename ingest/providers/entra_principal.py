"""Who an Entra record's principal is: ids, aliases, kind and provider management.

One principal, one id, the id every record type carries:

- a service principal (an app's instance in the tenant, a managed identity too) is
  ``entra:sp/<service principal object id>``: sign-in logs carry it as ``servicePrincipalId``, audit
  logs as the initiator's ``servicePrincipalId`` (whose ``appId`` is often null) and as the target's
  ``id``. The application (client) id, where the record gives it, goes to ``attrs.aliases`` as
  ``entra:appid/<appId>``;
- an application object (the app registration, a different directory object with its own object
  id) is ``entra:app/<object id>``, aliased by ``entra:appid/<appId>`` too: the appId names the
  application, which both objects represent;
- a user is ``entra:user/<userPrincipalName, lower-cased>`` (Entra compares UPNs without case).

Microsoft's first-party applications (Graph, Exchange, the Azure portal...) are registered in
Microsoft's own tenants; sign-in logs say so in ``appOwnerTenantId`` (Microsoft Services
f8cdef31-a31e-4b4a-93e4-5f571e91255a, Microsoft Corp 72f988bf-86f1-41af-91ab-2d7cd011db47). Their
service principals are ``managed_by = "microsoft"``.
"""

from __future__ import annotations

from typing import Any

import orjson

from contract.identity import ALIASES, HUMAN, KIND_EVIDENCE, MACHINE, MANAGED_BY, PRINCIPAL_KIND
from ingest.toolkit.fields import ci, text

MICROSOFT_TENANTS = frozenset(
    {"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"}
)


def structured(value: Any) -> Any:
    """A dynamic column as an object: Log Analytics exports write some as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "[") and len(value) <= 262144:
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def user_id(upn: str) -> str:
    return f"entra:user/{upn.lower()}"


def app_alias(app_id: str | None) -> list[str]:
    return [f"entra:appid/{app_id}"] if app_id else []


def service_principal(
    sp_id: str | None, app_id: str | None, *, owner_tenant: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """(id, attrs) of a service principal; keyed by its object id, by its appId only when the
    record gives no object id."""
    attrs: dict[str, Any] = {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "service principal"}
    if owner_tenant and owner_tenant.lower() in MICROSOFT_TENANTS:
        attrs[MANAGED_BY] = "microsoft"
        attrs[KIND_EVIDENCE] = "Microsoft first-party application"
    if sp_id:
        attrs[ALIASES] = app_alias(app_id) or None
        return f"entra:sp/{sp_id}", attrs
    if app_id:
        return f"entra:sp/{app_id}", attrs
    return None


def person_attrs(upn: str, evidence: str | None) -> dict[str, Any]:
    """A user's kind: what the record says, else the e-mail shape of the UPN."""
    if evidence is None and "@" in upn:
        evidence = "e-mail-shaped user principal name"
    return {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: evidence} if evidence else {}


def initiator(props: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(id, attrs) of who made an audited change: a user or a service principal."""
    by = structured(ci(props, "initiatedBy"))
    by = by if isinstance(by, dict) else {}
    user, app = ci(by, "user"), ci(by, "app")
    user, app = (user if isinstance(user, dict) else {}), (app if isinstance(app, dict) else {})
    person = text(ci(user, "userPrincipalName")) or text(ci(user, "id"))
    if person:
        return user_id(person), person_attrs(person, None)
    found = service_principal(text(ci(app, "servicePrincipalId")), text(ci(app, "appId")))
    if found is None:
        return None
    nhi, attrs = found
    return nhi, {**attrs, KIND_EVIDENCE: "service principal (initiated the change)"}
