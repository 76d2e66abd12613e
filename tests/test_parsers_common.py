"""Across the k8s-audit, gcp-audit, ocsf and spire formats: precise sniffing, no crash on any input,
and every real dataset file in their folders replayed through ``--format auto`` without a parser error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.formats import FORMATS
from ingest.parsing import ParseContext
from ingest.sources import NOT_JSON, read_path
from tests.k8s_records import token_request
from tests.real_datasets import dataset_files, dataset_line, datasets_dir
from tests.test_parsers_spire_ocsf import API_LINE, CA_LINE, JWT_JSON, NOISE, api_activity, authentication

MINE = ("k8s-audit", "gcp-audit", "ocsf", "spire")
CTX = ParseContext(Settings())
NATIVE = [
    {
        "type": "credential.used",
        "time": "2024-05-01T10:00:00Z",
        "nhi": "k8s:prod/payments/ledger",
        "credential": "c1",
    },
    {
        "type": "task.ended",
        "time": "2024-05-01T10:00:00Z",
        "task": "pod:prod/a/b",
        "kind": "Event",
        "verb": "delete",
    },
    {
        "type": "credential.issued",
        "time": 1714557600,
        "nhi": "x",
        "protoPayload": {},
        "class_uid": 6003,
        "metadata": {},
    },
    {
        "type": "identity.registered",
        "time": "t",
        "nhi": "x",
        "msg": "Signed X509 SVID",
        "level": "debug",
        "subsystem_name": "ca",
    },
]


def samples() -> dict[str, list[Any]]:
    """Records of each format, as the Collector hands them to sniff (decoded JSON, or the raw line)."""
    return {
        "native": NATIVE,
        "k8s-audit": [
            dataset_line("k8saudit/panther-rule-tests.jsonl", 1),
            dataset_line("k8saudit/panther-rule-tests.jsonl", 9),
            dataset_line("k8saudit/falco-trace-files.jsonl", 21),
            dataset_line("aks_kube_audit/panther-rule-tests.jsonl", 0),
            token_request(),
        ],
        "gcp-audit": [dataset_line("gcpaudit/panther-rule-tests.jsonl", i) for i in (0, 99, 139, 187)],
        "ocsf": [api_activity(), authentication(1, 1)],
        "spire": [CA_LINE, API_LINE, NOISE, orjson.loads(JWT_JSON)],
    }


def test_each_sniff_claims_its_own_samples_only() -> None:
    by_format = samples()
    for name in (*MINE, "native"):
        sniff = FORMATS[name].sniff
        for owner, records in by_format.items():
            for record in records:
                assert sniff(record) == (owner == name), (name, owner, str(record)[:120])


def test_no_sniff_of_mine_claims_other_datasets() -> None:
    root = datasets_dir()
    mine_folders = {"k8saudit", "aks_kube_audit", "gcpaudit"}
    checked = 0
    for path in sorted(root.rglob("*.jsonl")):
        if path.relative_to(root).parts[0] in mine_folders:
            continue
        for rec in read_path(path):
            value = rec.value if rec.value is not NOT_JSON else rec.text
            for name in MINE:
                assert not FORMATS[name].sniff(value), (name, rec.location)
            checked += 1
    assert checked > 500


# --- no input makes a parser raise anything but RecordRejected -----------------------------------

KEYS = [
    "kind", "apiVersion", "verb", "user", "username", "extra", "objectRef", "resource", "subresource", "namespace",
    "name", "responseStatus", "code", "requestObject", "responseObject", "spec", "status", "token", "boundObjectRef",
    "annotations", "stage", "auditID", "requestReceivedTimestamp", "sourceIPs", "properties", "log", "category",
    "protoPayload", "methodName", "serviceName", "authenticationInfo", "principalEmail", "request", "response",
    "timestamp", "labels", "metadata", "class_uid", "activity_id", "status_id", "actor", "session", "time", "uid",
    "type_id", "api", "resources", "expirationTimestamp", "expirationSeconds", "items", "lifetime", "payload",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["Event", "audit.k8s.io/v1", "create", "serviceaccounts", "token", "pods", "delete", "status", "Pod",
         "system:serviceaccount:ns:sa", "system:node:n1", "ResponseComplete", "RequestReceived", "k8s.io",
         "GenerateAccessToken", "CreateServiceAccountKey", "DeleteServiceAccountKey", "ExchangeToken",
         "io.k8s.core.v1.pods.create", "x@p.iam.gserviceaccount.com", "2024-05-01T10:00:00Z", "2024-05-01 10:00:00.1",
         "3600s", "kube-audit", "JTI=1", "Succeeded", 3002, 6003, 3, 201, 403, 253402300799]
    ),
)  # fmt: skip
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=6),
    ),
    max_leaves=30,
)


def _check(name: str, value: Any) -> None:
    fmt = FORMATS[name]
    fmt.sniff(value)
    try:
        out = fmt.parse(value, CTX)
    except (RecordRejected, RecordSkipped):  # a reject, or a valid record about no NHI
        return
    assert isinstance(out, list) and all(isinstance(e, Event) for e in out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_arbitrary_json_only_ever_rejects(value: Any) -> None:
    for name in MINE:
        _check(name, value)


def _mutate(record: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by following ``path`` (indexes into dict items / list items)."""
    if not path or not isinstance(record, (dict, list)) or not record:
        return replacement
    if isinstance(record, dict):
        keys = list(record)
        k = keys[path[0] % len(keys)]
        return {**record, k: _mutate(record[k], path[1:], replacement)}
    i = path[0] % len(record)
    return [*record[:i], _mutate(record[i], path[1:], replacement), *record[i + 1 :]]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_records_only_ever_reject(data: st.DataObject) -> None:
    pool = [r for name in MINE for r in samples()[name] if isinstance(r, dict)]
    record = data.draw(st.sampled_from(pool))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.lists(st.integers(0, 50), max_size=6))
        record = _mutate(record, path, data.draw(JSONISH))
    for name in MINE:
        _check(name, record)


LOGFMT = st.lists(
    st.tuples(
        st.sampled_from(["time", "level", "msg", "spiffe_id", "agent_id", "expiration", "serial_num", "caller_addr",
                         "address", "subsystem_name", "expires_at", "audience"]),
        st.one_of(st.text(max_size=20), st.sampled_from(['"Signed X509 SVID"', '"Signed JWT SVID"', "spiffe://td/x",
                                                        '"Agent attestation request completed"', '"2024-01-01T00:00:00Z"',
                                                        '"[::1]:80"', '"unterminated'])),
    ),
    max_size=8,
).map(lambda pairs: " ".join(f"{k}={v}" for k, v in pairs))  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), LOGFMT))
def test_arbitrary_text_only_ever_rejects(text: str) -> None:
    for name in MINE:
        _check(name, text)


# --- every real file of these folders through --format auto ---------------------------------------

# (records, events, rejects) per file: labels files are hints, not logs, so all of them are rejected
# as unrecognised; rejects in the data files are records with no timestamp or no identifiable SA.
EXPECTED = {
    "k8saudit/falco-trace-files.jsonl": (52, 25, 1),
    "k8saudit/falco-trace-files.labels.jsonl": (52, 0, 52),
    "k8saudit/panther-rule-tests.jsonl": (172, 9, 47),
    "k8saudit/panther-rule-tests.labels.jsonl": (172, 0, 172),
    "aks_kube_audit/panther-rule-tests.jsonl": (34, 0, 11),
    "aks_kube_audit/panther-rule-tests.labels.jsonl": (34, 0, 34),
    "gcpaudit/panther-rule-tests.jsonl": (192, 33, 6),
    "gcpaudit/panther-rule-tests.labels.jsonl": (192, 0, 192),
}


def _replay(path: Path) -> tuple[Collector, list[Event], list[Reject]]:
    collector = Collector("auto", Settings())
    events: list[Event] = []
    rejects: list[Reject] = []
    for out in collector.run(read_path(path)):
        (rejects if isinstance(out, Reject) else events).append(out)  # type: ignore[arg-type]
    return collector, events, rejects


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_dataset_file_replays_without_parser_errors(rel: str) -> None:
    path = datasets_dir() / rel
    collector, events, rejects = _replay(path)
    errors = [r for r in rejects if r.reason.startswith("parser error")]
    assert errors == [], [(r.location, r.reason) for r in errors[:5]]
    assert all(r.reason and r.location for r in rejects)
    assert (collector.records, collector.events, collector.rejects) == EXPECTED[rel]
    if "labels" not in rel:
        assert {e.source for e in events} <= {"k8s-audit", "gcp-audit"}
        reasons = Counter(r.reason.split(" (")[0] for r in rejects)
        assert all("format not recognised" in k or "timestamp" in k or "unknown" in k for k in reasons), (
            reasons
        )


def test_every_file_in_my_folders_is_covered() -> None:
    root = datasets_dir()
    found = {str(p.relative_to(root)) for p in dataset_files("k8saudit", "aks_kube_audit", "gcpaudit")}
    assert found == set(EXPECTED), found ^ set(EXPECTED)
