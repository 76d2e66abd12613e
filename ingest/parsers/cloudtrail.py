"""AWS CloudTrail records -> canonical events.

One record yields the caller's ``credential.used`` (when an identity made the call) plus what the
call did to identities: STS issuance, access keys created / deactivated / deleted, users and roles
created, tagged with an owner, deleted. A failed call (``errorCode``) did nothing but the use.
People (root, console sessions, IAM Identity Center and SAML sessions) are kept as
``aws:<account>:human/<name>`` with ``attrs.principal_kind = "human"``; see ingest/providers/aws_principal.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.errors import RecordRejected
from contract.events import Context, EventType
from ingest.parsing import ParseContext
from ingest.providers.aws_principal import (
    Principal,
    human_session,
    instance_of,
    parse_role_arn,
    resolve_caller,
)
from ingest.toolkit.build import Emitter, make_context, record_hash, require_dict
from ingest.toolkit.fields import as_dict, as_list, ci, text
from ingest.toolkit.times import add_seconds, parse_time, require_time

SOURCE = "cloudtrail"

STS_METHODS = {
    "AssumeRole": "sts-assume-role",
    "AssumeRoleWithWebIdentity": "sts-assume-role-web-identity",
    "AssumeRoleWithSAML": "sts-assume-role-saml",
    "GetSessionToken": "sts-get-session-token",
    "GetFederationToken": "sts-get-federation-token",
}
# STS defaults when the response carries no parseable expiration (AWS API reference).
_STS_DEFAULT_S = {"GetSessionToken": 43200, "GetFederationToken": 43200}
# Global services log every call in us-east-1 whatever the caller's region; recording that as the
# caller's region would look like drift for every workload outside us-east-1.
_GLOBAL_SERVICES = frozenset(
    {
        "iam",
        "organizations",
        "route53",
        "cloudfront",
        "signin",
        "support",
        "billingconsole",
        "account",
        "health",
        "sso",
    }
)
_RESOURCE_KEYS = (
    "roleArn",
    "bucketName",
    "functionName",
    "secretId",
    "keyId",
    "name",
    "userName",
    "roleName",
    "policyArn",
    "groupName",
    "instanceId",
    "dBInstanceIdentifier",
    "trailName",
    "repositoryName",
    "queueUrl",
    "topicArn",
)


def parse_cloudtrail(record: Any, ctx: ParseContext) -> list[Any]:
    rec = require_dict(record, SOURCE)
    if isinstance(rec.get("detail"), dict) and "CloudTrail" in str(rec.get("detail-type", "")):
        rec = rec["detail"]  # EventBridge delivery: the CloudTrail record is the detail
    name = text(ci(rec, "eventName"))
    if name is None:
        raise RecordRejected("CloudTrail record has no eventName")
    time = require_time(ci(rec, "eventTime"), "eventTime")
    em = Emitter(SOURCE, ctx, "ct:" + record_hash(rec, 12))
    caller = resolve_caller(rec, name)
    source = (text(ci(rec, "eventSource")) or "unknown").split(".", 1)[0]
    region = text(ci(rec, "awsRegion"))
    source_ip = ci(rec, "sourceIPAddress")
    base = make_context(
        em.key,
        ip=source_ip,
        user_agent=ci(rec, "userAgent"),
        region=None if source in _GLOBAL_SERVICES else region,
    )
    error = text(ci(rec, "errorCode"))
    failed = error is not None or (
        name == "ConsoleLogin" and text(dig_resp(rec, "ConsoleLogin")) == "Failure"
    )
    if caller is not None:
        _caller_use(
            rec, name, source, time, caller, base, em, failed=failed, error=error, src=text(source_ip)
        )
    if not failed:
        if name in STS_METHODS:
            _sts_issue(rec, name, time, caller, base, em)
        else:
            _iam_effects(rec, name, time, caller, em)
    if not em.events:
        kind = text(ci(ci(rec, "userIdentity"), "type"))
        if kind in ("AWSService", "WebIdentityUser", "SAMLUser"):
            return []  # AWS acting for itself, or a failed federation: no identity of ours acted
        raise RecordRejected(
            f"CloudTrail {name}: userIdentity names no principal with an account (type {kind!r})"
        )
    return em.events


def sniff_cloudtrail(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("detail"), dict) and "CloudTrail" in str(value.get("detail-type", "")):
        return True
    name = value.get("eventName", value.get("eventname"))
    source = value.get("eventSource", value.get("eventsource"))
    identity = value.get("userIdentity", value.get("useridentity"))
    return isinstance(name, str) and (isinstance(source, str) or isinstance(identity, dict))


def dig_resp(rec: dict[str, Any], key: str) -> Any:
    return ci(ci(rec, "responseElements"), key)


def _caller_use(
    rec: dict[str, Any],
    name: str,
    source: str,
    time: datetime,
    caller: Principal,
    base: Context,
    em: Emitter,
    *,
    failed: bool,
    error: str | None,  # errorCode and sourceIPAddress: read once by the caller
    src: str | None,
) -> None:
    ui = as_dict(ci(rec, "userIdentity"))
    invoked_by = text(ci(ui, "invokedBy"))
    attrs: dict[str, Any] = {
        "principal_type": caller.kind,
        "aws_event_id": text(ci(rec, "eventID")),
        "error_code": error,
        "invoked_by": invoked_by,
        # A service name in sourceIPAddress (the call came through an AWS service) is kept here.
        "source_host": src if src and base.ip is None else None,
        "source_identity": text(dig_ctx(ui, "sourceIdentity")),
        "role": caller.role if caller.human else None,
    }
    context = base.model_copy(update={"instance": caller.instance}) if caller.instance else base
    em.emit(
        EventType.CREDENTIAL_USED,
        time,
        "used",
        nhi=caller.nhi,
        credential=caller.key,
        task=caller.task,
        action=f"{source}:{name}",
        resource=_resource(rec),
        outcome="failure" if failed else "success",
        context=context,
        attrs=attrs,
        human=caller.human,
    )


def dig_ctx(ui: dict[str, Any], key: str) -> Any:
    return ci(ci(ui, "sessionContext"), key)


def _resource(rec: dict[str, Any]) -> str | None:
    for res in as_list(ci(rec, "resources")):
        arn = text(ci(res, "ARN"))
        if arn:
            return arn
    params = as_dict(ci(rec, "requestParameters"))
    if not params:
        return None
    bucket, obj = text(params.get("bucketName")), text(params.get("key"))
    if bucket and obj:
        return f"{bucket}/{obj}"
    for key in _RESOURCE_KEYS:
        value = params.get(key)
        if value is not None and (value := text(value)):  # most keys are absent: no call for those
            return value
    return None


def _sts_issue(
    rec: dict[str, Any], name: str, time: datetime, caller: Principal | None, base: Context, em: Emitter
) -> None:
    req, resp = as_dict(ci(rec, "requestParameters")), as_dict(ci(rec, "responseElements"))
    creds = as_dict(ci(resp, "credentials"))
    account = text(ci(rec, "recipientAccountId")) or (caller.account if caller else None)
    session = text(ci(req, "roleSessionName"))
    role: str | None = None
    if name == "GetSessionToken":
        if caller is None:
            return
        nhi, human, account = caller.nhi, caller.human, caller.account
    elif name == "GetFederationToken":
        fed = text(ci(req, "name")) or _last(text(ci(dig_resp(rec, "federatedUser"), "arn")))
        if not fed or not account:
            return
        nhi, human = f"aws:{account}:federated-user/{fed}", False
    else:
        parsed = parse_role_arn(text(ci(req, "roleArn"))) or parse_role_arn(
            text(ci(ci(resp, "assumedRoleUser"), "arn"))
        )
        if parsed is None:
            return
        account, role, from_arn = parsed
        session = session or from_arn
        human = name == "AssumeRoleWithSAML" or human_session(role, session, text(ci(req, "roleArn")))
        subject = text(ci(resp, "subject")) or text(ci(ci(rec, "userIdentity"), "userName"))
        person = session or subject or role
        nhi = f"aws:{account}:human/{person}" if human else f"aws:{account}:role/{role}"
    expires = parse_time(ci(creds, "expiration"))
    assumed = None
    if expires is None:
        # STS credentials always expire; a missing or garbled expiration is assumed from the
        # requested duration (or the API default), flagged like the other collectors do.
        duration = ci(req, "durationSeconds") or _STS_DEFAULT_S.get(name, 3600)
        expires, assumed = add_seconds(time, duration), True
    task = None
    if role and session and not human:
        task = f"aws-session:{account}/{role}/{session}"
    web = as_dict(ci(rec, "userIdentity"))
    attrs = {
        "aws_event_id": text(ci(rec, "eventID")),
        "role_session_name": session,
        "source_identity": text(ci(resp, "sourceIdentity")) or text(ci(req, "sourceIdentity")),
        "web_identity_subject": text(ci(resp, "subjectFromWebIdentityToken"))
        or (text(ci(web, "userName")) if name == "AssumeRoleWithWebIdentity" else None),
        "identity_provider": text(ci(resp, "provider")) or text(ci(web, "identityProvider")),
        "saml_subject": text(ci(resp, "subject")),
        "issued_by": caller.nhi if caller else text(ci(web, "invokedBy")),
        "role": f"aws:{account}:role/{role}" if human and role else None,
        "expires_at_assumed": assumed,
    }
    instance = instance_of(session)
    em.emit(
        EventType.CREDENTIAL_ISSUED,
        time,
        "issued",
        nhi=nhi,
        credential=text(ci(creds, "accessKeyId")),
        task=task,
        expires_at=expires,
        method=STS_METHODS[name],
        # A web-identity token (EKS, GitHub Actions OIDC...) or an AWS service assuming the role for
        # its workload (Lambda, EC2 instance profiles) is the platform vouching for the workload.
        attested=name == "AssumeRoleWithWebIdentity" or text(ci(web, "type")) == "AWSService",
        context=base.model_copy(update={"instance": instance}) if instance else base,
        attrs=attrs,
        human=human,
    )


def _last(arn: str | None) -> str | None:
    return arn.rsplit("/", 1)[-1] if arn and "/" in arn else None


def _user_nhi(account: str, user: str | None, caller: Principal | None) -> tuple[str, bool] | None:
    """The IAM user an access-key call is about: the named user, else the caller itself."""
    if user and user.lower() != "root":
        return f"aws:{account}:user/{user}", False
    if user or (caller and caller.kind == "Root"):
        return f"aws:{account}:human/root", True  # root's own access key
    if caller and caller.kind == "IAMUser":
        return caller.nhi, caller.human
    return None


_ACCESS_KEY_CALLS = frozenset({"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"})


def _iam_effects(
    rec: dict[str, Any], name: str, time: datetime, caller: Principal | None, em: Emitter
) -> None:
    verb, kind = name[:-4], name[-4:].lower()
    lifecycle = kind in ("user", "role") and verb in ("Create", "Delete", "Tag")
    if not lifecycle and name not in _ACCESS_KEY_CALLS:
        return  # most calls change no identity: decided before reading anything
    req, resp = as_dict(ci(rec, "requestParameters")), as_dict(ci(rec, "responseElements"))
    account = text(ci(rec, "recipientAccountId")) or (caller.account if caller else None)
    if account is None:
        return
    by = caller.nhi if caller else None
    common = {"aws_event_id": text(ci(rec, "eventID")), "changed_by": by}
    if name in _ACCESS_KEY_CALLS:
        key_obj = as_dict(ci(resp, "accessKey"))
        user = text(ci(req, "userName")) or text(ci(key_obj, "userName"))
        target = _user_nhi(account, user, caller)
        key = text(ci(key_obj, "accessKeyId")) or text(ci(req, "accessKeyId"))
        if target is None or key is None:
            return
        nhi, human = target
        status = text(ci(req, "status"))
        if name == "DeleteAccessKey" or (name == "UpdateAccessKey" and status == "Inactive"):
            em.emit(
                EventType.CREDENTIAL_REVOKED,
                time,
                "revoked",
                nhi=nhi,
                credential=key,
                attrs=common,
                human=human,
            )
        elif name == "CreateAccessKey" or status == "Active":
            attrs = {**common, "reactivated": True if name == "UpdateAccessKey" else None}
            # IAM access keys never expire on their own: expires_at stays absent.
            em.emit(
                EventType.CREDENTIAL_ISSUED,
                time,
                "issued",
                nhi=nhi,
                credential=key,
                method="iam-access-key",
                attrs=attrs,
                human=human,
            )
        return
    if not lifecycle:
        return
    entity = text(ci(req, "userName" if kind == "user" else "roleName"))
    if entity is None:
        return
    nhi = f"aws:{account}:{kind}/{entity}"
    owner = _owner_tag(ci(req, "tags"))
    if verb == "Delete":
        em.emit(EventType.IDENTITY_DELETED, time, "deleted", nhi=nhi, attrs=common)
    elif verb == "Create":
        purpose = text(ci(req, "description"))
        em.emit(
            EventType.IDENTITY_REGISTERED,
            time,
            "registered",
            nhi=nhi,
            owner=owner,
            purpose=purpose,
            attrs=common,
        )
    elif owner is not None:
        em.emit(EventType.IDENTITY_UPDATED, time, "updated", nhi=nhi, owner=owner, attrs=common)


def _owner_tag(tags: Any) -> str | None:
    for tag in as_list(tags):
        key = text(ci(tag, "key"))
        if key and key.lower() == "owner":
            return text(ci(tag, "value"))
    return None
