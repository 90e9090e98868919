"""Issue 12's "done when", by keyboard alone: in the pane at Excel's 350 px, in light and in dark, a user adds the
demo source, consents in the popup, chooses companies, watches the first refresh to Live, reads the log and an
event's endpoint on focus, refreshes again, opens the details and disconnects, with Tab, Enter, Space, the arrow
keys and Escape only (no click, no script focus, no mouse), and sees where the focus is at every control."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import PANE, screenshot

pytestmark = pytest.mark.browser

DEMO = "Demo company (Xero sandbox)"
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(41, 41, 41)"}

DESCRIBE_FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "(body)";
  const name = e.getAttribute("aria-label") || (e.innerText || e.value || "").trim().slice(0, 40);
  return `${e.tagName.toLowerCase()}${e.getAttribute("role") ? "[" + e.getAttribute("role") + "]" : ""} "${name}"`;
}"""


def is_focused(locator) -> bool:
    return locator.count() == 1 and locator.evaluate("e => e === document.activeElement")


def tab_to(page, locator, limit: int = 40, backwards: bool = False) -> None:
    """Presses Tab (Shift+Tab `backwards`) until `locator` has the focus, as a keyboard user would; fails with the
    controls the focus went through. Then checks that the focus is visible there."""
    seen = []
    while not is_focused(locator):
        if len(seen) == limit:
            pytest.fail(f"{limit} presses of {'Shift+Tab' if backwards else 'Tab'} never reached {locator}; "
                        f"the focus went through: {seen}", pytrace=False)
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        seen.append(page.evaluate(DESCRIBE_FOCUS))
    expect_visible_focus(locator)


def arrow_to(page, locator, limit: int = 8) -> None:
    """Presses ArrowDown (in a radio group or a menu) until `locator` has the focus."""
    for _ in range(limit):
        if is_focused(locator):
            break
        page.keyboard.press("ArrowDown")
    expect_visible_focus(locator)


def expect_visible_focus(locator) -> None:
    """The focused control shows it: an outline or a box shadow (the pane's :focus-visible ring)."""
    expect(locator).to_be_focused()
    ring = locator.evaluate("""e => { const s = getComputedStyle(e);
        return {outline: s.outlineStyle, width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }""")
    assert (ring["outline"] != "none" and ring["width"] > 0) or ring["shadow"] != "none", \
        f"{locator} has the focus but shows no focus ring: {ring}"


class Steps:
    """Numbered screenshots of the journey, test-artifacts/keyboard-<scheme>-<nn>-<step>.png."""

    def __init__(self, page, scheme: str):
        self.page, self.scheme, self.count = page, scheme, 0

    def saw(self, step: str) -> None:
        self.count += 1
        screenshot(self.page, f"keyboard-{self.scheme}-{self.count:02d}-{step}")


def slow_down_next_refresh(sandbox) -> None:
    tenant = sandbox.tenants()[0]["tenantId"]
    sandbox.admin("POST", f"/admin/tenants/{tenant}/faults", {"kind": "slow", "delay": 3, "count": 1}, expect=201)


def approve_consent_by_keyboard(page) -> None:
    """Presses Enter on "Sign in to …" (it must have the focus) and, in the sandbox's consent popup, Tabs to
    Allow access and presses Enter."""
    with page.expect_popup() as opened:
        page.keyboard.press("Enter")
    popup = opened.value
    allow = popup.get_by_role("button", name="Allow access")
    expect(allow).to_be_visible()
    tab_to(popup, allow, limit=12)
    popup.keyboard.press("Enter")
    popup.wait_for_event("close")


def ask_to_disconnect(page, more):
    """Tabs to More actions, opens it with Enter, goes down to Disconnect… and presses Enter: the confirmation,
    with the focus on Cancel."""
    tab_to(page, more)
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem").first).to_be_focused()
    arrow_to(page, page.get_by_role("menuitem", name="Disconnect…"))
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Disconnect {DEMO}?")
    expect(dialog).to_contain_text(f"stops refreshing {DEMO}")
    expect(dialog).to_contain_text("your data stays")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    return dialog


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_whole_journey_by_keyboard_alone(page, service_with_provider, sandbox, scheme):
    server = service_with_provider
    steps = Steps(page, scheme)
    slow_down_next_refresh(sandbox)  # so that its progress is on screen long enough to see
    assert page.viewport_size == PANE
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{server.url}/taskpane.html#key={server.key}")
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == BACKGROUND[scheme]
    expect(page.get_by_text("No data sources yet.")).to_be_visible()

    # Add the demo source: the catalog, a radio chosen with Space, Next.
    tab_to(page, page.get_by_role("button", name="Add data source"))
    steps.saw("list-empty")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Choose a data source")).to_be_focused()
    demo = page.get_by_role("radio", name=re.compile(re.escape(DEMO)))
    tab_to(page, page.get_by_role("radio").first)
    arrow_to(page, demo)
    page.keyboard.press("Space")
    expect(demo).to_be_checked()
    steps.saw("catalog")
    tab_to(page, page.get_by_role("button", name="Next"))
    page.keyboard.press("Enter")

    # Consent in the popup, by keyboard there too.
    expect(page.get_by_role("heading", name=f"Sign in to {DEMO}")).to_be_focused()
    tab_to(page, page.get_by_role("button", name=f"Sign in to {DEMO}"))
    steps.saw("consent")
    approve_consent_by_keyboard(page)

    # Companies: all pre-selected; the third left out with Space.
    expect(page.get_by_role("heading", name="Choose companies and ledgers")).to_be_focused()
    boxes = page.get_by_role("group", name="Companies and ledgers to bring in").get_by_role("checkbox")
    expect(boxes).to_have_count(3)
    tab_to(page, boxes.nth(2))
    page.keyboard.press("Space")
    expect(boxes.nth(2)).not_to_be_checked()
    steps.saw("companies")
    tab_to(page, page.get_by_role("button", name="Next"))
    page.keyboard.press("Enter")

    # The mapping step reads the companies (the first refresh, shown as it goes); nothing mapped, Next, Finish.
    expect(page.get_by_role("heading", name="Map dimensions")).to_be_focused()
    expect(page.get_by_role("progressbar", name=f"Reading {DEMO}")).to_be_visible()
    steps.saw("first-refresh")
    expect(page.get_by_label("Lands on workspace dimension").first).to_have_value("", timeout=60_000)
    steps.saw("mapping")
    tab_to(page, page.get_by_role("button", name="Next"), limit=80)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Finish")).to_be_focused()
    tab_to(page, page.get_by_role("button", name="Finish"))
    steps.saw("finish")
    page.keyboard.press("Enter")

    # Back on the list (the focus on its heading, not lost with the wizard), the row turns Live by itself.
    expect(page.get_by_role("heading", name="Connections")).to_be_focused()
    expect(page.get_by_text("the first refresh is under way or done")).to_be_visible()
    row = page.get_by_role("list", name="Connections").get_by_role("listitem").filter(has_text=DEMO)
    expect(row.get_by_text("Live", exact=True)).to_be_visible(timeout=60_000)
    expect(row.get_by_text(re.compile(r"Last refresh: Succeeded"))).to_be_visible()
    steps.saw("list-live")

    # The integration log: an event's endpoints show on keyboard focus.
    tab_to(page, page.get_by_role("link", name="Log", exact=True), limit=60)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Integration log")).to_be_visible()
    events = page.get_by_role("list", name="Integration log events").get_by_role("listitem")
    journals = events.filter(has_text=f"Journals: {DEMO}").first
    expect(journals).to_contain_text("rows retrieved")
    tip = journals.get_by_role("tooltip")
    expect(tip).to_be_hidden()
    tab_to(page, journals, limit=60)
    expect(tip).to_be_visible()
    expect(tip).to_contain_text(re.compile(r"GET /\S*Journals · status 200"))
    expect(journals).to_have_accessible_description(re.compile("Provider endpoints"))
    steps.saw("log-endpoint")

    # Refresh again, from the list's play button.
    tab_to(page, page.get_by_role("link", name="Connections", exact=True), limit=80, backwards=True)
    page.keyboard.press("Enter")
    refresh = page.get_by_role("button", name=f"Refresh {DEMO}")
    tab_to(page, refresh)
    slow_down_next_refresh(sandbox)
    page.keyboard.press("Enter")
    expect(row.get_by_role("progressbar", name=f"Refreshing {DEMO}")).to_be_visible()
    expect(page.get_by_role("link", name=DEMO)).to_be_focused()  # Refresh is disabled while it runs
    steps.saw("refreshing")
    expect(row.get_by_role("progressbar")).to_have_count(0, timeout=60_000)
    expect(row.get_by_text(re.compile(r"Last refresh: Succeeded"))).to_be_visible()

    # The details, then disconnect from More actions: Escape cancels the confirmation, Enter on Disconnect does it.
    name = page.get_by_role("link", name=DEMO)
    tab_to(page, name, backwards=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=DEMO)).to_be_focused()
    expect(page.get_by_text("Companies and ledgers")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Demo Company \(\w+\): selected"))).to_have_count(2)
    steps.saw("details")
    more = page.get_by_role("button", name=f"More actions for {DEMO}")
    dialog = ask_to_disconnect(page, more)
    steps.saw("confirm-disconnect")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(more).to_be_focused()
    expect(page.get_by_text("Live", exact=True)).to_be_visible()

    dialog = ask_to_disconnect(page, more)
    tab_to(page, dialog.get_by_role("button", name="Disconnect"), limit=4, backwards=True)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Disconnected", exact=True)).to_be_visible()
    expect(more).to_be_focused()
    expect(page.get_by_role("button", name=f"Refresh {DEMO}")).to_have_count(0)
    steps.saw("disconnected")
