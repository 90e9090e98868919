"""What the pane's busiest requests cost the database: a fixed number of statements, whatever the page's size
(benchmarks/api_load.py measures the time; this keeps the number of round trips from growing back)."""
import pytest

from tests.support.listing import add_connections, statements


@pytest.mark.parametrize("sort", ["name", "last_run_at"])
def test_the_list_costs_the_same_statements_for_a_page_of_three_or_thirty(client, app, db, workspace, sort):
    add_connections(db, workspace, 30)
    client.get("/api/v1/workspace", headers=workspace.member())  # the key's first use is noted (a write)
    counts = []
    for per_page in (3, 30):
        with statements(app) as seen:
            response = client.get(f"/api/v1/connections?sort={sort}&per_page={per_page}", headers=workspace.member())
        assert response.status_code == 200 and len(response.get_json()["items"]) == per_page
        counts.append(len(seen))
    # The count, the page, its entities, its records and accounts with each newest run's id, those runs, and the
    # workspace's timezone.
    assert counts == [6, 6], counts
    item = response.get_json()["items"][0]
    assert (item["account_status"]["accounts"], item["records_last_30_days"], len(item["selected_entities"])) == \
        (2, 3, 2)
    assert item["last_run"]["status"] == "succeeded"


def test_the_log_counts_only_when_a_page_does_not_hold_every_event(client, app, db, workspace):
    add_connections(db, workspace, 4)
    client.get("/api/v1/workspace", headers=workspace.member())
    with statements(app) as seen:
        assert client.get("/api/v1/log", headers=workspace.member()).get_json()["total"] == 4
    assert len(seen) == 1, seen  # the page
    with statements(app) as seen:
        assert client.get("/api/v1/log?per_page=3", headers=workspace.member()).get_json()["total"] == 4
    assert len(seen) == 2, seen  # and the count
