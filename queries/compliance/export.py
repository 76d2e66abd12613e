"""nhi export: an evidence package for one framework and time range.

    DIR/controls.json, controls.csv      per-control status with counts and finding ids
    DIR/findings.ocsf.jsonl              the finding changes as OCSF Detection Findings
    DIR/findings.csv, findings.parquet   the same changes, tabular, with their chain hashes
    DIR/suppressions.csv, .parquet       the recorded suppressions the controls counted (who, when, why, until)
    DIR/inventory.csv, .parquet          NHIs with owners, trust scores and finding counts
    DIR/credentials.csv, .parquet        credentials with their lifetimes
    DIR/sql/*.sql                        the SQL that produced each file
    DIR/report.html                      controls table and charts, self-contained
    DIR/manifest.json                    SHA-256 of every file, range, tool version, chain heads

All reads go through store/ (read-only SQL, the alerts feed, the chain heads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from alerts.context import product_version
from alerts.feed import StoreFeed
from alerts.ocsf import to_ocsf
from alerts.suppress import Suppressor
from contract.compliance import FRAMEWORKS
from contract.errors import ConfigError
from queries.compliance.assess import assess
from queries.compliance.package import write_manifest
from queries.compliance.report import render_report
from queries.compliance.triage import SQL as TRIAGE_SQL
from queries.compliance.triage import load_triage
from store.alerts import CHANGES_SQL, IDENTITIES_SQL
from store.readonly import run_query
from store.store import Store

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
END = datetime(9999, 12, 31, tzinfo=UTC)

# The suppressions a package counts: recorded with nhi suppress add, and in force at the cut-off
# (the end of the range, or the export time for a range that has not ended): recorded by then,
# expiring after it, and not revoked by then. The same rule as contract.suppressions.in_force; when
# one finding has several, the first recorded counts.
_COUNTED = """
counted AS (
    SELECT * FROM (
        SELECT a.suppression_id, a.finding_id, a.reason, a.actor AS recorded_by, a.recorded_at, a.expires,
               row_number() OVER (PARTITION BY a.finding_id ORDER BY a.recorded_at, a.suppression_id) AS n
        FROM suppressions AS a
        WHERE a.action = 'add' AND a.recorded_at <= :cutoff AND a.expires > :cutoff
          AND NOT EXISTS (SELECT 1 FROM suppressions AS r WHERE r.action = 'revoke'
                          AND r.suppression_id = a.suppression_id AND r.recorded_at <= :cutoff)
    ) WHERE n = 1
)"""
SUPPRESSIONS_SQL = f"""
-- The suppressions this package counted: recorded with nhi suppress add (who, when, why, until
-- when) and in force at :cutoff, the end of the range (or the export time).
WITH {_COUNTED.strip()}
SELECT suppression_id, finding_id, reason, recorded_by, recorded_at, expires FROM counted
ORDER BY recorded_at, suppression_id"""

SQL: dict[str, str] = {
    "findings": """
-- Finding changes whose event time is in [:from, :to), in hash-chain order.
SELECT h.seq, h.history_id, h.finding_id, h.time, h.activity, h.status, h.severity, h.detector, h.nhi,
       h.credential, h.task, h.reason, h.summary, array_to_string(h.evidence, ' ') AS evidence, h.details,
       h.recorded_at, h.prev_hash, h.hash
FROM finding_history AS h
WHERE h.time >= :from AND h.time < :to
ORDER BY h.seq""",
    "inventory": """
-- Every NHI known at export time with its owner, trust score and findings in the range.
SELECT i.nhi, i.owner, i.owner_status, i.status, i.purpose, i.trust, i.open_findings, i.first_seen, i.last_seen,
       i.event_count,
       (SELECT count(DISTINCT h.finding_id) FROM finding_history AS h
         WHERE h.nhi = i.nhi AND h.time >= :from AND h.time < :to) AS findings_in_range,
       (SELECT count(*) FROM credentials AS c WHERE c.nhi = i.nhi) AS credentials
FROM identities AS i
ORDER BY i.trust, i.nhi""",
    "credentials": """
-- Credentials with their lifetimes: issued to expiry, and issued to revocation or last use.
SELECT c.nhi, c.credential, c.method, c.task, c.attested, c.issued_at, c.expires_at, c.revoked_at,
       c.first_used, c.last_used, c.use_count,
       epoch(c.expires_at - c.issued_at) AS valid_for_s,
       epoch(coalesce(c.revoked_at, c.last_used) - c.issued_at) AS used_for_s,
       c.expires_at IS NULL AS never_expires
FROM credentials AS c
ORDER BY valid_for_s DESC NULLS FIRST, c.nhi, c.credential""",
    "suppressions": SUPPRESSIONS_SQL,
    "controls": """
-- The findings the control status is computed from: every finding with a change in the range, its
-- current status, and whether a suppression counted by this package (suppressions.sql) covers it.
SELECT f.finding_id, f.detector, f.reason, f.severity, f.status, f.nhi,
       f.finding_id IN (SELECT finding_id FROM counted) AS suppressed
FROM findings AS f
WHERE f.finding_id IN (SELECT finding_id FROM finding_history WHERE time >= :from AND time < :to)
ORDER BY f.finding_id""",
    "events_in_range": """
SELECT count(*) AS events FROM events WHERE time >= :from AND time < :to""",
    "findings_by_hour": """
-- Findings opened per hour and detector (report chart; summed per day when the range is long).
SELECT strftime(time, '%Y-%m-%d %H:00') AS hour, detector, count(*) AS n
FROM finding_history WHERE activity = 'create' AND time >= :from AND time < :to
GROUP BY ALL ORDER BY hour, detector""",
    "riskiest": """
-- The ten identities with the lowest trust score (report chart).
SELECT nhi, trust, open_findings, owner FROM identities ORDER BY trust, open_findings DESC, nhi LIMIT 10""",
}


@dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    controls: dict[str, int]  # status -> count
    findings: int
    files: int


def _table(db: str, name: str, params: dict[str, object]) -> pa.Table:
    sql = SQL[name]
    if name == "controls":
        sql = f"WITH {_COUNTED.strip()}\n{sql.strip()}"
    used = {k: v for k, v in params.items() if f":{k}" in sql}
    return run_query(db, sql, used).to_arrow()


def _write(table: pa.Table, out: Path, name: str) -> None:
    pacsv.write_csv(table, out / f"{name}.csv")
    pq.write_table(table, out / f"{name}.parquet")


def export_package(
    db: str,
    framework: str,
    out: Path,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> ExportResult:
    fw = FRAMEWORKS.get(framework)
    if fw is None:
        raise ConfigError(f"unknown framework {framework!r}; choose from {', '.join(FRAMEWORKS)}")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: an evidence package goes into a new or empty directory")
    (out / "sql").mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    cutoff = min(end, now) if end is not None else now
    params: dict[str, object] = {"from": start or BEGINNING, "to": end or END, "cutoff": cutoff}

    with Store.open(db, read_only=True) as store:
        heads = store.chain_heads()
        chains_ok = all(r.ok for r in store.verify_chains(limit=1))

    findings = _table(db, "findings", params)
    _write(findings, out, "findings")
    _write(_table(db, "inventory", params), out, "inventory")
    _write(_table(db, "credentials", params), out, "credentials")

    counted = _table(db, "suppressions", params)
    _write(counted, out, "suppressions")
    # Only the counted suppressions mark the OCSF records, so the file and the controls agree.
    feed = StoreFeed(db, Suppressor(), since=start, suppressions_at=cutoff)
    alerts = [a for a in feed.poll() if end is None or a.time < end]
    with (out / "findings.ocsf.jsonl").open("wb") as fh:
        for a in alerts:
            fh.write(orjson.dumps(to_ocsf(a)) + b"\n")

    rows: list[dict[str, Any]] = _table(db, "controls", params).to_pylist()
    events = int(_table(db, "events_in_range", params).column(0)[0].as_py())
    controls = assess(fw, rows, events)
    (out / "controls.json").write_bytes(orjson.dumps([c.row() for c in controls], option=orjson.OPT_INDENT_2))
    pacsv.write_csv(pa.Table.from_pylist([c.row() for c in controls]), out / "controls.csv")

    for name, sql in {**SQL, **TRIAGE_SQL}.items():
        text = f"WITH {_COUNTED.strip()}\n{sql.strip()}" if name == "controls" else sql.strip()
        (out / "sql" / f"{name}.sql").write_text(text + "\n", encoding="utf-8")
    (out / "sql" / "findings.ocsf.sql").write_text(
        "-- findings.ocsf.jsonl: the changes, then their identities (owner, trust, namespace)\n"
        + CHANGES_SQL.strip()
        + ";\n\n"
        + IDENTITIES_SQL.strip()
        + ";\n",
        encoding="utf-8",
    )

    range_text = (start.isoformat() if start else None, end.isoformat() if end else None)
    html = render_report(
        fw,
        controls,
        generated_at=now,
        time_range=range_text,
        trust_scores=[int(r["trust"]) for r in _table(db, "inventory", params).to_pylist()],
        opened_by_hour=_table(db, "findings_by_hour", params).to_pylist(),
        riskiest=_table(db, "riskiest", params).to_pylist(),
        chain_heads=heads,
        tool_version=product_version(),
        triage=load_triage(db, {"from": params["from"], "to": params["to"]}),
        suppressions=counted.to_pylist(),
    )
    (out / "report.html").write_text(html, encoding="utf-8")

    manifest = write_manifest(
        out,
        {
            "tool": {"name": "nhi-evidence", "version": product_version()},
            "framework": {"key": fw.key, "title": fw.title},
            "generated_at": now.isoformat(),
            "range": {"from": range_text[0], "to": range_text[1]},
            "suppressions_in_force_at": cutoff.isoformat(),
            "store": str(Path(db).resolve()),
            "chain_heads": {k: {"seq": s, "hash": h} for k, (s, h) in heads.items()},
            "chains_verified": chains_ok,
        },
    )
    status: dict[str, int] = {}
    for c in controls:
        status[c.status] = status.get(c.status, 0) + 1
    return ExportResult(out, status, findings.num_rows, len(manifest["files"]))
