"""GitHub audit log entries (streaming / REST export) -> canonical events.

Who acted, in order of evidence:

- ``integration`` named -> ``github:app/<integration>`` (a GitHub App acted, maybe for a user).
- ``programmatic_access_type`` -> the credential kind: server-to-server (installation) token of a
  bot -> ``github:bot/<name>``; personal access token -> ``github:pat/<actor>/<token_id>``; OAuth
  token -> ``github:oauth/<actor>/<token_id>``; deploy key -> ``github:deploy-key/<repo>/<key id>``.
  The credential is ``token_id`` (else ``hashed_token``, already a hash) or the key id. A GitHub App
  user-to-server token is a person working through an app: a person.
- A ``[bot]`` actor (or ``actor_is_bot``) -> ``github:bot/<name>``.
- Anyone else -> ``github:human/<actor>`` with ``attrs.principal_kind = "human"``; the ``github``
  system actor and blank actors -> no identity.

What happened: the actor's ``credential.used`` (action = ``action``, resource = repo), plus PAT,
OAuth and deploy-key creation / deletion -> ``credential.issued`` / ``credential.revoked`` (deploy
key deletion is also ``identity.deleted``: the key is the identity); GitHub App installation ->
``identity.registered`` with the installing user as owner (the person who let the app into the
org is who answers for it) and uninstallation -> ``identity.deleted``; workflow runs ->
``task.started`` / ``task.ended`` ``ci:run/<repo>/<workflow_run_id>``. Installation tokens are
minted hourly and never audited, so their issuance cannot be shown; their use can.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from contract.errors import RecordRejected
from contract.events import Context, Event, EventType
from ingest.parsing import ParseContext
from ingest.toolkit.build import Emitter, make_context, record_hash, require_dict
from ingest.toolkit.fields import as_dict, text, truthy
from ingest.toolkit.times import parse_time

SOURCE = "github-audit"

_ACTION = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
# Besides ``action``, every audit entry names who or where; a bare dotted word is not enough.
_MARKERS = ("actor", "org", "repo", "business", "user", "@timestamp", "created_at", "at_sign_timestamp")
_TIME_KEYS = ("@timestamp", "at_sign_timestamp", "created_at", "timestamp")
_KEY_FIELDS = ("public_key_id", "deploy_key_id", "key_id", "fingerprint")
_SYSTEM_ACTORS = {"github", "ghost"}

Who = tuple[str, bool, str | None]  # nhi, is a person, credential


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
    who = _who(rec, repo)
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
            nhi=who[0],
            credential=who[2],
            task=task,
            action=action,
            resource=repo or text(rec.get("org")),
            outcome="success",  # the audit log records actions that happened
            context=context,
            attrs=attrs,
            human=who[1],
        )
    _effects(rec, action, time, repo, who, task, context, attrs, em)
    return em.events


def sniff_github_audit(value: Any) -> bool:
    if not isinstance(value, dict) or "type" in value or "eventType" in value or "eventName" in value:
        return False
    action = value.get("action")
    if not isinstance(action, str) or _ACTION.match(action) is None:
        return False
    return "." in action or any(k in value for k in _MARKERS)


def _bot(actor: str | None, rec: dict[str, Any]) -> str | None:
    if actor and actor.endswith("[bot]"):
        return actor[: -len("[bot]")]
    return actor if actor and truthy(rec.get("actor_is_bot")) else None


def _who(rec: dict[str, Any], repo: str | None) -> Who | None:
    actor = text(rec.get("actor"))
    token = text(rec.get("token_id")) or text(rec.get("hashed_token"))
    access = (text(rec.get("programmatic_access_type")) or "").lower().replace("_", " ")
    integration = text(rec.get("integration"))
    bot = _bot(actor, rec)
    if integration:
        return f"github:app/{integration}", False, token
    if "user-to-server" in access and actor:
        return f"github:human/{actor}", True, token
    if ("server-to-server" in access or access == "github app") and (bot or actor):
        return (f"github:bot/{bot}", False, token) if bot else (f"github:app/{actor}", False, token)
    if "deploy" in access:
        key = _key_id(rec)
        return f"github:deploy-key/{repo or 'unknown'}" + (f"/{key}" if key else ""), False, key
    if ("personal" in access or access == "pat") and actor:
        return f"github:pat/{actor}" + (f"/{token}" if token else ""), False, token
    if "oauth" in access and actor:
        return f"github:oauth/{actor}" + (f"/{token}" if token else ""), False, token
    if bot:
        return f"github:bot/{bot}", False, token
    if actor and actor not in _SYSTEM_ACTORS:
        return f"github:human/{actor}", True, token
    return None


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
    changed = {**attrs, "changed_by": who[0] if who else None}
    owner_login = text(rec.get("user")) or text(rec.get("actor"))
    if family in ("personal_access_token", "oauth_access", "oauth_authorization") and (created or removed):
        token = (
            text(rec.get("token_id"))
            or text(as_dict(rec.get("data")).get("token_id"))
            or text(rec.get("hashed_token"))
        )
        if token and owner_login:
            kind = "pat" if family == "personal_access_token" else "oauth"
            nhi = f"github:{kind}/{owner_login}/{token}"
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
                    attrs=changed,
                )
            else:
                em.emit(
                    EventType.CREDENTIAL_REVOKED, time, "revoked", nhi=nhi, credential=token, attrs=changed
                )
    elif family in ("public_key", "deploy_key") and (created or removed):
        key = _key_id(rec)
        if repo:
            nhi, human = f"github:deploy-key/{repo}" + (f"/{key}" if key else ""), False
        elif owner_login:
            nhi, human = f"github:human/{owner_login}", True  # a user's own SSH key
        else:
            return
        if created:
            # Deploy keys and SSH keys never expire.
            em.emit(
                EventType.CREDENTIAL_ISSUED,
                time,
                "issued",
                nhi=nhi,
                credential=key,
                method="github-deploy-key",
                context=context,
                attrs=changed,
                human=human,
            )
        else:
            if key:
                em.emit(
                    EventType.CREDENTIAL_REVOKED,
                    time,
                    "revoked",
                    nhi=nhi,
                    credential=key,
                    attrs=changed,
                    human=human,
                )
            if not human:
                em.emit(EventType.IDENTITY_DELETED, time, "deleted", nhi=nhi, attrs=changed)
    elif family == "integration_installation" and (created or removed):
        app = text(rec.get("integration")) or text(rec.get("name"))
        if app is None:
            return
        nhi = f"github:app/{app}"
        if created:
            owner = text(rec.get("actor"))
            em.emit(
                EventType.IDENTITY_REGISTERED,
                time,
                "registered",
                nhi=nhi,
                owner=owner,
                attrs={**changed, "owner_source": "installer" if owner else None},
            )
        else:
            em.emit(EventType.IDENTITY_DELETED, time, "deleted", nhi=nhi, attrs=changed)
    elif family == "workflows" and task:
        bot = who[0] if who and not who[1] else None
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
