"""Who a principal is: the attributes collectors set on events and the engine reads, and scopes.

Collectors know what a log says about the principal behind a record; the engine keeps that
evidence on the identity (``streams/state.py``). The attribute names below are the contract
between the two, documented in docs/contract.md ("Attributes the engine reads").
"""

from __future__ import annotations

# The kind of the event's principal, as this record shows it, and why. A person signing in to a
# console, an SSO or SAML session, an e-mail-shaped name: "human". A session a service assumed, a
# service principal, a token minted for a workload, a key an SDK uses from a workload: "machine".
PRINCIPAL_KIND = "principal_kind"
KIND_EVIDENCE = "kind_evidence"
HUMAN = "human"
MACHINE = "machine"
KINDS = (HUMAN, MACHINE)

# How the credential of a credential.* event was delivered: "workload" (by the platform to a workload:
# an EC2 instance profile, an ECS task or Lambda role, EKS IRSA or Pod Identity, a GCE metadata token,
# a pod-bound Kubernetes token), "person" (a console, SSO or SAML session), "key" (a long-lived key),
# "assumed" (a session one principal assumed for another), "service" (an AWS service on the caller's
# behalf). Context drift's workload signals look at "workload" credentials only.
SESSION_KIND = "session_kind"
WORKLOAD = "workload"
SESSION_KINDS = (WORKLOAD, "person", "key", "assumed", "service")

# Other names of the event's principal in this record (e.g. an Entra service principal's object
# id beside its appId): the store keeps them in identity_aliases, so any name finds the identity.
ALIASES = "aliases"

# Where the owner of an identity.* event comes from, strongest first. Absent on a native event
# with an owner: "inventory" (native events are what inventory systems produce).
OWNER_SOURCE = "owner_source"
OWNER_SOURCES = ("inventory", "tag", "label", "annotation", "log", "creator")
# The principal that created the identity (identity.registered from a log).
CREATED_BY = "created_by"
# The provider that manages the identity (AWS service-linked roles, GCP service agents, Microsoft
# first-party apps, Kubernetes control-plane identities): owned by the provider, never unowned.
MANAGED_BY = "managed_by"


def scope_of(nhi: str) -> str:
    """The scope an identity lives in: its provider plus account, cluster, project or trust domain
    where the id names one (``aws:123456789012``, ``k8s:prod-eu-1``, ``gcp:my-project``,
    ``spiffe://example.org``), else its provider (``vault``, ``entra``, ``github``...).

    An inventory covers a scope once it registered any identity in it; a never-registered identity
    in a covered scope is a shadow NHI."""
    if nhi.startswith("spiffe://"):
        return "spiffe://" + nhi[len("spiffe://") :].split("/", 1)[0]
    provider, sep, rest = nhi.partition(":")
    if not sep:
        return nhi
    if provider.startswith("aws"):
        account = rest.split(":", 1)[0]
        return f"{provider}:{account}" if account else provider
    if provider in ("k8s", "gcp"):
        where = rest.split("/", 1)[0]
        return f"{provider}:{where}" if where else provider
    return provider
