"""Everything one sandbox holds (organisations, OAuth store, faults, limits, counters) and the guard
every provider call passes through: faults first, then rate limits, then the answer."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from flask import Response, request

from server.sandbox.config import SandboxConfig
from server.sandbox.data import generate_organisation
from server.sandbox.dialects import Dialect, current_dialect, dialect_named
from server.sandbox.faults import Fault, FaultBook, RateLimiter, StatsBook
from server.sandbox.ledger import Organisation
from server.sandbox.oauth import OAuthStore

IDENTITY = "identity"  # the fault target for the token and connections endpoints
DROP_CONNECTION = "ledgerpane.sandbox.drop_connection"  # environ flag read by the WSGI wrapper


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.dialect = dialect_named(config.dialect)
        self.end_ms = self._history_end_ms()
        self.organisations: dict[str, Organisation] = {}
        self._dirty: set[str] = set()
        for index in range(config.tenants):
            organisation = self._generate(index)
            self.organisations[organisation.tenant_id] = organisation
        self.oauth = OAuthStore(config.clock, config.access_token_ttl, config.refresh_grace,
                                config.refresh_token_ttl)
        for client in config.clients:
            self.oauth.register(client)
        self.faults = FaultBook()
        self.limiter = RateLimiter(config.rate_limits)
        self.stats = StatsBook()
        self.authorization_server = None  # set by the app factory, which owns the Flask app

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _history_end_ms(self) -> int:
        now_ms = int(self.clock() * 1000)
        if self.config.end_date is None:
            return now_ms
        end = datetime(self.config.end_date.year, self.config.end_date.month, self.config.end_date.day,
                       tzinfo=UTC)
        return min(now_ms, int(end.timestamp() * 1000) + 86_400_000 - 1)

    def _generate(self, index: int) -> Organisation:
        count = self.config.tenants
        lines = self.config.lines // count + (1 if index < self.config.lines % count else 0)
        return generate_organisation(index, self.config.seed, lines, self.end_ms, self.dialect.render_journal)

    def organisation(self, tenant_id: str) -> Organisation | None:
        return self.organisations.get(tenant_id)

    def touched(self, tenant_id: str) -> None:
        """Remember that a test changed this organisation, so reset() regenerates it."""
        self._dirty.add(tenant_id)

    def reset(self, data: bool = True, faults: bool = True, stats: bool = True, limits: bool = True,
              grants: bool = False) -> None:
        if data:
            for index, tenant_id in enumerate(list(self.organisations)):
                if tenant_id in self._dirty:
                    self.organisations[tenant_id] = self._generate(index)
            self._dirty.clear()
        if faults:
            self.faults.clear()
        if stats:
            self.stats.reset()
        if limits:
            self.limiter.configure(self.config.rate_limits)
        if grants:
            with self.oauth.lock:
                for grant in self.oauth.grants.values():
                    self.oauth.revoke(grant)

    # -- responses -----------------------------------------------------------------------------

    @staticmethod
    def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return Response(body, status, headers, content_type="application/json; charset=utf-8")

    def problem(self, status: int, title: str, detail: str, headers: dict | None = None) -> Response:
        """The identity/authorisation error body (RFC 7807 style, as 401/403/429 answers carry it), or the
        speaking dialect's own error shape where it has one."""
        shape = self.speaking().problem_body
        if shape is not None:
            return self.json_response(shape(status, title, detail), status, headers)
        return self.json_response({"Type": None, "Title": title, "Status": status, "Detail": detail,
                                   "Instance": None, "Extensions": {}}, status, headers)

    def _fault_response(self, fault: Fault) -> Response | None:
        """The response a fault replaces the real answer with; None when the call should go on."""
        if fault.kind == "slow":
            time.sleep(fault.delay)  # real time: the client's timeout is what is being tested
            return None
        if fault.kind == "drop":
            request.environ[DROP_CONNECTION] = True
            return Response(b"", 500)
        if fault.kind == "429":
            return self.problem(429, "Too Many Requests", "Rate limit exceeded",
                                {"Retry-After": str(fault.retry_after), "X-Rate-Limit-Problem": "minute"})
        if fault.kind == "503":
            speaking = self.speaking()
            come_back = {"Retry-After": str(fault.retry_after)} if speaking.retry_after_when_unavailable else None
            return self.problem(503, "Service Unavailable", speaking.unavailable, come_back)
        return self.problem(500, "Internal Server Error", self.speaking().server_error)

    def speaking(self) -> Dialect:
        """The dialect of the URL being answered; the sandbox's own where no dialect's URL is."""
        return current_dialect() or self.dialect

    # -- guards --------------------------------------------------------------------------------

    def guard_identity(self, endpoint: str, respond: Callable[[], Response]) -> Response:
        fault = self.faults.take(IDENTITY, endpoint)
        if fault is not None:
            replaced = self._fault_response(fault)
            if replaced is not None:
                return replaced
        return respond()

    def guard_api(self, endpoint: str, tenant_id: str,
                  respond: Callable[[Organisation, str], Response]) -> Response:
        """Bearer token, the tenant the call names (a header or a path, as the dialect says), faults, rate
        limits, then `respond(organisation, app name)`."""
        token = self.oauth.authenticate(request.headers.get("Authorization"))
        organisation = self.organisations.get(tenant_id)
        if organisation is None or not self.oauth.is_connected(token.client_id, tenant_id):
            detail = "AuthenticationUnsuccessful" if tenant_id else self.speaking().tenant_missing
            return self.problem(403, "Forbidden", detail)
        fault = self.faults.take(tenant_id, endpoint)
        if fault is not None and fault.kind != "slow":
            self.stats.record(tenant_id, endpoint, "dropped" if fault.kind == "drop" else fault.kind,
                              injected=fault.kind)
            return self._fault_response(fault)
        decision = self.limiter.acquire(tenant_id, token.client_id, self.clock())
        if not decision.allowed:
            self.stats.record(tenant_id, endpoint, 429, rate_limited=decision.problem)
            headers = {**decision.headers, "Retry-After": str(decision.retry_after),
                       "X-Rate-Limit-Problem": decision.problem}
            return self.problem(429, "Too Many Requests", f"Rate limit exceeded: {decision.problem}",
                                headers)
        in_flight = self.limiter.in_flight(tenant_id)
        try:
            if fault is not None:
                self._fault_response(fault)
            response = respond(organisation, self.oauth.clients[token.client_id].name)
        finally:
            self.limiter.release(tenant_id)
        response.headers.update(decision.headers)
        self.stats.record(tenant_id, endpoint, response.status_code, in_flight,
                          injected=fault.kind if fault else None)
        return response
