"""The field-type API as tests call it: a connection's streams, one field of them, and saving overrides."""
from __future__ import annotations


def streams(client, headers, connection_id: int) -> dict:
    response = client.get(f"/api/v1/connections/{connection_id}/streams", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {stream["name"]: stream for stream in response.get_json()["streams"]}


def field_of(found: dict, stream: str, name: str) -> dict:
    return next(f for f in found[stream]["fields"] if f["name"] == name)


def put_fields(client, headers, connection_id: int, stream: str, fields: list[dict], expect: int = 200) -> dict:
    response = client.put(f"/api/v1/connections/{connection_id}/streams/{stream}/fields", json={"fields": fields},
                          headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()
