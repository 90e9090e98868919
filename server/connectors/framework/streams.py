"""The connector framework: providers declare streams; this module owns the pull loop.

A provider module declares its OAuth endpoints and scopes, how to list the companies a grant covers,
its dimension kinds and its streams (path, where records sit in a page, paginator, incremental key,
data type), and overrides a hook only where its API is odd. Paging, retries, rate limits, endpoint
capture and cursors live here and in `http.py`, once.
"""
from __future__ import annotations

import functools
import gc
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal

import msgspec

from server.connectors.framework.errors import BadResponse, ProviderError
from server.connectors.framework.http import (
    HttpClient,
    RateLimits,
    RequestRecord,
    Response,
    TokenSource,
    default_client,
)
from server.connectors.framework.oauth import OAuthClient

DataType = Literal["accounts", "dimensions", "journals", "trial_balance", "currencies"]
DATA_TYPES: tuple[DataType, ...] = ("accounts", "dimensions", "journals", "trial_balance", "currencies")
Options = Mapping[str, Any]


# ---------------------------------------------------------------------------------------------- parsing

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


def dig(body: Any, path: str) -> Any:
    """A tiny JSONPath: dotted keys and list indexes ("Reports.0.Rows"); "" is the body itself. On a
    typed body (Stream.body_type) the keys are attribute names."""
    node = body
    for part in path.split(".") if path else ():
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


# ------------------------------------------------------------------------------------------- paginators

@dataclass(frozen=True)
class PageRequest:
    """What one page asks for: query params, or a full URL (next links)."""

    params: dict[str, Any] = field(default_factory=dict)
    url: str | None = None


class Paginator:
    """Decides the first request and, from each answer, the next one (None: the stream is done)."""

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        return PageRequest()

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        return None


class SinglePage(Paginator):
    pass


@dataclass(frozen=True)
class OffsetByKey(Paginator):
    """`param` = the key of the last record seen (Xero Journals: offset = last JournalNumber).
    Resumes from the cursor; stops on an empty page rather than trusting a page size."""

    param: str
    key: str
    start: int = 0

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        return PageRequest({self.param: int(cursor) if cursor else self.start})

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        if not records:
            return None
        last = field_of(records[-1], self.key)
        if last is None:
            raise BadResponse(f"the last record of the page has no {self.key}")
        return PageRequest({**request.params, self.param: last})


@dataclass(frozen=True)
class PageNumber(Paginator):
    """page=1,2,... until a page holds fewer than `page_size` records."""

    param: str = "page"
    page_size: int = 100
    size_param: str | None = None

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        params: dict[str, Any] = {self.param: 1}
        if self.size_param:
            params[self.size_param] = self.page_size
        return PageRequest(params)

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        if len(records) < self.page_size:
            return None
        return PageRequest({**request.params, self.param: request.params[self.param] + 1})


@dataclass(frozen=True)
class NextLink(Paginator):
    """Follows a link the provider puts in the body (OData `@odata.nextLink`, `links.next`...)."""

    path: str

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        link = dig(body, self.path)
        return PageRequest(url=link) if link else None


@dataclass(frozen=True)
class EachOption(Paginator):
    """One request per value of a list option (a trial balance per period end date)."""

    param: str
    option: str

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        values = list(options.get(self.option) or ())
        return PageRequest({self.param: values[0]}) if values else None

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        values = list(options.get(self.option) or ())
        position = values.index(request.params[self.param]) + 1
        return PageRequest({**request.params, self.param: values[position]}) if position < len(values) else None


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


# --------------------------------------------------------------------------------------------- streams

class Stream:
    """A declared REST stream. Subclasses set the class attributes and override hooks where needed."""

    name: ClassVar[str]
    path: ClassVar[str]
    data_type: ClassVar[DataType | None]  # None: entity metadata (organisation), not a loaded data type
    records_path: ClassVar[str]
    # The page's shape as msgspec types, where decoding into them pays: the body is decoded and checked
    # in one pass, in C, and `records_path` names attributes. Any: plain JSON (dicts and lists).
    body_type: ClassVar[Any] = Any
    paginator: ClassVar[Paginator] = SinglePage()
    incremental: ClassVar[Incremental | None] = None
    params: ClassVar[Mapping[str, Any]] = {}

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


@dataclass(frozen=True)
class Company:
    """A company / tenant / ledger a grant covers."""

    provider_entity_id: str
    name: str
    kind: str
    connection_id: str | None = None


# ------------------------------------------------------------------------------------------ connectors

class Connector(ABC):
    """A provider. Subclasses declare the class attributes and implement `list_companies`."""

    key: ClassVar[str]
    display_name: ClassVar[str]
    auth_kind: ClassVar[str] = "oauth2"
    scopes: ClassVar[tuple[str, ...]] = ()
    uses_pkce: ClassVar[bool] = False
    dimension_kinds: ClassVar[tuple[str, ...]] = ()
    streams: ClassVar[tuple[Stream, ...]] = ()
    rate_limits: RateLimits
    api_base: str
    oauth: OAuthClient

    def __init__(self, *, http: HttpClient | None = None, rate_limits: RateLimits | None = None) -> None:
        self.http = http or default_client()
        if rate_limits is not None:
            self.rate_limits = rate_limits

    @classmethod
    def data_types(cls) -> tuple[DataType, ...]:
        declared = {s.data_type for s in cls.streams}
        return tuple(t for t in DATA_TYPES if t in declared)

    def stream(self, name: str) -> Stream:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(f"{self.key} has no stream {name!r}")

    @abstractmethod
    def list_companies(self, token: TokenSource, log: list[RequestRecord] | None = None) -> list[Company]:
        """The companies / tenants / ledgers the grant covers."""

    def request_headers(self, tenant_id: str) -> dict[str, str]:
        """Headers every data call of this tenant carries (Xero: xero-tenant-id)."""
        return {"Accept": "application/json"}

    def rate_key(self, tenant_id: str) -> str:
        return f"{self.key}:{tenant_id}"

    def get(
        self,
        url: str,
        *,
        token: TokenSource,
        tenant_id: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        log: list[RequestRecord] | None = None,
    ) -> tuple[Response, RequestRecord]:
        return self.http.request(
            "GET", url, rate_key=self.rate_key(tenant_id), limits=self.rate_limits, token=token,
            params=params, headers={**self.request_headers(tenant_id), **(headers or {})}, log=log,
        )

    def decode(self, response: Response, endpoint: str, shape: Any = Any) -> Any:
        try:
            return decode_json(response.content, shape)
        except UnexpectedShape as exc:
            raise BadResponse(f"unexpected record shape: {exc}", endpoint=endpoint, status=response.status_code,
                              response=response) from exc
        except ValueError as exc:
            raise BadResponse("response is not JSON", endpoint=endpoint, status=response.status_code,
                              response=response) from exc

    def pull(
        self,
        stream: str | Stream,
        *,
        token: TokenSource,
        tenant_id: str,
        cursor: str | None = None,
        options: Options | None = None,
        log: list[RequestRecord] | None = None,
    ) -> Iterator[Page]:
        """Pages of parsed records, each with the cursor to store once that page is committed.

        A generator holding one page at a time: memory stays flat however long the history."""
        stream = self.stream(stream) if isinstance(stream, str) else stream
        options = options or {}
        request = stream.paginator.first(cursor, options)
        number = 0
        while request is not None:
            page_log: list[RequestRecord] = []
            url = request.url or self.api_base + stream.path
            params = None if request.url else stream.request_params(cursor, request, options)
            try:
                response, record = self.get(url, token=token, tenant_id=tenant_id, params=params,
                                            headers=stream.request_headers(cursor, options), log=page_log)
            except ProviderError:
                if log is not None:
                    log.extend(page_log)  # the failed attempts are what the integration log must show
                raise
            with gc_paused():
                body = self.decode(response, record.endpoint, stream.body_type)
                raw = stream.extract_records(body)
                try:
                    records = [out for item in raw for out in stream.parse_record(item, request)]
                except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                    raise BadResponse(f"{stream.name}: unexpected record shape: {exc!r}",
                                      endpoint=record.endpoint, status=response.status_code) from exc
            record.rows = len(records)
            if log is not None:
                log.extend(page_log)
            cursor = stream.cursor_after(cursor, raw)
            if raw:
                number += 1
                yield Page(stream.name, number, records, cursor, page_log)
            request = stream.paginator.next(request, body, raw, options)
