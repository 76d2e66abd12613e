"""Who made a CloudTrail call: ``userIdentity`` -> one identity id, and what the call shows about it.

One principal, one id, however it is used (``<partition>:<account>:...``, the partition written as
in its ARNs: ``aws``, ``aws-us-gov``, ``aws-cn``):

- ``user/<name>`` for an IAM user, in the console or from the CLI alike;
- ``role/<name>`` for every session of a role (the session is the task: ``aws-session:...``);
- ``root`` for the account's root user; ``federated-user/<name>``; ``sso-user/<id>`` for an IAM
  Identity Center user signing in; ``principal/<unique id>`` when only a principal id is logged.

Whether a person or a machine acted is evidence on the call, not a different id: a console sign-in,
MFA, an Identity Center (SSO) or SAML session, an e-mail-shaped session name say "a person"; an
EC2 instance profile, a Lambda or ECS runtime, a service-linked role say "a machine". The engine
keeps that evidence on the identity (a machine identity a person used is a fact it records).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from contract.identity import HUMAN, MACHINE, WORKLOAD
from ingest.toolkit.fields import as_dict, ci, text, truthy

_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")
_EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
_SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
_SERVICE_LINKED_PATH = "/aws-service-role/"
# The runtime a Lambda function or an ECS task sets in its SDK's user agent (AWS_EXECUTION_ENV).
_RUNTIME = re.compile(r"exec-env/(AWS_Lambda|AWS_ECS)\w*", re.IGNORECASE)
# The EC2 instance identity credential of Systems Manager and the instance itself.
EC2_INSTANCE_ROLE = "aws:ec2-instance"


@dataclass(frozen=True, slots=True)
class Principal:
    nhi: str
    kind: str  # userIdentity.type as logged
    account: str
    partition: str = "aws"
    key: str | None = None  # the access key id the call was signed with
    role: str | None = None  # for role sessions: the role's id
    session: str | None = None  # the role session's name
    task: str | None = None  # for role sessions: aws-session:<account>/<role>/<session>
    instance: str | None = None  # EC2 instance id, when the session is an instance profile's
    principal_kind: str | None = None  # HUMAN or MACHINE, when this call shows which
    kind_evidence: str | None = None
    session_kind: str | None = None  # contract.identity.SESSION_KINDS
    managed_by: str | None = None  # "aws" for a service-linked role

    @property
    def human(self) -> bool:
        return self.principal_kind == HUMAN


def partition_of(arn: str | None) -> str | None:
    """The partition of an ARN (``aws``, ``aws-us-gov``, ``aws-cn``), or None."""
    if arn and arn.startswith("arn:"):
        part = arn.split(":", 2)[1]
        return part or None
    return None


def record_partition(rec: dict[str, Any]) -> str:
    """The partition a record's identities live in: from the caller's ARN, else the region."""
    ui = as_dict(ci(rec, "userIdentity"))
    found = partition_of(text(ci(ui, "arn"))) or partition_of(
        text(ci(ci(ci(ui, "sessionContext"), "sessionIssuer"), "arn"))
    )
    if found:
        return found
    region = text(ci(rec, "awsRegion")) or ""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def parse_role_arn(arn: str | None) -> tuple[str, str, str | None] | None:
    """(account, role name, session) from a role or assumed-role ARN; the IAM path is dropped,
    since assumed-role ARNs never carry it and both must name the same role."""
    if not arn or not arn.startswith("arn:"):
        return None
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[4]:
        return None
    account, resource = parts[4], parts[5]
    if resource.startswith("role/"):
        name = resource.rsplit("/", 1)[-1]
        return (account, name, None) if name else None
    if resource.startswith("assumed-role/"):
        segments = resource.split("/")
        if len(segments) < 2 or not segments[1]:
            return None
        return account, segments[1], "/".join(segments[2:]) or None
    return None


def human_session(role: str, session: str | None, issuer_arn: str | None) -> str | None:
    """Why a role session is a person's, or None: an Identity Center (SSO) role, or a session named
    with an e-mail address (what SAML identity providers set by default)."""
    if role.startswith("AWSReservedSSO_") or (issuer_arn and _SSO_PATH in issuer_arn):
        return "IAM Identity Center (SSO) session"
    if session and _EMAIL.match(session):
        return "role session named with an e-mail address (a person's federated session)"
    return None


def service_linked(role: str, arn: str | None) -> bool:
    return role.startswith("AWSServiceRoleFor") or bool(arn and _SERVICE_LINKED_PATH in arn)


def instance_of(session: str | None) -> str | None:
    return session if session and _INSTANCE.match(session) else None


def workload_runtime(user_agent: str | None) -> str | None:
    """'AWS_Lambda' or 'AWS_ECS' when the SDK that called says it runs there."""
    m = _RUNTIME.search(user_agent) if user_agent else None
    return m.group(1) if m else None


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return (parts[4] or None) if len(parts) == 6 and parts[0] == "arn" else None


def resolve_caller(rec: dict[str, Any], event_name: str) -> Principal | None:
    """The identity that made the call, or None when no identity of the account did (an AWS
    service acting for itself, a web-identity or SAML caller that has no AWS credential yet)."""
    ui = as_dict(ci(rec, "userIdentity"))
    kind = text(ci(ui, "type")) or ""
    arn = text(ci(ui, "arn")) or ""
    if kind in ("AWSService", "WebIdentityUser", "SAMLUser"):
        return None
    account = _arn_account(arn) or text(ci(ui, "accountId")) or text(ci(rec, "recipientAccountId"))
    if account is None:
        return None
    part = partition_of(arn) or record_partition(rec)
    key = text(ci(ui, "accessKeyId"))
    base = f"{part}:{account}"

    def console() -> bool:  # only users and role sessions ask, so the other callers skip the reads
        return (
            event_name == "ConsoleLogin"
            or truthy(ci(rec, "sessionCredentialFromConsole"))
            or text(ci(ui, "invokedBy")) == "signin.amazonaws.com"
            or text(ci(rec, "eventType")) in ("AwsConsoleSignIn", "AwsConsoleSignin")
        )

    if kind == "Root" or arn.endswith(":root"):
        how = "console sign-in" if console() else "access key"
        return Principal(
            f"{base}:root",
            kind or "Root",
            account,
            part,
            key,
            principal_kind=HUMAN,
            kind_evidence=f"the account's root user ({how})",
            session_kind="person" if console() else "key",
        )
    if kind == "IAMUser" or ":user/" in arn:
        name = arn.rsplit("/", 1)[-1] if ":user/" in arn else text(ci(ui, "userName"))
        if name:
            return _iam_user(rec, ui, f"{base}:user/{name}", kind, account, part, key, console())
    if kind == "AssumedRole" or ":assumed-role/" in arn:
        found = _role_session(ui, arn)
        if found is not None:
            return _role_caller(rec, ui, base, kind, account, part, key, found, console())
    if kind == "FederatedUser" or ":federated-user/" in arn:
        name = arn.rsplit("/", 1)[-1] if ":federated-user/" in arn else text(ci(ui, "userName"))
        if name:
            return Principal(
                f"{base}:federated-user/{name}", kind, account, part, key, session_kind="assumed"
            )
    if kind in ("IdentityCenterUser", "Unknown"):
        person = text(ci(ci(ui, "onBehalfOf"), "userId")) or text(ci(ui, "userName"))
        if person:
            return Principal(
                f"{base}:sso-user/{person}",
                kind,
                account,
                part,
                None,  # a sign-in's credentialId is not an access key
                principal_kind=HUMAN,
                kind_evidence="IAM Identity Center user",
                session_kind="person",
            )
    principal_id = text(ci(ui, "principalId"))
    if principal_id:
        return Principal(
            f"{base}:principal/{principal_id.split(':', 1)[0]}", kind or "Unknown", account, part, key
        )
    return None


def _iam_user(
    rec: dict[str, Any],
    ui: dict[str, Any],
    nhi: str,
    kind: str,
    account: str,
    part: str,
    key: str | None,
    console: bool,
) -> Principal:
    mfa = truthy(ci(ci(ci(ui, "sessionContext"), "attributes"), "mfaAuthenticated"))
    person = "console sign-in" if console else "signed in with MFA" if mfa else None
    if person is not None:
        return Principal(
            nhi, kind, account, part, key, principal_kind=HUMAN, kind_evidence=person, session_kind="person"
        )
    runtime = workload_runtime(text(ci(rec, "userAgent")))
    if runtime:
        evidence = f"access key used by an SDK in {runtime.replace('AWS_', '')}"
        return Principal(
            nhi, kind, account, part, key, principal_kind=MACHINE, kind_evidence=evidence, session_kind="key"
        )
    return Principal(nhi, kind, account, part, key, session_kind="key")


def _role_caller(
    rec: dict[str, Any],
    ui: dict[str, Any],
    base: str,
    kind: str,
    account: str,
    part: str,
    key: str | None,
    found: tuple[str, str | None, str | None],
    console: bool,
) -> Principal:
    role, session, issuer = found
    role_id = f"{base}:role/{role}"
    task = f"aws-session:{account}/{role}/{session}" if session else None
    common: dict[str, Any] = {"role": role_id, "session": session, "task": task}
    person = human_session(role, session, issuer) or ("console session" if console else None)
    if person is not None:
        return Principal(
            role_id,
            kind,
            account,
            part,
            key,
            principal_kind=HUMAN,
            kind_evidence=person,
            session_kind="person",
            **common,
        )
    delivered = text(ci(ci(ui, "sessionContext"), "ec2RoleDelivery"))
    instance = instance_of(session)
    if role == EC2_INSTANCE_ROLE or delivered or instance:
        how = f"EC2 instance profile of {instance}" if instance else "EC2 instance credentials"
        if delivered:
            how += f" (instance metadata service {delivered})"
        return Principal(
            role_id,
            kind,
            account,
            part,
            key,
            instance=instance,
            principal_kind=MACHINE,
            kind_evidence=how,
            session_kind=WORKLOAD,
            **common,
        )
    if service_linked(role, issuer):
        return Principal(
            role_id,
            kind,
            account,
            part,
            key,
            principal_kind=MACHINE,
            kind_evidence="service-linked role",
            session_kind="service",
            managed_by="aws",
            **common,
        )
    runtime = workload_runtime(text(ci(rec, "userAgent")))
    if runtime:
        where = "Lambda function" if runtime == "AWS_Lambda" else "ECS task"
        return Principal(
            role_id,
            kind,
            account,
            part,
            key,
            principal_kind=MACHINE,
            kind_evidence=f"role session of a {where}",
            session_kind=WORKLOAD,
            **common,
        )
    return Principal(role_id, kind, account, part, key, session_kind="assumed", **common)


def _role_session(ui: dict[str, Any], arn: str) -> tuple[str, str | None, str | None] | None:
    issuer = as_dict(ci(ci(ui, "sessionContext"), "sessionIssuer"))
    issuer_arn = text(ci(issuer, "arn"))
    parsed = parse_role_arn(arn)
    if parsed is not None and (parsed[2] is not None or not issuer):
        return parsed[1], parsed[2], issuer_arn
    role = (
        text(ci(issuer, "userName"))
        or (parse_role_arn(issuer_arn) or ("", "", None))[1]
        or text(ci(ui, "userName"))
    )
    if not role:
        return None
    principal_id = text(ci(ui, "principalId")) or ""
    session = principal_id.split(":", 1)[1] if ":" in principal_id else None
    return role, session or None, issuer_arn
