"""What an alert needs to know about its NHI beyond the finding: owner, namespace, cluster, trust.

Namespace and cluster come from the NHI id where its scheme carries them
(``k8s:<cluster>/<ns>/<name>``, ``spiffe://<td>/ns/<ns>/sa/<sa>``), else from the context of the
NHI's events (the store's events, or the engine's learned baseline in a replay).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

_K8S = re.compile(r"^k8s:(?P<cluster>[^/]+)/(?P<ns>[^/]+)/[^/]+$")
_SPIFFE = re.compile(r"^spiffe://[^/]+/ns/(?P<ns>[^/]+)/sa/[^/]+$")


@dataclass(frozen=True, slots=True)
class NhiContext:
    owner: str | None = None
    owner_status: str | None = None  # active | departed | none
    namespace: str | None = None
    cluster: str | None = None
    trust: int | None = None


def placement(nhi: str) -> tuple[str | None, str | None]:
    """(cluster, namespace) encoded in the NHI id, where its scheme has them."""
    if m := _K8S.match(nhi):
        return m["cluster"], m["ns"]
    if m := _SPIFFE.match(nhi):
        return None, m["ns"]
    return None, None


def with_placement(
    nhi: str, ctx: NhiContext, namespace: str | None = None, cluster: str | None = None
) -> NhiContext:
    """``ctx`` with namespace/cluster from the id first, then the given fallbacks (event context)."""
    id_cluster, id_ns = placement(nhi)
    return NhiContext(
        owner=ctx.owner,
        owner_status=ctx.owner_status,
        namespace=id_ns or ctx.namespace or namespace,
        cluster=id_cluster or ctx.cluster or cluster,
        trust=ctx.trust,
    )


def product_version() -> str:
    try:
        return version("nhi-evidence")
    except PackageNotFoundError:
        return "0+unknown"
