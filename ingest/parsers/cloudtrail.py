"""AWS CloudTrail records -> canonical events.

One record yields the caller's ``credential.used`` (when an identity made the call) plus what the
call did to identities: STS issuance, access keys created / deactivated / deleted, users and roles
created, tagged with an owner, deleted. A failed call (``errorCode``) did nothing but the use.
Who the caller is, and whether a person or a machine acted, is ``ingest/providers/aws_principal.py``:
one id per principal, the person-or-machine evidence on the event (``contract.identity``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Context, EventType
from contract.identity import HUMAN, MACHINE, WORKLOAD
from ingest.parsing import ParseContext
from ingest.providers.aws_iam import iam_effects
from ingest.providers.aws_principal import (
    Principal,
    human_session,
    instance_of,
    parse_role_arn,
    record_partition,
    resolve_caller,
    service_linked,
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
            iam_effects(rec, name, time, caller, em)
    if not em.events:
        kind = text(ci(ci(rec, "userIdentity"), "type"))
        if kind == "AWSService":
            raise RecordSkipped(f"cloudtrail: an AWS service acting for itself ({name})")
        if kind in ("WebIdentityUser", "SAMLUser"):
            raise RecordSkipped(f"cloudtrail: a federated caller that got no AWS credential ({name})")
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
        "role_session_name": caller.session,
        # A service calling with the caller's permissions (forward access sessions) is the service's
        # doing, not a use from the caller's seat.
        "session_kind": "service" if invoked_by and caller.session_kind != "person" else caller.session_kind,
        "managed_by": caller.managed_by,
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
        principal_kind=caller.principal_kind,
        kind_evidence=caller.kind_evidence,
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


# Services that assume a role for a workload of the customer's: the session's credential belongs to
# that workload (an instance, a task, a function, a pod), so using it elsewhere is theft. Other
# services assume roles for their own work: those sessions are the provider's.
_WORKLOAD_SERVICES = {
    "ec2.amazonaws.com": "EC2 instance profile",
    "ecs-tasks.amazonaws.com": "ECS task role",
    "lambda.amazonaws.com": "Lambda execution role",
    "pods.eks.amazonaws.com": "EKS Pod Identity",
    "build.apprunner.amazonaws.com": "App Runner",
    "tasks.apprunner.amazonaws.com": "App Runner",
}


def _sts_issue(
    rec: dict[str, Any], name: str, time: datetime, caller: Principal | None, base: Context, em: Emitter
) -> None:
    req, resp = as_dict(ci(rec, "requestParameters")), as_dict(ci(rec, "responseElements"))
    creds = as_dict(ci(resp, "credentials"))
    part = caller.partition if caller else record_partition(rec)
    account = text(ci(rec, "recipientAccountId")) or (caller.account if caller else None)
    session = text(ci(req, "roleSessionName"))
    web = as_dict(ci(rec, "userIdentity"))
    service = text(ci(web, "invokedBy")) if text(ci(web, "type")) == "AWSService" else None
    role: str | None = None
    kind: str | None = None
    evidence: str | None = None
    session_kind = "assumed"
    managed: str | None = None
    if name == "GetSessionToken":
        if caller is None:
            return
        nhi, account = caller.nhi, caller.account
        kind, evidence, session_kind = (
            caller.principal_kind,
            caller.kind_evidence,
            caller.session_kind or "key",
        )
    elif name == "GetFederationToken":
        fed = text(ci(req, "name")) or _last(text(ci(dig_resp(rec, "federatedUser"), "arn")))
        if not fed or not account:
            return
        nhi = f"{part}:{account}:federated-user/{fed}"
    else:
        parsed = parse_role_arn(text(ci(req, "roleArn"))) or parse_role_arn(
            text(ci(ci(resp, "assumedRoleUser"), "arn"))
        )
        if parsed is None:
            return
        account, role, from_arn = parsed
        session = session or from_arn
        nhi = f"{part}:{account}:role/{role}"
        subject = text(ci(resp, "subject")) or text(ci(web, "userName"))
        person = human_session(role, session, text(ci(req, "roleArn")))
        if name == "AssumeRoleWithSAML":
            kind, evidence, session_kind = HUMAN, "SAML federation of a person", "person"
        elif person is not None:
            kind, evidence, session_kind = HUMAN, person, "person"
        elif name == "AssumeRoleWithWebIdentity":
            if subject and "@" in subject:
                kind, evidence, session_kind = HUMAN, "web identity federation of a person", "person"
            else:
                kind, evidence, session_kind = (
                    MACHINE,
                    "web identity federation (a workload's token)",
                    WORKLOAD,
                )
        elif service in _WORKLOAD_SERVICES:
            kind, evidence, session_kind = (
                MACHINE,
                f"{_WORKLOAD_SERVICES[service]}: assumed by {service}",
                WORKLOAD,
            )
        elif service is not None:
            kind, evidence, session_kind, managed = (
                MACHINE,
                f"assumed by {service} for its own work",
                "service",
                "aws",
            )
        if service_linked(role, text(ci(req, "roleArn"))):
            kind, evidence, session_kind, managed = MACHINE, "service-linked role", "service", "aws"
    expires = parse_time(ci(creds, "expiration"))
    assumed = None
    if expires is None:
        # STS credentials always expire; a missing or garbled expiration is assumed from the
        # requested duration (or the API default), flagged like the other collectors do.
        duration = ci(req, "durationSeconds") or _STS_DEFAULT_S.get(name, 3600)
        expires, assumed = add_seconds(time, duration), True
    task = f"aws-session:{account}/{role}/{session}" if role and session else None
    attrs = {
        "aws_event_id": text(ci(rec, "eventID")),
        "role_session_name": session,
        "source_identity": text(ci(resp, "sourceIdentity")) or text(ci(req, "sourceIdentity")),
        "web_identity_subject": text(ci(resp, "subjectFromWebIdentityToken"))
        or (text(ci(web, "userName")) if name == "AssumeRoleWithWebIdentity" else None),
        "identity_provider": text(ci(resp, "provider")) or text(ci(web, "identityProvider")),
        "saml_subject": text(ci(resp, "subject")),
        "issued_by": caller.nhi if caller else service,
        "expires_at_assumed": assumed,
        "session_kind": session_kind,
        "managed_by": managed,
        "aliases": [a for a in (text(ci(req, "roleArn")),) if a and role and a.endswith("/" + role)] or None,
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
        attested=name == "AssumeRoleWithWebIdentity" or service is not None,
        context=base.model_copy(update={"instance": instance}) if instance else base,
        attrs=attrs,
        principal_kind=kind,
        kind_evidence=evidence,
    )


def _last(arn: str | None) -> str | None:
    return arn.rsplit("/", 1)[-1] if arn and "/" in arn else None
