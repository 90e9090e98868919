"""Paginators: how a stream asks for its first page and, from each answer, the next one.

Each is a small declaration in the provider's own parameter names (the Singer SDK's style); the pull loop
in connector.py does the asking. Provider facts cite the sections of research/providers.md.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from server.connectors.framework.errors import BadResponse
from server.connectors.framework.http import redact_url
from server.connectors.framework.parsing import Path, dig, field_of

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


def _moved_on(request: PageRequest, following: PageRequest, what: str) -> PageRequest:
    """The next request, unless it is the one just answered: that would be answered alike, forever."""
    if following == request:
        raise BadResponse(f"{what} repeats the request it answered: paging would never end")
    return following


class SinglePage(Paginator):
    pass


@dataclass(frozen=True)
class OffsetByKey(Paginator):
    """`param` = the key of the last record seen. Resumes from the cursor; stops on an empty page rather
    than trusting a page size.

    A journals API paged by the last journal number, at most 100 a page, `page` ignored (providers.md 1.4,
    8.3). A page whose last key does not move the offset (a provider ignoring it) raises BadResponse."""

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
        return _moved_on(request, PageRequest({**request.params, self.param: last}), f"{self.param}={last}")


@dataclass(frozen=True)
class PageNumber(Paginator):
    """page=1,2,... until a page holds fewer than `page_size` records, or, with `total_path`, until the pages
    read cover the record count the body reports.

    `page` (+ `pageSize`), 100 a page (providers.md 1.5). `page` + `items_per_page` (max 200) with `$total`
    (providers.md 5.4): that API it answers a page past the last with the last page
    , so there a full last page would be read forever without `total_path="$total"`."""

    param: str = "page"
    page_size: int = 100
    size_param: str | None = None
    total_path: Path | None = None

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        params: dict[str, Any] = {self.param: 1}
        if self.size_param:
            params[self.size_param] = self.page_size
        return PageRequest(params)

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        page = request.params[self.param]
        if len(records) < self.page_size:
            return None
        if self.total_path is not None and page * self.page_size >= self._total(body):
            return None
        return PageRequest({**request.params, self.param: page + 1})

    def _total(self, body: Any) -> int:
        total = dig(body, self.total_path or "")
        try:
            return int(total)
        except (TypeError, ValueError) as exc:
            raise BadResponse(f"the page reports no record count at {self.total_path!r}: {total!r}") from exc


@dataclass(frozen=True)
class OffsetLimit(Paginator):
    """A record offset and a page size in the query, the offset advanced by the records read.

    Without `more_path`: done on a page shorter than `page_size`. With it: the body says whether more
    follow (a link, null on the last page), so a provider capping the page below `page_size` loses nothing
    and a last page that happens to be full costs no extra empty request.

    OffsetLimit("$skip", "$top", page_size=1000, more_path="NextPageLink") (providers.md 4.3): `$top` up to
    1,000 (default 400), `$skip`, and a NextPageLink on each page. The next request is
    built from `$top`/`$skip` rather than by following the link, so the page size and filters stay ours."""

    offset_param: str
    limit_param: str
    page_size: int
    more_path: Path | None = None

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        return PageRequest({self.offset_param: 0, self.limit_param: self.page_size})

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        more = len(records) >= self.page_size if self.more_path is None else bool(dig(body, self.more_path))
        if not more:
            return None
        offset = request.params[self.offset_param] + len(records)
        return _moved_on(request, PageRequest({**request.params, self.offset_param: offset}),
                         f"{self.offset_param}={offset}")


_QUERY_WINDOW = re.compile(r" STARTPOSITION (\d+) MAXRESULTS \d+$")


@dataclass(frozen=True)
class QueryText(Paginator):
    """The page window written into the query text itself: `{select} STARTPOSITION n MAXRESULTS m`, n
    1-based, done when fewer than m records come back.

    GET /v3/company/{realmId}/query?query=select * from Account STARTPOSITION 1 MAXRESULTS 1000
    (providers.md 2.2; 1000 is the commonly assumed maximum, section 10)."""

    select: str
    page_size: int = 1000
    param: str = "query"

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        return self._window(1)

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        if len(records) < self.page_size:
            return None
        window = _QUERY_WINDOW.search(request.params[self.param])
        if window is None:
            raise ValueError(f"not a query this paginator wrote: {request.params[self.param]!r}")
        return self._window(int(window.group(1)) + self.page_size)

    def _window(self, start: int) -> PageRequest:
        return PageRequest({self.param: f"{self.select} STARTPOSITION {start} MAXRESULTS {self.page_size}"})


@dataclass(frozen=True)
class NextLink(Paginator):
    """Follows the link to the next page that the provider puts in the body; no link: done.

    - OData (providers.md 3.5): `@odata.nextLink`, absolute, carrying a `$skiptoken`. The key holds
      a dot, so it is declared as a tuple of keys: NextLink(("@odata.nextLink",)).
    - NextLink("$next") (providers.md 5.4), e.g. "/ledger_accounts?page=2&items_per_page=200", relative to the
      API base; loop on it, not on page numbers.

    An absolute link is sent verbatim: the pull loop adds no params to it. A relative one names the next page
    of the same collection; not knowing the connection's API base, the paginator cannot resolve it, so its
    query becomes the next request's params, which the pull loop sends to the stream's own URL.
    A link that is not a URL, or that repeats the request it answered, raises BadResponse."""

    path: Path

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        link = dig(body, self.path)
        if link is None or link == "":
            return None
        following = _link_request(link)
        shown = redact_url(following.url) if following.url else following.params
        return _moved_on(request, following, f"the next link {shown!r}")


def _link_request(link: Any) -> PageRequest:
    if not isinstance(link, str):
        raise BadResponse(f"the next link is not a URL but a {type(link).__name__}")
    try:
        parts = urlsplit(link)
    except ValueError as exc:
        raise BadResponse(f"the next link is not a URL: {exc}") from exc
    if parts.scheme in ("http", "https") and parts.netloc:
        return PageRequest(url=link)
    if not parts.scheme and not parts.netloc and parts.path.startswith("/"):
        return PageRequest(dict(parse_qsl(parts.query, keep_blank_values=True)))
    raise BadResponse(f"the next link is neither an http(s) URL nor a path: {redact_url(link)!r}")


@dataclass(frozen=True)
class EachOption(Paginator):
    """One request per distinct value of a list option (a trial balance per period end date)."""

    param: str
    option: str

    def first(self, cursor: str | None, options: Options) -> PageRequest | None:
        values = self._values(options)
        return PageRequest({self.param: values[0]}) if values else None

    def next(self, request: PageRequest, body: Any, records: list[Any], options: Options) -> PageRequest | None:
        values = self._values(options)
        position = values.index(request.params[self.param]) + 1
        return PageRequest({**request.params, self.param: values[position]}) if position < len(values) else None

    def _values(self, options: Options) -> list[Any]:
        # Distinct, or a repeated value would send paging back to its first occurrence, forever.
        return list(dict.fromkeys(options.get(self.option) or ()))
