"""GCP IAM lifecycle rules: token minting, service account keys and accounts, federation.

See ``ingest/parsers/gcp_audit.py`` for the mapping table. Nothing here copies a token: Google does not log
minted tokens, and the credential ids are keyed fingerprints of who/what/when or key ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from contract.errors import RecordRejected
from contract.events import Event, EventType
from contract.identity import (
    CREATED_BY,
    HUMAN,
    KIND_EVIDENCE,
    MACHINE,
    OWNER_SOURCE,
    PRINCIPAL_KIND,
    SESSION_KIND,
    WORKLOAD,
)
from ingest.providers.gcp_entry import (
    Entry,
    account_attrs,
    account_in,
    after,
    caller_attrs,
    is_service_account,
)
from ingest.secrets import fingerprint, scrub
from ingest.toolkit.fields import as_dict, as_list, text
from ingest.toolkit.times import add_seconds, parse_seconds, parse_time

DEFAULT_TOKEN_SECONDS = 3600.0
_TOKEN_METHODS = {
    "GenerateAccessToken": "gcp-generate-access-token",
    "GenerateIdToken": "gcp-generate-id-token",
    "SignJwt": "gcp-sign-jwt",
    "SignBlob": "gcp-sign-blob",
}
_NEVER_YEAR = 9999
_KEY_CREATED = frozenset({"CreateServiceAccountKey", "UploadServiceAccountKey"})
_KEY_REVOKED = frozenset({"DeleteServiceAccountKey", "DisableServiceAccountKey"})
_ACCOUNT_CHANGED = frozenset({"DeleteServiceAccount", "DisableServiceAccount", "EnableServiceAccount"})
# Every method lifecycle_events has a rule for: the rest (nearly all entries) return at once.
_LIFECYCLE_METHODS = frozenset(
    {
        *_TOKEN_METHODS,
        *_KEY_CREATED,
        *_KEY_REVOKED,
        *_ACCOUNT_CHANGED,
        "CreateServiceAccount",
        "ExchangeToken",
    }
)


def lifecycle_events(e: Entry) -> list[Event]:
    """The lifecycle events of a successful call (a failed one changed nothing)."""
    m = e.method
    if m not in _LIFECYCLE_METHODS or e.failed:
        return []
    if m in _TOKEN_METHODS and e.service in ("", "iamcredentials.googleapis.com"):
        return _token(e)
    if m in _KEY_CREATED:
        return _key_created(e)
    if m in _KEY_REVOKED:
        return _key_revoked(e)
    if m == "CreateServiceAccount":
        return _account_created(e)
    if m in _ACCOUNT_CHANGED:
        account = e.target_account()
        if not account:
            return []
        if m == "DeleteServiceAccount":
            attrs = {**caller_attrs(e), **account_attrs(account)}
            return [e.event("deleted", EventType.IDENTITY_DELETED, nhi=e.nhi(account), attrs=attrs)]
        attrs = {**caller_attrs(e), **account_attrs(account), "disabled": m == "DisableServiceAccount"}
        return [e.event("updated", EventType.IDENTITY_UPDATED, nhi=e.nhi(account), attrs=attrs)]
    if m == "ExchangeToken" and e.service in ("", "sts.googleapis.com"):
        return _federation(e)
    return []


def _token(e: Entry) -> list[Event]:
    target = e.target_account()
    if not target:
        raise RecordRejected(f"{e.method} without a target service account (request.name / resource labels)")
    request = as_dict(e.pp.get("request"))
    at = e.at()
    attrs = {**caller_attrs(e), **account_attrs(target), SESSION_KIND: _minted_for(e)}
    expires = add_seconds(at, parse_seconds(request.get("lifetime")))
    if expires is None and e.method == "SignJwt":
        expires = _jwt_exp(request.get("payload"))
    if expires is None:
        expires = at + timedelta(seconds=DEFAULT_TOKEN_SECONDS)
        attrs["expires_at_assumed"] = True
    scopes = [s for s in as_list(request.get("scope")) if isinstance(s, str)]
    if scopes:
        attrs["scopes"] = scopes
    if text(request.get("audience")):
        attrs["audience"] = scrub(text(request.get("audience")), e.ctx.settings.fingerprint_key)
    material = "\x1f".join((e.principal, target, at.isoformat(), e.method))
    return [
        e.event(
            "issued",
            EventType.CREDENTIAL_ISSUED,
            nhi=e.nhi(target),
            credential=fingerprint(material, e.ctx.settings.fingerprint_key),
            expires_at=expires,
            method=_TOKEN_METHODS[e.method],
            attrs=attrs,
        )
    ]


def _minted_for(e: Entry) -> str:
    """A token the GKE or GCE metadata server minted for a workload (the caller is a Kubernetes
    service account of a workload pool, ``PROJECT.svc.id.goog[ns/sa]``, or the request came from
    the metadata server's internal address) is the workload's; any other principal minting a token
    for the account is impersonation: an assumed session."""
    if ".svc.id.goog[" in e.principal or e.ip == "gce-internal-ip":
        return WORKLOAD
    return "assumed"


def _jwt_exp(payload: Any) -> datetime | None:
    # SignJwt logs the claims it signs (not a secret: the signature is what grants access).
    if not isinstance(payload, str) or len(payload) > 65536:
        return None
    try:
        claims = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return parse_time(as_dict(claims).get("exp")) if isinstance(as_dict(claims).get("exp"), int) else None


def _key_created(e: Entry) -> list[Event]:
    response = as_dict(e.pp.get("response"))
    name = text(response.get("name")) or ""
    key_id = after(name, "keys") or text(response.get("keyId")) or text(response.get("key_id"))
    account = account_in(name) if "@" in account_in(name) else e.target_account()
    if not account:
        raise RecordRejected(f"{e.method} without a service account (response.name / request.name)")
    attrs = {**caller_attrs(e), **account_attrs(account), SESSION_KIND: "key"}
    if not key_id:
        key_id = f"request:{e.base_id}"
        attrs["credential_inferred"] = "key id not logged"
    expires = None
    for field in ("valid_before_time", "validBeforeTime"):
        expires = expires or parse_time(response.get(field))
    if expires is not None and expires.year >= _NEVER_YEAR:
        expires = None  # user-managed keys are valid until 9999-12-31: they never expire
    return [
        e.event(
            "issued",
            EventType.CREDENTIAL_ISSUED,
            nhi=e.nhi(account),
            credential=f"gcp-key:{key_id}",
            expires_at=expires,
            method="gcp-service-account-key",
            attrs=attrs,
        )
    ]


def _key_revoked(e: Entry) -> list[Event]:
    request = as_dict(e.pp.get("request"))
    name = text(request.get("name")) or text(e.pp.get("resourceName")) or ""
    key_id = after(name, "keys")
    if not key_id:
        raise RecordRejected(f"{e.method} without a key id (request.name .../keys/ID)")
    account = account_in(name)
    account = account if "@" in account else e.target_account() or account
    return [
        e.event(
            "revoked",
            EventType.CREDENTIAL_REVOKED,
            nhi=e.nhi(account) if account else None,
            credential=f"gcp-key:{key_id}",
            attrs={**caller_attrs(e), **account_attrs(account), "revoked_by": e.method},
        )
    ]


def _account_created(e: Entry) -> list[Event]:
    request, response = as_dict(e.pp.get("request")), as_dict(e.pp.get("response"))
    spec = as_dict(request.get("service_account")) or as_dict(request.get("serviceAccount"))
    # The new account's e-mail: the response (when logged), the request, the resource labels, else
    # resourceName (projects/P/serviceAccounts/EMAIL), which Admin Activity entries always carry.
    account = (
        text(response.get("email"))
        or text(spec.get("email"))
        or text(e.labels.get("email_id"))
        or account_in(text(e.pp.get("resourceName")) or "")
    )
    account_id = text(request.get("account_id")) or text(request.get("accountId"))
    if "@" not in (account or "") and account_id and e.project != "-":
        account = f"{account_id}@{e.project}.iam.gserviceaccount.com"
    if not account:
        raise RecordRejected("CreateServiceAccount without the account's email, account_id or resourceName")
    purpose = next(
        (
            v
            for v in (
                response.get("description"),
                spec.get("description"),
                response.get("display_name"),
                spec.get("display_name"),
            )
            if text(v)
        ),
        None,
    )
    key = e.ctx.settings.fingerprint_key
    attrs = {**caller_attrs(e), **account_attrs(account)}
    owner, source = _label_owner(spec, response)
    if owner is None and e.principal and not is_service_account(e.principal):
        # The person who created the account answers for it until someone is named: a weaker owner.
        owner, source = e.principal, "creator"
    if e.principal:
        attrs[CREATED_BY] = e.principal
    if source:
        attrs[OWNER_SOURCE] = source
    return [
        e.event(
            "registered",
            EventType.IDENTITY_REGISTERED,
            nhi=e.nhi(account),
            owner=scrub(owner, key) if owner else None,
            purpose=scrub(text(purpose), key) if purpose else None,
            attrs=attrs,
        )
    ]


_OWNER_LABELS = ("owner", "team", "contact")


def _label_owner(*objects: dict[str, Any]) -> tuple[str | None, str | None]:
    """An owner from ``labels`` (owner, team, contact) where the logged object has them."""
    for obj in objects:
        labels = as_dict(obj.get("labels"))
        for name in _OWNER_LABELS:
            if text(labels.get(name)):
                return text(labels.get(name)), "label"
    return None, None


def _federation(e: Entry) -> list[Event]:
    meta = as_dict(e.pp.get("metadata"))
    ai = as_dict(e.pp.get("authenticationInfo"))
    principal = text(meta.get("mapped_principal")) or text(ai.get("principalSubject"))
    if not principal:
        raise RecordRejected("ExchangeToken without metadata.mapped_principal or principalSubject")
    at = e.at()
    attrs = caller_attrs(e)
    attrs.pop("caller", None)
    # Workload identity pools federate workloads (a CI job, a pod elsewhere); workforce pools
    # federate people signing in through their company's IdP.
    if "/workforcePools/" in principal or "workforcePools" in (text(e.pp.get("resourceName")) or ""):
        attrs.update(
            {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: "workforce identity federation", SESSION_KIND: "person"}
        )
    else:
        attrs.update(
            {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "workload identity federation", SESSION_KIND: WORKLOAD}
        )
    provider = text(e.pp.get("resourceName")) or ""
    if provider:
        attrs["provider"] = provider
    if text(ai.get("principalSubject")):
        attrs["subject"] = scrub(text(ai.get("principalSubject")), e.ctx.settings.fingerprint_key)
    attrs["expires_at_assumed"] = True  # federated access tokens live one hour; the log does not say
    material = "\x1f".join((principal, provider, at.isoformat()))
    return [
        e.event(
            "issued",
            EventType.CREDENTIAL_ISSUED,
            nhi=f"gcp:{e.project}/{principal}",
            credential=fingerprint(material, e.ctx.settings.fingerprint_key),
            expires_at=at + timedelta(seconds=DEFAULT_TOKEN_SECONDS),
            method="gcp-workload-identity-federation",
            attrs=attrs,
        )
    ]
