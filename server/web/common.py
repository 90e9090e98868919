"""Pieces every blueprint shares: strict request models, the error model, paging, and the caller's connection."""
from __future__ import annotations

import functools
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from werkzeug.routing import BaseConverter

from server.access.keys import current_caller
from server.db.engine import lock_row, request_session
from server.db.models import Connection
from server.errors import not_found

BEARER = [{"workspace_key": []}]

# The ids the API shows (connections, entities, runs) are INTEGER columns: 32-bit on PostgreSQL, which refuses a
# larger number outright. An id outside 1..MAX_ID names nothing: in a URL it answers 404 like any missing id
# (the converter below), in a query or body it is refused with 422 (the `Id` type).
MAX_ID = 2**31 - 1


def digits_up_to(limit: int) -> str:
    """A regular expression matching exactly the decimal numbers 1..limit, without leading zeros."""
    text = str(limit)
    choices = [f"[1-9][0-9]{{0,{len(text) - 2}}}"] if len(text) > 1 else []
    for position, digit in enumerate(text):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            choices.append(f"{text[:position]}[{lowest}-{int(digit) - 1}][0-9]{{{len(text) - position - 1}}}")
    choices.append(text)
    return "(?:" + "|".join(choices) + ")"


class IdConverter(BaseConverter):
    """Every integer in our URLs is a row id: `<int:...>` matches 1..MAX_ID only, so any other number is "no
    such thing" (404, whatever the method) instead of an overflow in the database driver. The range is in the
    pattern itself: a converter that refused after matching would let another method's route answer 405."""

    regex = digits_up_to(MAX_ID)
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))


Id = Annotated[int, Field(ge=1, le=MAX_ID)]

# Control characters (C0, DEL, C1): PostgreSQL refuses NUL outright, and the others only garble a list or a log.
# The document states the rule as a pattern; the validator says it in words.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"


def _no_control_characters(value: str) -> str:
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise ValueError("Control characters (such as NUL or a line break) are not allowed here")
    return value


# Spaces of every kind (as JavaScript's \s has them, less the control characters refused anyway).
SPACES = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # as the patterns write them
_SPACE = re.compile(f"[{SPACES}]")
# A name: no control characters, and something besides spaces (a blank row in the list names nothing).
NAME_PATTERN = rf"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f{SPACES}][^\x00-\x1f\x7f-\x9f]*$"


def _not_blank(value: str) -> str:
    if not _SPACE.sub("", value):
        raise ValueError("A name needs more than spaces")
    return value


def name_text(max_length: int) -> Any:
    """A name a person gives (a workspace, a connection, a dimension, a member, an account)."""
    return Annotated[str, Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": NAME_PATTERN}),
                     AfterValidator(_no_control_characters), AfterValidator(_not_blank)]


Name = name_text(200)
# Free text a person types (a search, a setup value): the same characters refused, no length floor.
Text = Annotated[str, Field(max_length=200, json_schema_extra={"pattern": NO_CONTROL_CHARACTERS}),
                 AfterValidator(_no_control_characters)]


def plain_text(max_length: int, min_length: int = 0) -> Any:
    """Text a person gives, of other lengths than `Name` and `Text`, with the same characters refused."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length,
                                json_schema_extra={"pattern": NO_CONTROL_CHARACTERS}),
                     AfterValidator(_no_control_characters)]


class StrictModel(BaseModel):
    """Request models refuse fields they do not know, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class OptionalBody(StrictModel):
    """A body every field of which has a default: an empty request means "all defaults"."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_defaults(cls, data: Any) -> Any:
        return {} if data is None else data


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `unknown_field`.")
    message: str = Field(description="What went wrong, in plain words.")
    field: str | None = Field(None, description="The request field at fault, dotted, if any.")


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 413: ErrorOut, 422: ErrorOut}


MAX_PAGE = 1_000_000  # past any real list, and (page - 1) * per_page stays well inside an SQL OFFSET


class PageQuery(StrictModel):
    """A list's query. flask-openapi3 asks the model for its JSON schema on every request to read the query
    string (a few milliseconds each time): that schema never changes, so it is made once per model."""

    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(25, ge=1, le=200)

    @classmethod
    def model_json_schema(cls, *args, **kwargs) -> dict[str, Any]:
        if args or kwargs:  # the OpenAPI document's own call, with its settings
            return super().model_json_schema(*args, **kwargs)
        return _query_schema(cls)


@functools.cache
def _query_schema(model: type[PageQuery]) -> dict[str, Any]:
    return super(PageQuery, model).model_json_schema()


def find_connection(connection_id: int, *, changing: bool = False) -> Connection:
    """The caller's connection, or 404 (also for another workspace's and for deleted ones). `changing`: this
    request decides from its state, so others wait until it commits and then see what it did (a disconnect or
    delete sent twice at once revoked at the provider twice, and the second found no tokens: a 500)."""
    if changing:
        lock_row(request_session(), Connection, connection_id)
    connection = request_session().get(Connection, connection_id)
    if connection is None or connection.workspace_id != current_caller().workspace_id or connection.deleted_at:
        raise not_found("connection")
    return connection
