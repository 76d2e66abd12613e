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
``spiffe://...``), with that as ``kind_evidence``. Events of people (and of AssumedRole principals,
which may be either) are skipped with their reason, as are other OCSF classes.
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
"""

from __future__ import annotations

from typing import Any

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Context, Event, EventType
from contract.identity import KIND_EVIDENCE, MACHINE, MANAGED_BY, PRINCIPAL_KIND
from ingest.parsing import ParseContext
from ingest.secrets import scrub
from ingest.toolkit.build import looks_native, no_time, one_event, record_hash
from ingest.toolkit.fields import as_dict, as_int, as_list, text
from ingest.toolkit.times import parse_time

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


_OUTCOMES = {1: "success", 2: "failure"}


def sniff_ocsf(value: Any) -> bool:
    if not isinstance(value, dict) or looks_native(value):
        return False
    cls = value.get("class_uid")
    if not isinstance(cls, int) or isinstance(cls, bool):
        return False
    # Chained tests rather than any(generator): this runs on every record.
    return (
        isinstance(value.get("metadata"), dict)
        or isinstance(value.get("category_uid"), int)
        or isinstance(value.get("activity_id"), int)
        or isinstance(value.get("type_uid"), int)
    )


def is_machine(user: dict[str, Any]) -> bool:
    if as_int(user.get("type_id")) == SYSTEM_USER_TYPE:
        return True
    kind = (text(user.get("type")) or "").lower().replace(" ", "").replace("_", "").replace("-", "")
    if kind in _MACHINE_TYPES:
        return True
    ids = (text(user.get("uid")), text(user.get("name")))
    return any(i.startswith(_MACHINE_ID_PREFIXES) or i.endswith(_MACHINE_ID_SUFFIXES) for i in ids if i)


def _evidence(user: dict[str, Any]) -> str:
    if as_int(user.get("type_id")) == SYSTEM_USER_TYPE:
        return "OCSF user type System"
    if text(user.get("type")):
        return f"OCSF user type {text(user.get('type'))}"
    return "machine-only identifier"


def _outcome(record: dict[str, Any]) -> str | None:
    status = as_int(record.get("status_id"))
    return _OUTCOMES.get(status) if status is not None else None


def _subject(value: dict[str, Any], cls: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(user, session) of an Authentication or API Activity event; None for other classes."""
    actor = as_dict(value.get("actor"))
    if cls == AUTHENTICATION:
        user = as_dict(value.get("user")) or as_dict(actor.get("user"))
        session = as_dict(value.get("session")) or as_dict(actor.get("session"))
        return user, session
    if cls == API_ACTIVITY:
        return as_dict(actor.get("user")), as_dict(actor.get("session"))
    return None


def _context(value: dict[str, Any]) -> Context:
    return Context(
        region=text(as_dict(value.get("cloud")).get("region")) or None,
        ip=text(as_dict(value.get("src_endpoint")).get("ip")) or None,
        user_agent=text(as_dict(value.get("http_request")).get("user_agent")) or None,
    )


def _attrs(
    value: dict[str, Any], cls: int, user: dict[str, Any], metadata: dict[str, Any], key: str
) -> dict[str, Any]:
    attrs: dict[str, Any] = {"ocsf_class": cls, PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: _evidence(user)}
    if (text(user.get("type")) or "").lower().replace(" ", "") == "awsservice":
        attrs[MANAGED_BY] = "aws"  # an AWS service acting: the provider's own principal
    user_type = text(user.get("type"))
    if user_type:
        attrs["user_type"] = scrub(user_type, key)
    product = text(as_dict(metadata.get("product")).get("name"))
    if product:
        attrs["product"] = scrub(product, key)
    activity = text(value.get("activity_name"))
    if activity:
        attrs["activity"] = scrub(activity, key)
    return attrs


def parse_ocsf(value: Any, ctx: ParseContext) -> list[Event]:
    if not sniff_ocsf(value):
        raise RecordRejected("not an OCSF event (class_uid with metadata or category_uid)")
    cls = value["class_uid"]
    subject = _subject(value, cls)
    if subject is None:
        raise RecordSkipped(f"ocsf: class {cls} is neither Authentication (3002) nor API Activity (6003)")
    user, session = subject
    if not user:
        raise RecordSkipped("ocsf: an event that names no user")
    if not is_machine(user):
        raise RecordSkipped("ocsf: a person's (or an undetermined principal's) event")
    who = text(user.get("uid")) or text(user.get("name"))
    if not who:
        raise RecordSkipped("ocsf: a non-human user with neither uid nor name")
    when = parse_time(value.get("time")) or parse_time(value.get("time_dt"))
    if when is None:
        raise no_time("OCSF event", "time / time_dt")
    metadata = as_dict(value.get("metadata"))
    base = text(metadata.get("uid")) or record_hash(value)
    session_id = text(session.get("uid")) or text(session.get("credential_uid"))
    attrs = _attrs(value, cls, user, metadata, ctx.settings.fingerprint_key)
    fields: dict[str, Any] = {
        "time": when,
        "source": SOURCE,
        "nhi": f"ocsf:{who}",
        "context": _context(value),
        "attrs": attrs,
    }
    outcome = _outcome(value)
    credential = session_id or text(user.get("credential_uid")) or None
    if cls == API_ACTIVITY:
        kind = _api_activity(value, fields, credential, outcome)
    else:
        kind = _authentication(value, session, fields, session_id, credential, outcome)
    fields["id"] = f"{base}/{kind}"
    return one_event(fields)


def _api_activity(
    value: dict[str, Any], fields: dict[str, Any], credential: str | None, outcome: str | None
) -> str:
    """Fills ``fields`` with the credential.used of an API call; returns the id's kind."""
    resources = as_list(value.get("resources"))
    first = as_dict(resources[0]) if resources else {}
    fields["type"] = EventType.CREDENTIAL_USED
    fields["credential"] = credential
    fields["action"] = (
        text(as_dict(value.get("api")).get("operation")) or text(value.get("activity_name")) or None
    )
    fields["resource"] = text(first.get("uid")) or text(first.get("name")) or None
    fields["outcome"] = outcome
    return "used"


def _authentication(
    value: dict[str, Any],
    session: dict[str, Any],
    fields: dict[str, Any],
    session_id: str | None,
    credential: str | None,
    outcome: str | None,
) -> str:
    """Fills ``fields`` with the issuance, revocation or use of a logon; returns the id's kind."""
    activity = as_int(value.get("activity_id"))
    protocol = text(value.get("auth_protocol"))
    if protocol:
        fields["attrs"]["auth_protocol"] = protocol
    if outcome == "success" and activity in _ISSUING and session_id:
        expires = parse_time(session.get("expiration_time")) or parse_time(session.get("expiration_time_dt"))
        fields["type"] = EventType.CREDENTIAL_ISSUED
        fields["credential"] = session_id
        fields["expires_at"] = expires
        fields["method"] = "ocsf-" + (protocol.lower().replace(" ", "-") if protocol else "authentication")
        return "issued"
    if outcome == "success" and activity == _LOGOFF and session_id:
        fields["type"] = EventType.CREDENTIAL_REVOKED
        fields["credential"] = session_id
        return "revoked"
    fields["type"] = EventType.CREDENTIAL_USED
    fields["credential"] = credential
    fields["action"] = text(value.get("activity_name")) or ("logon" if activity == _LOGON else "authenticate")
    fields["outcome"] = outcome
    return "used"
