"""The connector framework: providers declare streams; this module owns the pull loop.

A provider package declares its OAuth endpoints and scopes, how to list the companies a grant covers,
its dimension kinds and its streams (path, where records sit in a page, paginator, incremental key,
record role), and overrides a hook only where its API is odd. Paging, retries, rate limits, endpoint
capture and cursors live here and in `http.py`, once.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from server.connectors.framework.auth import AuthFlow, Consent
from server.connectors.framework.errors import BadResponse, ProviderError
from server.connectors.framework.http import (
    HttpClient,
    RateLimits,
    RequestRecord,
    Response,
    TokenSource,
    default_client,
    redact_url,
)
from server.connectors.framework.paginators import Options
from server.connectors.framework.parsing import UnexpectedShape, decode_json, gc_paused
from server.connectors.framework.records import CompanyProfile, Deletion, ReplacedRange, Role
from server.connectors.framework.streams import DATA_TYPES, DataType, Page, Stream


@dataclass(frozen=True)
class Company:
    """A company / tenant / ledger a grant covers."""

    provider_entity_id: str
    name: str
    kind: str
    connection_id: str | None = None


class Connector(ABC):
    """A provider, built for one connection from its stored setup (`setup`: the provider-specific fields
    the user gave or the consent returned, such as an environment or a realm), so that a company can sit
    in a URL path (`Stream.path` placeholders) as well as in a header (`request_headers`).
    Subclasses declare the class attributes and implement `list_companies`."""

    key: ClassVar[str]
    display_name: ClassVar[str]
    auth_kind: ClassVar[str] = "oauth2"
    scopes: ClassVar[tuple[str, ...]] = ()
    uses_pkce: ClassVar[bool] = False
    # Days a refresh token lives unused before the provider lets it lapse (None: it does not lapse unused);
    # the scheduler renews a quiet grant in time (server/scheduler/keepalive.py).
    refresh_token_idle_days: ClassVar[int | None] = None
    dimension_kinds: ClassVar[tuple[str, ...]] = ()
    streams: ClassVar[tuple[Stream, ...]] = ()
    rate_limits: RateLimits
    api_base: str
    auth: AuthFlow

    def __init__(self, *, setup: Mapping[str, str] | None = None, http: HttpClient | None = None,
                 rate_limits: RateLimits | None = None) -> None:
        self.setup = dict(setup or {})
        # The process-wide client by default: its rate budget must see every call to a tenant, whichever
        # connection's connector makes it.
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

    def streams_for(self, role: Role) -> list[Stream]:
        return [stream for stream in self.streams if stream.role == role]

    def url_for(self, stream: Stream, tenant_id: str) -> str:
        return self.api_base + stream.path.format(tenant=tenant_id, **self.setup)

    def company_profile(self, token: TokenSource, tenant_id: str,
                        log: list[RequestRecord] | None = None) -> CompanyProfile:
        for stream in self.streams_for(Role.company_profile):
            for page in self.pull(stream, token=token, tenant_id=tenant_id, log=log):
                return page.records[0]
        raise BadResponse("the provider returned no company profile", endpoint=self.api_base)

    @abstractmethod
    def list_companies(self, token: TokenSource, log: list[RequestRecord] | None = None) -> list[Company]:
        """The companies / tenants / ledgers the grant covers."""

    def companies_of_consent(self, token: TokenSource, consent: Consent,
                             log: list[RequestRecord] | None = None) -> list[Company]:
        """The companies a consent just completed covers. Providers whose grant reaches every company the user
        ever connected can narrow this to the ones the consent ticked."""
        return self.list_companies(token, log)

    def disconnect_company(self, token: TokenSource, connection_id: str,
                           log: list[RequestRecord] | None = None) -> None:
        """Remove the grant's link to one company at the provider, for providers that keep one per company
        (`Company.connection_id`) and may bill by it. Providers without such links have nothing to remove."""
        return None

    def group_of(self, provider_entity_id: str) -> str | None:
        """Where the provider keeps companies in groups a user picks first (an environment), the group this
        company is in; None for providers without groups."""
        return None

    def request_headers(self, tenant_id: str) -> dict[str, str]:
        """Headers every data call of this tenant carries (a tenant id header, for some providers)."""
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

    def _link_to_follow(self, link: str) -> str:
        """A next-page link from a response body, if it stays with the provider's API: the request carries
        our bearer token, which must never go to a host a response names (a proxy, a tampered body)."""
        if _origin(link) != _origin(self.api_base):
            raise BadResponse(f"the next link leads away from the provider's API, to {_origin(link)!r}; "
                              "it was not followed", endpoint=redact_url(link))
        return link

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
        # Every page of one pull asks for what changed since the cursor it started from; the cursor a page
        # yields moves on, and is where the next pull starts.
        since = cursor
        request = stream.paginator.first(cursor, options)
        number = 0
        while request is not None:
            page_log: list[RequestRecord] = []
            url = self._link_to_follow(request.url) if request.url else self.url_for(stream, tenant_id)
            params = None if request.url else stream.request_params(since, request, options)
            try:
                response, record = self.get(url, token=token, tenant_id=tenant_id, params=params,
                                            headers=stream.request_headers(since, options), log=page_log)
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
            deletions = (sum(1 for r in records if type(r) in (Deletion, ReplacedRange))
                         if stream.reports_deletions else 0)
            record.rows = len(records)
            if log is not None:
                log.extend(page_log)
            cursor = stream.cursor_after(cursor, raw)
            if raw:
                number += 1
                yield Page(stream.name, number, records, cursor, page_log, deletions)
            request = stream.paginator.next(request, body, raw, options)


def _origin(url: str) -> str:
    """Scheme, host and port, as browsers compare origins (a default port written out is the same origin)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"
