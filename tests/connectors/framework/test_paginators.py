"""Every paging style we meet, each through the real pull loop against a scripted HTTP server answering in the
provider's documented page shapes (research/providers.md). Each test checks the exact requests and every record."""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from server.connectors.framework.connector import Company, Connector
from server.connectors.framework.errors import BadResponse
from server.connectors.framework.http import HttpClient, RateLimits, RequestRecord, RetryPolicy, TokenSource
from server.connectors.framework.paginators import (
    EachOption,
    NextLink,
    OffsetByKey,
    OffsetLimit,
    PageNumber,
    Paginator,
    QueryText,
)
from server.connectors.framework.parsing import dig
from server.connectors.framework.streams import Stream
from tests.support.scripted_server import Reply, ScriptedServer, Seen

MOST_REQUESTS = 20  # a paginator that never stops meets a 500 here instead of hanging the suite


def token(rejected: str | None = None) -> str:
    return "access-1"


class ScriptedConnector(Connector):
    key = "scripted"
    display_name = "Scripted provider"

    def list_companies(self, token: TokenSource, log: list[RequestRecord] | None = None) -> list[Company]:
        return []


@pytest.fixture
def connector(server: ScriptedServer) -> Connector:
    """The one place the test connector is built; one attempt per request, so a failure shows at once."""
    http = HttpClient(timeout=(2, 2), retry=RetryPolicy(max_attempts=1), rng=random.Random(0))
    built = ScriptedConnector(http=http, rate_limits=RateLimits(per_window=10_000, concurrent=5))
    built.api_base = f"{server.url}/api"
    return built


def stream(path: str, records_path: str, paginator: Paginator, params: dict[str, Any] | None = None) -> Stream:
    """A stream with the declarations a provider module would write, made inline for one test."""
    declared = type("Declared", (Stream,), {
        "name": "declared", "path": path, "records_path": records_path,
        "paginator": paginator, "params": params or {},
    })
    return declared()


def serve(server: ScriptedServer, path: str, answer: Callable[[Seen], Any]) -> None:
    def bounded(seen: Seen) -> Reply:
        if len(server.seen) > MOST_REQUESTS:
            return Reply(500, {"error": "the paginator did not stop"})
        return Reply(200, answer(seen))
    server.on(path, bounded)


def read_all(connector: Connector, declared: Stream, cursor: str | None = None,
             options: dict[str, Any] | None = None) -> list[Any]:
    pages = connector.pull(declared, token=token, tenant_id="t-1", cursor=cursor, options=options)
    return [record for page in pages for record in page.records]


# ------------------------------------------------------------------------------------- Xero: offset by key

def journals_up_to(total: int, ignore_offset: bool = False) -> Callable[[Seen], Any]:
    """GET /Journals: at most 100 journals with JournalNumber > offset, oldest first (providers.md 1.3)."""
    def answer(seen: Seen) -> Any:
        offset = 0 if ignore_offset else int(seen.query.get("offset", 0))
        numbers = range(offset + 1, min(offset + 100, total) + 1)
        return {"Status": "OK", "Journals": [{"JournalID": f"j-{n}", "JournalNumber": n} for n in numbers]}
    return answer


XERO_JOURNALS = stream("/Journals", "Journals", OffsetByKey(param="offset", key="JournalNumber"))


def test_offset_by_key_reads_every_journal_and_stops_on_an_empty_page(server, connector):
    serve(server, "/api/Journals", journals_up_to(250))
    records = read_all(connector, XERO_JOURNALS)
    assert [(s.path, s.query) for s in server.seen] == [("/api/Journals", {"offset": o}) for o in
                                                       ("0", "100", "200", "250")]
    assert [r["JournalNumber"] for r in records] == list(range(1, 251))


def test_offset_by_key_resumes_from_the_cursor(server, connector):
    serve(server, "/api/Journals", journals_up_to(250))
    records = read_all(connector, XERO_JOURNALS, cursor="200")
    assert [s.query["offset"] for s in server.seen] == ["200", "250"]
    assert [r["JournalNumber"] for r in records] == list(range(201, 251))


def test_offset_by_key_refuses_a_provider_that_ignores_the_offset(server, connector):
    # pyxero#190: a parameter Journals ignores brings back the same first 100 (providers.md 8.3)
    serve(server, "/api/Journals", journals_up_to(250, ignore_offset=True))
    with pytest.raises(BadResponse, match="offset=100 repeats the request"):
        read_all(connector, XERO_JOURNALS)
    assert [s.query["offset"] for s in server.seen] == ["0", "100"]


# ------------------------------------------------------------------------------- page numbers (Xero, Sage)

def test_page_number_stops_on_a_short_page(server, connector):
    # Xero Invoices: page + pageSize (providers.md 1.5)
    def answer(seen: Seen) -> Any:
        page, size = int(seen.query["page"]), int(seen.query["pageSize"])
        numbers = range((page - 1) * size + 1, min(page * size, 250) + 1)
        return {"Status": "OK", "Invoices": [{"InvoiceNumber": f"INV-{n}"} for n in numbers]}
    serve(server, "/api/Invoices", answer)
    records = read_all(connector, stream("/Invoices", "Invoices", PageNumber(page_size=100, size_param="pageSize")))
    assert [s.query for s in server.seen] == [{"page": p, "pageSize": "100"} for p in ("1", "2", "3")]
    assert [r["InvoiceNumber"] for r in records] == [f"INV-{n}" for n in range(1, 251)]


def sage_pages(total: int, link: Callable[[int, int], str | None] | None = None) -> Callable[[Seen], Any]:
    """Sage's envelope; a page past the last answers with the last page (providers.md 5.4)."""
    def answer(seen: Seen) -> Any:
        size = int(seen.query.get("items_per_page", 20))
        last = max(1, -(-total // size))
        page = min(int(seen.query.get("page", 1)), last)
        items = [{"id": f"la-{n}", "displayed_as": f"Account {n}"}
                 for n in range((page - 1) * size + 1, min(page * size, total) + 1)]
        following = link(page + 1, size) if link and page < last else None
        previous = f"/ledger_accounts?page={page - 1}&items_per_page={size}" if page > 1 else None
        return {"$total": total, "$page": page, "$next": following, "$back": previous, "$itemsPerPage": size,
                "$items": items}
    return answer


def test_page_number_with_a_reported_total_stops_at_the_total(server, connector):
    # 400 records in two full pages: without $total, page 3 would bring page 2 back, and so on forever
    serve(server, "/api/ledger_accounts", sage_pages(400))
    paginator = PageNumber(page_size=200, size_param="items_per_page", total_path="$total")
    records = read_all(connector, stream("/ledger_accounts", "$items", paginator))
    assert [s.query for s in server.seen] == [{"page": p, "items_per_page": "200"} for p in ("1", "2")]
    assert [r["id"] for r in records] == [f"la-{n}" for n in range(1, 401)]


# --------------------------------------------------------------------------- Business Central: @odata.nextLink

BC_PATH = "/companies(8a5f3c1e-0000-4000-8000-00000000c0de)/generalLedgerEntries"
BC_FILTER = {"$filter": "lastModifiedDateTime gt 2024-01-01T00:00:00Z"}


def test_odata_next_link_is_followed_verbatim_across_three_pages(server, connector):
    def link(skip: int) -> str:  # as Business Central writes it: absolute, the query kept, a $skiptoken added
        return f"{server.url}/api{BC_PATH}?$filter=lastModifiedDateTime%20gt%202024-01-01T00:00:00Z&$skiptoken={skip}"

    def answer(seen: Seen) -> Any:
        skip = int(seen.query.get("$skiptoken", 0))
        page: dict[str, Any] = {"@odata.context": "https://api.businesscentral.dynamics.com/$metadata",
                                "value": [{"entryNumber": n} for n in range(skip + 1, min(skip + 3, 7) + 1)]}
        if skip + 3 < 7:
            page["@odata.nextLink"] = link(skip + 3)
        return page

    serve(server, f"/api{BC_PATH}", answer)
    records = read_all(connector, stream(BC_PATH, "value", NextLink(("@odata.nextLink",)), BC_FILTER))
    assert [s.target for s in server.seen] == [
        f"/api{BC_PATH}?{urlencode(BC_FILTER)}",
        *(urlsplit(link(skip))._replace(scheme="", netloc="").geturl() for skip in (3, 6)),
    ]
    assert [r["entryNumber"] for r in records] == list(range(1, 8))


def test_a_key_holding_a_dot_is_read_as_one_key_when_given_as_a_tuple():
    body = {"@odata.nextLink": "https://example.test/next", "@odata": {"nextLink": "nested"}}
    assert dig(body, ("@odata.nextLink",)) == "https://example.test/next"
    assert dig(body, "@odata.nextLink") == "nested"  # a string path splits on dots: the reason for the tuple


# ------------------------------------------------------------------------------ QuickBooks: query text window

def qbo_accounts(total: int) -> Callable[[Seen], Any]:
    """GET /v3/company/{realmId}/query?query=...: the window read back from the query text (providers.md 2.2)."""
    def answer(seen: Seen) -> Any:
        window = re.fullmatch(r"select \* from Account STARTPOSITION (\d+) MAXRESULTS (\d+)", seen.query["query"])
        assert window, seen.query["query"]
        start, most = int(window.group(1)), int(window.group(2))
        accounts = [{"Id": str(n), "Name": f"Account {n}"} for n in range(start, min(start + most - 1, total) + 1)]
        if not accounts:
            return {"QueryResponse": {}, "time": "2024-05-01T10:00:00.000-07:00"}
        return {"QueryResponse": {"Account": accounts, "startPosition": start, "maxResults": len(accounts)},
                "time": "2024-05-01T10:00:00.000-07:00"}
    return answer


QBO_ACCOUNTS = stream("/query", "QueryResponse.Account", QueryText("select * from Account", page_size=3),
                      {"minorversion": "75"})


def test_query_text_moves_its_window_until_a_short_page(server, connector):
    serve(server, "/api/query", qbo_accounts(7))
    records = read_all(connector, QBO_ACCOUNTS)
    assert [s.query for s in server.seen] == [
        {"minorversion": "75", "query": f"select * from Account STARTPOSITION {start} MAXRESULTS 3"}
        for start in (1, 4, 7)
    ]
    assert [r["Id"] for r in records] == [str(n) for n in range(1, 8)]


def test_query_text_stops_on_an_empty_answer_after_a_full_last_page(server, connector):
    serve(server, "/api/query", qbo_accounts(6))
    records = read_all(connector, QBO_ACCOUNTS)
    assert [s.query["query"] for s in server.seen] == [
        f"select * from Account STARTPOSITION {start} MAXRESULTS 3" for start in (1, 4, 7)
    ]
    assert [r["Id"] for r in records] == [str(n) for n in range(1, 7)]


# ----------------------------------------------------------------------------------------- MYOB: $top / $skip

MYOB_PATH = "/GeneralLedger/JournalTransaction/"


def myob_journals(server: ScriptedServer, total: int, cap: int = 1000) -> Callable[[Seen], Any]:
    """`$top` (capped as the provider caps it) and `$skip`; NextPageLink null on the last page (providers.md 4.3)."""
    def answer(seen: Seen) -> Any:
        top, skip = min(int(seen.query.get("$top", 400)), cap), int(seen.query.get("$skip", 0))
        items = [{"UID": f"uid-{n}", "DisplayID": f"GJ{n:06d}"} for n in range(skip + 1, min(skip + top, total) + 1)]
        more = skip + len(items) < total
        link = f"{server.url}/api{MYOB_PATH}?$top={top}&$skip={skip + len(items)}" if more else None
        return {"Items": items, "NextPageLink": link, "Count": total}
    return answer


def myob_stream(more_path: str | None) -> Stream:
    return stream(MYOB_PATH, "Items", OffsetLimit("$skip", "$top", page_size=3, more_path=more_path))


def test_top_skip_stops_when_next_page_link_is_null_even_on_a_full_page(server, connector):
    serve(server, f"/api{MYOB_PATH}", myob_journals(server, total=6))
    records = read_all(connector, myob_stream("NextPageLink"))
    assert [s.query for s in server.seen] == [{"$skip": skip, "$top": "3"} for skip in ("0", "3")]
    assert [r["UID"] for r in records] == [f"uid-{n}" for n in range(1, 7)]


def test_top_skip_follows_next_page_link_past_pages_the_provider_capped(server, connector):
    serve(server, f"/api{MYOB_PATH}", myob_journals(server, total=7, cap=2))
    records = read_all(connector, myob_stream("NextPageLink"))
    assert [s.query for s in server.seen] == [{"$skip": skip, "$top": "3"} for skip in ("0", "2", "4", "6")]
    assert [r["UID"] for r in records] == [f"uid-{n}" for n in range(1, 8)]


def test_top_skip_without_a_link_stops_on_a_short_page(server, connector):
    serve(server, f"/api{MYOB_PATH}", myob_journals(server, total=7))
    records = read_all(connector, myob_stream(None))
    assert [s.query for s in server.seen] == [{"$skip": skip, "$top": "3"} for skip in ("0", "3", "6")]
    assert [r["UID"] for r in records] == [f"uid-{n}" for n in range(1, 8)]


# ------------------------------------------------------------------------------------------ Sage: $next links

SAGE_ACCOUNTS = stream("/ledger_accounts", "$items", NextLink("$next"), {"items_per_page": 2})


def test_a_relative_next_link_is_read_against_the_stream_url(server, connector):
    serve(server, "/api/ledger_accounts",
          sage_pages(5, lambda page, size: f"/ledger_accounts?page={page}&items_per_page={size}"))
    records = read_all(connector, SAGE_ACCOUNTS)
    assert [(s.path, s.query) for s in server.seen] == [
        ("/api/ledger_accounts", {"items_per_page": "2"}),
        ("/api/ledger_accounts", {"items_per_page": "2", "page": "2"}),
        ("/api/ledger_accounts", {"items_per_page": "2", "page": "3"}),
    ]
    assert [r["id"] for r in records] == [f"la-{n}" for n in range(1, 6)]


@pytest.mark.parametrize("link", [
    "ledger_accounts?page=2",  # neither absolute nor a path
    "ftp://files.example.test/ledger_accounts?page=2",
    "//elsewhere.example.test/ledger_accounts?page=2",
    "http://[::1/ledger_accounts",  # does not parse
    42,
])
def test_a_next_link_that_is_not_a_url_raises_bad_response(server, connector, link):
    serve(server, "/api/ledger_accounts", sage_pages(5, lambda page, size: link))
    with pytest.raises(BadResponse, match="the next link is"):
        read_all(connector, SAGE_ACCOUNTS)
    assert len(server.seen) == 1


def test_a_next_link_to_the_page_it_came_with_raises_bad_response(server, connector):
    # a page past the last answers with the last page; a $next naming that same page must not loop
    serve(server, "/api/ledger_accounts",
          sage_pages(5, lambda page, size: f"/ledger_accounts?page={min(page, 2)}&items_per_page={size}"))
    with pytest.raises(BadResponse, match="repeats the request it answered"):
        read_all(connector, SAGE_ACCOUNTS)
    assert [s.query.get("page") for s in server.seen] == [None, "2"]


def test_an_absolute_next_link_to_itself_raises_bad_response(server, connector):
    def answer(seen: Seen) -> Any:
        return {"value": [{"entryNumber": 1}], "@odata.nextLink": f"{server.url}/api{BC_PATH}?$skiptoken=1"}
    serve(server, f"/api{BC_PATH}", answer)
    with pytest.raises(BadResponse, match="repeats the request it answered"):
        read_all(connector, stream(BC_PATH, "value", NextLink(("@odata.nextLink",))))
    assert [s.query.get("$skiptoken") for s in server.seen] == [None, "1"]


def test_an_absolute_next_link_to_another_host_is_not_followed(server, connector):
    """Our bearer token goes only to the provider's API, whatever a response body names."""
    other = ScriptedServer()
    try:
        other.on("/api/next", lambda seen: Reply(200, {"value": []}))
        link = f"{other.url}/api/next"
        serve(server, f"/api{BC_PATH}", lambda seen: {"value": [{"entryNumber": 1}], "@odata.nextLink": link})
        with pytest.raises(BadResponse, match="leads away from the provider's API"):
            read_all(connector, stream(BC_PATH, "value", NextLink(("@odata.nextLink",))))
        assert len(server.seen) == 1
        assert other.seen == []
    finally:
        other.close()


# ------------------------------------------------------------------------------ one request per option value

def test_each_option_asks_once_per_distinct_value(server, connector):
    # Xero's trial balance: one report per period end date (providers.md 1.3)
    serve(server, "/api/Reports/TrialBalance",
          lambda seen: {"Reports": [{"ReportDate": seen.query["date"], "Rows": []}]})
    trial_balance = stream("/Reports/TrialBalance", "Reports", EachOption(param="date", option="period_ends"))
    records = read_all(connector, trial_balance,
                       options={"period_ends": ["2024-01-31", "2024-02-29", "2024-01-31", "2024-03-31"]})
    assert [s.query for s in server.seen] == [{"date": d} for d in ("2024-01-31", "2024-02-29", "2024-03-31")]
    assert [r["ReportDate"] for r in records] == ["2024-01-31", "2024-02-29", "2024-03-31"]
