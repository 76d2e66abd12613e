"""Raw records -> canonical events or rejects. The one place a parser's failure is caught."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Iterator

import orjson

from contract.errors import NhiError, RecordRejected, RecordSkipped
from contract.events import Context, Event
from contract.rejects import Reject
from contract.settings import Settings
from ingest.formats import AUTO, FORMATS
from ingest.parsing import Format, ParseContext
from ingest.secrets import quiet, scrub, scrub_string, scrub_text
from ingest.sources import NOT_JSON, RawRecord

RAW_LIMIT = 65536  # bytes of a rejected record kept in the reject row


def origin_of(location: str) -> str:
    """The input a record came from: its location without the line or item number
    (``audit.log:12`` -> ``audit.log``, ``trail.json#3`` -> ``trail.json``)."""
    head = location
    while head and head[-1].isdigit():
        head = head.rstrip("0123456789")
        if head[-1:] in (":", "#"):
            head = head[:-1]
        else:
            return location
    return head or location


def no_events_reason(source: str) -> str:
    """Why a record that parsed into no events was skipped, when its parser gave no reason."""
    return f"{source}: nothing about a non-human identity in this record"


def resolve_format(name: str) -> Format | None:
    """The named format, or None for auto. Unknown names are a clear error."""
    if name == AUTO:
        return None
    try:
        return FORMATS[name]
    except KeyError:
        raise NhiError(f"unknown format {name!r}; choose one of: {', '.join([*FORMATS, AUTO])}") from None


class Collector:
    """Parses records with one format (or sniffs with auto), counting what it made."""

    def __init__(self, format_name: str, settings: Settings, options: dict[str, str] | None = None) -> None:
        self.fixed = resolve_format(format_name)
        self.format_name = format_name
        self.settings = settings
        self.options = options or {}
        self.records = 0
        self.events = 0
        self.rejects = 0
        # (origin, source, reason) -> records that concern no NHI: not rejects, but counted for
        # coverage, per input (the file they came from, stdin...)
        self.skipped: dict[tuple[str, str, str], int] = {}
        self._last_auto: Format | None = None
        # One context for every record: parsers don't need the location (rejects carry it), and
        # building a context per record is measurable on the hot path.
        self._ctx = ParseContext(settings, None, self.options)

    def _sniff(self, rec: RawRecord) -> Format | None:
        # Files rarely mix formats, so the last match is tried first.
        value = rec.value if rec.value is not NOT_JSON else rec.text
        last = self._last_auto
        if last is not None and _claims(last, rec, value):
            return last
        for fmt in FORMATS.values():
            if fmt is not last and _claims(fmt, rec, value):
                self._last_auto = fmt
                return fmt
        return None

    def parse(self, rec: RawRecord) -> list[Event] | Reject:
        self.records += 1
        if rec.damage is not None:
            return self._reject(rec, rec.damage, self.fixed.name if self.fixed else self.format_name)
        fmt = self.fixed if self.fixed is not None else self._sniff(rec)
        name = fmt.name if fmt is not None else self.format_name
        try:
            if fmt is None:
                reason = rec.error or "format not recognised by --format auto (no parser claims this record)"
                raise RecordRejected(reason)
            if fmt.decode == "json":
                if rec.value is NOT_JSON:
                    raise RecordRejected(rec.error or "not valid JSON")
                value = rec.value
            else:
                value = rec.text
            events = fmt.parse(value, self._ctx)
        except RecordSkipped as skip:
            self._skip(rec, name, skip.reason)
            return []
        except Exception as exc:
            return self._failed(rec, exc, name)
        if not events:
            self._skip(rec, name, no_events_reason(name))
        self.events += len(events)
        return guard_events(events, self.settings.fingerprint_key)

    def _skip(self, rec: RawRecord, source: str, reason: str) -> None:
        key = (origin_of(rec.location), source, reason)
        self.skipped[key] = self.skipped.get(key, 0) + 1

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def _failed(self, rec: RawRecord, exc: Exception, source: str) -> Reject:
        if isinstance(exc, RecordRejected):
            return self._reject(rec, exc.reason, source)
        # A parser bug must not stop the run; the record is kept with what went wrong.
        return self._reject(rec, f"parser error ({type(exc).__name__}): {exc}", source)

    def _reject(self, rec: RawRecord, reason: str, source: str) -> Reject:
        self.rejects += 1
        key = self.settings.fingerprint_key
        return Reject(
            raw=safe_raw(rec, key),
            # a reason can quote the record (a parser's message, pydantic's "got ..."): scrubbed too
            reason=scrub_text(reason, key),
            source=source,
            location=rec.location,
        )

    def run(self, records: Iterable[RawRecord]) -> Iterator[Event | Reject]:
        if self.fixed is not None:
            yield from self._run_fixed(records, self.fixed)
            return
        for rec in records:
            out = self.parse(rec)
            if isinstance(out, Reject):
                yield out
            else:
                yield from out

    def _run_fixed(self, records: Iterable[RawRecord], fmt: Format) -> Iterator[Event | Reject]:
        """``parse`` for one format, unrolled: the per-record calls of the general loop cost about
        as much as decoding a small record."""
        parse, ctx, name, text = fmt.parse, self._ctx, fmt.name, fmt.decode == "text"
        key = self.settings.fingerprint_key
        for rec in records:
            self.records += 1
            if rec.damage is not None:
                yield self._reject(rec, rec.damage, name)
                continue
            if text:
                value = rec.text
            else:
                value = rec.value
                if value is NOT_JSON:
                    yield self._reject(rec, rec.error or "not valid JSON", name)
                    continue
            try:
                events = parse(value, ctx)
            except RecordSkipped as skip:
                self._skip(rec, name, skip.reason)
                continue
            except Exception as exc:
                yield self._failed(rec, exc, name)
                continue
            if not events:
                self._skip(rec, name, no_events_reason(name))
                continue
            self.events += len(events)
            yield from guard_events(events, key)


def _accepts(fmt: Format, rec: RawRecord) -> bool:
    return fmt.decode == "text" or rec.value is not NOT_JSON


def _claims(fmt: Format, rec: RawRecord, value: object) -> bool:
    if not _accepts(fmt, rec):
        return False
    try:
        return fmt.sniff(value)
    except Exception:  # a sniffer tripping on odd input means "not mine", never a crashed run
        return False


def safe_raw(rec: RawRecord, key: str) -> str:
    """The record as text with secrets fingerprinted, cut to RAW_LIMIT (after the scrub, so a cut
    never splits a secret the scrub would have caught)."""
    if rec.value is not NOT_JSON:
        try:
            text = orjson.dumps(scrub(rec.value, key)).decode()
        except (TypeError, ValueError):  # ints past 64 bits: orjson decodes them but won't encode them
            text = scrub_string(rec.text, key)
    else:
        text = scrub_string(rec.text, key)
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "...[truncated]"


def guard_events(events: list[Event], key: str) -> list[Event]:
    """Events with secrets fingerprinted in every text field, their attrs and their context.

    Parsers scrub what they copy into attrs, resource, action and purpose; this catches a secret
    that reached any other field (an owner, a task id, a native record's credential or unknown
    top-level field), whatever the parser. This runs on every event, so the fields are read in
    one ``attrgetter`` call.
    """
    out = events
    for i, event in enumerate(events):
        changes = _dirty_fields(_EVENT_FIELDS, _event_values(event), key)
        attrs = event.attrs
        if attrs:  # unknown top-level fields of a native record land here unscrubbed by the parser
            clean = scrub(attrs, key)
            if clean is not attrs:
                changes["attrs"] = clean
        ctx = event.context
        ctx_changes = _dirty_fields(_CONTEXT_FIELDS, _context_values(ctx), key)
        if ctx_changes:
            changes["context"] = ctx.model_copy(update=ctx_changes)
        if changes:
            if out is events:
                out = list(events)
            out[i] = event.model_copy(update=changes)
    return out


_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(Event))
_CONTEXT_FIELDS = tuple(f.name for f in dataclasses.fields(Context))
_event_values = operator.attrgetter(*_EVENT_FIELDS)
_context_values = operator.attrgetter(*_CONTEXT_FIELDS)


def _dirty_fields(names: tuple[str, ...], values: tuple[object, ...], key: str) -> dict[str, object]:
    changes: dict[str, object] = {}
    for name, value in zip(names, values, strict=True):
        if type(value) is str and name != "id" and not quiet(value):
            clean = scrub_string(value, key)
            if clean != value:
                changes[name] = clean
    return changes
