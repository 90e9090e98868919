"""A connection's field types: which of its streams' fields an admin cast to another type, and what a refresh
saw of them (`stream_field` rows). The casts themselves are server/mapping/fields.py.

An override is checked against the sample values the last refresh kept (the last that loaded any of the stream's
records: each such refresh replaces the samples of the one before): one that does not fit them is refused, naming
them, rather than discovered line by line at the next refresh. Either way the answer says what it was checked
against, since a few values of one refresh are not the whole ledger.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from server.connectors.framework.streams import SourceField, Stream
from server.db.models import StreamField, utcnow
from server.mapping.errors import Refused
from server.mapping.fields import (
    MAX_SCALE,
    SAMPLES,
    FieldsSeen,
    Override,
    StreamFields,
    cast_column,
    describe,
    from_json_text,
)


def for_load(db: Any, connection_id: int, stream: Stream) -> StreamFields | None:
    """The stream's fields with the connection's overrides, for one load; None when it keeps none."""
    if not stream.fields:
        return None
    rows = db.execute(select(StreamField.field, StreamField.type, StreamField.scale).where(
        StreamField.connection_id == connection_id, StreamField.stream == stream.name,
        StreamField.type.is_not(None))).all()
    return StreamFields(stream.fields, {name: Override(type_, scale) for name, type_, scale in rows})


def note_load(db: Any, workspace_id: int, connection_id: int, run_id: int, stream: str,
              fields: StreamFields) -> str:
    """Keep the samples a load took (merged with those of the same run: another company's) and say, in a
    sentence for the log, which values did not fit their field's type ("" if all did)."""
    table = StreamField.__table__
    existing = {row.field: row for row in db.execute(select(table).where(
        table.c.connection_id == connection_id, table.c.stream == stream))}
    now = utcnow()
    for name, taken in fields.seen.samples.items():
        row = existing.get(name)
        if row is None:
            db.execute(table.insert().values(
                workspace_id=workspace_id, connection_id=connection_id, stream=stream, field=name, samples=taken,
                samples_run_id=run_id, samples_at=now, changed_by=""))
            continue
        samples = list(dict.fromkeys([*row.samples, *taken]))[:SAMPLES] if row.samples_run_id == run_id else taken
        db.execute(table.update().where(table.c.id == row.id).values(
            samples=samples, samples_run_id=run_id, samples_at=now))
    return failures_sentence(fields.seen)


def failures_sentence(seen: FieldsSeen) -> str:
    if not seen.failed:
        return ""
    named = "; ".join(f"{f['field']} {f['value']} (wanted {f['type']}) on line {f['line']}" for f in seen.failures)
    more = f"; and {seen.failed - len(seen.failures)} more" if seen.failed > len(seen.failures) else ""
    values = "1 value" if seen.failed == 1 else f"{seen.failed} values"
    return (f"{values} did not fit the field type chosen for it and {'was' if seen.failed == 1 else 'were'} "
            f"left empty; the lines loaded: {named}{more}. Change the field type, or correct the value at the "
            "source.")


# --- the API's view

def listing(db: Any, connection_id: int, streams: Sequence[Stream]) -> list[dict[str, Any]]:
    """Each stream with its fields: default type, the override, and samples from the last refresh."""
    rows = {(row.stream, row.field): row for row in db.scalars(select(StreamField).where(
        StreamField.connection_id == connection_id))}
    return [{"name": stream.name, "data_type": stream.data_type,
             "fields": [_field_out(f, rows.get((stream.name, f.name))) for f in stream.fields]}
            for stream in streams]


def _field_out(declared: SourceField, row: StreamField | None) -> dict[str, Any]:
    overridden = row is not None and row.type is not None
    return {
        "name": declared.name,
        "default_type": declared.type,
        "default_scale": declared.scale if declared.type == "decimal" else None,
        "type": row.type if overridden else declared.type,
        "scale": (row.scale if overridden else declared.scale) if (row.type if overridden else declared.type)
        == "decimal" else None,
        "overridden": overridden,
        "samples": [_shown(from_json_text(text)) for text in row.samples] if row is not None else [],
        "samples_at": row.samples_at if row is not None else None,
    }


@dataclass(frozen=True)
class FieldChoice:
    name: str
    type: str | None  # None: back to the default
    scale: int | None = None


class DoesNotFit(Refused):
    """An override the last refresh's values do not fit: the API names those values."""

    def __init__(self, message: str, field: str, samples: list[Any]) -> None:
        super().__init__(422, "type_does_not_fit", message, field)
        self.samples = samples


@dataclass(frozen=True)
class Saved:
    changed: list[str]  # what changed, in words
    checked: list[str]  # what each chosen type was checked against, in words


def save(db: Any, workspace_id: int, connection_id: int, stream: Stream, choices: Sequence[FieldChoice],
         who: str) -> Saved:
    """Set the stream's overrides to `choices` (fields left out go back to their default type). Refused when a
    choice names no field of the stream, or does not fit the last refresh's samples."""
    declared = {f.name: f for f in stream.fields}
    wanted: dict[str, Override | None] = {name: None for name in declared}
    for position, choice in enumerate(choices):
        where = f"fields.{position}"
        found = declared.get(choice.name)
        if found is None:
            raise Refused(422, "unknown_stream_field", f"{stream.name} has no field {choice.name!r}.", f"{where}.name")
        if choice.type != "decimal" and choice.scale is not None:
            raise Refused(422, "scale_not_allowed", "Only a decimal has a scale (decimal places).", f"{where}.scale")
        if choice.type == "decimal" and not 0 <= (2 if choice.scale is None else choice.scale) <= MAX_SCALE:
            raise Refused(422, "invalid_scale", f"A decimal has 0 to {MAX_SCALE} places.", f"{where}.scale")
        override = None if choice.type is None else Override(choice.type, 2 if choice.type == "decimal"
                                                             and choice.scale is None else choice.scale)
        if override is not None and (override.type, override.scale) == (found.type, found.scale):
            override = None  # the default: the field is kept as sent
        wanted[choice.name] = override
    rows = {row.field: row for row in db.scalars(select(StreamField).where(
        StreamField.connection_id == connection_id, StreamField.stream == stream.name))}
    checked = []
    for position, choice in enumerate(choices):
        override, row = wanted[choice.name], rows.get(choice.name)
        if override is not None:
            checked.append(_check_fits(row, override, choice.name, f"fields.{position}.type"))
    changed = []
    for name, override in wanted.items():
        row = rows.get(name)
        before = (row.type, row.scale) if row is not None and row.type is not None else None
        after = (override.type, override.scale) if override else None
        if before == after:
            continue
        if row is None:
            row = StreamField(workspace_id=workspace_id, connection_id=connection_id, stream=stream.name, field=name,
                              samples=[])
            db.add(row)
        row.type, row.scale = after if after else (None, None)
        row.changed_by, row.changed_at = who, utcnow()
        default = declared[name]
        changed.append(f"{name}: {describe(*before) if before else describe(default.type, default.scale)} -> "
                       f"{describe(*after) if after else describe(default.type, default.scale) + ' (default)'}")
    return Saved(changed, checked)


def _check_fits(row: StreamField | None, override: Override, name: str, where: str) -> str:
    """Refuses the override if a sample of the last refresh does not fit it; says what it checked."""
    wanted = describe(override.type, override.scale)
    values = [from_json_text(text) for text in (row.samples if row is not None else [])]
    if not values:
        return (f"{name}: the last refresh kept no values of it to check {wanted} against; a value that does not "
                "fit is left empty on its line and named in the log.")
    against = (f"the {'sample value' if len(values) == 1 else f'{len(values)} sample values'} the last refresh "
               f"kept ({_when(row.samples_at)})")
    _, failed = cast_column(values, override.type, override.scale)
    if failed:
        offending = [_shown(values[at]) for at in failed]
        shown = ", ".join(str(value) for value in offending[:5])
        raise DoesNotFit(f"{name} holds values that do not fit {wanted}: {shown} (checked against {against}). "
                         "Choose a type these values fit.", where, offending)
    return f"{name}: {against} fit {wanted}."


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "time unknown"
    return f"{(moment.astimezone(UTC) if moment.tzinfo else moment):%Y-%m-%d %H:%M} UTC"  # stored in UTC


def _shown(value: Any) -> Any:
    """A sample as the API gives it: JSON as sent, a number with decimals as its exact text."""
    return str(value) if isinstance(value, Decimal) else value
