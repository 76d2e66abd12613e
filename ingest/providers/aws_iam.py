"""What CloudTrail's IAM calls do to identities: access keys issued and revoked, users and roles
created (with their owner tag, or the person who created them), tagged and deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.events import EventType
from contract.identity import HUMAN
from ingest.providers.aws_principal import Principal, record_partition, service_linked
from ingest.toolkit.build import Emitter
from ingest.toolkit.fields import as_dict, as_list, ci, text


def _user_nhi(base: str, user: str | None, caller: Principal | None) -> tuple[str, bool] | None:
    """The IAM user an access-key call is about: the named user, else the caller itself."""
    if user and user.lower() != "root":
        return f"{base}:user/{user}", False
    if user or (caller and caller.kind == "Root"):
        return f"{base}:root", True  # root's own access key
    if caller and caller.kind == "IAMUser":
        return caller.nhi, caller.human
    return None


_ACCESS_KEY_CALLS = frozenset({"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"})
_LIFECYCLE_CALLS = frozenset(
    {"CreateUser", "CreateRole", "DeleteUser", "DeleteRole", "TagUser", "TagRole", "CreateServiceLinkedRole"}
)


def iam_effects(
    rec: dict[str, Any], name: str, time: datetime, caller: Principal | None, em: Emitter
) -> None:
    if name not in _LIFECYCLE_CALLS and name not in _ACCESS_KEY_CALLS:
        return  # most calls change no identity: decided before reading anything
    req, resp = as_dict(ci(rec, "requestParameters")), as_dict(ci(rec, "responseElements"))
    account = text(ci(rec, "recipientAccountId")) or (caller.account if caller else None)
    if account is None:
        return
    base = f"{caller.partition if caller else record_partition(rec)}:{account}"
    by = caller.nhi if caller else None
    common = {"aws_event_id": text(ci(rec, "eventID")), "changed_by": by}
    if name in _ACCESS_KEY_CALLS:
        _access_key(name, req, resp, base, caller, time, common, em)
    elif name == "CreateServiceLinkedRole":
        role = text(ci(ci(resp, "role"), "roleName"))
        if role:
            attrs = {**common, "managed_by": "aws", "created_by": by}
            em.emit(EventType.IDENTITY_REGISTERED, time, "registered", nhi=f"{base}:role/{role}", attrs=attrs)
    else:
        # The creator answers for what it created only when the call shows a person made it.
        person = by if caller is not None and caller.human else None
        _user_or_role(name, req, resp, base, by, person, time, common, em)


def _access_key(
    name: str,
    req: dict[str, Any],
    resp: dict[str, Any],
    base: str,
    caller: Principal | None,
    time: datetime,
    common: dict[str, Any],
    em: Emitter,
) -> None:
    key_obj = as_dict(ci(resp, "accessKey"))
    user = text(ci(req, "userName")) or text(ci(key_obj, "userName"))
    target = _user_nhi(base, user, caller)
    key = text(ci(key_obj, "accessKeyId")) or text(ci(req, "accessKeyId"))
    if target is None or key is None:
        return
    nhi, root = target
    status = text(ci(req, "status"))
    kind, evidence = (HUMAN, "the account's root user") if root else (None, None)
    if name == "DeleteAccessKey" or (name == "UpdateAccessKey" and status == "Inactive"):
        em.emit(
            EventType.CREDENTIAL_REVOKED,
            time,
            "revoked",
            nhi=nhi,
            credential=key,
            attrs=common,
            principal_kind=kind,
            kind_evidence=evidence,
        )
    elif name == "CreateAccessKey" or status == "Active":
        attrs = {**common, "reactivated": True if name == "UpdateAccessKey" else None, "session_kind": "key"}
        # IAM access keys never expire on their own: expires_at stays absent.
        em.emit(
            EventType.CREDENTIAL_ISSUED,
            time,
            "issued",
            nhi=nhi,
            credential=key,
            method="iam-access-key",
            attrs=attrs,
            principal_kind=kind,
            kind_evidence=evidence,
        )


def _user_or_role(
    name: str,
    req: dict[str, Any],
    resp: dict[str, Any],
    base: str,
    by: str | None,
    person: str | None,
    time: datetime,
    common: dict[str, Any],
    em: Emitter,
) -> None:
    verb, kind = name[:-4], name[-4:].lower()
    entity = text(ci(req, "userName" if kind == "user" else "roleName"))
    if entity is None:
        return
    nhi = f"{base}:{kind}/{entity}"
    tagged = _owner_tag(ci(req, "tags"))
    if verb == "Delete":
        em.emit(EventType.IDENTITY_DELETED, time, "deleted", nhi=nhi, attrs=common)
    elif verb == "Create":
        arn = text(ci(ci(resp, kind), "arn"))
        attrs = {
            **common,
            "created_by": by,
            # The tag names the owner; without one, the person who created it (a weaker owner).
            "owner_source": "tag" if tagged else ("creator" if person else None),
            "aliases": [arn] if arn else None,
            "managed_by": "aws" if kind == "role" and service_linked(entity, arn) else None,
        }
        em.emit(
            EventType.IDENTITY_REGISTERED,
            time,
            "registered",
            nhi=nhi,
            owner=tagged or person,
            purpose=text(ci(req, "description")),
            attrs=attrs,
        )
    elif tagged is not None:
        em.emit(
            EventType.IDENTITY_UPDATED,
            time,
            "updated",
            nhi=nhi,
            owner=tagged,
            attrs={**common, "owner_source": "tag"},
        )


# Tag keys that name an owner, in order of preference (compared case-insensitively, '-', '_' and
# ':' ignored): an explicit owner first, then a team.
_OWNER_TAGS = ("owner", "owneremail", "ownedby", "technicalowner", "team", "ownerteam", "contact")


def _owner_tag(tags: Any) -> str | None:
    found: dict[str, str] = {}
    for tag in as_list(tags):
        key = text(ci(tag, "key"))
        value = text(ci(tag, "value"))
        if key and value:
            found.setdefault(key.lower().replace("-", "").replace("_", "").replace(":", ""), value)
    return next((found[k] for k in _OWNER_TAGS if k in found), None)
