"""The sandbox's Xero API read as a client reads it: the response envelope, paging through Journals, and the
If-Modified-Since header."""
from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

MS_DATE = re.compile(r"/Date\(\d+(\+0000)?\)/")


def envelope(response, key: str) -> list:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.text, parse_float=Decimal)
    assert body["Status"] == "OK"
    uuid.UUID(body["Id"])
    assert MS_DATE.fullmatch(body["DateTimeUTC"])
    assert body["ProviderName"] == "Ledgerpane (tests)"
    return body[key]


def all_journals(api, tenant_id: str, headers: dict | None = None, offset: int = 0) -> list[dict]:
    """Page through Journals as Xero's docs say: offset = last JournalNumber seen."""
    journals = []
    while True:
        page = envelope(api(f"Journals?offset={offset}", tenant_id, headers=headers or {}), "Journals")
        if not page:
            return journals
        assert len(page) <= 100
        numbers = [j["JournalNumber"] for j in page]
        assert numbers == sorted(numbers) and numbers[0] > offset
        journals.extend(page)
        offset = numbers[-1]


def if_modified_since(ms: int) -> dict:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return {"If-Modified-Since": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"}
