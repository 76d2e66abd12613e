"""Inventory and leaver lists -> canonical events (not logs, but the same event stream).

``load_inventory(path)``: rows with ``nhi`` (required), ``owner``, ``purpose``, ``expiry`` and
optionally ``time`` -> ``identity.registered`` events (source ``inventory``). Other columns are kept
in attrs (scrubbed). ``load_leavers(path)``: rows with ``owner`` (required) and ``departed_at`` ->
``owner.departed`` events (source ``leavers``), which name no NHI: the engine routes them by owner.

Files: CSV (header row), JSON (an array, one object, or JSON lines), YAML (a list, or a mapping
holding one list). The format comes from the extension (.csv, .json, .jsonl/.ndjson, .yaml/.yml),
else from the content.

Times: a row's own ``time`` (``departed_at`` for leavers) wins; otherwise the event time is
``as_of``, which defaults to now (UTC). Pass ``as_of`` (the CLI's ``--as-of``) for reproducible
imports: the event ids never include a defaulted time, so re-importing an unchanged file is
idempotent whatever ``as_of`` says. Dates without a time (``2026-12-31``) mean 00:00 UTC that day.

A row that can't be used becomes a ``Reject`` with ``file:line`` (CSV, JSON lines) or ``file#index``
(arrays, YAML) and a reason; an unreadable file raises ``NhiError``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from contract.errors import NhiError
from contract.events import Event, EventType, validate_event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.secrets import scrub
from ingest.toolkit.build import describe_validation_error, short_hash
from ingest.toolkit.times import parse_time

_LIST_KEYS = ("items", "inventory", "nhis", "identities", "leavers", "owners")
_ALIASES = {
    "identity": "nhi",
    "expires_at": "expiry",
    "expires": "expiry",
    "expiration": "expiry",
    "departed": "departed_at",
    "left_at": "departed_at",
    "departure": "departed_at",
}
_INVENTORY_KEYS = ("nhi", "owner", "purpose", "expiry", "time")
_LEAVER_KEYS = ("owner", "departed_at")

Row = tuple[str, Any]  # (location, raw row)
RowFn = Callable[[dict[str, Any], datetime, str], Event]


def _key(name: Any) -> str:
    k = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(k, k)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    return None


def _when(value: Any) -> datetime | None:
    # YAML turns 2026-12-31 into a date and 2026-12-31T00:00:00Z into a datetime.
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(0), UTC)
    return parse_time(value)


def _read(path: Path) -> Iterator[Row]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NhiError(f"{path}: {exc.strerror or exc}") from None
    text = data.decode("utf-8-sig", "replace")
    suffix = path.suffix.lower()
    stripped = text.lstrip()
    if suffix == ".csv" or (
        suffix not in (".json", ".jsonl", ".ndjson", ".yaml", ".yml") and _looks_csv(stripped)
    ):
        yield from _csv(text, path)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _json_lines(text, path)
    elif suffix == ".json" or stripped.startswith(("[", "{")):
        yield from _json(text, path)
    else:
        yield from _yaml(text, path)


def _looks_csv(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return "," in first and not first.startswith(("[", "{", "-", "#"))


def _csv(text: str, path: Path) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        extra = row.pop(None, None)
        if extra:
            row["_extra_columns"] = extra
        yield f"{path}:{reader.line_num}", row


def _json_lines(text: str, path: Path) -> Iterator[Row]:
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield f"{path}:{lineno}", _Bad(line, f"not valid JSON: {exc}")


def _json(text: str, path: Path) -> Iterator[Row]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        yield from _json_lines(text, path)  # several objects, one per line
        return
    yield from _items(doc, path)


def _yaml(text: str, path: Path) -> Iterator[Row]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NhiError(f"{path}: not valid YAML: {exc}") from None
    yield from _items(doc, path)


def _items(doc: Any, path: Path) -> Iterator[Row]:
    if isinstance(doc, dict):
        lists = [doc[k] for k in _LIST_KEYS if isinstance(doc.get(k), list)]
        doc = lists[0] if lists else [doc]
    if not isinstance(doc, list):
        raise NhiError(f"{path}: expected a list of rows, got {type(doc).__name__}")
    for i, item in enumerate(doc):
        yield f"{path}#{i}", item


class _Bad:
    """A row that could not even be decoded: carries its text and the reason."""

    def __init__(self, raw: str, reason: str) -> None:
        self.raw, self.reason = raw, reason


def _raw(row: Any, key: str) -> str:
    if isinstance(row, _Bad):
        return row.raw
    try:
        return orjson.dumps(scrub(row, key), default=str).decode()
    except TypeError:
        return repr(row)


def _load(
    path: str | Path, source: str, as_of: datetime | None, settings: Settings | None, make: RowFn
) -> tuple[list[Event], list[Reject]]:
    s = settings or Settings()
    default_time = as_of or datetime.now(UTC)
    if default_time.tzinfo is None:
        default_time = default_time.replace(tzinfo=UTC)
    events: list[Event] = []
    rejects: list[Reject] = []
    for location, row in _read(Path(path)):
        try:
            if isinstance(row, _Bad):
                raise ValueError(row.reason)
            if not isinstance(row, dict):
                raise ValueError(f"row is not an object/mapping (got {type(row).__name__})")
            fields = {_key(k): v for k, v in row.items() if k is not None}
            events.append(make(fields, default_time, s.fingerprint_key))
        except ValueError as exc:
            reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            rejects.append(
                Reject(raw=_raw(row, s.fingerprint_key), reason=reason, source=source, location=location)
            )
    return events, rejects


def _attrs(fields: dict[str, Any], known: tuple[str, ...], key: str) -> dict[str, Any]:
    extra = {k: v for k, v in fields.items() if k not in known and v not in (None, "")}
    return dict(scrub(extra, key)) if extra else {}


def _inventory_row(fields: dict[str, Any], default_time: datetime, key: str) -> Event:
    nhi = _text(fields.get("nhi"))
    if not nhi:
        raise ValueError("missing 'nhi' (the identity id, e.g. k8s:prod/payments/ledger)")
    owner, purpose = _text(fields.get("owner")), _text(fields.get("purpose"))
    expiry = None
    if fields.get("expiry") not in (None, ""):
        expiry = _when(fields["expiry"])
        if expiry is None:
            raise ValueError(f"expiry: not a date or timestamp (got {str(fields['expiry'])[:40]!r})")
    when = default_time
    if fields.get("time") not in (None, ""):
        given = _when(fields["time"])
        if given is None:
            raise ValueError(f"time: not a timestamp (got {str(fields['time'])[:40]!r})")
        when = given
    # The id covers what the row says (and its own time, if any), never a defaulted time.
    parts: tuple[str, ...] = (nhi, owner or "", purpose or "", expiry.isoformat() if expiry else "")
    if fields.get("time") not in (None, ""):
        parts = (*parts, when.isoformat())
    # Built here, still validated as every collector's events are.
    return validate_event(
        dict(
            type=EventType.IDENTITY_REGISTERED,
            time=when,
            id="inventory:" + short_hash(*parts),
            source="inventory",
            nhi=nhi,
            owner=owner,  # an id joined against leaver rows: copied as is, like leavers' owners
            purpose=scrub(purpose, key) if purpose else None,
            expires_at=expiry,
            attrs=_attrs(fields, _INVENTORY_KEYS, key),
        )
    )


def _leaver_row(fields: dict[str, Any], default_time: datetime, key: str) -> Event:
    owner = _text(fields.get("owner"))
    if not owner:
        raise ValueError("missing 'owner' (the person who left, as inventories name owners)")
    when = default_time
    given = fields.get("departed_at")
    if given not in (None, ""):
        parsed = _when(given)
        if parsed is None:
            raise ValueError(f"departed_at: not a date or timestamp (got {str(given)[:40]!r})")
        when = parsed
    parts = (owner, when.isoformat()) if given not in (None, "") else (owner,)
    # Built here, still validated as every collector's events are.
    return validate_event(
        dict(
            type=EventType.OWNER_DEPARTED,
            time=when,
            id="leavers:" + short_hash(*parts),
            source="leavers",
            owner=owner,
            attrs=_attrs(fields, _LEAVER_KEYS, key),
        )
    )


def load_inventory(
    path: str | Path, *, as_of: datetime | None = None, settings: Settings | None = None
) -> tuple[list[Event], list[Reject]]:
    """identity.registered events of an inventory file, and a reject per unusable row."""
    return _load(path, "inventory", as_of, settings, _inventory_row)


def load_leavers(
    path: str | Path, *, as_of: datetime | None = None, settings: Settings | None = None
) -> tuple[list[Event], list[Reject]]:
    """owner.departed events of a leavers file, and a reject per unusable row."""
    return _load(path, "leavers", as_of, settings, _leaver_row)
