"""This folder's app offers the sandbox provider (see tests/plugins/journey.py); its runs hand journal
pulls to the ledger reader's helper process after the first page."""
import pytest

from tests.support.journey import provider_app


@pytest.fixture
def app(db, tmp_path, provider):
    # After one page a pull moves to the helper process, so these tests go through both ways of reading;
    # small batches, so a run commits several times.
    with provider_app(db, tmp_path, provider, refresh_pages_in_process=1, refresh_batch_rows=500) as app:
        yield app
