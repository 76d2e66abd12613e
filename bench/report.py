"""Printing benchmark rows: JSON lines for machines, a short table for people."""

from __future__ import annotations

import orjson


def row(stage: str, events: int, seconds: float, ceiling_per_s: float, **extra: object) -> dict[str, object]:
    per_s = events / seconds if seconds > 0 else 0.0
    return {
        "stage": stage,
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": round(per_s, 1),
        "ceiling_events_per_s": round(ceiling_per_s, 1),
        "ratio": round(per_s / ceiling_per_s, 4) if ceiling_per_s else None,
        **extra,
    }


def emit(rows: list[dict[str, object]], *, as_json: bool) -> None:
    for r in rows:
        if as_json:
            print(orjson.dumps(r).decode(), flush=True)
        elif "error" in r:
            print(f"{r['stage']:<12} failed: {r['error']}")
        else:
            extra = {
                k: v
                for k, v in r.items()
                if k not in {"stage", "events", "seconds", "events_per_s", "ceiling_events_per_s", "ratio"}
            }
            print(
                f"{r['stage']:<12} {r['events']:>9} events  {r['events_per_s']:>12,.0f}/s  "
                f"ceiling {r['ceiling_events_per_s']:>12,.0f}/s  ratio {r['ratio']}  {extra or ''}"
            )
