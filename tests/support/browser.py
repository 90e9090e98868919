"""How the browser tests run Chromium, and what a task pane looks like to it."""
from __future__ import annotations

import os

CHROMIUM = os.environ.get("LEDGERPANE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PANE = {"width": 350, "height": 700}  # Excel's task pane is 350 px wide (research/office.md 6.2)
OFFICE_CDN = "https://appsforoffice.microsoft.com/**"
