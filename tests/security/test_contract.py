"""Statuses the service answers beyond its views' own are in the document, with the error schema."""
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012


def conforms(document: dict, path: str, method: str, response) -> None:
    declared = document["paths"][path][method]["responses"]
    assert str(response.status_code) in declared, f"{method} {path}: {response.status_code} is not declared"
    schema = declared[str(response.status_code)]["content"]["application/json"]["schema"]
    registry = Registry().with_resource("urn:api", DRAFT202012.create_resource(document))
    schema = {"$ref": "urn:api#" + schema["$ref"].removeprefix("#")} if "$ref" in schema else schema
    Draft202012Validator(schema, registry=registry).validate(response.get_json())


def test_a_provider_that_fails_the_company_list_is_a_documented_502(flow, provider):
    connection_id = flow.connect()
    provider.admin("POST", "/admin/identity/faults", {"kind": "500", "count": 50, "endpoint": "connections"},
                   expect=201)
    response = flow.client.post(f"/api/v1/connections/{connection_id}/entities/sync", headers=flow.headers)
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "provider_error"
    document = flow.client.get("/api/openapi.json").get_json()
    conforms(document, "/api/v1/connections/{connection_id}/entities/sync", "post", response)


def test_refused_bodies_are_documented_on_every_operation_that_takes_one(client, workspace):
    document = client.get("/api/openapi.json").get_json()
    broken = client.patch("/api/v1/workspace", data=b"{", content_type="application/json", headers=workspace.admin())
    not_json = client.patch("/api/v1/workspace", data=b"a=b", content_type="text/plain", headers=workspace.admin())
    for response in (broken, not_json):
        conforms(document, "/api/v1/workspace", "patch", response)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert ({"400", "415"} <= operation["responses"].keys()) == (method in {"post", "put", "patch"}), \
                f"{method} {path}"


def test_a_repeated_query_parameter_is_refused(client, workspace):
    response = client.get("/api/v1/connections?q=a&q=b", headers=workspace.member())
    assert response.status_code == 422
    assert response.get_json()["error"] == {"code": "repeated_parameter", "message": "Give q once.", "field": "q"}
