"""Pieces every blueprint shares: strict request models, the error model, paging."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

BEARER = [{"workspace_key": []}]


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


class PageQuery(StrictModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(25, ge=1, le=200)
