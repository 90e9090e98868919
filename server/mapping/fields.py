"""Field types: the provider's other fields a stream keeps (`Stream.fields`), cast where a connection says so.

A field is stored as the provider sent it, in a JSON array on what it loads (`ledger_line.source_fields`,
`account.source_fields`), in the order the stream declares its fields, unless the connection overrides its
type: then it is cast during the load, a column of a batch at a time. An array, not an object: the names
would be three fifths of the bytes, and a million lines' worth of them slowed the first load (measured;
benchmarks/refresh_full.py). A value that does not fit is stored empty (null) and reported with its field
and line; the line itself still loads. Plain Python casts: measured faster than pandas at the sizes a
batch has (a page of lines), see benchmarks/field_casts.py.

A load also keeps a few sample values of each field, which the API shows and an override is checked
against when saved.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from operator import attrgetter
from typing import Any

import msgspec

from server.connectors.framework.streams import FieldType, SourceField

SAMPLES = 8  # distinct values kept per field
# A load takes samples from the first lines of each batch it maps, up to SAMPLED_ROWS a batch and SAMPLED_LINES
# in all: a first load's come from its first 50 pages or months (variety, and no cost after), an incremental
# refresh's from every line it loads, however it is cut (a change feed maps one transaction at a time).
SAMPLED_ROWS = 200
SAMPLED_LINES = 50 * SAMPLED_ROWS
REPORTED_FAILURES = 20  # values named in the log; the rest are counted
MAX_SCALE = 10

_encoder = msgspec.json.Encoder(decimal_format="number")  # a cast decimal stays a JSON number, exactly
_exact = msgspec.json.Decoder(float_hook=Decimal)  # and a sent one is read without a float in between


def fields_text(values: dict[str, Any] | None) -> str:
    """A record's fields (by name, in the stream's declared order) as the JSON array stored beside it ("" when
    it keeps none)."""
    return _encoder.encode(list(values.values())).decode() if values else ""


def json_text(value: Any) -> str:
    """One value as JSON, as the provider sent it (`msgspec.Raw` is already JSON)."""
    if isinstance(value, msgspec.Raw):
        return bytes(value).decode()
    return _encoder.encode(value).decode()


def from_json_text(text: str) -> Any:
    return _exact.decode(text)


# --- casts: a value -> the type, or ValueError

_INTEGER = re.compile(r"[+-]?\d+")
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return str(value)
    raise ValueError


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError from None
    else:
        raise ValueError
    if not number.is_finite():
        raise ValueError
    return number


def _to_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    number = _number(value)
    if number != number.to_integral_value():
        raise ValueError  # 12.5 is no integer; rounding it away would change the figure silently
    return int(number)


def _decimal_of_scale(scale: int) -> Callable[[Any], Decimal]:
    step = Decimal(1).scaleb(-scale)
    return lambda value: _number(value).quantize(step, ROUND_HALF_EVEN)  # as amounts are rounded


def _to_date(value: Any) -> date:
    if not isinstance(value, str):
        raise ValueError
    text = value.strip()
    return datetime.fromisoformat(text).date() if len(text) > 10 else date.fromisoformat(text)


def _to_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError
    moment = datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)  # unstated: UTC


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError


def caster(type_: FieldType, scale: int | None = None) -> Callable[[Any], Any]:
    if type_ == "decimal":
        return _decimal_of_scale(2 if scale is None else scale)
    return {"string": _to_string, "integer": _to_integer, "date": _to_date, "datetime": _to_datetime,
            "boolean": _to_boolean}[type_]


def cast_column(values: Sequence[Any], type_: FieldType, scale: int | None = None) -> tuple[list[Any], list[int]]:
    """A column of JSON values (None: empty) cast to the type; the positions of those that do not fit are
    returned, and left empty in the result."""
    cast, out, failed = caster(type_, scale), [], []
    for position, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(cast(value))
        except (ValueError, TypeError, ArithmeticError):
            out.append(None)
            failed.append(position)
    return out, failed


# A type in the finance user's words: the same as the pane's select (addin/taskpane/words.js, FIELD_TYPES).
TYPE_WORDS = {"string": "Text", "integer": "Whole number", "decimal": "Decimal", "date": "Date",
              "datetime": "Date and time", "boolean": "Yes or no"}


def describe(type_: str, scale: int | None = None) -> str:
    """A type as the pane and the log say it: "Whole number", "Decimal, 2 places"."""
    words = TYPE_WORDS.get(type_, type_)
    return f"{words}, {2 if scale is None else scale} places" if type_ == "decimal" else words


# --- one stream's fields during a load

@dataclass(frozen=True)
class Override:
    type: FieldType
    scale: int | None = None


@dataclass
class FieldsSeen:
    """What a load saw of a stream's fields: a few distinct values of each (as JSON text), and the values
    that did not fit an override."""

    samples: dict[str, list[str]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)  # field, value, type, line
    failed: int = 0
    sampled_lines: int = 0


class StreamFields:
    """A stream's declared fields, with the connection's overrides, as one load applies them. Picklable: a
    reader helper process takes it along with the line mapper."""

    def __init__(self, fields: Sequence[SourceField], overrides: dict[str, Override] | None = None) -> None:
        self.fields = tuple(fields)
        self.names = tuple(f.name for f in self.fields)
        overrides = overrides or {}
        self.overrides = {position: overrides[f.name] for position, f in enumerate(self.fields)
                          if f.name in overrides}
        self.seen = FieldsSeen()
        self._row_of: Callable[[Any], tuple] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_row_of": None}  # rebuilt where it is used

    # ledger lines: one JSON array per line, from the attributes the connector decoded them into

    def texts(self, lines: Sequence[Any], noted: bool = False) -> list[str]:
        """`noted`: these lines went through here before (their account was not known yet), so their samples
        were taken and their misfits counted then: cast again, noted once."""
        if self._row_of is None:
            getter = attrgetter(*(f.attribute for f in self.fields))
            self._row_of = getter if len(self.fields) > 1 else lambda line: (getter(line),)
        row_of, encode = self._row_of, _encoder.encode
        if not noted and self.seen.sampled_lines < SAMPLED_LINES:
            self._sample([row_of(line) for line in lines[:SAMPLED_ROWS]])
        if not self.overrides:  # the usual case: one pass, no row kept (a million lines: ~0.3 s of CPU)
            return [encode(row_of(line)).decode() for line in lines]
        rows = self._cast(list(map(row_of, lines)), [line.source_line_id for line in lines], noted)
        return [encode(row).decode() for row in rows]

    # other records: `source_fields` by name, cast in place

    def cast_records(self, records: Sequence[Any], ids: Sequence[str]) -> None:
        rows = [tuple((r.source_fields or {}).get(name) for name in self.names) for r in records]
        self._sample(rows)
        if self.overrides:
            rows = self._cast(rows, ids)
            for record, row in zip(records, rows, strict=True):
                record.source_fields = dict(zip(self.names, row, strict=True))

    def _sample(self, rows: list[tuple]) -> None:
        seen = self.seen
        if seen.sampled_lines >= SAMPLED_LINES or not rows:
            return
        seen.sampled_lines += len(rows)
        for position, name in enumerate(self.names):
            kept = seen.samples.setdefault(name, [])
            if len(kept) >= SAMPLES:
                continue
            for row in rows[:SAMPLED_ROWS]:
                value = row[position]
                if value is None:
                    continue
                text = json_text(value)
                if text != "null" and text not in kept:
                    kept.append(text)
                    if len(kept) >= SAMPLES:
                        break

    def _cast(self, rows: list[tuple], ids: Sequence[str], noted: bool = False) -> list[tuple]:
        if not rows:  # no columns to cast (a change feed's empty stretch before a deletion, nothing changed)
            return rows
        columns = list(zip(*rows, strict=True))
        for position, override in self.overrides.items():
            sent = _python_values(columns[position])
            cast, failed = cast_column(sent, override.type, override.scale)
            if not noted:
                for at in failed:
                    self._failed(self.names[position], columns[position][at], override, ids[at])
            columns[position] = cast
        return list(zip(*columns, strict=True))

    def _failed(self, name: str, value: Any, override: Override, line: str) -> None:
        self.seen.failed += 1
        if len(self.seen.failures) < REPORTED_FAILURES:
            self.seen.failures.append({"field": name, "value": json_text(value),
                                       "type": describe(override.type, override.scale), "line": line})



def _python_values(column: Sequence[Any]) -> list[Any]:
    """Values as sent -> Python (JSON numbers exactly, as Decimal or int): raw ones in one decode."""
    if not any(isinstance(value, msgspec.Raw) for value in column):
        return list(column)
    return _exact.decode(b"[" + b",".join(value if isinstance(value, msgspec.Raw) else _encoder.encode(value)
                                          for value in column) + b"]")
