"""The same change sent many times at once, as a double-clicking admin or two admins do: one takes effect, the
others are told plainly why not, and nothing is done twice (an outside probe once found 500s, two revocations at
the provider, and a schedule mixed from two requests). The app serves the requests from threads, as waitress does."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

TIMES = 12


def at_once(send) -> Counter:
    """Call `send()` from TIMES threads released together; the statuses they got."""
    start, statuses, lock = threading.Barrier(TIMES), Counter(), threading.Lock()

    def one() -> None:
        start.wait()
        status = send().status_code
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=one) for _ in range(TIMES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


@pytest.mark.parametrize("action", ["disconnect", "delete"])
def test_ending_a_source_twice_at_once_ends_it_once(journey, app, client, workspace, provider, action):
    connection_id = journey.connect()
    revocations = []
    vault = app.extensions["ledgerpane"].vault
    revoke = vault.revoke
    vault.revoke = lambda connection: (revocations.append(connection.id), revoke(connection))[1]
    url = f"/api/v1/connections/{connection_id}"
    send = (lambda: client.post(f"{url}/disconnect", headers=workspace.admin())) if action == "disconnect" else (
        lambda: client.delete(url, headers=workspace.admin()))

    statuses = at_once(send)

    refused = 409 if action == "disconnect" else 404  # a deleted source is not found
    assert statuses == {200: 1, refused: TIMES - 1}, statuses
    assert revocations == [connection_id], "revoked at the provider once"


def test_one_name_added_at_once_is_added_once(client, workspace):
    statuses = at_once(lambda: client.post("/api/v1/dimensions", json={"name": "Region"}, headers=workspace.admin()))
    assert statuses == {201: 1, 409: TIMES - 1}, statuses
    region = client.get("/api/v1/dimensions", headers=workspace.admin()).get_json()["items"][0]
    statuses = at_once(lambda: client.post(f"/api/v1/dimensions/{region['id']}/members", json={"name": "North"},
                                           headers=workspace.admin()))
    assert statuses == {201: 1, 409: TIMES - 1}, statuses
    statuses = at_once(lambda: client.delete(f"/api/v1/dimensions/{region['id']}", headers=workspace.admin()))
    assert statuses == {200: 1, 404: TIMES - 1}, statuses


def test_schedules_saved_at_once_leave_one_of_them_whole(journey, client, workspace):
    connection_id = journey.connect()
    bodies = [{"kind": "daily", "time": "01:30"}, {"kind": "weekdays", "time": "03:15"},
              {"kind": "every_n_hours", "time": "00:10", "every_hours": 4}]
    turn = iter(range(TIMES))
    url = f"/api/v1/connections/{connection_id}/schedule"

    statuses = at_once(lambda: client.put(url, json=bodies[next(turn) % len(bodies)], headers=workspace.admin()))

    assert statuses == {200: TIMES}, statuses
    saved = client.get(url, headers=workspace.admin()).get_json()
    assert {"kind": saved["kind"], "time": saved["time"], "every_hours": saved["every_hours"]} in [
        {"every_hours": None, **body} for body in bodies[:2]] + [bodies[2]], saved
