"""Load on one tenant of the sandbox provider from a process of its own, through the one HTTP client: what a
refresh worker does, without the rest of a refresh, so a test controls how hard it pushes."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from server.connectors.framework.budgets import SharedBudgets
from server.connectors.framework.errors import ProviderError
from server.connectors.framework.http import HttpClient, RateLimits


@dataclass(frozen=True)
class Load:
    url: str  # an API endpoint of the tenant
    access_token: str
    tenant_id: str
    limits: RateLimits
    calls: int  # by this process
    threads: int  # at once in this process, as a worker's runs would be
    redis_url: str = ""  # empty: this process counts alone
    namespace: str = ""


def push(load: Load, results: multiprocessing.Queue) -> None:
    """Make `load.calls` calls on `load.threads` threads; put the statuses (or error names) on `results`."""
    client = HttpClient()
    if load.redis_url:
        client.share_budgets(SharedBudgets(load.redis_url, load.namespace))
    headers = {"xero-tenant-id": load.tenant_id, "Accept": "application/json"}

    def call(_: int) -> str:
        try:
            response, _record = client.request("GET", load.url, rate_key=f"xero-sandbox:{load.tenant_id}",
                                               limits=load.limits, token=lambda rejected=None: load.access_token,
                                               headers=headers)
            return str(response.status_code)
        except ProviderError as error:
            return type(error).__name__

    with ThreadPoolExecutor(load.threads) as pool:
        results.put(list(pool.map(call, range(load.calls))))


def push_from_processes(loads: list[Load], deadline: float = 120) -> list[list[str]]:
    """Run each load in a process of its own, all at once; the statuses each saw."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=push, args=(load, results), name="budget-load") for load in loads]
    for process in processes:
        process.start()
    seen = [results.get(timeout=deadline) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    return seen
