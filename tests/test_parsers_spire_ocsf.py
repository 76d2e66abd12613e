"""spire and ocsf: golden tests on hand-written records that follow the real shapes.

SPIRE lines are the server's own logrus output: the first two are quoted from the SPIRE Kubernetes
quickstart tutorial's server log, the third from a SPIRE 1.11 server (BatchNewX509SVID via the agent
API), the JWT line follows MintJWTSVID's log call (audience, expiration, spiffe_id + RPC fields).
OCSF records follow OCSF 1.x Authentication (3002) and API Activity (6003), as Amazon Security
Lake writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from contract.rejects import Reject
from contract.settings import Settings
from ingest.collect import Collector
from ingest.parsers.ocsf import parse_ocsf, sniff_ocsf
from ingest.parsers.spire import parse_spire, sniff_spire
from ingest.parsing import ParseContext
from ingest.sources import read_path

CTX = ParseContext(Settings())

CA_LINE = (
    'time="2019-10-17T20:48:55Z" level=debug msg="Signed X509 SVID" expiration="2019-10-17T21:48:55Z" '
    'spiffe_id="spiffe://example.org/spire/agent/k8s_sat/demo-cluster/578c8d2a-4713-468c-9619-35d5b3ec848e" '
    "subsystem_name=ca"
)
ATTEST_LINE = (
    'time="2019-10-17T20:48:55Z" level=info msg="Node attestation request completed" address="10.0.2.15:41048" '
    'attestor=k8s_sat spiffe_id="spiffe://example.org/spire/agent/k8s_sat/demo-cluster/578c8d2a-4713-468c-9619-35d5b3ec848e" '
    "subsystem_name=node_api"
)
API_LINE = (
    'time="2025-02-03T23:34:01Z" level=debug msg="Signed X509 SVID" authorized_as=agent authorized_via=datastore '
    'caller_addr="172.25.0.3:51974" caller_id="spiffe://example.com/spire/agent/x509pop/cn/agent.example.com" '
    'entry_id=c6618b1d-ebc0-4476-b747-f0a312f744af expiration="2025-02-04T00:34:01Z" method=BatchNewX509SVID '
    "request_id=1b61741a-1d5c-49c6-a0ac-d99c07f41078 revision_number=0 serial_num=6336550875125993042626296812949540257 "
    'service=svid.v1.SVID spiffe_id="spiffe://example.com/workload" subsystem_name=api'
)
JWT_JSON = orjson.dumps(
    {
        "time": "2024-05-01T10:00:00Z",
        "level": "debug",
        "msg": "Server CA successfully signed JWT SVID",
        "audience": ["vault"],
        "expiration": "2024-05-01T10:05:00Z",
        "spiffe_id": "spiffe://example.org/ns/payments/sa/ledger",
        "caller_addr": "10.0.0.5:4000",
        "method": "NewJWTSVID",
        "subsystem_name": "api",
    }
).decode()
NOISE = 'time="2019-10-17T20:48:17Z" level=info msg="Starting UDS server" address=/tmp/spire-registration.sock subsystem_name=endpoints'


def spire(line: str) -> list[Event]:
    return parse_spire(line, CTX)


def test_spire_workload_x509_svid_from_the_api() -> None:
    [e] = spire(API_LINE)
    assert e.to_json_dict() == {
        "type": "credential.issued",
        "time": "2025-02-03T23:34:01Z",
        "id": e.id,
        "source": "spire",
        "nhi": "spiffe://example.com/workload",
        "credential": "spiffe-x509:6336550875125993042626296812949540257",
        "expires_at": "2025-02-04T00:34:01Z",
        "method": "spiffe-x509-svid",
        "attested": True,
        "context": {"ip": "172.25.0.3"},
        "attrs": {
            "entry_id": "c6618b1d-ebc0-4476-b747-f0a312f744af",
            "caller_id": "spiffe://example.com/spire/agent/x509pop/cn/agent.example.com",
            "rpc_method": "BatchNewX509SVID",
            "subsystem_name": "api",
            "authorized_as": "agent",
            "authorized_via": "datastore",
            "request_id": "1b61741a-1d5c-49c6-a0ac-d99c07f41078",
            "revision_number": "0",
            # SPIRE signs only for attested workloads: a machine, its credential the workload's
            "principal_kind": "machine",
            "kind_evidence": "attested SPIFFE workload",
            "session_kind": "workload",
        },
    }
    assert e.id.startswith("spire:") and spire(API_LINE)[0].id == e.id  # re-reading is idempotent


def test_spire_agent_svid_and_attestation() -> None:
    [ca] = spire(CA_LINE)
    assert (
        ca.nhi == "spiffe://example.org/spire/agent/k8s_sat/demo-cluster/578c8d2a-4713-468c-9619-35d5b3ec848e"
    )
    assert (ca.expires_at, ca.context.cluster) == (
        datetime(2019, 10, 17, 21, 48, 55, tzinfo=UTC),
        "demo-cluster",
    )
    [att] = spire(ATTEST_LINE)
    assert (att.nhi, att.attested, att.context.ip) == (ca.nhi, True, "10.0.2.15")
    assert att.attrs["attestor"] == "k8s_sat" and att.attrs["expires_at_assumed"] is True
    assert att.expires_at == datetime(2019, 10, 17, 21, 48, 55, tzinfo=UTC)  # default agent TTL 1 h
    [short] = parse_spire(ATTEST_LINE, ParseContext(Settings(), options={"agent_svid_ttl": "600"}))
    assert short.expires_at == datetime(2019, 10, 17, 20, 58, 55, tzinfo=UTC)


def test_spire_jwt_svid_json_log_format() -> None:
    [e] = spire(JWT_JSON)
    assert (e.method, e.nhi, e.context.namespace, e.context.ip) == (
        "spiffe-jwt-svid",
        "spiffe://example.org/ns/payments/sa/ledger",
        "payments",
        "10.0.0.5",
    )
    assert e.credential is not None and e.credential.startswith("spiffe-jwt:")
    assert e.attrs["audience"] == "[vault]"
    assert sniff_spire(orjson.loads(JWT_JSON))  # auto mode sees JSON lines decoded


def test_spire_noise_is_skipped_and_non_spire_is_rejected() -> None:
    assert sniff_spire(NOISE)
    with pytest.raises(RecordSkipped, match="a server line that issues no SVID"):
        spire(NOISE)
    for bad in ("hello world", '{"eventVersion": "1.08"}', "", "level=info msg=x"):
        assert not sniff_spire(bad)
        with pytest.raises(RecordRejected):
            spire(bad)
    with pytest.raises(RecordRejected, match="spiffe"):
        spire('time="2024-01-01T00:00:00Z" level=debug msg="Signed X509 SVID" subsystem_name=ca')


# --- OCSF ------------------------------------------------------------------------------------------


def api_activity(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "activity_id": 2,
        "activity_name": "Read",
        "time": 1714557600000,
        "status_id": 1,
        "metadata": {
            "uid": "evt-0001",
            "version": "1.2.0",
            "product": {"name": "CloudTrail", "vendor_name": "AWS"},
        },
        "actor": {
            "user": {
                "uid": "AROAEXAMPLE:etl",
                "name": "etl-runner",
                "type": "AWSService",
                "credential_uid": "ASIAEXAMPLE",
            },
            "session": {"uid": "sess-42", "issuer": "arn:aws:iam::111122223333:role/etl"},
        },
        "api": {"operation": "GetObject", "service": {"name": "s3.amazonaws.com"}},
        "resources": [{"uid": "arn:aws:s3:::reports/2024/q1.csv", "type": "AWS::S3::Object"}],
        "src_endpoint": {"ip": "198.51.100.7"},
        "http_request": {"user_agent": "aws-sdk-go/1.44"},
        "cloud": {"provider": "AWS", "region": "eu-west-1"},
    }
    record.update(overrides)
    return record


def authentication(activity_id: int, status_id: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "class_uid": 3002,
        "category_uid": 3,
        "activity_id": activity_id,
        "time": 1714557600000,
        "status_id": status_id,
        "auth_protocol": "OAUTH 2.0",
        "metadata": {
            "uid": f"auth-{activity_id}-{status_id}",
            "version": "1.2.0",
            "product": {"name": "Okta"},
        },
        "user": {"uid": "0oa1svc", "name": "billing-sync", "type_id": 3},
        "session": {"uid": "sess-99", "expiration_time": 1714561200000},
        "src_endpoint": {"ip": "192.0.2.10"},
    }
    record.update(overrides)
    return record


def test_ocsf_api_activity_by_a_service() -> None:
    [e] = parse_ocsf(api_activity(), CTX)
    assert e.to_json_dict() == {
        "type": "credential.used",
        "time": "2024-05-01T10:00:00Z",
        "id": "evt-0001/used",
        "source": "ocsf",
        "nhi": "ocsf:AROAEXAMPLE:etl",
        "credential": "sess-42",
        "action": "GetObject",
        "resource": "arn:aws:s3:::reports/2024/q1.csv",
        "outcome": "success",
        "context": {"region": "eu-west-1", "ip": "198.51.100.7", "user_agent": "aws-sdk-go/1.44"},
        "attrs": {
            "ocsf_class": 6003,
            "user_type": "AWSService",
            "product": "CloudTrail",
            "activity": "Read",
            "principal_kind": "machine",
            "kind_evidence": "OCSF user type AWSService",
            "managed_by": "aws",  # an AWS service acting: the provider's own principal
        },
    }


def test_ocsf_people_and_other_classes_are_skipped() -> None:
    person = api_activity(actor={"user": {"uid": "alice", "name": "Alice", "type_id": 1}})
    with pytest.raises(RecordSkipped, match="a person's"):
        parse_ocsf(person, CTX)
    with pytest.raises(RecordSkipped, match="class 4001 is neither"):
        parse_ocsf({**api_activity(), "class_uid": 4001}, CTX)  # Network Activity
    k8s_sa = api_activity(
        actor={"user": {"name": "system:serviceaccount:prod:ledger", "type_id": 0}}, status_id=2
    )
    [e] = parse_ocsf(k8s_sa, CTX)
    assert (e.nhi, e.outcome, e.credential) == ("ocsf:system:serviceaccount:prod:ledger", "failure", None)
    assert e.attrs["kind_evidence"] == "machine-only identifier"


def test_ocsf_authentication_lifecycle() -> None:
    [issued] = parse_ocsf(authentication(1, 1), CTX)
    assert (issued.type, issued.nhi, issued.credential, issued.method) == (
        EventType.CREDENTIAL_ISSUED,
        "ocsf:0oa1svc",
        "sess-99",
        "ocsf-oauth-2.0",
    )
    assert issued.expires_at == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    [failed] = parse_ocsf(authentication(1, 2), CTX)
    assert (failed.type, failed.outcome, failed.action) == (EventType.CREDENTIAL_USED, "failure", "logon")
    [ended] = parse_ocsf(authentication(2, 1), CTX)
    assert (ended.type, ended.credential) == (EventType.CREDENTIAL_REVOKED, "sess-99")


def test_ocsf_sniff_and_rejects() -> None:
    assert sniff_ocsf(api_activity()) and sniff_ocsf(authentication(1, 1))
    assert not sniff_ocsf({"type": "credential.used", "time": "2024-05-01T10:00:00Z", "class_uid": 6003})
    assert not sniff_ocsf({"class_uid": True, "metadata": {}})
    with pytest.raises(RecordRejected, match="no usable timestamp"):
        parse_ocsf({**api_activity(), "time": "yesterday"}, CTX)
    with pytest.raises(RecordRejected):
        parse_ocsf([1, 2], CTX)


def test_auto_mode_routes_a_mixed_file(tmp_path: Path) -> None:
    # Text SPIRE lines reach sniff as text, JSON ones decoded; the parser re-reads the raw line.
    lines = [CA_LINE, NOISE, JWT_JSON, orjson.dumps(api_activity()).decode(), "not a log line at all"]
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(lines) + "\n")
    collector = Collector("auto", Settings())
    out = list(collector.run(read_path(path)))
    events = [o for o in out if isinstance(o, Event)]
    rejects = [o for o in out if isinstance(o, Reject)]
    assert [e.source for e in events] == ["spire", "spire", "ocsf"]
    assert [r.location for r in rejects] == [f"{path}:5"]
    assert (collector.records, collector.events, collector.rejects) == (5, 3, 1)
