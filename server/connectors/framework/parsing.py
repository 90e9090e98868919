"""Reading provider JSON: exact decimals, typed decoding, small path lookups, and the collector paused."""
from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import msgspec

_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector while building many small objects (halves parse time, perf.md).
    Counted, so concurrent pulls in threads do not re-enable it under each other."""
    global _gc_pausers
    with _gc_lock:
        _gc_pausers += 1
        was_enabled = gc.isenabled() if _gc_pausers == 1 else True
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and was_enabled:
                gc.enable()


# msgspec hands each non-integer literal's own text to Decimal: exact, like json.loads(parse_float=Decimal),
# and about a quarter cheaper on a journals page. (orjson + Decimal(repr(float)) was faster still, but a float cannot
# prove the source literal had at most 15 significant digits, so money does not go through one.)
@functools.cache
def _decoder(shape: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(shape, float_hook=Decimal)


class UnexpectedShape(ValueError):
    """JSON, but not of the declared shape; the message says what was found where."""


def decode_json(content: bytes, shape: Any = Any) -> Any:
    """JSON with every non-integer number as an exact Decimal, or decoded into `shape` (msgspec types,
    Decimal fields exact too). Raises UnexpectedShape, or ValueError on anything not JSON."""
    try:
        return _decoder(shape).decode(content)
    except msgspec.ValidationError as error:
        raise UnexpectedShape(str(error)) from error
    except msgspec.DecodeError as error:
        raise ValueError(str(error)) from error


def to_decimal(value: Any) -> Decimal | None:
    if type(value) is Decimal:  # what decode_json gives for every amount: the common case, first
        return value
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value.replace(",", ""))
    raise TypeError(f"not an exact amount: {value!r}")  # a float here would already have lost digits


# Where a value sits in a body: "Reports.0.Rows", or a tuple of keys when a key holds a dot ("@odata.nextLink",).
Path = str | tuple[str, ...]


def dig(body: Any, path: Path) -> Any:
    """A tiny JSONPath: dotted keys and list indexes ("Reports.0.Rows"); "" or () is the body itself. A tuple
    names the keys one by one, unsplit, for keys that hold a dot (OData's "@odata.nextLink"). On a typed
    body (Stream.body_type) the keys are attribute names."""
    node = body
    for part in path if isinstance(path, tuple) else path.split(".") if path else ():
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        else:
            node = field_of(node, part)
        if node is None:
            return None
    return node


def field_of(record: Any, name: str) -> Any:
    """A field of a raw record: a key of a JSON object, or an attribute of a typed one (None if absent)."""
    if isinstance(record, dict):
        return record.get(name)
    return getattr(record, name, None) if isinstance(record, msgspec.Struct) else None


def month_ends(first: date, last: date) -> list[date]:
    """Every month end from the month of `first` to the month of `last` (trial balance periods)."""
    ends = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        following = date(year + month // 12, month % 12 + 1, 1)
        ends.append(following - timedelta(days=1))
        year, month = following.year, following.month
    return ends


