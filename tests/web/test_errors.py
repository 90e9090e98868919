"""Bad input always gets the one JSON error format with the right status, never a 500 or HTML."""
import pytest


def error_of(response) -> dict:
    assert response.is_json, response.data[:200]
    return response.get_json()["error"]


def test_malformed_json_is_400(client, workspace):
    response = client.patch("/api/v1/workspace", data='{"name": ', headers=workspace.admin(),
                            content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


def test_body_that_is_not_json_is_415(client, workspace):
    response = client.patch("/api/v1/workspace", data="name=x", headers=workspace.admin(),
                            content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate, gzip"])
def test_a_compressed_body_is_415_not_read_as_it_came(client, workspace, coding):
    # A JSON body that claims a coding it does not have was once read as plain JSON; a real one would be garbage.
    response = client.patch("/api/v1/workspace", data='{"name": "Renamed"}', content_type="application/json",
                            headers={**workspace.admin(), "Content-Encoding": coding})
    assert response.status_code == 415 and "uncompressed" in error_of(response)["message"]
    assert client.patch("/api/v1/workspace", json={"name": "Renamed"}, headers={
        **workspace.admin(), "Content-Encoding": "identity"}).status_code == 200


def test_unknown_field_names_the_field(client, workspace):
    response = client.patch("/api/v1/workspace", json={"nmae": "Acme"}, headers=workspace.admin())
    assert response.status_code == 422
    assert error_of(response) == {"code": "unknown_field", "message": "Unknown field.", "field": "nmae"}


@pytest.mark.parametrize("body, field", [({"name": 42}, "name"), ({"base_currency": ["GBP"]}, "base_currency")])
def test_wrong_type_names_the_field(client, workspace, body, field):
    response = client.patch("/api/v1/workspace", json=body, headers=workspace.admin())
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("wrong_type", field)


def test_json_that_is_not_an_object_is_refused(client, workspace):
    response = client.patch("/api/v1/workspace", json=[1, 2], headers=workspace.admin())
    assert response.status_code == 422
    assert error_of(response)["code"] == "wrong_type"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "posixrules", "right/UTC", "posix/Europe/London"])
def test_invalid_value_explains_itself(client, workspace, zone):
    # Besides a name that is no zone: the server's own zone ("localtime") and files of the zone database that are
    # not IANA zone names, which ZoneInfo would load all the same.
    response = client.patch("/api/v1/workspace", json={"timezone": zone}, headers=workspace.admin())
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "timezone" and zone in error["message"]
    assert client.patch("/api/v1/workspace", json={"timezone": "Europe/London"},
                        headers=workspace.admin()).get_json()["timezone"] == "Europe/London"


def test_bad_query_parameter_is_422(client, workspace):
    response = client.get("/api/v1/connections?per_page=abc", headers=workspace.admin())
    assert response.status_code == 422
    assert error_of(response)["field"] == "per_page"


def test_oversize_body_is_413_and_changes_nothing(client, workspace):
    huge = {"name": "x" * (2 * 1024 * 1024)}
    response = client.patch("/api/v1/workspace", json=huge, headers=workspace.admin())
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert client.get("/api/v1/workspace", headers=workspace.admin()).get_json()["name"] == workspace.name


def test_unknown_path_is_json_404(client, workspace):
    response = client.get("/api/v1/nothing-here", headers=workspace.admin())
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_wrong_method_is_json_405(client, workspace):
    response = client.delete("/api/v1/workspace", headers=workspace.admin())
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_unhandled_exception_is_500_with_request_id_and_no_trace(app, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert error["request_id"] == response.headers["X-Request-Id"] and len(error["request_id"]) == 32
    assert b"secret internals" not in response.data and b"Traceback" not in response.data
    assert error["request_id"] in caplog.text  # the log ties the report to the trace
