"""OCSF events (Authentication 3002, API Activity 6003) -> canonical NHI events.

Record shape (OCSF 1.x; e.g. Amazon Security Lake's CloudTrail and EKS audit sources)::

    {"class_uid": 6003, "category_uid": 6, "activity_id": 1, "time": 1700000000000, "status_id": 1,
     "metadata": {"uid": "...", "version": "1.2.0", "product": {"name": "..."}},
     "actor": {"user": {"uid": "...", "name": "...", "type_id": 3, "credential_uid": "AKIA..."},
               "session": {"uid": "...", "issuer": "..."}},
     "api": {"operation": "PutObject", "service": {"name": "s3"}},
     "resources": [{"uid": "arn:...", "name": "...", "type": "..."}],
     "src_endpoint": {"ip": "..."}, "http_request": {"user_agent": "..."}, "cloud": {"region": "..."}}

Who is non-human: ``user.type_id == 3`` (System), a ``user.type`` naming a machine principal
(Service, Service Account, Service Principal, Application, Bot, AWSService, Managed Identity ...),
or a uid/name that only machines have (``system:serviceaccount:...``, ``...gserviceaccount.com``,
``spiffe://...``). Events of people (and of AssumedRole principals, which may be either) -> ``[]``.
nhi = ``ocsf:<user.uid>`` (else ``ocsf:<user.name>``).

- 3002 Authentication (subject = ``user``, else ``actor.user``): a successful Logon / Authentication
  Ticket / Service Ticket that opened a session -> credential.issued (credential = ``session.uid``,
  else ``session.credential_uid``; expiry ``session.expiration_time``; method ``ocsf-<auth_protocol>``);
  a successful Logoff of a known session -> credential.revoked; anything else (failures, pre-auth,
  logons without a session) -> credential.used with the outcome.
- 6003 API Activity (subject = ``actor.user``) -> credential.used: action ``api.operation``,
  resource ``resources[0].uid`` (else name), credential ``actor.session.uid`` / ``credential_uid``,
  ``src_endpoint.ip``, ``http_request.user_agent``, ``cloud.region``, outcome from ``status_id``
  (1 success, 2 failure).
- Other OCSF classes -> ``[]``.
"""

from __future__ import annotations

from typing import Any

from ingest.errors import RecordRejected
from ingest.events import Event, EventType, trusted_context
from ingest.fieldutil import (
    as_dict,
    as_int,
    as_list,
    as_str,
    build,
    looks_native,
    new_event,
    no_time,
    record_id,
)
from ingest.parsing import ParseContext
from ingest.secrets import scrub
from ingest.timeparse import parse_time

SOURCE = "ocsf"
AUTHENTICATION = 3002
API_ACTIVITY = 6003
SYSTEM_USER_TYPE = 3
_MACHINE_TYPES = frozenset(
    {
        "system",
        "service",
        "serviceaccount",
        "serviceprincipal",
        "application",
        "app",
        "bot",
        "machine",
        "awsservice",
        "managedidentity",
        "workload",
        "nonhuman",
    }
)
_MACHINE_ID_PREFIXES = ("system:serviceaccount:", "spiffe://")
_MACHINE_ID_SUFFIXES = (".gserviceaccount.com",)
_LOGON, _LOGOFF = 1, 2
_ISSUING = frozenset({1, 3, 4, 5})  # Logon, Authentication Ticket, Service Ticket Request / Renew


def sniff_ocsf(value: Any) -> bool:
    if not isinstance(value, dict) or looks_native(value):
        return False
    cls = value.get("class_uid")
    if not isinstance(cls, int) or isinstance(cls, bool):
        return False
    return isinstance(value.get("metadata"), dict) or any(
        isinstance(value.get(k), int) for k in ("category_uid", "activity_id", "type_uid")
    )


def is_machine(user: dict[str, Any]) -> bool:
    if as_int(user.get("type_id")) == SYSTEM_USER_TYPE:
        return True
    kind = as_str(user.get("type")).lower().replace(" ", "").replace("_", "").replace("-", "")
    if kind in _MACHINE_TYPES:
        return True
    ids = (as_str(user.get("uid")), as_str(user.get("name")))
    return any(i.startswith(_MACHINE_ID_PREFIXES) or i.endswith(_MACHINE_ID_SUFFIXES) for i in ids if i)


def _outcome(record: dict[str, Any]) -> str | None:
    status = as_int(record.get("status_id"))
    return {1: "success", 2: "failure"}.get(status) if status is not None else None


def parse_ocsf(value: Any, ctx: ParseContext) -> list[Event]:
    if not sniff_ocsf(value):
        raise RecordRejected("not an OCSF event (class_uid with metadata or category_uid)")
    cls = value["class_uid"]
    actor = as_dict(value.get("actor"))
    if cls == AUTHENTICATION:
        user = as_dict(value.get("user")) or as_dict(actor.get("user"))
        session = as_dict(value.get("session")) or as_dict(actor.get("session"))
    elif cls == API_ACTIVITY:
        user = as_dict(actor.get("user"))
        session = as_dict(actor.get("session"))
    else:
        return []
    if not user or not is_machine(user):
        return []
    who = as_str(user.get("uid")) or as_str(user.get("name"))
    if not who:
        return []
    when = parse_time(value.get("time")) or parse_time(value.get("time_dt"))
    if when is None:
        raise no_time("OCSF event", "time / time_dt")
    metadata = as_dict(value.get("metadata"))
    base = as_str(metadata.get("uid")) or record_id(value)
    key = ctx.settings.fingerprint_key
    context = trusted_context(
        region=as_str(as_dict(value.get("cloud")).get("region")) or None,
        ip=as_str(as_dict(value.get("src_endpoint")).get("ip")) or None,
        user_agent=as_str(as_dict(value.get("http_request")).get("user_agent")) or None,
    )
    session_id = as_str(session.get("uid")) or as_str(session.get("credential_uid"))
    credential = session_id or as_str(user.get("credential_uid")) or None
    attrs: dict[str, Any] = {"ocsf_class": cls}
    for name, v in (
        ("user_type", user.get("type")),
        ("product", as_dict(metadata.get("product")).get("name")),
        ("activity", value.get("activity_name")),
    ):
        if as_str(v):
            attrs[name] = scrub(as_str(v), key)
    common: dict[str, Any] = {"nhi": f"ocsf:{who}", "context": context}

    def event(kind: str, type_: EventType, **fields: Any) -> Event:
        return new_event(
            {"type": type_, "time": when, "id": f"{base}/{kind}", "source": SOURCE, **common, **fields}
        )

    activity = as_int(value.get("activity_id"))
    outcome = _outcome(value)
    if cls == API_ACTIVITY:
        api = as_dict(value.get("api"))
        resources = [as_dict(r) for r in as_list(value.get("resources"))]
        first = resources[0] if resources else {}
        action = as_str(api.get("operation")) or as_str(value.get("activity_name")) or None
        resource = as_str(first.get("uid")) or as_str(first.get("name")) or None
        return build(
            lambda: [
                event(
                    "used",
                    EventType.CREDENTIAL_USED,
                    credential=credential,
                    action=action,
                    resource=resource,
                    outcome=outcome,
                    attrs=attrs,
                )
            ]
        )
    protocol = as_str(value.get("auth_protocol"))
    if protocol:
        attrs["auth_protocol"] = protocol
    if outcome == "success" and activity in _ISSUING and session_id:
        expires = parse_time(session.get("expiration_time")) or parse_time(session.get("expiration_time_dt"))
        method = "ocsf-" + (protocol.lower().replace(" ", "-") if protocol else "authentication")
        return build(
            lambda: [
                event(
                    "issued",
                    EventType.CREDENTIAL_ISSUED,
                    credential=session_id,
                    expires_at=expires,
                    method=method,
                    attrs=attrs,
                )
            ]
        )
    if outcome == "success" and activity == _LOGOFF and session_id:
        return build(
            lambda: [event("revoked", EventType.CREDENTIAL_REVOKED, credential=session_id, attrs=attrs)]
        )
    action = as_str(value.get("activity_name")) or ("logon" if activity == _LOGON else "authenticate")
    return build(
        lambda: [
            event(
                "used",
                EventType.CREDENTIAL_USED,
                credential=credential,
                action=action,
                outcome=outcome,
                attrs=attrs,
            )
        ]
    )
