"""The parts of a Detection Finding that describe who and what: resources, evidences, observables.

- ``resources``: the NHI (owner as an OCSF ``user`` with name and uid) and its credential.
- ``evidences``: one per cited event; the NHI acting is ``actor.user`` with ``type_id`` 4
  (Service); the event's source IP is ``src_endpoint.ip`` and what it acted on is a resource.
- ``observables``: pivots into the record (OCSF observable ``name`` is the attribute's path):
  the NHI (Resource UID 10, and User uid 31), the credential (User Credential ID 19), every IP
  (IP Address 2) and every resource acted on (Resource UID 10).

The type ids are those of the OCSF 1.8.0 dictionary (tests/test_ocsf_schema.py records them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerts.context import NhiContext
from contract.records import Finding
from store.evidence import EvidenceEvent

USER_TYPE_SERVICE = (4, "Service")
ROLE_TARGET = (1, "Target")  # resource_details.role_id: the subject of the finding (or of the event)
ROLE_RELATED = (4, "Related")
OBSERVABLE_IP = (2, "IP Address")
OBSERVABLE_RESOURCE_UID = (10, "Resource UID")
OBSERVABLE_CREDENTIAL = (19, "User Credential ID")
OBSERVABLE_USER_UID = 31  # user.uid; the dictionary gives it no caption of its own


def service_user(nhi: str) -> dict[str, Any]:
    type_id, type_name = USER_TYPE_SERVICE
    return {"uid": nhi, "name": nhi, "type_id": type_id, "type": type_name}


def owner_user(owner: str) -> dict[str, Any]:
    """The accountable owner: a person (an email address) or a team (anything else)."""
    type_id, type_name = (1, "User") if "@" in owner else (99, "Team")
    return {"uid": owner, "name": owner, "type_id": type_id, "type": type_name}


def resources(f: Finding, ctx: NhiContext) -> list[dict[str, Any]]:
    labels = [f"{k}:{v}" for k, v in (("namespace", ctx.namespace), ("cluster", ctx.cluster)) if v]
    nhi: dict[str, Any] = {
        "uid": f.nhi,
        "name": f.nhi,
        "type": "Non-Human Identity",
        "role_id": ROLE_TARGET[0],
        "role": ROLE_TARGET[1],
        "labels": labels,
    }
    if ctx.owner:
        nhi["owner"] = owner_user(ctx.owner)
    if ctx.namespace:
        nhi["namespace"] = ctx.namespace
    data = {
        k: v for k, v in (("owner_status", ctx.owner_status), ("trust_score", ctx.trust)) if v is not None
    }
    if data:
        nhi["data"] = data
    out = [nhi]
    if f.credential:
        cred: dict[str, Any] = {
            "uid": f.credential,
            "name": f.credential,
            "type": "Credential",
            "role_id": ROLE_RELATED[0],
            "role": ROLE_RELATED[1],
        }
        if f.task:
            cred["data"] = {"task": f.task}
        out.append(cred)
    return out


def _event_data(e: EvidenceEvent) -> dict[str, Any]:
    fields = {
        "type": e.type, "time": e.time.isoformat(), "credential": e.credential, "task": e.task,
        "action": e.action, "outcome": e.outcome, "source": e.source, "node": e.node,
        "pod_uid": e.pod_uid, "user_agent": e.user_agent,
    }  # fmt: skip
    return {k: v for k, v in fields.items() if v is not None}


def evidences(f: Finding, events: Sequence[EvidenceEvent]) -> list[dict[str, Any]]:
    """One evidence object per cited event id, in the finding's order (the first is the cause)."""
    known = {e.id: e for e in events}
    user = service_user(f.nhi)
    out = []
    for i, eid in enumerate(f.evidence):
        ev: dict[str, Any] = {
            "uid": eid,
            "name": "cause" if i == 0 else "evidence",
            "actor": {"user": user},
            "data": {"event_id": eid, "nhi": f.nhi},
        }
        e = known.get(eid)
        if e is not None:
            ev["data"].update(_event_data(e))
            if e.ip:
                ev["src_endpoint"] = {"ip": e.ip}
            if e.resource:
                ev["resources"] = [
                    {"uid": e.resource, "name": e.resource, "role_id": ROLE_TARGET[0], "role": ROLE_TARGET[1]}
                ]
        out.append(ev)
    return out


def _detail_ips(record: dict[str, Any]) -> list[tuple[str, str]]:
    """IPs a context-drift finding names in its details (issued to / used from)."""
    details = record.get("unmapped", {}).get("details") or {}
    if details.get("attribute") != "ip":
        return []
    return [(f"unmapped.details.{k}", str(details[k])) for k in ("issued", "used") if details.get(k)]


def observables(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's pivots, each once per (type, value), pointing at where the value sits."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()

    def add(name: str, type_id: int, type_name: str | None, value: str) -> None:
        if (type_id, value) in seen:
            return
        seen.add((type_id, value))
        obs: dict[str, Any] = {"name": name, "type_id": type_id, "value": value}
        if type_name:
            obs["type"] = type_name
        out.append(obs)

    res = record["resources"]
    add("resources[0].uid", *OBSERVABLE_RESOURCE_UID, res[0]["uid"])
    if record["evidences"]:
        add("evidences[0].actor.user.uid", OBSERVABLE_USER_UID, None, res[0]["uid"])
    if len(res) > 1:
        add("resources[1].uid", *OBSERVABLE_CREDENTIAL, res[1]["uid"])
    for i, ev in enumerate(record["evidences"]):
        if ip := ev.get("src_endpoint", {}).get("ip"):
            add(f"evidences[{i}].src_endpoint.ip", *OBSERVABLE_IP, ip)
        for j, r in enumerate(ev.get("resources", ())):
            add(f"evidences[{i}].resources[{j}].uid", *OBSERVABLE_RESOURCE_UID, r["uid"])
    for name, ip in _detail_ips(record):
        add(name, *OBSERVABLE_IP, ip)
    return out
