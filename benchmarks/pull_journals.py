"""Pull every journal line of a 1,000,000-line sandbox organisation through the Xero connector.

    .venv/bin/python benchmarks/pull_journals.py [--lines 1000000]

The sandbox (Xero emulator) runs in a child process on 127.0.0.1 with its rate limits disabled, so the
figures are the connector's: HTTP, exact-decimal JSON parsing and record building, with the same OAuth
handshake and the same pull API the refresh pipeline uses. Peak RSS is this (client) process's.
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from urllib.parse import parse_qs, urlsplit

import requests

from server.connectors.framework.http import HttpClient, RateLimits
from server.connectors.xero.connector import XeroConnector, XeroEndpoints
from server.sandbox.config import DEMO_CLIENT


def serve_sandbox(lines: int, ready: multiprocessing.Queue) -> None:
    import waitress

    from server.sandbox import RateLimits as SandboxLimits
    from server.sandbox import SandboxConfig, create_sandbox_app

    started = time.perf_counter()
    app = create_sandbox_app(SandboxConfig(lines=lines, tenants=1, auto_approve=True,
                                           rate_limits=SandboxLimits(enabled=False)))
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    ready.put((f"http://127.0.0.1:{server.effective_port}", time.perf_counter() - started))
    server.run()


def connect(xero: XeroConnector) -> str:
    redirect = DEMO_CLIENT.redirect_uris[0]
    request = xero.auth.authorization_url(redirect)
    back = requests.get(request.url, allow_redirects=False, timeout=30).headers["Location"]
    callback = parse_qs(urlsplit(back).query)
    tokens = xero.auth.exchange_code(redirect_uri=redirect, code=callback["code"][0],
                                      returned_state=callback["state"][0], expected_state=request.state,
                                      code_verifier=request.code_verifier)
    return tokens["access_token"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    sandbox = context.Process(target=serve_sandbox, args=(args.lines, ready), daemon=True)
    sandbox.start()
    try:
        url, generated = ready.get(timeout=600)
        print(f"sandbox: {args.lines:,} lines generated in {generated:.1f} s at {url}")
        xero = XeroConnector(client_id=DEMO_CLIENT.client_id, client_secret=DEMO_CLIENT.client_secret,
                             endpoints=XeroEndpoints.sandbox(url), http=HttpClient(),
                             rate_limits=RateLimits.unlimited())
        access = connect(xero)
        tenant = xero.list_companies(lambda rejected=None: access)[0]
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started, cpu = time.perf_counter(), time.process_time()
        lines = pages = 0
        for page in xero.pull("journals", token=lambda rejected=None: access,
                              tenant_id=tenant.provider_entity_id):
            lines += len(page.records)
            pages += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"pulled {lines:,} journal lines in {pages:,} pages ({page.cursor} journals) in {elapsed:.1f} s")
        print(f"{lines / elapsed:,.0f} lines/s, {pages / elapsed:,.1f} pages/s; "
              f"client CPU {cpu / lines * 1e6:.1f} us a line")
        print(f"peak RSS (client): {peak / 1024:.0f} MiB (before the pull: {rss_before / 1024:.0f} MiB)")
    finally:
        sandbox.terminate()
        sandbox.join(timeout=10)


if __name__ == "__main__":
    main()
