"""What mapping refuses, said once: the API turns a `Refused` into its JSON error as it stands."""
from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class TooManyDimensions(Refused):
    def __init__(self, limit: int) -> None:
        super().__init__(409, "too_many_dimensions", f"A workspace has at most {limit} custom dimensions.", "name")
