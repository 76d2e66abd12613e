"""Okta System Log events -> canonical events.

Who acted (``actor`` and ``transaction.detail.requestApiTokenId``):

- A request made with an API token -> ``okta:api-token/<token id>`` (an NHI; the credential is the
  token id). Okta logs the token's creating user as the actor because the token acts with that
  user's permissions; the user is kept in ``attrs.acting_user``. The token, not the user, is the
  identity: it lives on when the user walks away, which is exactly what unowned-actor is about.
- A service app (``PublicClientApp`` / ``AppInstance`` actor) getting or using tokens on its own
  (client credentials) -> ``okta:app/<client id>``. When the grant is for a user (authorization
  code, refresh of a user session), the subject is that person.
- A person -> ``okta:user/<login>``; ``attrs.principal_kind = "human"`` with its evidence: a sign-in
  (``user.session.start``, ``user.authentication.*``; "with MFA" for factor events) or an
  e-mail-shaped login.
- Okta itself (SystemPrincipal) or a bare IP address (threat detection) -> no identity acted: the
  record is skipped with that reason (counted, not rejected).

``session_kind``: an API token and a service app's client credentials are ``key``; a person's own
grant ``person``. API token creation registers the token with its creator (``created_by``, and the
creating user as owner, ``owner_source = creator``).

What happened: the actor's ``credential.used`` (action = eventType, outcome from outcome.result),
plus ``system.api_token.create`` -> ``identity.registered`` (owner = the creating user's login)
and ``credential.issued`` (no expiry: Okta API tokens only lapse after 30 days unused, which no
record can tell); ``system.api_token.revoke`` -> ``credential.revoked``; OAuth token grants ->
``credential.issued`` (credential = the token's id in ``target``, expiry from its ``expires``);
token revocations -> ``credential.revoked``; reuse detections carry ``attrs.token_reuse``.
The event type is read from ``eventType`` or ``eventtype`` (both spellings occur in exports).
"""

from __future__ import annotations

from typing import Any

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from contract.identity import (
    CREATED_BY,
    HUMAN,
    KIND_EVIDENCE,
    MACHINE,
    OWNER_SOURCE,
    PRINCIPAL_KIND,
    SESSION_KIND,
)
from ingest.parsing import ParseContext
from ingest.toolkit.build import Emitter, make_context, record_hash, require_dict
from ingest.toolkit.fields import as_dict, as_list, ci, dig, text
from ingest.toolkit.times import parse_time

SOURCE = "okta"

_APP_ACTORS = {"PublicClientApp", "AppInstance", "ClientApp", "Client"}
_TOKEN_TARGETS = {"access_token", "refresh_token", "id_token", "AccessToken", "RefreshToken", "IdToken"}
_USER_GRANTS = {
    "authorization_code",
    "implicit",
    "password",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "interaction_code",
}
_OK = {"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure"}


def parse_okta(record: Any, ctx: ParseContext) -> list[Event]:
    rec = require_dict(record, SOURCE)
    kind = text(ci(rec, "eventType", "eventtype"))
    if kind is None:
        raise RecordRejected("Okta event has no eventType")
    time = parse_time(ci(rec, "published"))
    if time is None:
        raise RecordRejected(
            f"Okta {kind}: published is missing or not a timestamp (got {ci(rec, 'published')!r:.40})"
        )
    em = Emitter(SOURCE, ctx, "okta:" + record_hash(rec, 12))
    client = as_dict(ci(rec, "client"))
    context = make_context(
        em.key, ip=ci(client, "ipAddress"), user_agent=dig(client, "userAgent", "rawUserAgent")
    )
    result = ci(rec, "outcome")  # objects read more than once are looked up once
    outcome = _OK.get((text(ci(result, "result")) or "").upper())
    targets = [as_dict(t) for t in as_list(ci(rec, "target"))]
    debug = as_dict(dig(rec, "debugContext", "debugData"))
    actor = _actor(rec, targets, debug)
    actor_obj = ci(rec, "actor")
    attrs = {
        "okta_uuid": text(ci(rec, "uuid")),
        "outcome_reason": text(ci(result, "reason")),
        "grant_type": text(debug.get("grantType")),
        "token_reuse": True if "reuse" in kind else None,
        # The OAuth client involved, also when the grant makes a person the subject.
        "client_id": text(ci(actor_obj, "id")) if text(ci(actor_obj, "type")) in _APP_ACTORS else None,
    }
    if actor is not None:
        nhi, human, credential, acting = actor
        first = targets[0] if targets else {}
        about = _kind(nhi, human, kind, attrs)
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=nhi,
            credential=credential,
            action=kind,
            resource=_target_name(first),
            outcome=outcome,
            context=context,
            attrs={**attrs, "acting_user": acting, **about},
        )
    if outcome == "failure":
        return _done(em, actor, kind)
    by = actor[0] if actor else None
    if kind in ("system.api_token.create", "system.api_token.revoke"):
        token = next((t for t in targets if text(t.get("type")) == "Token"), None)
        token_id = text(token.get("id")) if token else None
        if token_id:
            nhi = f"okta:api-token/{token_id}"
            meta = {
                **attrs,
                "token_name": text(token.get("displayName")) if token else None,
                "changed_by": by,
                PRINCIPAL_KIND: MACHINE,
                KIND_EVIDENCE: "Okta API token",
                SESSION_KIND: "key",
            }
            if kind.endswith("create"):
                owner = text(dig(rec, "actor", "alternateId"))
                # The user who created the token answers for it: it acts with their permissions.
                creator = {CREATED_BY: by, OWNER_SOURCE: "creator" if owner else None}
                em.emit(
                    EventType.IDENTITY_REGISTERED,
                    time,
                    "registered",
                    nhi=nhi,
                    owner=owner.lower() if owner else None,
                    attrs={**meta, **creator},
                )
                em.emit(
                    EventType.CREDENTIAL_ISSUED,
                    time,
                    "issued",
                    nhi=nhi,
                    credential=token_id,
                    method="okta-api-token",
                    context=context,
                    attrs=meta,
                )
            else:
                em.emit(
                    EventType.CREDENTIAL_REVOKED, time, "revoked", nhi=nhi, credential=token_id, attrs=meta
                )
    elif actor is not None and (".token.grant" in kind or ".token.revoke" in kind):
        _oauth_token(
            kind, time, actor, targets, context, {**attrs, **_kind(actor[0], actor[1], kind, attrs)}, em
        )
    return _done(em, actor, kind)


def _done(em: Emitter, actor: tuple[str, bool, str | None, str | None] | None, kind: str) -> list[Event]:
    if not em.events:
        who = "Okta itself or an unnamed actor" if actor is None else "its actor"
        raise RecordSkipped(f"Okta {kind.split('.')[0]} event by {who}: names no identity that acted")
    return em.events


def _kind(nhi: str, human: bool, kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """What the record shows the actor to be, and how its credential was delivered."""
    if nhi.startswith("okta:api-token/"):
        return {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "Okta API token", SESSION_KIND: "key"}
    if nhi.startswith("okta:app/"):
        return {
            PRINCIPAL_KIND: MACHINE,
            KIND_EVIDENCE: "OAuth service app (client credentials)",
            SESSION_KIND: "key",
        }
    if not human:
        return {}
    if kind.startswith(("user.session.start", "user.authentication.")):
        mfa = "mfa" in kind or "factor" in kind
        return {
            PRINCIPAL_KIND: HUMAN,
            KIND_EVIDENCE: "Okta sign-in" + (" with MFA" if mfa else ""),
            SESSION_KIND: "person",
        }
    if "@" in nhi:
        return {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: "e-mail-shaped Okta login"}
    return {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: "Okta user"}


def sniff_okta(value: Any) -> bool:
    if not isinstance(value, dict) or "eventName" in value:
        return False  # CloudTrail also has an eventType ("AwsApiCall"), but never dotted
    kind = value.get("eventType", value.get("eventtype"))
    if not isinstance(kind, str) or "." not in kind or " " in kind:
        return False
    return any(
        k in value
        for k in ("published", "actor", "uuid", "legacyEventType", "legacyeventtype", "displayMessage")
    )


def _target_name(target: dict[str, Any]) -> str | None:
    kind = text(target.get("type"))
    name = (
        text(target.get("alternateId")) if text(target.get("alternateId")) not in (None, "unknown") else None
    )
    ident = name or text(target.get("id")) or text(target.get("displayName"))
    return f"{kind} {ident}" if kind and ident else ident


def _person(login: str | None, ident: str | None) -> str | None:
    value = login if login and login != "unknown" else ident
    return f"okta:user/{value.lower()}" if value and value != "unknown" else None


def _actor(
    rec: dict[str, Any], targets: list[dict[str, Any]], debug: dict[str, Any]
) -> tuple[str, bool, str | None, str | None] | None:
    """(nhi, is a person, credential, acting user) of whoever made the request."""
    actor = as_dict(ci(rec, "actor"))
    kind = text(actor.get("type"))
    login = text(actor.get("alternateId"))
    api_token = text(dig(rec, "transaction", "detail", "requestApiTokenId"))
    if api_token:
        return f"okta:api-token/{api_token}", False, api_token, login
    if kind in _APP_ACTORS:
        grant = text(debug.get("grantType"))
        user = next((t for t in targets if text(t.get("type")) == "User"), None)
        if grant in _USER_GRANTS or (grant is None and (user or text(debug.get("userId")))):
            person = (
                _person(text(user.get("alternateId")), text(user.get("id")))
                if user
                else _person(None, text(debug.get("userId")))
            )
            if person:
                return person, True, None, None
        client = text(actor.get("id")) or login
        return (f"okta:app/{client}", False, None, None) if client else None
    if kind == "User" and (login or "").lower() != "system@okta.com":  # Okta's own automation
        person = _person(login, text(actor.get("id")))
        return (person, True, None, None) if person else None
    return None


def _oauth_token(
    kind: str,
    time: Any,
    actor: tuple[str, bool, str | None, str | None],
    targets: list[dict[str, Any]],
    context: Any,
    attrs: dict[str, Any],
    em: Emitter,
) -> None:
    token = next((t for t in targets if text(t.get("type")) in _TOKEN_TARGETS), None)
    token_id = text(token.get("id")) if token else None
    nhi = actor[0]
    if ".token.revoke" in kind:
        if token_id:
            em.emit(
                EventType.CREDENTIAL_REVOKED,
                time,
                "revoked",
                nhi=nhi,
                credential=token_id,
                attrs=attrs,
            )
        return
    detail = as_dict(token.get("detailEntry")) if token else {}
    grant = text(attrs.get("grant_type")) or "unknown"
    em.emit(
        EventType.CREDENTIAL_ISSUED,
        time,
        "issued",
        nhi=nhi,
        credential=token_id,
        expires_at=parse_time(detail.get("expires")),
        method=f"okta-oauth-{grant.rsplit(':', 1)[-1].replace('_', '-')}",
        context=context,
        attrs={
            **attrs,
            "token_type": text(token.get("type")) if token else None,
            "scopes": text(detail.get("scopes")),
        },
    )
