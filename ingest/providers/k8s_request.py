"""One Kubernetes audit request, read once into typed fields (shared by the k8s rules and GKE)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contract.events import Event, EventType
from contract.identity import KIND_EVIDENCE, MACHINE, MANAGED_BY, PRINCIPAL_KIND
from ingest.parsing import ParseContext
from ingest.toolkit.build import new_event, no_time, record_hash
from ingest.toolkit.fields import as_dict, as_int, first_text, text
from ingest.toolkit.times import parse_time

SOURCE = "k8s-audit"
SA_PREFIX = "system:serviceaccount:"
NODE_PREFIX = "system:node:"
# The service accounts kube-controller-manager runs its controllers as (--use-service-account-
# credentials; the names in kubernetes cmd/kube-controller-manager/names), and the add-ons every
# distribution installs in kube-system: the cluster's own machinery, managed by Kubernetes.
CONTROL_PLANE_ACCOUNTS = frozenset(
    {
        "attachdetach-controller",
        "bootstrap-signer",
        "certificate-controller",
        "clusterrole-aggregation-controller",
        "cronjob-controller",
        "daemon-set-controller",
        "deployment-controller",
        "disruption-controller",
        "endpoint-controller",
        "endpointslice-controller",
        "endpointslicemirroring-controller",
        "ephemeral-volume-controller",
        "expand-controller",
        "generic-garbage-collector",
        "horizontal-pod-autoscaler",
        "job-controller",
        "legacy-service-account-token-cleaner",
        "namespace-controller",
        "node-controller",
        "persistent-volume-binder",
        "pod-garbage-collector",
        "pv-protection-controller",
        "pvc-protection-controller",
        "replicaset-controller",
        "replication-controller",
        "resourcequota-controller",
        "root-ca-cert-publisher",
        "route-controller",
        "service-account-controller",
        "service-controller",
        "statefulset-controller",
        "token-cleaner",
        "ttl-after-finished-controller",
        "ttl-controller",
        "validatingadmissionpolicy-status-controller",
        "kube-proxy",
        "coredns",
        "kube-dns",
    }
)


# GKE runs its own agents in gke-* namespaces (gke-system, gke-managed-*, gke-gmp-system) and as
# gke-* accounts in kube-system (gke-metrics-agent...): Google's, like its service agents.
_GKE_NAMESPACE = "gke-"


def account_attrs(namespace: str, name: str) -> dict[str, str]:
    """What a service account's name shows: a machine; the control plane's own is Kubernetes'."""
    if namespace == "kube-system" and name in CONTROL_PLANE_ACCOUNTS:
        return {
            PRINCIPAL_KIND: MACHINE,
            KIND_EVIDENCE: "Kubernetes control-plane service account",
            MANAGED_BY: "kubernetes",
        }
    if namespace.startswith(_GKE_NAMESPACE) or (
        namespace == "kube-system" and name.startswith(_GKE_NAMESPACE)
    ):
        return {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "GKE system service account", MANAGED_BY: "gcp"}
    return {PRINCIPAL_KIND: MACHINE, KIND_EVIDENCE: "Kubernetes service account"}


def is_person(username: str) -> bool:
    """A requester that is neither a service account nor a ``system:`` component (nodes,
    kube-controller-manager, kube-scheduler, the apiserver itself)."""
    return bool(username) and not username.startswith("system:")


_TIME_FIELDS = ("requestReceivedTimestamp", "stageTimestamp", "timestamp")


def normalize_key(key: str) -> str:
    """``authentication_kubernetes_io_slash_pod-name`` (Panther's rewrite) -> the real key."""
    if "_slash_" in key:
        prefix, _, rest = key.partition("_slash_")
        key = prefix.replace("_", ".") + "/" + rest
    return key


def extras(user: dict[str, Any]) -> dict[str, str]:
    # normalize_key's test inlined: real apiserver keys (nearly all) need no call.
    return {
        (normalize_key(k) if "_slash_" in k else k): first_text(v) or ""
        for k, v in as_dict(user.get("extra")).items()
        if isinstance(k, str)
    }


def sa_of(username: str) -> tuple[str, str] | None:
    """('NS', 'NAME') for ``system:serviceaccount:NS:NAME``."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX) :].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


class Request:
    """One audited request; the per-resource rules build events from it.

    Most requests concern no NHI and yield nothing, so only what decides that is read up front;
    the time, status and addresses are read when an event needs them.
    """

    __slots__ = (
        "_fallback_time",
        "_record_id",
        "_time",
        "_time_read",
        "audit_id",
        "cluster",
        "ctx",
        "ev",
        "extras_known",
        "name",
        "namespace",
        "resource",
        "source",
        "subresource",
        "time_fields",
        "username",
        "verb",
    )

    def __init__(
        self,
        ev: dict[str, Any],
        ctx: ParseContext,
        cluster: str,
        *,
        source: str = SOURCE,
        fallback_time: datetime | None = None,
        extras_known: bool = True,
    ) -> None:
        self.ev, self.ctx, self.cluster, self.source = ev, ctx, cluster, source
        ref = as_dict(ev.get("objectRef"))
        self.audit_id = text(ev.get("auditID")) or ""
        self.verb = (text(ev.get("verb")) or "").lower()
        self.resource = text(ref.get("resource")) or ""
        self.subresource = text(ref.get("subresource")) or ""
        self.namespace = text(ref.get("namespace")) or ""
        self.name = text(ref.get("name")) or ""
        self.username = text(as_dict(ev.get("user")).get("username")) or ""
        # GKE entries carry no user.extra: an absent credential id says nothing about legacy tokens.
        self.extras_known = extras_known
        self.time_fields = "requestReceivedTimestamp / stageTimestamp / timestamp"
        self._fallback_time = fallback_time
        self._time: datetime | None = None
        self._time_read = False
        self._record_id = ""

    @property
    def time(self) -> datetime | None:
        if not self._time_read:
            self._time = _read_time(self.ev) or self._fallback_time
            self._time_read = True
        return self._time

    @property
    def code(self) -> int | None:
        return as_int(as_dict(self.ev.get("responseStatus")).get("code"))

    @property
    def ip(self) -> str | None:
        """The first source IP."""
        ips = self.ev.get("sourceIPs")
        if isinstance(ips, list):
            for s in ips:
                if isinstance(s, str) and s.strip():
                    return s.strip()
        return None

    @property
    def user_agent(self) -> str | None:
        return text(self.ev.get("userAgent")) or None

    @property
    def base_id(self) -> str:
        """auditID, else a hash of the event: computed only for requests that yield events."""
        if self.audit_id:
            return self.audit_id
        if not self._record_id:
            self._record_id = record_hash(self.ev)
        return self._record_id

    @property
    def ok(self) -> bool:
        """The request succeeded (or its status was not logged, as in trimmed test records)."""
        code = self.code
        if code is not None:
            return code < 400
        return text(as_dict(self.ev.get("annotations")).get("authorization.k8s.io/decision")) != "forbid"

    @property
    def outcome(self) -> str | None:
        code = self.code
        if code is None:
            decision = text(as_dict(self.ev.get("annotations")).get("authorization.k8s.io/decision"))
            return "failure" if decision == "forbid" else None
        return "failure" if code >= 400 else "success"

    def obj(self, which: str) -> dict[str, Any]:
        return as_dict(self.ev.get(which))

    def objects(self) -> list[dict[str, Any]]:
        """requestObject then responseObject (whichever were logged)."""
        return [o for o in (self.obj("requestObject"), self.obj("responseObject")) if o]

    def at(self) -> datetime:
        when = self.time
        if when is None:
            raise no_time(f"{self.source} record", self.time_fields)
        return when

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


def _read_time(ev: dict[str, Any]) -> datetime | None:
    for f in _TIME_FIELDS:
        value = ev.get(f)
        if value is not None and (when := parse_time(value)) is not None:  # absent: no call
            return when
    return None
