"""GitHub audit log entries (streaming / REST export) -> canonical events.

One principal, one id; tokens and keys are its credentials, never identities of their own:

- a user account -> ``github:user/<login>``, whatever it authenticated with: a personal access
  token, an OAuth token or a GitHub App user-to-server token is a credential of that user
  (credential = ``token_id``, else ``hashed_token``), as is a user's SSH key;
- a GitHub App -> ``github:app/<slug>``, whether the entry names its ``integration`` (slugged the way
  GitHub slugs app names; the name as logged goes to ``attrs.aliases``) or its bot account
  ``<slug>[bot]`` acting with an installation (server-to-server) token;
- a deploy key belongs to no user (GitHub logs no actor for it): ``github:deploy/<owner>/<repo>``,
  the repository's deploy access, with the key as the credential;
- the ``github`` system actor and blank actors -> no identity (skipped, with the reason).

Kind (``principal_kind``, ``kind_evidence``): apps and bots are machines; a user is a person when
the entry shows a SAML SSO identity (``external_identity_nameid``), a web session (GitHub records
how a request authenticated whenever it came from outside the web UI, so an action with no
``programmatic_access_type`` that is not a git transfer was made in the browser) or a user-to-server
token (granted by a person in the browser); a token or key alone says nothing. ``session_kind``:
PATs, OAuth tokens, SSH and deploy keys are ``key``; the GITHUB_TOKEN of a workflow run
(``github-actions[bot]``'s installation token) ``workload``. GitHub's own apps (Actions, Dependabot,
secret scanning, Copilot...) are ``managed_by = "github"``.

What happened: the actor's ``credential.used`` (action = ``action``, resource = repo), plus PAT,
OAuth and SSH/deploy-key creation / deletion -> ``credential.issued`` / ``credential.revoked`` of
the owning principal; GitHub App installation -> ``identity.registered`` with the installing user as
creator and owner (``owner_source = creator``: the person who let the app into the org answers
for it) and uninstallation -> ``identity.deleted``; workflow runs -> ``task.started`` /
``task.ended`` ``ci:run/<repo>/<workflow_run_id>``. Installation tokens are minted hourly and never
audited, so their issuance cannot be shown; their use can.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Context, Event, EventType
from contract.identity import (
    ALIASES,
    CREATED_BY,
    HUMAN,
    KIND_EVIDENCE,
    MACHINE,
    MANAGED_BY,
    OWNER_SOURCE,
    PRINCIPAL_KIND,
    SESSION_KIND,
    WORKLOAD,
)
from ingest.parsing import ParseContext
from ingest.toolkit.build import Emitter, make_context, record_hash, require_dict
from ingest.toolkit.fields import as_dict, text, truthy
from ingest.toolkit.times import parse_time

SOURCE = "github-audit"

_ACTION = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
# Besides ``action``, every audit entry names who or where; a bare dotted word is not enough.
_MARKERS = ("actor", "org", "repo", "business", "user", "@timestamp", "created_at", "at_sign_timestamp")
_TIME_KEYS = ("@timestamp", "at_sign_timestamp", "created_at", "timestamp")
_KEY_FIELDS = ("public_key_id", "deploy_key_id", "key_id", "pubkey_id", "fingerprint")
_SYSTEM_ACTORS = {"github", "ghost"}
# GitHub's own apps: operated by GitHub on the customer's repositories.
_GITHUB_APPS = frozenset(
    {
        "github-actions",
        "dependabot",
        "dependabot-preview",
        "github-advanced-security",
        "secret-scanning",
        "copilot",
        "copilot-swe-agent",
        "github-merge-queue",
        "github-pages",
    }
)
_SLUG = re.compile(r"[^a-z0-9]+")


class Who(NamedTuple):
    nhi: str
    credential: str | None
    attrs: dict[str, Any]  # kind, evidence, session kind, aliases, provider

    @property
    def human(self) -> bool:
        return self.attrs.get(PRINCIPAL_KIND) == HUMAN


def parse_github_audit(record: Any, ctx: ParseContext) -> list[Event]:
    rec = require_dict(record, SOURCE)
    action = text(rec.get("action"))
    if action is None:
        raise RecordRejected("GitHub audit entry has no action")
    time = None
    for k in _TIME_KEYS:
        value = rec.get(k)
        if value is not None and (time := parse_time(value)) is not None:  # absent keys cost no call
            break
    if time is None:
        raise RecordRejected(f"GitHub {action}: no usable timestamp ({', '.join(_TIME_KEYS)})")
    em = Emitter(SOURCE, ctx, "gh:" + record_hash(rec, 12))
    repo = text(rec.get("repo")) or text(rec.get("repository"))
    context = make_context(
        em.key,
        ip=rec.get("actor_ip"),
        user_agent=rec.get("user_agent"),
        region=text(as_dict(rec.get("actor_location")).get("country_code")),
    )
    who = _who(rec, repo, action)
    actor = text(rec.get("actor"))
    attrs = {
        "actor": actor,
        "org": text(rec.get("org")),
        "programmatic_access_type": text(rec.get("programmatic_access_type")),
        "oauth_application_id": text(rec.get("oauth_application_id")),
    }
    run = text(rec.get("workflow_run_id"))
    task = f"ci:run/{repo}/{run}" if repo and run and action.startswith("workflows.") else None
    if who is not None and (not action.startswith("workflows.") or rec.get("programmatic_access_type")):
        em.emit(
            EventType.CREDENTIAL_USED,
            time,
            "used",
            nhi=who.nhi,
            credential=who.credential,
            task=task,
            action=action,
            resource=repo or text(rec.get("org")),
            outcome="success",  # the audit log records actions that happened
            context=context,
            attrs={**attrs, **who.attrs},
        )
    _effects(rec, action, time, repo, who, task, context, attrs, em)
    if not em.events:
        reason = "names no actor" if not actor else f"by {actor}, changes no identity or credential"
        if actor in _SYSTEM_ACTORS:
            reason = "by GitHub's own system actor"
        raise RecordSkipped(f"GitHub {action.split('.')[0]} entry {reason}")
    return em.events


def sniff_github_audit(value: Any) -> bool:
    if not isinstance(value, dict) or "type" in value or "eventType" in value or "eventName" in value:
        return False
    action = value.get("action")
    if not isinstance(action, str) or _ACTION.match(action) is None:
        return False
    return "." in action or any(k in value for k in _MARKERS)


def slug(name: str) -> str:
    """An app name as GitHub slugs it: lower case, runs of other characters as one hyphen."""
    return _SLUG.sub("-", name.lower()).strip("-")


def _bot(actor: str | None, rec: dict[str, Any]) -> str | None:
    if actor and actor.endswith("[bot]"):
        return actor[: -len("[bot]")]
    return actor if actor and truthy(rec.get("actor_is_bot")) else None


def _app(name: str, token: str | None, evidence: str, session: str | None = None) -> Who:
    app = slug(name) or name
    attrs: dict[str, Any] = {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: evidence}
    if app != name:
        attrs[ALIASES] = [f"github:app/{name}"]
    if app in _GITHUB_APPS:
        attrs[MANAGED_BY] = "github"
    if session:
        attrs[SESSION_KIND] = session
    return Who(f"github:app/{app}", token, attrs)


def user(login: str, token: str | None, attrs: dict[str, Any]) -> Who:
    return Who(f"github:user/{login}", token, attrs)


def _person_evidence(rec: dict[str, Any], action: str, access: str) -> dict[str, Any]:
    """A user account shown to be a person by the entry; a token or key alone shows nothing."""
    if text(rec.get("external_identity_nameid")):
        return {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: "SAML SSO identity"}
    if "user-to-server" in access:
        return {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: "user-to-server token (granted in the browser)"}
    if not access and not action.startswith("git."):
        return {PRINCIPAL_KIND: HUMAN, KIND_EVIDENCE: "GitHub web session"}
    return {}


def _who(rec: dict[str, Any], repo: str | None, action: str) -> Who | None:
    actor = text(rec.get("actor"))
    token = text(rec.get("token_id")) or text(rec.get("hashed_token"))
    access = (text(rec.get("programmatic_access_type")) or "").lower().replace("_", " ")
    integration = text(rec.get("integration"))
    bot = _bot(actor, rec)
    if truthy(rec.get("actor_is_agent")) and actor:
        return _app(bot or actor, token, "coding agent")
    if integration and "user-to-server" not in access:
        return _app(integration, token, "GitHub App")
    if ("server-to-server" in access or access == "github app") and (bot or actor):
        name = bot or actor or ""
        # The GITHUB_TOKEN Actions mints for each workflow run: delivered to the workload.
        session = WORKLOAD if slug(name) == "github-actions" else None
        return _app(name, token, "GitHub App installation token", session)
    if "deploy" in access:
        key = _key_id(rec) or token
        about = {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "deploy key", SESSION_KIND: "key"}
        return Who(f"github:deploy/{repo or 'unknown'}", key, about) if repo else None
    if bot:
        return _app(bot, token, "GitHub App bot account")
    if not actor or actor in _SYSTEM_ACTORS:
        return None
    attrs = _person_evidence(rec, action, access)
    if any(k in access for k in ("personal", "oauth", "ssh")) or access == "pat":
        attrs[SESSION_KIND] = "key"  # a long-lived token or key the user holds
    elif "user-to-server" in access or attrs:
        attrs[SESSION_KIND] = "person"
    return user(actor, token, attrs)


def _key_id(rec: dict[str, Any]) -> str | None:
    data = as_dict(rec.get("data"))
    for key in _KEY_FIELDS:
        found = text(rec.get(key)) or text(data.get(key))
        if found:
            return found
    return None


def _effects(
    rec: dict[str, Any],
    action: str,
    time: datetime,
    repo: str | None,
    who: Who | None,
    task: str | None,
    context: Context,
    attrs: dict[str, Any],
    em: Emitter,
) -> None:
    family, _, verb = action.rpartition(".")
    created = verb in ("create", "access_granted", "add")
    removed = verb in ("destroy", "delete", "remove", "revoke", "access_revoked")
    changed = {**attrs, "changed_by": who.nhi if who else None}
    owner_login = text(rec.get("user")) or text(rec.get("actor"))

    # The owning principal's own description, when it is the actor of this entry.
    def about(nhi: str) -> dict[str, Any]:
        return who.attrs if who is not None and who.nhi == nhi else {}

    if family in ("personal_access_token", "oauth_access", "oauth_authorization") and (created or removed):
        token = (
            text(rec.get("token_id"))
            or text(as_dict(rec.get("data")).get("token_id"))
            or text(rec.get("hashed_token"))
        )
        if token and owner_login:
            kind = "pat" if family == "personal_access_token" else "oauth"
            nhi = f"github:user/{owner_login}"  # the token is the user's credential
            facts = {**changed, **about(nhi), SESSION_KIND: "key", "token_kind": kind}
            if created:
                expires = parse_time(rec.get("token_expires_at") or rec.get("expires_at"))
                em.emit(
                    EventType.CREDENTIAL_ISSUED,
                    time,
                    "issued",
                    nhi=nhi,
                    credential=token,
                    expires_at=expires,
                    method=f"github-{kind}",
                    context=context,
                    attrs=facts,
                )
            else:
                em.emit(EventType.CREDENTIAL_REVOKED, time, "revoked", nhi=nhi, credential=token, attrs=facts)
    elif family in ("public_key", "deploy_key") and (created or removed):
        key = _key_id(rec)
        if repo:
            # A deploy key: the repository's, not its creator's. Its creator is recorded.
            nhi = f"github:deploy/{repo}"
            facts = {
                **changed,
                PRINCIPAL_KIND: MACHINE,
                KIND_EVIDENCE: "deploy key",
                CREATED_BY: changed["changed_by"],
            }
        elif owner_login:
            nhi = f"github:user/{owner_login}"  # a user's own SSH key
            facts = {**changed, **about(nhi)}
        else:
            return
        facts[SESSION_KIND] = "key"
        if created:
            # Deploy keys and SSH keys never expire.
            em.emit(
                EventType.CREDENTIAL_ISSUED,
                time,
                "issued",
                nhi=nhi,
                credential=key,
                method="github-deploy-key" if repo else "github-ssh-key",
                context=context,
                attrs=facts,
            )
        elif key:
            em.emit(EventType.CREDENTIAL_REVOKED, time, "revoked", nhi=nhi, credential=key, attrs=facts)
    elif family == "integration_installation" and (created or removed):
        name = text(rec.get("integration")) or text(rec.get("name"))
        if name is None:
            return
        app = _app(name, None, "GitHub App")
        if created:
            installer = text(rec.get("actor"))
            # The person who let the app into the organisation answers for it: its creator here.
            creator = {CREATED_BY: who.nhi if who else None, OWNER_SOURCE: "creator" if installer else None}
            em.emit(
                EventType.IDENTITY_REGISTERED,
                time,
                "registered",
                nhi=app.nhi,
                owner=installer,
                attrs={**changed, **app.attrs, **creator},
            )
        else:
            em.emit(EventType.IDENTITY_DELETED, time, "deleted", nhi=app.nhi, attrs={**changed, **app.attrs})
    elif family == "workflows" and task:
        bot = who.nhi if who and not who.human and who.nhi.startswith("github:app/") else None
        extra = {
            **attrs,
            "workflow": text(rec.get("name")),
            "event": text(rec.get("event")),
            "head_branch": text(rec.get("head_branch")),
        }
        if verb == "created_workflow_run":
            start = parse_time(rec.get("started_at")) or time
            em.emit(
                EventType.TASK_STARTED, start, "started", nhi=bot, task=task, context=context, attrs=extra
            )
        elif verb == "completed_workflow_run":
            end = parse_time(rec.get("completed_at")) or time
            em.emit(
                EventType.TASK_ENDED,
                end,
                "ended",
                nhi=bot,
                task=task,
                attrs={**extra, "conclusion": text(rec.get("conclusion"))},
            )
