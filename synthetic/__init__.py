"""A deterministic synthetic organisation for ``nhi demo``, with ground truth.

``generate`` plays a simulated day of a few hundred non-human identities - Kubernetes service
accounts, AWS roles, Vault AppRoles, CI workflows, SPIFFE workloads and AI agents - as native
contract records, and seeds incidents for every detector variant plus look-alikes that must
not fire. ``score`` compares a run's findings with the truth.

Modules: ``sim`` (time, ids, task/credential primitives, delivery disorder), one module per
kind (``k8s``, ``aws``, ``vault``, ``ci``, ``spiffe``, ``agents``) with its behaviour and its
kind-specific stories, ``stories`` (catalogue and ownership stories), ``world`` (lifecycle,
HR feed, ground truth), ``org`` (assembly) and ``model`` (result types and scoring).
"""

from __future__ import annotations

from synthetic.model import (
    CONTEXT_DRIFT,
    DETECTORS,
    TOKEN_OUTLIVED_TASK,
    UNOWNED_ACTOR,
    Benign,
    Expected,
    Scorecard,
    SyntheticOrg,
    score,
)
from synthetic.org import DEFAULT_START, generate, minimum_identities
from synthetic.stories import BENIGN_KINDS

__all__ = [
    "BENIGN_KINDS",
    "CONTEXT_DRIFT",
    "DEFAULT_START",
    "DETECTORS",
    "TOKEN_OUTLIVED_TASK",
    "UNOWNED_ACTOR",
    "Benign",
    "Expected",
    "Scorecard",
    "SyntheticOrg",
    "generate",
    "minimum_identities",
    "score",
]
