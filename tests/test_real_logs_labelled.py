"""A labelled suite on real public logs of the non-AWS formats (../shared/datasets): Kubernetes
(Falco's captures, Panther's records, AKS), GCP (GKE included), Entra, Okta and GitHub.

Each label was written by reading the raw record it cites (file and 0-based line), not from what
the parser makes of it: which identity the record is about, its kind, its owner and where that
owner comes from, whether the provider manages it, or that the record concerns no NHI and is
skipped. The whole set is replayed into a real DuckDB store; without an inventory, nothing there
may be a finding on a person or a provider-managed identity (and no identity is judged merely
for never having been registered).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.sources import RawRecord, read_path
from nhi.cli import main
from store.store import Store
from tests.real_datasets import dataset_file, dataset_line

FILES = (
    "k8saudit/falco-trace-files.jsonl",
    "k8saudit/panther-rule-tests.jsonl",
    "aks_kube_audit/panther-rule-tests.jsonl",
    "gcpaudit/panther-rule-tests.jsonl",
    "azure_entra/panther-rule-tests.jsonl",
    "okta/panther-rule-tests.jsonl",
    "github_audit/panther-rule-tests.jsonl",
)

# (file, line, what the raw record shows) -> the identity it is about, as the store must keep it:
# (nhi, kind, managed_by, owner, owner_source). None: the record does not show it.
IDENTITIES: list[tuple[str, int, str, tuple[str, str | None, str | None, str | None, str | None]]] = [
    (
        "k8saudit/falco-trace-files.jsonl",
        35,
        "minikube-user creates ServiceAccount default/myacct (no owner annotation)",
        ("k8s:default/default/myacct", "machine", None, "minikube-user", "creator"),
    ),
    (
        "k8saudit/falco-trace-files.jsonl",
        21,
        "system:serviceaccount:kube-system:replicaset-controller creates a pod",
        ("k8s:default/kube-system/replicaset-controller", "machine", "kubernetes", None, None),
    ),
    (
        "k8saudit/panther-rule-tests.jsonl",
        9,
        "the kubelet requests a token for kube-system/kube-proxy",
        ("k8s:default/kube-system/kube-proxy", "machine", "kubernetes", None, None),
    ),
    (
        "k8saudit/panther-rule-tests.jsonl",
        1,
        "kube-system/coredns watches endpointslices with its pod-bound token",
        ("k8s:default/kube-system/coredns", "machine", "kubernetes", None, None),
    ),
    (
        "gcpaudit/panther-rule-tests.jsonl",
        140,
        "staging@company.io creates created-service-account@gcp-project1 (no labels)",
        (
            "gcp:gcp-project1/created-service-account@gcp-project1.iam.gserviceaccount.com",
            "machine",
            None,
            "staging@company.io",
            "creator",
        ),
    ),
    (
        "gcpaudit/panther-rule-tests.jsonl",
        187,
        "GKE: container-engine-robot starts pod kube-system/gke-metrics-agent",
        ("k8s:some-project-cluster/kube-system/gke-metrics-agent", "machine", "gcp", None, None),
    ),
    (
        "gcpaudit/panther-rule-tests.jsonl",
        99,
        "some-project@company signs a JWT with its own user-managed key",
        ("gcp:company/some-project@company.iam.gserviceaccount.com", "machine", None, None, None),
    ),
    (
        "azure_entra/panther-rule-tests.jsonl",
        12,
        "ServicePrincipalSignInLogs: servicePrincipalId 4b6986ec..., appId 3b245ca3...",
        ("entra:sp/4b6986ec-c49c-40c0-89ce-b2ac51213e39", "machine", None, None, None),
    ),
    (
        "azure_entra/panther-rule-tests.jsonl",
        44,
        "cloudadmin@company.com adds service principal sp-new-789",
        ("entra:sp/sp-new-789", "machine", None, "cloudadmin@company.com", "creator"),
    ),
    (
        "azure_entra/panther-rule-tests.jsonl",
        8,
        "SignInLogs: boromir@lotr.com signs in interactively",
        ("entra:user/boromir@lotr.com", "human", None, None, None),
    ),
    (
        "okta/panther-rule-tests.jsonl",
        9,
        "system.api_token.create by user@example.com: token 00Tpki36zlWjhjQ1u2p4",
        ("okta:api-token/00Tpki36zlWjhjQ1u2p4", "machine", None, "user@example.com", "creator"),
    ),
    (
        "okta/panther-rule-tests.jsonl",
        9,
        "the same record: its actor, a User with an e-mail login",
        ("okta:user/user@example.com", "human", None, None, None),
    ),
    (
        "github_audit/panther-rule-tests.jsonl",
        97,
        "github-actions[bot] starts a workflow run with an installation token",
        ("github:app/github-actions", "machine", "github", None, None),
    ),
    (
        "github_audit/panther-rule-tests.jsonl",
        34,
        "user_name installs the Microsoft Teams for GitHub app",
        ("github:app/microsoft-teams-for-github", "machine", None, "user_name", "creator"),
    ),
    (
        "github_audit/panther-rule-tests.jsonl",
        62,
        "badger dismisses an alert; the entry carries their SAML NameID",
        ("github:user/badger", "human", None, None, None),
    ),
    (
        "github_audit/panther-rule-tests.jsonl",
        68,
        "acme-inc-user clones over an OAuth token: a token says nothing of who holds it",
        ("github:user/acme-inc-user", None, None, None, None),
    ),
]

# (file, line, what the raw record shows, the reason it is skipped): valid records about no NHI.
SKIPPED: list[tuple[str, int, str, str]] = [
    (
        "k8saudit/falco-trace-files.jsonl",
        0,
        "system:anonymous creates a namespace",
        "k8s-audit: a control-plane component's request that touches no service account",
    ),
    (
        "gcpaudit/panther-rule-tests.jsonl",
        0,
        "bob@example.com sets a project IAM policy",
        "gcp-audit: a person's call that touches no service account",
    ),
    (
        "github_audit/panther-rule-tests.jsonl",
        67,
        "the github system actor raises a secret scanning alert",
        "GitHub secret_scanning_alert entry by GitHub's own system actor",
    ),
]

# One principal, one id: records that name the same principal differently must meet in one id.
SAME_PRINCIPAL = [
    # Entra: the sign-in names the service principal by servicePrincipalId and appId; the store
    # keeps the appId as an alias of the one id.
    ("entra:appid/3b245ca3-dcce-4a54-a070-49ad8de02963", "entra:sp/4b6986ec-c49c-40c0-89ce-b2ac51213e39"),
]


@pytest.fixture(scope="module")
def store_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("labelled") / "real.duckdb"
    files = [str(dataset_file(f)) for f in FILES]
    assert main(["replay", "--db", str(db), "--format", "auto", "-q", *files]) == 0
    return db


def _identity(db: Path, nhi: str) -> tuple[Any, ...] | None:
    with Store.open(db) as store:
        rows = store.rows(
            "SELECT nhi, kind, managed_by, owner, owner_source FROM identities WHERE nhi = $nhi", {"nhi": nhi}
        )
    return rows[0] if rows else None


@pytest.mark.parametrize(
    ("rel", "index", "shows", "want"), IDENTITIES, ids=[f"{r}:{i}" for r, i, _, _ in IDENTITIES]
)
def test_each_labelled_record_names_its_identity(
    store_db: Path, rel: str, index: int, shows: str, want: tuple[Any, ...]
) -> None:
    nhi = want[0]
    # The label's record does name the identity (its raw text carries the name the id is built on).
    raw = str(dataset_line(rel, index))
    name = nhi.rsplit("/", 1)[-1]
    assert name.lower() in raw.lower() or name.replace("-", " ") in raw.lower(), (shows, name)
    assert _identity(store_db, nhi) == want, shows


@pytest.mark.parametrize(
    ("rel", "index", "shows", "reason"), SKIPPED, ids=[f"{r}:{i}" for r, i, _, _ in SKIPPED]
)
def test_records_about_no_nhi_are_skipped_with_their_reason(
    rel: str, index: int, shows: str, reason: str
) -> None:
    collector = Collector("auto", Settings())
    raw = dataset_file(rel).read_bytes().splitlines()[index]
    out = collector.parse(RawRecord(raw, orjson.loads(raw), f"{rel}:{index + 1}"))
    assert out == [], shows  # not a reject: a valid record, counted by source and reason
    assert list(collector.skipped.items()) == [((rel, _source(reason), reason), 1)], shows


def _source(reason: str) -> str:
    return "github-audit" if reason.startswith("GitHub") else reason.split(":", 1)[0]


def test_one_principal_one_id(store_db: Path) -> None:
    with Store.open(store_db) as store:
        aliases = dict(store.rows("SELECT alias, nhi FROM identity_aliases"))
    for alias, nhi in SAME_PRINCIPAL:
        assert aliases.get(alias) == nhi
    # The splits of issue #9 are gone from these formats: no kind in an id, no token as an identity.
    with Store.open(store_db) as store:
        ids = [n for (n,) in store.rows("SELECT nhi FROM identities")]
    split = [
        n
        for n in ids
        if ":human/" in n or n.startswith(("github:pat/", "github:oauth/", "github:bot/", "entra:mi/"))
    ]
    assert not split, split


def test_no_finding_on_people_or_provider_managed_identities(store_db: Path) -> None:
    with Store.open(store_db) as store:
        judged = store.rows(
            "SELECT f.detector, f.nhi, i.kind, i.managed_by FROM findings f JOIN identities i USING (nhi) "
            "WHERE i.kind = 'human' OR i.managed_by IS NOT NULL"
        )
        people = store.rows("SELECT count(*) FROM identities WHERE kind = 'human'")[0][0]
        managed = store.rows("SELECT count(*) FROM identities WHERE managed_by IS NOT NULL")[0][0]
        unowned = store.rows("SELECT count(*) FROM findings WHERE detector = 'unowned-actor'")[0][0]
    assert people >= 30 and managed >= 6  # the suite does hold people and provider-managed identities
    assert judged == []
    # No inventory was loaded: never registering an identity is not, by itself, a finding.
    assert unowned == 0


def test_no_wrong_rejects_in_these_formats() -> None:
    """Every reject left in these files is a record that cannot be placed in time (Panther's rule
    tests drop timestamps; an event needs one), a TokenRequest that names no service account, or
    Falco's deliberately malformed line 49 (``{"kind": 0}``): nothing valid."""
    allowed = (
        "no usable timestamp",
        "published is missing",
        "TokenRequest without objectRef",
        "falco-trace-files.jsonl:49 format not recognised",
    )
    for rel in FILES:
        collector = Collector("auto", Settings())
        wrong = [
            (r.location, r.reason)
            for r in collector.run(read_path(dataset_file(rel)))
            if isinstance(r, Reject) and not any(a in f"{r.location} {r.reason}" for a in allowed)
        ]
        assert not wrong, wrong
