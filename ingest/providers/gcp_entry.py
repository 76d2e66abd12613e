"""One GCP audit LogEntry read once, and the identity helpers shared by the GCP rules."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from contract.events import Event, EventType
from contract.identity import KIND_EVIDENCE, MACHINE, MANAGED_BY, PRINCIPAL_KIND
from ingest.parsing import ParseContext
from ingest.toolkit.build import new_event, no_time, record_hash
from ingest.toolkit.fields import as_dict, as_int, as_list, text
from ingest.toolkit.times import parse_time

SOURCE = "gcp-audit"
_SA_PROJECT = re.compile(r"^[^@]+@(?P<project>[a-z][-a-z0-9]*)\.iam\.gserviceaccount\.com$")
_UNIQUE_ID = re.compile(r"^\d{6,30}$")
# Google-managed service agents (https://cloud.google.com/iam/docs/service-agents): they live in
# Google's projects, not the customer's, and act for a Google service. Their addresses are
# service-PROJECT_NUMBER@SERVICE.iam.gserviceaccount.com (gcp-sa-*, compute-system,
# container-engine-robot, gs-project-accounts, serverless-robot-prod ...; service-org-/service-folder-
# for organisation and folder agents), PROJECT_NUMBER@cloudservices.gserviceaccount.com (the Google
# APIs service agent) and Google's own @system.gserviceaccount.com. The default accounts Google
# creates in the customer's project (PROJECT_NUMBER-compute@developer..., PROJECT_ID@appspot...,
# PROJECT_NUMBER@cloudbuild...) are user-managed: the customer's, not the provider's.
_SERVICE_AGENT = re.compile(
    r"^(service-(org-|folder-)?\d+@[a-z0-9.-]+\.iam\.gserviceaccount\.com"
    r"|[^@]+@gcp-sa-[a-z0-9-]+\.iam\.gserviceaccount\.com"
    r"|\d+@cloudservices\.gserviceaccount\.com"
    r"|[^@]+@system\.gserviceaccount\.com)$"
)


def principal_of(pp: dict[str, Any]) -> str:
    ai = as_dict(pp.get("authenticationInfo"))
    p = text(ai.get("principalEmail")) or text(ai.get("principalSubject")) or ""
    for prefix in ("serviceAccount:", "user:"):
        if p.startswith(prefix):
            p = p[len(prefix) :]
    return p


def is_service_account(principal: str) -> bool:
    return principal.endswith(".gserviceaccount.com")


def is_service_agent(account: str) -> bool:
    """A Google-managed service agent: owned by Google, never the customer's unowned identity."""
    return _SERVICE_AGENT.match(account.lower()) is not None


def account_in(path: str) -> str:
    """The service account a resource path names: ``projects/P/serviceAccounts/X[/keys/K]`` with X
    an e-mail or a numeric unique id. A path whose segment after ``serviceAccounts`` is neither
    (``serviceAccounts/users/alice@example.com``) names the e-mail further on, never the word."""
    parts = path.split("/")
    if "serviceAccounts" not in parts[:-1]:
        return ""
    rest = parts[parts.index("serviceAccounts") + 1 :]
    first = rest[0]
    if "@" in first or _UNIQUE_ID.match(first):
        return first
    return next((p for p in rest[1:] if "@" in p), "")


def delegation(pp: dict[str, Any]) -> list[str]:
    chain: list[str] = []
    for d in as_list(as_dict(pp.get("authenticationInfo")).get("serviceAccountDelegationInfo")):
        d = as_dict(d)
        for side in ("firstPartyPrincipal", "thirdPartyPrincipal"):
            who = text(as_dict(d.get(side)).get("principalEmail"))
            if who:
                chain.append(who)
        subject = text(d.get("principalSubject"))
        if subject:
            chain.append(subject)
    chain.extend(
        found
        for x in as_list(as_dict(pp.get("metadata")).get("identityDelegationChain"))
        if (found := text(x))
    )
    return chain


def last_segment(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if path else ""


def after(path: str, marker: str) -> str:
    """The path segment after ``marker``: ``serviceAccounts`` in projects/p/serviceAccounts/X/keys/K."""
    parts = path.split("/")
    return parts[parts.index(marker) + 1] if marker in parts[:-1] else ""


class Entry:
    """One LogEntry, read once."""

    def __init__(self, entry: dict[str, Any], ctx: ParseContext) -> None:
        self.entry, self.ctx = entry, ctx
        self.pp = as_dict(entry.get("protoPayload"))
        self.labels = as_dict(as_dict(entry.get("resource")).get("labels"))
        self.meta = as_dict(self.pp.get("requestMetadata"))
        self.method_name = text(self.pp.get("methodName")) or ""
        self.method = last_segment(self.method_name.replace(".", "/"))
        self.service = text(self.pp.get("serviceName")) or ""
        self.principal = principal_of(self.pp)
        # Most entries yield no event: what only events need (time, ids, identities) is read when
        # they are (plain attributes rather than functools.cached_property, which takes a lock in 3.11).
        self._time: datetime | None = None
        self._time_read = False
        self._base_id = ""
        self._project = ""
        self._failed: bool | None = None

    @property
    def time(self) -> datetime | None:
        if not self._time_read:
            self._time = self._read_time()
            self._time_read = True
        return self._time

    def _read_time(self) -> datetime | None:
        entry = self.entry
        for value in (
            entry.get("timestamp"),
            as_dict(self.meta.get("requestAttributes")).get("time"),
            entry.get("receiveTimestamp"),
            entry.get("receivetimestamp"),
        ):
            when = parse_time(value)
            if when is not None:
                return when
        return None

    @property
    def base_id(self) -> str:
        if not self._base_id:
            entry = self.entry
            self._base_id = text(entry.get("insertId")) or text(entry.get("insertid")) or record_hash(entry)
        return self._base_id

    @property
    def project(self) -> str:
        if not self._project:
            self._project = self._read_project()
        return self._project

    def _read_project(self) -> str:
        project = text(self.labels.get("project_id")) or ""
        for path in (
            text(self.entry.get("logName")) or text(self.entry.get("logname")) or "",
            text(self.pp.get("resourceName")) or "",
        ):
            if not project and path.startswith("projects/"):
                candidate = path.split("/")[1]
                project = "" if candidate == "-" else candidate
        return project or "-"

    @property
    def failed(self) -> bool:
        if self._failed is None:
            self._failed = bool(as_int(as_dict(self.pp.get("status")).get("code"))) or any(
                as_dict(a).get("granted") is False for a in as_list(self.pp.get("authorizationInfo"))
            )
        return self._failed

    @property
    def ip(self) -> str | None:
        return text(self.meta.get("callerIp")) or text(self.meta.get("callerIP")) or None

    def at(self) -> datetime:
        when = self.time
        if when is None:
            raise no_time("GCP audit entry", "timestamp / requestAttributes.time / receiveTimestamp")
        return when

    def nhi(self, account: str) -> str:
        m = _SA_PROJECT.match(account)
        # A service agent's address names Google's project, but it acts in this entry's one.
        project = m.group("project") if m and not is_service_agent(account) else self.project
        return f"gcp:{project}/{account}"

    def event(self, kind: str, type_: EventType, **fields: Any) -> Event:
        return new_event(
            {"type": type_, "time": self.at(), "id": f"{self.base_id}/{kind}", "source": SOURCE, **fields}
        )

    def region(self) -> str | None:
        for key in ("location", "zone", "region"):
            if text(self.labels.get(key)):
                return text(self.labels.get(key))
        locations = as_list(as_dict(self.pp.get("resourceLocation")).get("currentLocations"))
        return text(locations[0]) if locations and text(locations[0]) else None

    def target_account(self) -> str:
        """The service account a call acts on: request.name, the resource label, resourceName."""
        request = as_dict(self.pp.get("request"))
        name = text(request.get("name")) or ""
        candidates = [
            account_in(name) or (last_segment(name) if "@" in last_segment(name) else ""),
            text(self.labels.get("email_id")) or "",
            account_in(text(self.pp.get("resourceName")) or ""),
        ]
        candidates = [c for c in candidates if c and c != "-"]
        return next((c for c in candidates if "@" in c), candidates[0] if candidates else "")


def account_attrs(account: str) -> dict[str, Any]:
    """What an account's address shows: a service account is a machine; a service agent is
    Google's (``managed_by``)."""
    if not is_service_account(account):
        return {}
    if is_service_agent(account):
        return {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "Google-managed service agent", MANAGED_BY: "gcp"}
    return {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "GCP service account"}


def caller_attrs(e: Entry) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if e.principal:
        attrs["caller"] = e.principal
    chain = delegation(e.pp)
    if chain:
        attrs["delegation_chain"] = chain
    if e.ip:
        # Where the request came from, not where the credential lives: kept out of context.
        attrs["requester_ip"] = e.ip
    return attrs
