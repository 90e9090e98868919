"""Schemathesis against the running service, from its own OpenAPI document, as an admin and as a member: no
server error, no status the document does not declare, every response as its schema says, bad input refused.

CI runs a small budget per operation (LEDGERPANE_FUZZ_EXAMPLES, default 8); set it higher for a deeper run,
e.g. `LEDGERPANE_FUZZ_EXAMPLES=200 pytest tests/security/test_fuzzing.py -s`. The count of requests is printed.
CI derandomizes (the same inputs each run, so a red build is reproducible); a deeper run explores anew.
"""
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
import waitress
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis import checks as schemathesis_checks
from schemathesis.config import SchemathesisConfig

from tests.support.journey import Journey, provider_app

EXAMPLES = int(os.environ.get("LEDGERPANE_FUZZ_EXAMPLES", "8"))
CHECKS = [
    schemathesis_checks.not_a_server_error,
    schemathesis_checks.status_code_conformance,
    schemathesis_checks.content_type_conformance,
    schemathesis_checks.response_headers_conformance,
    schemathesis_checks.response_schema_conformance,
    schemathesis_checks.negative_data_rejection,  # input the schema forbids is refused (4xx)
    schemathesis_checks.ignored_auth,  # the same call without a key is refused
    schemathesis_checks.unsupported_method,  # a method the path lacks: 405 with Allow
]
# A request the document refuses may be refused for its length (414, `uri_too_long`) before its values are read:
# schemathesis's own list of rejections, and that one.
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": [
    "400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", "429", "5xx"]}}})
# Operations that end a connection go last, so the others meet the seeded connection alive.
LAST = ("POST /api/v1/connections/{connection_id}/disconnect", "DELETE /api/v1/connections/{connection_id}")


class RequestCounter:
    def __init__(self, app) -> None:
        self.app, self.count, self.lock = app, 0, threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.count += 1
        return self.app(environ, start_response)


@contextmanager
def served(app) -> Iterator[str]:
    """The app on a real port: the requests transport sends what a client sends (lists as repeated
    parameters, raw bytes), where the in-process transport would reshape some of it. Served by waitress, the
    embedded default's server, taking addresses far longer than the app does (a workbook filter of 1,000 codes
    is one): what is fuzzed is the app's own answer, not a server's page for a line it would not read."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4,
                                    max_request_header_size=64 * 1024 * 1024)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=30)


def fuzz(operation, mode: GenerationMode, base_url: str, key: str, failures: dict, **fixed) -> None:
    @given(operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, phases=[Phase.explicit, Phase.generate], deadline=None, database=None,
              derandomize="LEDGERPANE_FUZZ_EXAMPLES" not in os.environ,
              suppress_health_check=list(HealthCheck))
    def one(case) -> None:
        checks = CHECKS
        if any(value is None or value == [] for value in (case.query or {}).values()) or any(
                name.lower() == "authorization" for name in (case.headers or {})):
            # requests leaves such a parameter out of the URL, and our key replaces a generated Authorization
            # header, so what is sent may be valid after all
            checks = [check for check in CHECKS if check is not schemathesis_checks.negative_data_rejection]
        try:
            case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, checks=checks,
                                   timeout=30)
        except BaseException as failure:  # schemathesis raises a group of what it found: keep going, report all
            failures.setdefault(f"{operation.label} ({mode.value}{', ' + str(fixed) if fixed else ''})",
                                str(failure)[:2000])

    one()


@pytest.mark.slow
def test_the_api_keeps_its_document_under_fuzzing(db, tmp_path, provider, workspace, figures, caplog):
    caplog.set_level(logging.WARNING, logger="werkzeug")  # one access-log line per request is noise here
    with provider_app(db, tmp_path, provider, rate_limit_failed_keys="1000000 per hour") as app:
        connection_id = Journey(app.test_client(), provider, workspace.admin()).connect("Fuzzed books")
        counter = RequestCounter(app.wsgi_app)
        app.wsgi_app = counter
        with served(app) as base_url:
            schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json", config=CONFIG)
            operations = sorted((result.ok() for result in schema.get_all_operations()),
                                key=lambda operation: operation.label in LAST)
            failures: dict[str, str] = {}
            for operation in operations:
                for key in (workspace.admin_key, workspace.member_key):
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                        fuzz(operation, mode, base_url, key, failures)
                    if "{connection_id}" in operation.path:  # the seeded connection, not only ids that miss
                        fuzz(operation, GenerationMode.POSITIVE, base_url, key, failures,
                             path_parameters={"connection_id": connection_id})
        figures(f"fuzzing: {counter.count} requests over {len(operations)} operations, "
                f"{EXAMPLES} examples per operation, mode and key")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert counter.count > len(operations) * EXAMPLES
