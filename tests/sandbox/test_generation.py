"""Generated data: deterministic, exactly the size asked for, balanced. (How fast: benchmarks/sandbox_generate.py.)"""
from __future__ import annotations

import orjson
import pytest

from server.sandbox import SandboxConfig
from server.sandbox.data import generate_organisation
from server.sandbox.ledger import CLASS_OF_TYPE
from server.sandbox.state import Sandbox

END_MS = 1_760_000_000_000  # a fixed "now", so two generations can be compared byte for byte


def test_the_same_seed_gives_the_same_organisation():
    first, second = (generate_organisation(0, 42, 500, END_MS) for _ in range(2))
    assert first.tenant_id == second.tenant_id
    assert [j.payload for j in first.journals] == [j.payload for j in second.journals]
    other = generate_organisation(0, 43, 500, END_MS)
    assert other.tenant_id != first.tenant_id


@pytest.mark.parametrize("lines", [0, 2, 3, 5, 7, 1001])
def test_exactly_the_lines_asked_for(lines):
    organisation = generate_organisation(1, 1, lines, END_MS)
    assert organisation.line_count == lines == sum(len(j.lines) for j in organisation.journals)


def test_lines_are_split_over_the_organisations():
    sandbox = Sandbox(SandboxConfig(lines=1000, tenants=4))
    counts = [o.line_count for o in sandbox.organisations.values()]
    assert counts == [250, 250, 250, 250]
    assert [o.name for o in sandbox.organisations.values()][-1] == "Demo Company (NZ)"


def test_journals_are_balanced_tracked_and_ids_unique():
    organisation = generate_organisation(2, 5, 5000, END_MS)
    ids = set()
    for journal in organisation.journals:
        body = orjson.loads(journal.payload)
        assert sum(line.net for line in journal.lines) == 0
        for line in body["JournalLines"]:
            assert len(line["TrackingCategories"]) <= 2
            assert CLASS_OF_TYPE[line["AccountType"]]
            ids.add(line["JournalLineID"])
        ids.add(body["JournalID"])
    assert len(ids) == organisation.line_count + len(organisation.journals)


def test_a_large_organisation_is_exact_and_the_same_every_time():
    # The shape of a big load at a size the suite can afford: every line asked for, each journal balanced,
    # numbered without gaps, and byte for byte the same on a second run.
    first, second = (generate_organisation(3, 11, 20_000, END_MS) for _ in range(2))
    assert first.line_count == 20_000 == sum(len(j.lines) for j in first.journals)
    assert [j.number for j in first.journals] == list(range(1, len(first.journals) + 1))
    assert all(sum(line.net for line in j.lines) == 0 for j in first.journals)
    assert [j.payload for j in first.journals] == [j.payload for j in second.journals]
