"""The add-in manifest: schema-valid as checked in and as rendered for a deployment, all URLs on one origin.

Not a browser test; it lives here beside the task pane's other tests.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from server.web.addin import CHECKED_IN_ID, CHECKED_IN_ORIGIN, MANIFEST, render_manifest

VALIDATOR = Path(__file__).resolve().parents[2].parent / "shared" / "tools" / "validate-manifest"
DEPLOYED = "https://ledgerpane.example.com"
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def validate(manifest: Path) -> subprocess.CompletedProcess:
    if not VALIDATOR.is_file():
        pytest.skip(f"the shared manifest validator is not here ({VALIDATOR})")
    return subprocess.run([sys.executable, str(VALIDATOR), str(manifest)], capture_output=True, text=True,
                          timeout=60)


def urls_in(manifest_text: str) -> list[str]:
    """Every URL the add-in uses: attribute values and element text (namespace names are not values)."""
    root = etree.fromstring(manifest_text.encode())
    found = []
    for element in root.iter(etree.Element):
        found += [value for value in element.attrib.values() if URL.match(value)]
        if element.text and URL.match(element.text.strip()):
            found.append(element.text.strip())
    return found


def test_checked_in_manifest_is_valid():
    result = validate(MANIFEST)
    assert result.stdout.startswith("VALID"), result.stdout + result.stderr


def test_rendered_manifest_is_valid(tmp_path):
    rendered = tmp_path / "manifest.xml"
    rendered.write_text(render_manifest(DEPLOYED), encoding="utf-8")
    result = validate(rendered)
    assert result.stdout.startswith("VALID"), result.stdout + result.stderr


@pytest.mark.parametrize(("origin", "text"), [
    (CHECKED_IN_ORIGIN, MANIFEST.read_text(encoding="utf-8")),
    (DEPLOYED, render_manifest(DEPLOYED)),
])
def test_every_url_is_on_the_origin(origin, text):
    urls = urls_in(text)
    assert len(urls) >= 8  # icons, support, source location, ribbon images and urls
    assert [url for url in urls if not url.startswith(origin + "/")] == []


def test_a_deployment_gets_its_own_stable_id():
    first, again = render_manifest(DEPLOYED), render_manifest(DEPLOYED + "/")
    assert first == again
    assert f"<Id>{CHECKED_IN_ID}</Id>" not in first
    assert re.search(r"<Id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}</Id>", first)


@pytest.mark.parametrize("origin", ["http://ledgerpane.example.com", "https://ledgerpane.example.com/pane",
                                    "https://ledgerpane.example.com?x=1", "https://<script>", "ledgerpane.example.com"])
def test_only_a_bare_https_origin_is_accepted(origin):
    with pytest.raises(ValueError, match="https://host"):
        render_manifest(origin)


def test_icons_exist_at_their_declared_sizes():
    assets = MANIFEST.parent / "taskpane" / "assets"
    for size in (16, 32, 64, 80):
        png = (assets / f"icon-{size}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (size, size)
