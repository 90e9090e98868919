"""A connection's streams and their field types: what each stream pulls beside its records' role fields, with
sample values from the last refresh, and the types an admin casts those fields to during the load."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from server.access.keys import require_admin
from server.connectors.framework.streams import FIELD_TYPES, FieldType, Stream
from server.db.engine import request_session
from server.errors import error_response, not_found
from server.mapping import audit, stream_fields
from server.mapping.errors import Refused
from server.mapping.fields import MAX_SCALE
from server.runtime import runtime
from server.web.common import BEARER, ERRORS, ErrorDetail, Id, StrictModel, find_connection, name_text, plain_text

bp = APIBlueprint("streams", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Mapping")],
                  abp_security=BEARER, abp_responses=ERRORS)


@bp.errorhandler(Refused)
def _refused(error: Refused):
    extra = {"samples": error.samples} if isinstance(error, stream_fields.DoesNotFit) else {}
    return error_response(error.status, error.code, error.message, error.field, **extra)


class ConnectionPath(BaseModel):
    connection_id: Id


class StreamPath(ConnectionPath):
    stream: plain_text(100, min_length=1)


class FieldOut(BaseModel):
    name: str = Field(description="As the provider names it.")
    default_type: str = Field(description="The type the provider's values have; kept as sent unless overridden.")
    default_scale: int | None = Field(description="Decimal places of a decimal default.")
    type: str = Field(description="The type it loads as: the override, or the default.")
    scale: int | None = Field(description="Decimal places, for a decimal.")
    overridden: bool
    samples: list[Any] = Field(description="A few distinct values from the last refresh, as sent (a number with "
                                           "decimals as its exact text).")
    samples_at: datetime | None = Field(description="When the last refresh took them.")


class StreamOut(BaseModel):
    name: str
    data_type: str | None = Field(description="The data type it loads (none: the company profile, which comes "
                                              "with the accounts).")
    fields: list[FieldOut] = Field(description="The provider's other fields it keeps, in the order loaded rows hold "
                                               "their values (`source_fields`, a JSON array); empty when it keeps "
                                               "none.")


class StreamsOut(BaseModel):
    connection_id: int
    types: list[str] = Field(description="The types a field can be cast to.")
    streams: list[StreamOut]


class FieldIn(StrictModel):
    name: name_text(100)
    type: FieldType | None = Field(description="The type to cast to during the load; null: the "
                                                          "default (kept as sent).")
    scale: int | None = Field(None, ge=0, le=MAX_SCALE, description="Decimal places, for a decimal (2 if left "
                                                                     "out).")


class FieldsIn(StrictModel):
    fields: list[FieldIn] = Field(max_length=200, description="The stream's overrides; a field left out goes "
                                                              "back to its default type.")


class SavedFields(StreamOut):
    changed: list[str] = Field(description="What changed, in words; applies from the next refresh.")
    checked: list[str] = Field(description="What each chosen type was checked against, in words: the sample values "
                                           "the last refresh kept, or none.")


class DoesNotFitDetail(ErrorDetail):
    samples: list[Any] = Field(default_factory=list, description="type_does_not_fit: the values from the last "
                                                                 "refresh that the type does not fit.")


class DoesNotFitOut(BaseModel):
    error: DoesNotFitDetail


def _pulled(connection: Any) -> list[Stream]:
    """The streams a refresh of this connection pulls (as a run chooses them)."""
    wanted = set(connection.data_types)
    return [stream for stream in runtime().connector_for(connection).streams
            if stream.data_type is None or stream.data_type in wanted]


@bp.get("/connections/<int:connection_id>/streams", responses={200: StreamsOut})
def list_streams(path: ConnectionPath):
    """Every stream the connection pulls, the provider's other fields each keeps with their default type and the
    type they load as, and a few sample values from the last refresh."""
    connection = find_connection(path.connection_id)
    streams = stream_fields.listing(request_session(), connection.id, _pulled(connection))
    return StreamsOut(connection_id=connection.id, types=list(FIELD_TYPES),
                      streams=streams).model_dump(mode="json")


@bp.put("/connections/<int:connection_id>/streams/<stream>/fields",
        responses={200: SavedFields, 422: DoesNotFitOut})
def save_fields(path: StreamPath, body: FieldsIn):
    """Set the types a stream's fields are cast to during the load (admins). A type the sample values the last
    refresh kept do not fit is refused (422 `type_does_not_fit`, with those values); the answer says what each type
    was checked against. A value of a later refresh that does not fit is left empty on its line and named in the
    integration log."""
    caller = require_admin()
    connection = find_connection(path.connection_id)
    stream = next((s for s in _pulled(connection) if s.name == path.stream), None)
    if stream is None:
        raise not_found("stream")
    session = request_session()
    choices = [stream_fields.FieldChoice(f.name, f.type, f.scale) for f in body.fields]
    saved = stream_fields.save(session, caller.workspace_id, connection.id, stream, choices, caller.user)
    changed = saved.changed
    if changed:
        audit.record(session, caller.workspace_id, audit.Who(caller.member_id, caller.user), "fields.saved",
                     f"Field types of {connection.name}'s {stream.name} saved by {caller.user}: "
                     f"{'; '.join(changed)}.", {"stream": stream.name, "fields": body.model_dump()["fields"],
                                                 "changed": changed}, connection_id=connection.id)
    session.commit()
    [listed] = stream_fields.listing(session, connection.id, [stream])
    return SavedFields(**listed, changed=changed, checked=saved.checked).model_dump(mode="json")
