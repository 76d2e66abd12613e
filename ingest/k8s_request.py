"""One Kubernetes audit request, read once into typed fields (shared by the k8s rules and GKE)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.events import Event, EventType
from ingest.fieldutil import as_dict, as_int, as_list, as_str, first_str, new_event, no_time, record_id
from ingest.parsing import ParseContext
from ingest.timeparse import parse_time

SOURCE = "k8s-audit"
SA_PREFIX = "system:serviceaccount:"
NODE_PREFIX = "system:node:"
_TIME_FIELDS = ("requestReceivedTimestamp", "stageTimestamp", "timestamp")


def normalize_key(key: str) -> str:
    """``authentication_kubernetes_io_slash_pod-name`` (Panther's rewrite) -> the real key."""
    if "_slash_" in key:
        prefix, _, rest = key.partition("_slash_")
        key = prefix.replace("_", ".") + "/" + rest
    return key


def extras(user: dict[str, Any]) -> dict[str, str]:
    return {
        normalize_key(k): first_str(v) for k, v in as_dict(user.get("extra")).items() if isinstance(k, str)
    }


def sa_of(username: str) -> tuple[str, str] | None:
    """('NS', 'NAME') for ``system:serviceaccount:NS:NAME``."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX) :].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


@dataclass(slots=True)
class Request:
    """One audited request, read once; the per-resource rules build events from it."""

    ev: dict[str, Any]
    ctx: ParseContext
    cluster: str
    source: str
    audit_id: str
    time: datetime | None
    verb: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int | None
    username: str
    ip: str | None
    user_agent: str | None
    # GKE entries carry no user.extra at all: an absent credential id says nothing about legacy tokens.
    extras_known: bool = True
    time_fields: str = "requestReceivedTimestamp / stageTimestamp / timestamp"
    _record_id: str = field(default="", init=False)

    @property
    def base_id(self) -> str:
        """auditID, else a hash of the event: computed only for requests that yield events."""
        if self.audit_id:
            return self.audit_id
        if not self._record_id:
            self._record_id = record_id(self.ev)
        return self._record_id

    @property
    def ok(self) -> bool:
        """The request succeeded (or its status was not logged, as in trimmed test records)."""
        if self.code is not None:
            return self.code < 400
        return as_str(as_dict(self.ev.get("annotations")).get("authorization.k8s.io/decision")) != "forbid"

    @property
    def outcome(self) -> str | None:
        if self.code is None:
            decision = as_str(as_dict(self.ev.get("annotations")).get("authorization.k8s.io/decision"))
            return "failure" if decision == "forbid" else None
        return "failure" if self.code >= 400 else "success"

    def obj(self, which: str) -> dict[str, Any]:
        return as_dict(self.ev.get(which))

    def objects(self) -> list[dict[str, Any]]:
        """requestObject then responseObject (whichever were logged)."""
        return [o for o in (self.obj("requestObject"), self.obj("responseObject")) if o]

    def at(self) -> datetime:
        if self.time is None:
            raise no_time(f"{self.source} record", self.time_fields)
        return self.time

    def event(self, kind: str, type_: EventType, **fields: Any) -> Event:
        return new_event(
            {
                "type": type_,
                "time": self.at(),
                "id": f"{self.base_id}/{kind}",
                "source": self.source,
                **fields,
            }
        )

    def nhi(self, namespace: str, name: str) -> str:
        return f"k8s:{self.cluster}/{namespace}/{name}"

    def pod_task(self, namespace: str, pod: str) -> str:
        return f"pod:{self.cluster}/{namespace}/{pod}"


def read_request(
    ev: dict[str, Any],
    ctx: ParseContext,
    cluster: str,
    *,
    source: str = SOURCE,
    fallback_time: datetime | None = None,
    extras_known: bool = True,
) -> Request:
    ref = as_dict(ev.get("objectRef"))
    when = None
    for f in _TIME_FIELDS:
        value = ev.get(f)
        if value is not None and (when := parse_time(value)) is not None:  # absent: no call
            break
    audit_id = as_str(ev.get("auditID"))
    ips = [s for s in as_list(ev.get("sourceIPs")) if isinstance(s, str) and s.strip()]
    status = as_dict(ev.get("responseStatus"))
    return Request(
        ev=ev,
        ctx=ctx,
        cluster=cluster,
        source=source,
        audit_id=audit_id,
        time=when or fallback_time,
        verb=as_str(ev.get("verb")).lower(),
        resource=as_str(ref.get("resource")),
        subresource=as_str(ref.get("subresource")),
        namespace=as_str(ref.get("namespace")),
        name=as_str(ref.get("name")),
        code=as_int(status.get("code")),
        username=as_str(as_dict(ev.get("user")).get("username")),
        ip=ips[0].strip() if ips else None,
        user_agent=as_str(ev.get("userAgent")) or None,
        extras_known=extras_known,
    )
