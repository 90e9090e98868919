"""One error format for every response: {"error": {"code", "message", "field"}}.

Views raise `ApiError`; everything else (HTTP errors, validation errors, unexpected exceptions) is
turned into the same shape here, so no client ever sees a stack trace or an HTML error page.
"""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}

    def response(self):
        response, status = error_response(self.status, self.code, self.message, self.field)
        response.headers.update(self.headers)
        return response, status


def not_found(what: str) -> ApiError:
    # Another workspace's ids answer exactly like ids that do not exist.
    return ApiError(404, "not_found", f"No such {what}.")


def error_response(status: int, code: str, message: str, field: str | None = None, **extra):
    body = {"code": code, "message": message, "field": field, **extra}
    return jsonify(error=body), status


# Pydantic error types -> our stable codes. Anything else is a plain validation error.
_PYDANTIC_CODES = {
    "extra_forbidden": ("unknown_field", "Unknown field."),
    "missing": ("missing_field", "This field is required."),
}


def validation_error_response(error: ValidationError):
    """Report the first problem, with the field at fault in dotted form (e.g. `entities.2.id`)."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    code, message = _PYDANTIC_CODES.get(first["type"], ("invalid_value", first["msg"].removeprefix("Value error, ")
                                                         + "."))
    if first["type"].endswith("_type") or first["type"] in {"model_type", "dict_type", "list_type"}:
        code = "wrong_type"
        message = first["msg"] + "."
    response, status = error_response(422, code, message, field)
    response.status_code = status
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error.response()

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError):
        return validation_error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.response is not None:  # a response built elsewhere (e.g. validation) passes through
            return error.response
        status = error.code or 500
        message = error.description or error.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"The request body is larger than the {limit:,} bytes allowed."
        elif status == 404:
            message = "No such resource."
        response, status = error_response(status, _HTTP_CODES.get(status, "http_error"), message)
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))  # RFC 9110 15.5.6: a 405 says
        response.status_code = status
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        request_id = g.get("request_id", "")
        log.exception("unhandled error in request %s", request_id)
        return error_response(
            500, "internal_error", "Something went wrong on our side. Quote the request id if you report it.",
            request_id=request_id,
        )
