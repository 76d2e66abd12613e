"""The report's triage parts: the findings table, the riskiest identities with their findings, and
one section per identity that answers "why this score": its factors with deltas and evidence, and
a timeline of its events, finding changes and trust changes. Every list links to the sections."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from html import escape
from typing import Any

from queries.compliance.triage import IdentitySection, Triage

TRIAGE_CSS = """
a { color: #1d4ed8; } a.nhi { font-family: ui-monospace, monospace; font-size: 12px; }
.sev { font-weight: 600; padding: 0 6px; border-radius: 8px; font-size: 12px; }
.sev-high { background: #fee2e2; color: #991b1b; } .sev-medium { background: #fef3c7; color: #92400e; }
.sev-low { background: #e0f2fe; color: #075985; }
section.identity { border: 1px solid #e5e7eb; border-radius: 8px; padding: 4px 16px 12px; margin: 16px 0; }
section.identity h3 { font-size: 15px; margin: 10px 0 4px; word-break: break-all; }
td.delta { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
td.neg { color: #b91c1c; } td.zero { color: #6b7280; }
tr.kind-finding td { background: #fdf2f8; } tr.kind-trust td { background: #fefce8; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; color: #4b5563; }
ul.findings { margin: 4px 0; padding-left: 18px; }
#findings td, #riskiest td, table.timeline td, table.factors td { overflow-wrap: anywhere; }
"""


def nhi_anchor(nhi: str) -> str:
    """An HTML id for an identity (ids hold ':' and '/', which are awkward in fragments)."""
    return "nhi-" + hashlib.sha256(nhi.encode()).hexdigest()[:16]


def finding_anchor(finding_id: str) -> str:
    return "f-" + finding_id


def nhi_link(nhi: str, known: set[str]) -> str:
    if nhi not in known:
        return f'<span class="nhi">{escape(nhi)}</span>'
    return f'<a class="nhi" href="#{nhi_anchor(nhi)}">{escape(nhi)}</a>'


def finding_link(fid: str, known: set[str], text: str | None = None) -> str:
    label = escape(text if text is not None else fid)
    return f'<a href="#{finding_anchor(fid)}">{label}</a>' if fid in known else label


def _sev(severity: str) -> str:
    return f'<span class="sev sev-{escape(severity)}">{escape(severity)}</span>'


def _when(t: Any) -> str:
    return escape(t.strftime("%Y-%m-%d %H:%M:%S") if hasattr(t, "strftime") else str(t))


def findings_table(t: Triage, sections: set[str]) -> str:
    if not t.findings:
        return "<p>No findings in the range.</p>"
    rows = []
    for f in t.findings:
        rows.append(
            f'<tr class="finding" id="{finding_anchor(f["finding_id"])}"><td>{_sev(f["severity"])}</td>'
            f"<td>{escape(f['status'])}</td><td>{escape(f['detector'])}<br><small>{escape(f['reason'])}</small></td>"
            f"<td>{nhi_link(f['nhi'], sections)}</td><td>{escape(f['summary'])}</td>"
            f'<td class="when">{_when(f["first_seen"])}<br>{_when(f["last_seen"])}</td>'
            f'<td class="ids">{escape(f["finding_id"])}</td></tr>'
        )
    head = ("<tr><th>Severity</th><th>Status</th><th>Detector / reason</th><th>Identity</th><th>Summary</th>"
            "<th>First / last seen</th><th>Finding</th></tr>")  # fmt: skip
    return f'<table id="findings">{head}{"".join(rows)}</table>'


def _by_nhi(findings: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        out.setdefault(f["nhi"], []).append(f)
    return out


def riskiest_table(riskiest: list[dict[str, Any]], t: Triage, sections: set[str]) -> str:
    found = {f["finding_id"] for f in t.findings}
    by_nhi = _by_nhi(t.findings)
    rows = []
    for r in riskiest:
        items = "".join(
            f"<li>{_sev(f['severity'])} {finding_link(f['finding_id'], found, f['summary'])}"
            f"{' (resolved)' if f['status'] == 'resolved' else ''}</li>"
            for f in by_nhi.get(str(r["nhi"]), [])
        )
        listed = f'<ul class="findings">{items}</ul>' if items else "no finding in the range"
        rows.append(
            f'<tr class="risky"><td class="num">{int(r["trust"])}</td><td>{nhi_link(str(r["nhi"]), sections)}</td>'
            f'<td>{escape(str(r["owner"] or "none"))}</td><td class="num">{r["open_findings"]}</td>'
            f"<td>{listed}</td></tr>"
        )
    head = "<tr><th>Trust</th><th>Identity</th><th>Owner</th><th>Open</th><th>Findings in the range</th></tr>"
    return f'<table id="riskiest">{head}{"".join(rows)}</table>'


def _factors(s: IdentitySection, timeline_refs: set[str]) -> str:
    if not s.factors:
        return "<p>No trust score recorded.</p>"
    rows = []
    for fa in s.factors:
        delta = int(fa["delta"])
        ev = " ".join(
            f'<a href="#{nhi_anchor(s.nhi)}-ev-{escape(e)}">{escape(e)}</a>'
            if e in timeline_refs
            else escape(e)
            for e in fa.get("evidence", [])
        )
        rows.append(
            f'<tr class="factor"><td>{escape(fa["name"])}</td>'
            f'<td class="delta {"neg" if delta < 0 else "zero"}">{delta:+d}</td>'
            f'<td>{escape(fa["detail"])}</td><td class="ids">{ev}</td></tr>'
        )
    head = "<tr><th>Factor</th><th>Delta</th><th>Why</th><th>Evidence</th></tr>"
    total = 100 + sum(int(fa["delta"]) for fa in s.factors)
    deltas = " ".join(f"{int(fa['delta']):+d}" for fa in s.factors if fa["delta"])
    note = f'<p class="note">100 {deltas} = {total}, clamped to 0-100: trust {s.trust}</p>'
    return f'<table class="factors">{head}{"".join(rows)}</table>{note}'


def _timeline(s: IdentitySection, found: set[str]) -> str:
    if not s.timeline:
        return "<p>Nothing in the range.</p>"
    anchor = nhi_anchor(s.nhi)
    rows = []
    for row in s.timeline:
        what = escape(row.what) + (
            ' <span class="note">(cited by the trust score)</span>' if row.cited else ""
        )
        if row.kind == "finding":
            what = finding_link(row.ref, found, row.what)
        row_id = f' id="{anchor}-ev-{escape(row.ref)}"' if row.kind == "event" else ""
        rows.append(
            f'<tr class="kind-{row.kind}"{row_id}><td class="when">{_when(row.time)}</td>'
            f"<td>{escape(row.kind)}</td><td>{what}</td></tr>"
        )
    left = ", ".join(f"{n} older {k} rows" for k, n in s.left_out.items())
    more = (f'<p class="note">Not shown: {escape(left)}. All of them: <code>nhi query --named identity-timeline '
            f"-p nhi={escape(s.nhi)}</code></p>") if left else ""  # fmt: skip
    return f'<table class="timeline"><tr><th>Time (UTC)</th><th>Kind</th><th>What</th></tr>{"".join(rows)}</table>{more}'


def identity_sections(t: Triage) -> str:
    found = {f["finding_id"] for f in t.findings}
    by_nhi = _by_nhi(t.findings)
    out = []
    for s in t.identities:
        refs = {row.ref for row in s.timeline if row.kind == "event"}
        findings = "".join(
            f"<li>{_sev(f['severity'])} {escape(f['status'])}: {finding_link(f['finding_id'], found, f['summary'])}</li>"
            for f in by_nhi.get(s.nhi, [])
        )
        listed = f'<ul class="findings">{findings}</ul>' if findings else ""
        out.append(
            f'<section class="identity" id="{nhi_anchor(s.nhi)}" data-nhi="{escape(s.nhi)}">'
            f"<h3>{escape(s.nhi)}</h3>"
            f'<div class="meta">trust <b>{s.trust}</b> &middot; owner {escape(s.owner or "none")} ({escape(s.owner_status)})'
            f" &middot; {escape(s.status)} &middot; {s.event_count} events &middot; {s.open_findings} open finding(s)"
            f"{' &middot; ' + escape(s.purpose) if s.purpose else ''}</div>"
            f"{listed}"
            f"<h4>Why trust {s.trust}</h4>{_factors(s, refs)}"
            f"<h4>Timeline</h4>{_timeline(s, found)}</section>"
        )
    return "".join(out) or "<p>No identities.</p>"
