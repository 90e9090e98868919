"""Checking a real response against the service's own OpenAPI document."""
from __future__ import annotations

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012


def validator_for(document: dict, path: str, method: str, status: int) -> Draft202012Validator:
    """A validator for the JSON the document promises for `method path` answering `status`."""
    schema = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    registry = Registry().with_resource("urn:api", DRAFT202012.create_resource(document))
    schema = {"$ref": "urn:api#" + schema["$ref"].removeprefix("#")} if "$ref" in schema else schema
    return Draft202012Validator(schema, registry=registry)
