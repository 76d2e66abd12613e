"""Inline SVG charts for the HTML report: plain strings, no scripts, nothing from the network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#d97706", "#059669", "#7c3aed", "#db2777")
INK = "#1f2937"
GRID = "#e5e7eb"


def _frame(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="12">'
        + "".join(body)
        + "</svg>"
    )


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 5:
            return step * 5
    return value


def histogram(bins: Sequence[tuple[str, int]], label: str, width: int = 560, height: int = 240) -> str:
    """Vertical bars, e.g. trust score buckets -> identity counts."""
    left, bottom, top = 40, 28, 12
    plot_h = height - bottom - top
    top_value = _nice_max(max((n for _, n in bins), default=0) or 1)
    slot = (width - left - 8) / max(len(bins), 1)
    body = []
    for i in range(6):
        y = top + plot_h - plot_h * i / 5
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{top_value * i // 5}</text>'
        )
    for i, (name, n) in enumerate(bins):
        h = plot_h * n / top_value
        x = left + i * slot + slot * 0.12
        w = slot * 0.76
        color = PALETTE[1] if i < len(bins) * 0.4 else PALETTE[0]
        body.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}">'
            f"<title>{escape(name)}: {n}</title></rect>"
        )
        if n:
            body.append(
                f'<text x="{x + w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle">{n}</text>'
            )
        body.append(
            f'<text x="{x + w / 2:.1f}" y="{height - 10}" text-anchor="middle" fill="{INK}">{escape(name)}</text>'
        )
    return _frame(width, height, body, label)


def stacked_bars(
    columns: Sequence[str],
    series: Mapping[str, Sequence[int]],
    label: str,
    width: int = 1040,
    height: int = 280,
) -> str:
    """One bar per column (e.g. a day), stacked by series (e.g. detector), with a legend."""
    left, bottom, top, legend_h = 40, 44, 12, 22
    plot_h = height - bottom - top - legend_h
    totals = [sum(s[i] for s in series.values()) for i in range(len(columns))]
    top_value = _nice_max(max(totals, default=0) or 1)
    slot = (width - left - 8) / max(len(columns), 1)
    body = []
    for i in range(6):
        y = top + legend_h + plot_h - plot_h * i / 5
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">{top_value * i // 5}</text>'
        )
    for k, name in enumerate(series):
        lx = left + k * 200
        body.append(f'<rect x="{lx}" y="2" width="12" height="12" fill="{PALETTE[k % len(PALETTE)]}"/>')
        body.append(f'<text x="{lx + 16}" y="12" fill="{INK}">{escape(name)}</text>')
    every = max(1, len(columns) // 12)  # label at most ~12 columns so they don't overlap
    for i, col in enumerate(columns):
        base = float(top + legend_h + plot_h)
        x = left + i * slot + slot * 0.1
        w = max(slot * 0.8, 1.0)
        for k, (name, values) in enumerate(series.items()):
            h = plot_h * values[i] / top_value
            if h <= 0:
                continue
            base -= h
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(col)} {escape(name)}: {values[i]}</title></rect>'
            )
        if i % every == 0:
            body.append(
                f'<text x="{x + w / 2:.1f}" y="{height - 24}" text-anchor="middle" fill="{INK}">{escape(col[-5:] if len(col) > 10 else col)}</text>'
            )
            if len(col) > 10 and (i == 0 or columns[i - 1][:10] != col[:10]):  # the date under its first hour
                body.append(
                    f'<text x="{x + w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="#6b7280">{escape(col[:10])}</text>'
                )
    return _frame(width, height, body, label)


def horizontal_bars(
    rows: Sequence[tuple[str, int, str]],
    label: str,
    width: int = 1040,
    row_h: int = 24,
    links: Sequence[str | None] | None = None,
) -> str:
    """(name, value 0..100, note) rows, e.g. the riskiest NHIs by trust score (lower = riskier);
    ``links``: an href per row, which makes its name a link (e.g. to the identity's section)."""
    left = 380
    height = max(len(rows), 1) * row_h + 8
    plot_w = width - left - 330  # room on the right for the score and its note
    body = []
    for i, (name, value, note) in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * max(value, 0) / 100
        color = PALETTE[1] if value < 40 else PALETTE[2] if value < 70 else PALETTE[3]
        shown = name if len(name) <= 56 else name[:27] + "..." + name[-26:]
        text = f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" fill="{INK}">{escape(shown)}</text>'
        href = links[i] if links is not None and i < len(links) else None
        if href:
            text = f'<a href="{escape(href)}">{text.replace(INK, "#1d4ed8", 1)}</a>'
        body.append(text)
        body.append(f'<rect x="{left}" y="{y + 4}" width="{plot_w}" height="{row_h - 8}" fill="{GRID}"/>')
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}">'
            f"<title>{escape(name)}: trust {value}</title></rect>"
        )
        note = note if len(note) <= 46 else note[:45] + "..."
        body.append(f'<text x="{left + plot_w + 8}" y="{y + 16}" fill="{INK}">{value}  {escape(note)}</text>')
    return _frame(width, height, body, label)
