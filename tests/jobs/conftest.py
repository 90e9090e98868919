"""The job queues: `ledgerpane worker` processes to start and kill, and the runtime of the test's app."""
import pytest

from tests.support.workers import worker_processes


@pytest.fixture
def workers(tmp_path):
    with worker_processes(tmp_path) as start:
        yield start


@pytest.fixture
def runtime(app):
    return app.extensions["ledgerpane"]
