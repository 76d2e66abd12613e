"""Helpers for the vendor parser tests (CloudTrail, Vault, Entra, Okta, GitHub).

Real samples are read from ``../shared/datasets`` (never copied into the repo). Missing samples
skip the tests on a developer machine and fail them when ``CI`` is set, so CI can't pass by
testing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from contract.events import Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.parsing import ParseContext
from ingest.sources import read_path
from tests import real_datasets

ROOT = Path(__file__).resolve().parents[1]
# One place decides where the samples are and what their absence means (skip, or fail under CI).
DATASETS = real_datasets.DATASETS
datasets = real_datasets.datasets_dir
data_file = real_datasets.dataset_file
line = real_datasets.dataset_line
VAULT_SAMPLE = ROOT / "tests" / "data" / "vault" / "audit.jsonl"
SETTINGS = Settings()


def local_line(path: Path, index: int) -> Any:
    return orjson.loads(path.read_bytes().splitlines()[index])


def data_files(*folders: str) -> list[Path]:
    root = datasets()
    found = sorted(
        p for f in folders for p in (root / f).rglob("*.jsonl") if not p.name.endswith(".labels.jsonl")
    )
    if not found:
        pytest.fail(f"no data files under {folders} in {root}")
    return found


def ctx(**options: str) -> ParseContext:
    return ParseContext(SETTINGS, options=options)


def dumped(events: list[Event]) -> list[dict[str, Any]]:
    return [e.to_json_dict() for e in events]


def run_auto(path: Path) -> tuple[list[Event], list[Reject]]:
    events: list[Event] = []
    rejects: list[Reject] = []
    for out in Collector("auto", SETTINGS).run(read_path(path)):
        (rejects if isinstance(out, Reject) else events).append(out)  # type: ignore[arg-type]
    return events, rejects


# --- property testing --------------------------------------------------------------------------

# Values that steer parsers down their real paths (known names, ARNs, timestamps) mixed with noise.
ATOMS = st.sampled_from(
    [
        "AssumeRole",
        "CreateAccessKey",
        "DeleteAccessKey",
        "UpdateAccessKey",
        "Inactive",
        "ConsoleLogin",
        "AssumedRole",
        "IAMUser",
        "Root",
        "AWSService",
        "arn:aws:sts::123456789012:assumed-role/r/i-0123456789abcdef0",
        "arn:aws:iam::123456789012:role/a/b",
        "arn:aws:iam::123456789012:user/u",
        "arn:",
        "2024-06-02 20:27:12",
        "2024-06-02T20:27:12.123456789Z",
        "Jun 2, 2024, 8:27:12 PM",
        "9999-12-31T23:59:59Z",
        "response",
        "request",
        "auth/token/revoke-accessor",
        "auth/token/create/nomad",
        "sys/leases/revoke/x/y",
        "ServicePrincipalSignInLogs",
        "SignInLogs",
        "AuditLogs",
        "Add service principal credentials",
        "[KeyIdentifier=abc, KeyType=Password, EndDate=2030-01-01T00:00:00Z]",
        "system.api_token.create",
        "app.oauth2.as.token.grant.access_token",
        "User",
        "PublicClientApp",
        "workflows.created_workflow_run",
        "public_key.delete",
        "personal_access_token",
        "GitHub App server-to-server token",
        "dependabot[bot]",
        "",
        " ",
        "0",
        "true",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    ATOMS,
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "eventName",
            "eventSource",
            "eventTime",
            "userIdentity",
            "type",
            "arn",
            "accessKeyId",
            "accountId",
            "requestParameters",
            "responseElements",
            "credentials",
            "expiration",
            "roleArn",
            "roleSessionName",
            "errorCode",
            "sessionContext",
            "sessionIssuer",
            "time",
            "auth",
            "request",
            "response",
            "path",
            "id",
            "metadata",
            "accessor",
            "token_ttl",
            "data",
            "category",
            "properties",
            "createdDateTime",
            "status",
            "errorCode",
            "targetResources",
            "modifiedProperties",
            "initiatedBy",
            "user",
            "app",
            "eventType",
            "eventtype",
            "published",
            "actor",
            "target",
            "transaction",
            "detail",
            "action",
            "created_at",
            "@timestamp",
            "programmatic_access_type",
            "workflow_run_id",
            "repo",
        ]
    ),
    st.text(max_size=6),
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


def mutate(record: Any, path: list[int], value: Any) -> Any:
    """Replace the node reached by following ``path`` (indexes into keys / items) with ``value``."""
    if not path:
        return value
    if isinstance(record, dict) and record:
        keys = list(record)
        key = keys[path[0] % len(keys)]
        return {**record, key: mutate(record[key], path[1:], value)}
    if isinstance(record, list) and record:
        i = path[0] % len(record)
        return [*record[:i], mutate(record[i], path[1:], value), *record[i + 1 :]]
    return value


ParseFn = Callable[[Any, ParseContext], list[Event]]
