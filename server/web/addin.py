"""The Office add-in manifest for a given deployment.

The checked-in `addin/manifest.xml` points at the local service (`https://localhost:8443`). A deployment
serves the task pane from its own origin, so it needs its own copy of the manifest with every URL moved
there, and its own add-in Id so that Office can hold the local and the deployed add-in side by side.
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[2] / "addin" / "manifest.xml"
CHECKED_IN_ORIGIN = "https://localhost:8443"
CHECKED_IN_ID = "2b6ac17a-1c18-4e8f-9972-bf38095ba101"
ORIGIN = re.compile(r"https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?")


def render_manifest(origin: str) -> str:
    """The manifest with every URL on `origin` (e.g. `https://ledgerpane.example.com`).

    The Id is derived from the origin, so rendering again for the same origin gives the same add-in
    (an update, not a second copy). Raises ValueError for anything but a bare https origin.
    """
    origin = _bare_https_origin(origin)
    text = MANIFEST.read_text(encoding="utf-8")
    if origin == CHECKED_IN_ORIGIN:
        return text
    add_in_id = str(uuid.uuid5(uuid.UUID(CHECKED_IN_ID), origin))
    return text.replace(CHECKED_IN_ORIGIN, origin).replace(f"<Id>{CHECKED_IN_ID}</Id>", f"<Id>{add_in_id}</Id>")


def _bare_https_origin(origin: str) -> str:
    # Office refuses plain-http add-in URLs, and a path would break every URL in the file. A strict
    # pattern also keeps XML-special characters out, so plain text replacement is safe.
    origin = origin.strip().rstrip("/").lower()
    if not ORIGIN.fullmatch(origin):
        raise ValueError(f"the add-in origin must be https://host[:port] and nothing else, got {origin!r}")
    return origin
