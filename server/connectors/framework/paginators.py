"""Paginators: how a stream asks for its first page and, from each answer, the next one."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from server.connectors.framework.errors import BadResponse
from server.connectors.framework.parsing import dig, field_of

Options = Mapping[str, Any]

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


