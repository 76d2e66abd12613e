"""Who a Vault token belongs to, read from its audit ``auth`` block (the same rules at issuance and
at every use), and what that block shows about the principal's kind and the token's delivery.

Vault's ``auth`` block names the auth method's view of the principal (metadata such as
``role_name`` or ``service_account_name``), the token's ``display_name`` and the identity
``entity_id``. Ids, first match wins:

- root tokens: ``vault:root`` (an operator's, so a person);
- Kubernetes auth: ``vault:k8s/<ns>/<sa>``, or with the source option ``cluster`` the Kubernetes
  collector's ``k8s:<cluster>/<ns>/<sa>``;
- Nomad: workload identity claims (``nomad_job_id``) and the legacy integration's token metadata
  (``JobID``) both name the job, ``vault:nomad/<ns>/<job>``; the allocation is the task
  ``nomad:<allocation>``, never a new identity. A legacy token without a job id is named by its
  policies (``vault:nomad/<ns>/policies/<p1+p2>``), which one job's tasks share;
- AppRole ``vault:approle/<role_name>``; people (userpass, ldap, oidc, okta, github, radius)
  ``vault:user/<name>``; JWT/OIDC roles ``vault:jwt/<role>``; token roles
  ``vault:token-role/<role>``;
- then the identity entity ``vault:entity/<id>``;
- a token created with a display name of its own (``token-<name>``): ``vault:token/<name>``;
- a bare token (display name ``token``, no entity): the token itself is all that names its holder,
  ``vault:token/<accessor>`` (the HMAC'd accessor), so unrelated tokens never collapse into one.

The entity id, when the id is not the entity, goes to ``attrs.aliases``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contract.identity import HUMAN, MACHINE, WORKLOAD
from ingest.toolkit.fields import as_dict, as_list, ci, text

_HUMAN_PREFIXES = ("userpass-", "ldap-", "oidc-", "okta-", "github-", "radius-")
# Auth methods whose login is the platform's proof of the workload (its token, instance or
# certificate), not a stored secret.
WORKLOAD_MOUNTS = frozenset({"kubernetes", "jwt", "cert", "aws", "gcp", "azure"})


@dataclass(frozen=True, slots=True)
class Principal:
    nhi: str
    kind: str | None = None  # contract.identity HUMAN / MACHINE, when the block shows it
    evidence: str | None = None
    task: str | None = None
    context: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def human(self) -> bool:
        return self.kind == HUMAN


def _policies(auth: dict[str, Any]) -> list[str]:
    found = as_list(auth.get("token_policies")) or as_list(auth.get("policies"))
    return [p for p in found if isinstance(p, str)]


def _entity_alias(auth: dict[str, Any]) -> tuple[str, ...]:
    entity = text(auth.get("entity_id"))
    return (f"vault:entity/{entity}",) if entity else ()


def principal_of(auth: dict[str, Any], path: str, cluster: str | None) -> Principal | None:
    """The principal of a token's ``auth`` block; None when nothing names it."""
    meta = as_dict(auth.get("metadata"))
    name = text(auth.get("display_name")) or ""
    if name == "root" or ("root" in _policies(auth) and not meta):
        return Principal("vault:root", HUMAN, "root token (an operator's)")
    found = _workload(auth, meta, cluster)
    if found is not None:
        return Principal(
            found.nhi, found.kind, found.evidence, found.task, found.context, _entity_alias(auth)
        )
    role_name = text(meta.get("role_name"))
    if role_name:
        return Principal(f"vault:approle/{role_name}", MACHINE, "AppRole login", aliases=_entity_alias(auth))
    username = text(meta.get("username"))
    if name.startswith(_HUMAN_PREFIXES) or (username and not text(meta.get("role"))):
        method = name.split("-", 1)[0] if name.startswith(_HUMAN_PREFIXES) else "user"
        return Principal(
            f"vault:user/{username or name}",
            HUMAN,
            f"{method} login of a person",
            aliases=_entity_alias(auth),
        )
    if text(meta.get("role")):
        return Principal(
            f"vault:jwt/{text(meta.get('role'))}", MACHINE, "JWT/OIDC role login", aliases=_entity_alias(auth)
        )
    if path.startswith("auth/token/create/") and path.count("/") == 3:
        return Principal(f"vault:token-role/{path.rsplit('/', 1)[-1]}", aliases=_entity_alias(auth))
    entity = text(auth.get("entity_id"))
    if entity:
        return Principal(f"vault:entity/{entity}")
    if name.startswith("token-") and len(name) > len("token-"):
        return Principal(f"vault:token/{name[len('token-') :]}")
    accessor = text(auth.get("accessor"))
    if name in ("", "token") and accessor:
        return Principal(f"vault:token/{accessor}")
    return Principal(f"vault:token/{name}") if name else None


def _workload(auth: dict[str, Any], meta: dict[str, Any], cluster: str | None) -> Principal | None:
    """Kubernetes and Nomad workloads: the platform's service account or job."""
    ns, sa = text(ci(meta, "service_account_namespace")), text(ci(meta, "service_account_name"))
    if ns and sa:
        pod = text(meta.get("pod_name")) or text(meta.get("kubernetes.io/pod/name"))
        extra = {
            "namespace": ns,
            "pod_uid": text(meta.get("pod_uid")) or text(meta.get("service_account_pod_uid")) or "",
        }
        evidence = "Kubernetes service account login"
        if cluster:
            extra["cluster"] = cluster
            task = f"pod:{cluster}/{ns}/{pod}" if pod else None
            return Principal(f"k8s:{cluster}/{ns}/{sa}", MACHINE, evidence, task, extra)
        task = f"k8s-pod:{ns}/{pod}" if pod else None
        return Principal(f"vault:k8s/{ns}/{sa}", MACHINE, evidence, task, extra)
    job = text(meta.get("nomad_job_id")) or text(meta.get("JobID")) or text(meta.get("JobId"))
    alloc = text(meta.get("nomad_allocation_id")) or text(meta.get("AllocationID"))
    if not job and not alloc:
        return None
    namespace = text(meta.get("nomad_namespace")) or text(meta.get("Namespace")) or "default"
    extra = {"node": text(meta.get("NodeID")) or "", "namespace": namespace}
    task = f"nomad:{alloc}" if alloc else None
    if job:
        return Principal(f"vault:nomad/{namespace}/{job}", MACHINE, "Nomad job token", task, extra)
    policies = sorted(p for p in _policies(auth) if p != "default")
    return Principal(
        f"vault:nomad/{namespace}/policies/{'+'.join(policies) or 'default'}",
        MACHINE,
        "Nomad allocation token",
        task,
        extra,
    )


def session_kind(mount: str, path: str, found: Principal) -> str | None:
    """How a login's token was delivered (``contract.identity.SESSION_KINDS``)."""
    if path.startswith("auth/token/"):
        return None  # a child or renewed token: as delivered as its parent, which this entry doesn't show
    if found.human:
        return "person"
    if mount in WORKLOAD_MOUNTS:
        return WORKLOAD
    if mount == "approle":
        return "key"  # a role id and secret id: a long-lived secret, not the platform's proof
    return None
