"""Who made a CloudTrail call: ``userIdentity`` -> an NHI id, or a person.

NHI ids: ``aws:<account>:role/<name>`` (every session of a role is that role; the session is the
task), ``aws:<account>:user/<name>``, ``aws:<account>:federated-user/<name>``, and
``aws:<account>:principal/<unique id>`` when only a principal id is logged.

People are ``aws:<account>:human/<name>``: root, anyone signed in to the console, IAM Identity
Center (``AWSReservedSSO_*``) sessions, and role sessions named with an e-mail address - the
session name SAML identity providers set by default. The e-mail rule is a heuristic: a SAML
session named otherwise shows up under its role. People get a separate id (not a flag on the role
or user) because the engine's human flag is sticky per identity, and a role used by both a person
and a workload must keep being judged for the workload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingest.toolkit.fields import as_dict, ci, text, truthy

_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")
_EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
_SSO_PATH = "/aws-reserved/sso.amazonaws.com/"


@dataclass(frozen=True, slots=True)
class Principal:
    nhi: str
    kind: str  # userIdentity.type as logged
    account: str
    human: bool = False
    key: str | None = None  # the access key id the call was signed with
    role: str | None = None  # for role sessions: the role's id
    task: str | None = None  # for role sessions: aws-session:<account>/<role>/<session>
    instance: str | None = None  # EC2 instance id, when the session is an instance profile's


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


def human_session(role: str, session: str | None, issuer_arn: str | None) -> bool:
    if role.startswith("AWSReservedSSO_") or (issuer_arn and _SSO_PATH in issuer_arn):
        return True
    return bool(session and _EMAIL.match(session))


def instance_of(session: str | None) -> str | None:
    return session if session and _INSTANCE.match(session) else None


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
    key = text(ci(ui, "accessKeyId"))

    def console() -> bool:  # only users and role sessions ask, so the other callers skip the reads
        return (
            event_name == "ConsoleLogin"
            or truthy(ci(rec, "sessionCredentialFromConsole"))
            or text(ci(ui, "invokedBy")) == "signin.amazonaws.com"
            or text(ci(rec, "eventType")) in ("AwsConsoleSignIn", "AwsConsoleSignin")
        )

    def person(name: str) -> Principal:
        return Principal(f"aws:{account}:human/{name}", kind or "Unknown", account, True, key)

    if kind == "Root" or arn.endswith(":root"):
        return person("root")
    if kind == "IAMUser" or ":user/" in arn:
        name = arn.rsplit("/", 1)[-1] if ":user/" in arn else text(ci(ui, "userName"))
        if name:
            return (
                person(name) if console() else Principal(f"aws:{account}:user/{name}", kind, account, key=key)
            )
    if kind == "AssumedRole" or ":assumed-role/" in arn:
        found = _role_session(ui, arn)
        if found is not None:
            role, session, issuer = found
            role_id = f"aws:{account}:role/{role}"
            if console() or human_session(role, session, issuer):
                p = person(session or role)
                return Principal(p.nhi, p.kind, account, True, key, role=role_id)
            task = f"aws-session:{account}/{role}/{session}" if session else None
            return Principal(
                role_id, kind, account, key=key, role=role_id, task=task, instance=instance_of(session)
            )
    if kind == "FederatedUser" or ":federated-user/" in arn:
        name = arn.rsplit("/", 1)[-1] if ":federated-user/" in arn else text(ci(ui, "userName"))
        if name:
            return Principal(f"aws:{account}:federated-user/{name}", kind, account, key=key)
    if kind in ("Unknown", "IdentityCenterUser") and text(ci(ui, "userName")):
        return person(text(ci(ui, "userName")) or "")  # IAM Identity Center users: people
    principal_id = text(ci(ui, "principalId"))
    if principal_id:
        return Principal(
            f"aws:{account}:principal/{principal_id.split(':', 1)[0]}", kind or "Unknown", account, key=key
        )
    return None


def _role_session(ui: dict[str, Any], arn: str) -> tuple[str, str | None, str | None] | None:
    issuer = as_dict(ci(ci(ui, "sessionContext"), "sessionIssuer"))
    issuer_arn = text(ci(issuer, "arn"))
    parsed = parse_role_arn(arn)
    if parsed is not None:
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
