"""report.html: the controls table, the charts, the findings with their summaries and a section
per identity (why its trust score is what it is, and its timeline), in one self-contained file
(inline CSS and SVG; no scripts, fonts or images from the network, so it renders offline and in
an air gap). Every list links to the identity sections and the findings."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from html import escape
from typing import Any

from contract.compliance import Framework
from queries.compliance.assess import ControlStatus
from queries.compliance.charts import histogram, horizontal_bars, stacked_bars
from queries.compliance.report_triage import (
    TRIAGE_CSS,
    finding_link,
    findings_table,
    identity_sections,
    nhi_anchor,
    riskiest_table,
)
from queries.compliance.triage import Triage

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2937; margin: 24px 32px;
       max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #4b5563; margin-bottom: 16px; }
.tiles { display: flex; gap: 12px; margin: 12px 0 4px; }
.tile { border: 1px solid #e5e7eb; border-radius: 8px; padding: 8px 16px; min-width: 110px; }
.tile b { display: block; font-size: 22px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: #f9fafb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; padding: 1px 8px; border-radius: 10px; white-space: nowrap; }
.pass { background: #d1fae5; color: #065f46; } .fail { background: #fee2e2; color: #991b1b; }
.na { background: #f3f4f6; color: #4b5563; }
.ids { font-family: ui-monospace, monospace; font-size: 11px; color: #4b5563; word-break: break-all; }
.note { color: #4b5563; }
footer { margin-top: 28px; color: #6b7280; font-size: 12px; }
"""

_CLASS = {"pass": "pass", "fail": "fail", "not assessed": "na"}


def _controls_table(controls: list[ControlStatus], found: set[str]) -> str:
    head = (
        "<tr><th>Control</th><th>Name</th><th>Status</th><th>Findings</th><th>Open</th><th>Resolved</th>"
        "<th>Suppressed</th><th>Detectors / why not assessed</th></tr>"
    )
    rows = []
    for c in controls:
        ids = " ".join(finding_link(i, found, i[:10]) for i in c.finding_ids[:12]) + (
            f" +{len(c.finding_ids) - 12} more" if len(c.finding_ids) > 12 else ""
        )
        why = escape(", ".join(c.detectors)) if c.detectors else ""
        note = f'<div class="note">{escape(c.note)}</div>' if c.note else ""
        id_cell = f'<div class="ids">{ids}</div>' if ids else ""
        rows.append(
            f'<tr class="control" data-control="{escape(c.control)}"><td><b>{escape(c.control)}</b></td>'
            f"<td>{escape(c.name)}</td>"
            f'<td><span class="status {_CLASS[c.status]}">{escape(c.status)}</span></td>'
            f'<td class="num">{c.findings}</td><td class="num">{c.open}</td><td class="num">{c.resolved}</td>'
            f'<td class="num">{c.suppressed}</td><td>{why}{note}{id_cell}</td></tr>'
        )
    return f'<table id="controls">{head}{"".join(rows)}</table>'


def _suppressions(rows: list[dict[str, Any]]) -> str:
    """The recorded suppressions the controls counted (suppressions.csv), so a reader sees who
    decided what next to the controls it changed."""
    if not rows:
        return "<h2>Suppressions counted</h2><p>None: no recorded suppression was in force.</p>"
    body = "".join(
        f'<tr class="suppression"><td class="ids">{escape(str(r["suppression_id"]))}</td>'
        f'<td class="ids">{escape(str(r["finding_id"]))}</td><td>{escape(str(r["reason"]))}</td>'
        f"<td>{escape(str(r['recorded_by']))}</td><td>{escape(str(r['recorded_at']))}</td>"
        f"<td>{escape(str(r['expires']))}</td></tr>"
        for r in rows
    )
    head = (
        "<tr><th>Suppression</th><th>Finding</th><th>Why</th><th>By</th><th>Recorded</th><th>Until</th></tr>"
    )
    return f'<h2>Suppressions counted</h2><table id="suppressions">{head}{body}</table>'


def trust_bins(scores: list[int]) -> list[tuple[str, int]]:
    counts = Counter(min(max(s, 0) // 10, 9) for s in scores)  # 100 belongs to the top bucket
    return [(f"{b * 10}-{b * 10 + 9 if b < 9 else 100}", counts.get(b, 0)) for b in range(10)]


def time_series(opened_by_hour: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[int]]]:
    """Hourly buckets when the findings span two days or less (a day of data is one bar otherwise),
    else daily buckets; every bucket between the first and the last is there, empty or not, so the
    axis is continuous (00:00 never sits next to 07:00)."""
    hours = sorted({datetime.strptime(str(r["hour"]), "%Y-%m-%d %H:00") for r in opened_by_hour})
    if not hours:
        return [], {}
    hourly = hours[-1] - hours[0] <= timedelta(hours=48)
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    fmt = "%Y-%m-%d %H:00" if hourly else "%Y-%m-%d"
    first = hours[0] if hourly else datetime.combine(hours[0].date(), datetime.min.time())
    columns = []
    at = first
    while at <= hours[-1]:
        columns.append(at.strftime(fmt))
        at += step
    index = {c: i for i, c in enumerate(columns)}
    series: dict[str, list[int]] = {}
    for r in opened_by_hour:
        bucket = series.setdefault(str(r["detector"]), [0] * len(columns))
        key = datetime.strptime(str(r["hour"]), "%Y-%m-%d %H:00").strftime(fmt)
        bucket[index[key]] += int(r["n"])
    return columns, dict(sorted(series.items()))


def render_report(
    fw: Framework,
    controls: list[ControlStatus],
    *,
    generated_at: datetime,
    time_range: tuple[str | None, str | None],
    trust_scores: list[int],
    opened_by_hour: list[dict[str, Any]],
    riskiest: list[dict[str, Any]],
    chain_heads: dict[str, tuple[int, str]],
    tool_version: str,
    triage: Triage,
    suppressions: list[dict[str, Any]] | None = None,
) -> str:
    status = Counter(c.status for c in controls)
    days, series = time_series(opened_by_hour)
    sections = {s.nhi for s in triage.identities}
    found = {f["finding_id"] for f in triage.findings}
    risky_rows = [
        (str(r["nhi"]), int(r["trust"]), f"{r['open_findings']} open, owner {r['owner'] or 'none'}")
        for r in riskiest
    ]
    links = [f"#{nhi_anchor(name)}" if name in sections else None for name, _, _ in risky_rows]
    start, end = time_range
    heads = ", ".join(f"{k} seq {s} {h[:16]}..." for k, (s, h) in chain_heads.items())
    tiles = "".join(
        f'<div class="tile"><b>{status.get(k, 0)}</b>{label}</div>'
        for k, label in (("fail", "controls failing"), ("pass", "passing"), ("not assessed", "not assessed"))
    )
    findings_total = sum(sum(v) for v in series.values())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(fw.title)} evidence report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}{TRIAGE_CSS}</style></head>
<body>
<h1>{escape(fw.title)}: NHI runtime evidence</h1>
<div class="meta">Range {escape(start or "beginning")} to {escape(end or "export time")} &middot; generated
{escape(generated_at.isoformat(timespec="seconds"))} by nhi-evidence {escape(tool_version)} &middot; hash chain heads:
<span class="ids">{escape(heads)}</span></div>
<div class="tiles">{tiles}<div class="tile"><b>{len(trust_scores)}</b>identities</div>
<div class="tile"><b>{findings_total}</b>findings opened</div></div>
<p class="note">Jump to: <a href="#controls">controls</a> &middot; <a href="#findings">findings</a> &middot;
<a href="#riskiest">riskiest identities</a> &middot; <a href="#identities">identities</a></p>
<h2>Controls</h2>
{_controls_table(controls, found)}
{_suppressions(suppressions or [])}
<h2>Trust score distribution</h2>
{histogram(trust_bins(trust_scores), "identities per trust score bucket")}
<h2>Findings opened over time, by detector{" (per hour)" if days and len(days[0]) > 10 else ""}</h2>
{stacked_bars(days, series, "findings opened per day by detector") if days else "<p>No findings in the range.</p>"}
<h2>Findings in the range ({len(triage.findings)})</h2>
{findings_table(triage, sections)}
<h2>Riskiest identities (lowest trust)</h2>
{horizontal_bars(risky_rows, "lowest trust scores", links=links) if risky_rows else "<p>No identities.</p>"}
{riskiest_table(riskiest, triage, sections) if risky_rows else ""}
<h2 id="identities">Identities: why each score, and what happened</h2>
<p class="note">Every identity with a finding in the range, and the ten lowest trust scores: the factors of
its current score (each with its delta and the events behind it) and its timeline.</p>
{identity_sections(triage)}
<footer>Every file of this package is listed with its SHA-256 in manifest.json; check it with
<code>nhi verify DIR</code>. The SQL that produced each file is in sql/.</footer>
</body></html>
"""
