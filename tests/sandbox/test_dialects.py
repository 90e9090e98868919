"""The framework names no provider: dialects are found by their packages, and the ledger speaks whichever
dialect renders it."""
from __future__ import annotations

import pytest
import requests

from server.sandbox import SandboxConfig
from server.sandbox.data import generate_organisation
from server.sandbox.dialects import dialect_named, registry
from server.sandbox.state import Sandbox

END_MS = 1_760_000_000_000


def test_each_dialect_package_is_found_and_served(sandbox):
    assert list(registry()) == ["business_central", "quickbooks", "xero"]
    index = requests.get(sandbox.url + "/", timeout=10).json()
    assert set(index["dialects"]) == set(registry())
    assert index["dialects"]["xero"]["token"] == index["token"] == "/xero/identity/connect/token"


def test_journals_are_written_in_the_words_of_the_dialect_given():
    organisation = generate_organisation(0, 1, 40, END_MS, render=lambda journal: f"#{journal.number}".encode())
    assert [j.payload for j in organisation.journals] == [
        f"#{n}".encode() for n in range(1, len(organisation.journals) + 1)]


def test_an_unknown_dialect_is_refused_by_name():
    with pytest.raises(ValueError, match="no sandbox dialect 'ledgerless'"):
        Sandbox(SandboxConfig(lines=0, dialect="ledgerless"))
    assert dialect_named(None) is next(d for d in registry().values() if d.default)
