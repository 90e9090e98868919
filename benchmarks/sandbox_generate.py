"""How fast the sandbox generates journal lines and serves Journals pages.

    .venv/bin/python benchmarks/sandbox_generate.py [lines] [--clients N]

Generates one organisation of `lines` lines (default 1,000,000) on its own, then again inside a
sandbox app, then pages through all of its journals over real HTTP (waitress, rate limits off) and
prints lines/s and pages/s, plus the server-side cost of building one page without HTTP.
"""
from __future__ import annotations

import argparse
import gc
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.sandbox import RateLimits, SandboxConfig, create_sandbox_app  # noqa: E402
from server.sandbox.data import generate_organisation  # noqa: E402
from server.sandbox.xero.format import collection  # noqa: E402
from tests.support.sandbox import TEST_CLIENT, SandboxServer  # noqa: E402
from tests.support.wsgi import serve_wsgi  # noqa: E402

END_MS = 1_760_000_000_000  # a fixed "now": every run generates the same organisation


def pull_all(server: SandboxServer, token: dict, tenant_id: str, starts: list[int]) -> tuple[int, int]:
    pages = lines = 0
    for offset in starts:
        body = server.api(f"Journals?offset={offset}", token, tenant_id).json()
        pages += 1
        lines += sum(len(j["JournalLines"]) for j in body["Journals"])
    return pages, lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lines", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    args = parser.parse_args()

    gc.disable()  # as the app factory does: collecting mid-way only costs time
    started = time.perf_counter()
    try:
        alone = generate_organisation(0, 1, args.lines, END_MS)
    finally:
        gc.enable()
    generated = time.perf_counter() - started
    print(f"generate_organisation alone: {alone.line_count:,} lines in {generated:.1f}s: "
          f"{alone.line_count / generated:,.0f} lines/s")
    del alone
    gc.collect()

    config = SandboxConfig(clients=[TEST_CLIENT], lines=args.lines, tenants=1, auto_approve=True,
                           rate_limits=RateLimits(enabled=False))
    started = time.perf_counter()
    app = create_sandbox_app(config)
    generated = time.perf_counter() - started
    organisation = next(iter(app.extensions["sandbox"].organisations.values()))
    print(f"generated {organisation.line_count:,} lines in {len(organisation.journals):,} journals "
          f"in {generated:.1f}s: {organisation.line_count / generated:,.0f} lines/s")

    offsets = list(range(0, len(organisation.journals), 100))
    started = time.perf_counter()
    for offset in offsets:
        collection("bench", 0, "Journals", organisation.journal_page(offset, None))
    in_process = time.perf_counter() - started
    print(f"page building without HTTP: {len(offsets) / in_process:,.0f} pages/s "
          f"({in_process / len(offsets) * 1e6:.0f} us per 100-journal page)")

    with serve_wsgi(app, threads=8) as url:
        server = SandboxServer(url, config, app)
        token = server.authorize()
        tenant_id = organisation.tenant_id
        shares = [offsets[i::args.clients] for i in range(args.clients)]
        results: list[tuple[int, int]] = []
        workers = [threading.Thread(target=lambda s=s: results.append(
            pull_all(SandboxServer(url, config, app), token, tenant_id, s))) for s in shares]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        pages, lines = sum(r[0] for r in results), sum(r[1] for r in results)
        assert lines == organisation.line_count, (lines, organisation.line_count)
        print(f"served over HTTP to {args.clients} clients (parsing JSON): {pages:,} pages in {elapsed:.1f}s: "
              f"{pages / elapsed:,.0f} pages/s, {lines / elapsed:,.0f} lines/s")
        raw = requests.Session()
        headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": tenant_id}
        sample = offsets[: min(len(offsets), 500)]
        started = time.perf_counter()
        for offset in sample:
            assert raw.get(f"{url}/xero/api.xro/2.0/Journals?offset={offset}", headers=headers).content
        elapsed = time.perf_counter() - started
        print(f"served over HTTP to 1 client, bytes only: {len(sample) / elapsed:,.0f} pages/s")


if __name__ == "__main__":
    main()
