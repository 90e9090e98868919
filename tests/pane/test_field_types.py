"""Field types in the task pane, in Chromium against the whole service and the sandbox provider over HTTP: from a
connection's details an admin casts a stream's fields, sees a type the last refresh's values do not fit refused with
those values, and saves one that fits; a member reads the types without a way to change them."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.support.browser import check_screen, connect_demo, member_key

pytestmark = pytest.mark.browser


@pytest.fixture
def books(service_with_provider, sandbox):
    server = service_with_provider
    return server, connect_demo(server, sandbox, "Acme books", companies=1)


def open_field_types(page, server, key: str, button: str) -> None:
    page.goto(f"{server.url}/taskpane.html#key={key}")
    page.get_by_role("link", name="Acme books").click()
    page.get_by_role("region", name="Field types").get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", name="Field types: Acme books")).to_be_visible()


def journal_fields(server, connection_id: int) -> dict[str, dict]:
    answer = requests.get(f"{server.url}/api/v1/connections/{connection_id}/streams", timeout=30,
                          headers={"Authorization": f"Bearer {server.key}"}).json()
    journals = next(stream for stream in answer["streams"] if stream["name"] == "journals")
    return {field["name"]: field for field in journals["fields"]}


def test_an_admin_sees_a_misfit_refused_with_its_values_then_saves_a_type_that_fits(page, books):
    server, connection_id = books
    open_field_types(page, server, server.key, "Edit field types")
    journals = page.get_by_role("region", name="Journals")
    reference = journals.get_by_label("Load Reference as")
    sample = str(journal_fields(server, connection_id)["Reference"]["samples"][0])
    expect(journals).to_contain_text(sample)

    reference.select_option(label="Whole number")
    journals.get_by_role("button", name="Save journals field types").click()
    refusal = journals.get_by_role("alert")
    expect(refusal).to_contain_text("Reference holds values that do not fit Whole number")
    expect(refusal).to_contain_text(sample)
    expect(reference).to_have_attribute("aria-invalid", "true")
    expect(reference).to_be_focused()
    assert not journal_fields(server, connection_id)["Reference"]["overridden"]

    reference.select_option(label="As sent (Text)")
    journals.get_by_label("Load GrossAmount as").select_option(label="Decimal")
    journals.get_by_label("GrossAmount decimal places").fill("0")
    journals.get_by_label("Load JournalNumber as").select_option(label="Text")
    journals.get_by_role("button", name="Save journals field types").click()
    expect(journals.get_by_role("status")).to_contain_text("Field types saved: JournalNumber: Whole number -> Text; "
                                                            "GrossAmount: Decimal, 2 places -> Decimal, 0 places")
    saved = journal_fields(server, connection_id)
    assert (saved["JournalNumber"]["type"], saved["GrossAmount"]["scale"]) == ("string", 0)
    assert not saved["Reference"]["overridden"]
    expect(journals.get_by_role("alert")).to_have_count(0)
    check_screen(page, server.url, "field-types")


def test_a_member_reads_the_field_types(page, books):
    server, connection_id = books
    requests.put(f"{server.url}/api/v1/connections/{connection_id}/streams/journals/fields", timeout=30,
                 headers={"Authorization": f"Bearer {server.key}"},
                 json={"fields": [{"name": "JournalNumber", "type": "string"}]}).raise_for_status()
    open_field_types(page, server, member_key(server), "View field types")
    journals = page.get_by_role("region", name="Journals")
    expect(journals).to_contain_text("JournalNumber: Text (sent as Whole number)")
    expect(journals).to_contain_text("GrossAmount: Decimal, 2 places")
    expect(page.get_by_text("Only a workspace admin can change field types.")).to_be_visible()
    expect(journals.get_by_role("combobox")).to_have_count(0)
    expect(journals.get_by_role("button")).to_have_count(0)
