"""Streams: what a provider declares for each kind of record, and the page a pull yields."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, TypedDict

from server.connectors.framework.errors import BadResponse
from server.connectors.framework.http import RequestRecord
from server.connectors.framework.paginators import Options, PageRequest, Paginator, SinglePage
from server.connectors.framework.parsing import dig
from server.connectors.framework.records import DATA_TYPE_OF, Role

DataType = Literal["accounts", "dimensions", "journals", "trial_balance", "currencies"]
DATA_TYPES: tuple[DataType, ...] = ("accounts", "dimensions", "journals", "trial_balance", "currencies")


class PullOptions(TypedDict, total=False):
    """What the pipeline may ask of any stream's pull, beyond its cursor. A stream reads what applies."""

    modified_since: datetime  # only records changed since (a re-pull from a date)
    period_ends: list[str]  # trial balance: the month ends (ISO dates) to report at


# -------------------------------------------------------------------------------------------- cursors

@dataclass(frozen=True)
class Incremental:
    """The replication key of a stream and how its cursor travels.

    `value` reads the key from a raw record as something orderable; `encode` turns the largest seen into
    the stored cursor string; `send` turns a stored cursor into request headers/params."""

    key: str
    value: Callable[[dict[str, Any]], Any]
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]
    send_as: Literal["header", "param", "paginator"] = "header"
    name: str = ""  # header or query parameter name

    def after(self, cursor: str | None, raw_records: list[dict[str, Any]]) -> str | None:
        values = [v for v in (self.value(r) for r in raw_records) if v is not None]
        if cursor is not None:
            values.append(self.decode(cursor))
        return self.encode(max(values)) if values else cursor


# ----------------------------------------------------------------------------------------- source fields

FieldType = Literal["string", "integer", "decimal", "date", "datetime", "boolean"]
FIELD_TYPES: tuple[FieldType, ...] = ("string", "integer", "decimal", "date", "datetime", "boolean")


@dataclass(frozen=True)
class SourceField:
    """A field of the provider's record kept beside what its role reads (a journal line's reference, tax
    type...), under the provider's name, which is what a user knows it by. It is stored as sent unless
    the connection casts it to another type (server/mapping/fields.py). `attribute`: where a ledger line
    carries it (an attribute of the connector's LedgerLine struct); other records carry their fields in
    `source_fields`, by name, in the declared order. Loaded rows keep the values by position in that order,
    so a stream's fields are only ever added at the end."""

    name: str
    type: FieldType = "string"
    scale: int | None = None  # decimal places, for a decimal
    attribute: str = ""


# --------------------------------------------------------------------------------------------- streams

class Stream:
    """A declared REST stream. Subclasses set the class attributes and override hooks where needed."""

    name: ClassVar[str]
    # Relative to the connector's API base; `{tenant}` and the connection's setup fields (`{environment}`...)
    # are filled in per request, for providers that put the company in the path.
    path: ClassVar[str]
    role: ClassVar[Role]
    records_path: ClassVar[str]
    # The page's shape as msgspec types, where decoding into them pays: the body is decoded and checked
    # in one pass, in C, and `records_path` names attributes. Any: plain JSON (dicts and lists).
    body_type: ClassVar[Any] = Any
    paginator: ClassVar[Paginator] = SinglePage()
    incremental: ClassVar[Incremental | None] = None
    params: ClassVar[Mapping[str, Any]] = {}
    # The stream (ledger lines) yields `Deletion` records among its lines, in order (change feeds), or
    # `ReplacedRange` ones (re-reads of whole date ranges). The pull counts them only where declared, so a
    # stream that never deletes pays nothing per record.
    reports_deletions: ClassVar[bool] = False
    # The provider's other fields this stream keeps on what it loads, with their default types.
    fields: ClassVar[tuple[SourceField, ...]] = ()

    @property
    def data_type(self) -> str | None:
        return DATA_TYPE_OF[self.role]

    def request_params(self, cursor: str | None, request: PageRequest, options: Options) -> dict[str, Any]:
        params = {**self.params, **request.params}
        inc = self.incremental
        if inc and inc.send_as == "param" and cursor:
            params[inc.name] = cursor
        return params

    def request_headers(self, cursor: str | None, options: Options) -> dict[str, str]:
        inc = self.incremental
        if inc and inc.send_as == "header" and cursor:
            return {inc.name: cursor}
        return {}

    def extract_records(self, body: Any) -> list[Any]:
        """The raw records of a page; the paginator and the cursor read these."""
        records = dig(body, self.records_path)
        if records is None:
            return []
        if not isinstance(records, list):
            raise BadResponse(f"{self.name}: {self.records_path!r} is not a list")
        return records

    def parse_record(self, raw: dict[str, Any], request: PageRequest) -> Iterable[Any]:
        """Provider record -> zero or more plain records shaped for loading."""
        yield raw

    def cursor_after(self, cursor: str | None, raw_records: list[Any]) -> str | None:
        return self.incremental.after(cursor, raw_records) if self.incremental else cursor


@dataclass(slots=True)
class Page:
    """One page of a pull: commit `records` and `cursor` together, then ask for the next page."""

    stream: str
    number: int
    records: list[Any]
    cursor: str | None
    requests: list[RequestRecord]
    deletions: int = 0  # how many of `records` are Deletion or ReplacedRange records, not lines
