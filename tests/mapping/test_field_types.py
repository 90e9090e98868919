"""Stream mapping (field types): the provider's other fields kept on each line, their samples, overrides refused
when they do not fit the data, casts applied during the load, and a later value that does not fit logged while
its line still loads."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
import pytest
from sqlalchemy import delete, select

from server.connectors.framework.streams import SourceField
from server.db.models import Account, LedgerLine
from server.mapping.fields import SAMPLED_ROWS, Override, StreamFields, cast_column
from tests.support.field_types import field_of, put_fields, streams
from tests.support.journey import provider_app
from tests.support.refresh import run_refresh


@pytest.fixture
def app(db, tmp_path, provider):
    # No look-back overlap: a refresh after a posted journal reads that journal alone, so the samples it keeps
    # are the posted journal's values (and the chart's refresh, only the accounts changed since). One page in the
    # run's own process: the rest in the reader helper, whose casts, samples and misfits must come back to the run.
    with provider_app(db, tmp_path, provider, refresh_overlap_records=0, refresh_overlap_minutes=0,
                      refresh_pages_in_process=1) as app:
        yield app


JOURNAL_FIELDS = ["JournalNumber", "Reference", "SourceType", "GrossAmount", "TaxAmount", "TaxType"]


def kept_fields(db, connection_id: int) -> dict[str, dict]:
    """Each loaded line's kept fields by name (a line keeps them in the order the streams list them), by its
    source line id."""
    with db.sessions() as session:
        return {line_id: dict(zip(JOURNAL_FIELDS, json.loads(text), strict=True)) for line_id, text in session.execute(
            select(LedgerLine.source_line_id, LedgerLine.source_fields)
            .where(LedgerLine.connection_id == connection_id))}


def post_journal(provider, tenant: str, reference: str) -> None:
    provider.admin("POST", f"/admin/tenants/{tenant}/journals", {
        "reference": reference, "lines": [{"accountCode": "429", "netAmount": "40.25", "taxAmount": "6.04"},
                                          {"accountCode": "800", "netAmount": "-40.25"}]}, expect=201)


# --- the casts themselves

@pytest.mark.parametrize(("type_", "scale", "values", "cast", "failed"), [
    ("string", None, [12, Decimal("1.50"), True, "x", None], ["12", "1.50", "true", "x", None], []),
    ("integer", None, [7, "42", " -3 ", Decimal("5.00"), "5.5", True, "INV-1"], [7, 42, -3, 5, None, None, None],
     [4, 5, 6]),
    ("decimal", 2, [Decimal("115.005"), 3, "2.1", "abc", "NaN"], [Decimal("115.00"), Decimal("3.00"),
                                                                  Decimal("2.10"), None, None], [3, 4]),
    ("date", None, ["2025-03-31", "2025-03-31T10:00:00", "31/03/2025", 20250331],
     [date(2025, 3, 31), date(2025, 3, 31), None, None], [2, 3]),
    ("datetime", None, ["2025-03-31T10:00:00", "2025-03-31T12:00:00+02:00", "soon"],
     [datetime(2025, 3, 31, 10, tzinfo=UTC), datetime(2025, 3, 31, 10, tzinfo=UTC), None], [2]),
    ("boolean", None, [True, "yes", "N", 0, 2, "maybe"], [True, True, False, False, None, None], [4, 5]),
])
def test_a_column_casts_and_names_what_does_not_fit(type_, scale, values, cast, failed):
    assert cast_column(values, type_, scale) == (cast, failed)


class _Line(msgspec.Struct):
    source_line_id: str
    amount: msgspec.Raw = msgspec.Raw(b"null")  # as a connector keeps a JSON number: exactly as sent
    kind: str | None = None


def test_lines_keep_their_fields_as_sent_unless_cast_and_a_misfit_is_named():
    lines = msgspec.json.decode(b'[{"source_line_id": "a", "amount": 115.00, "kind": "X"},'
                                b' {"source_line_id": "b", "amount": "n/a"}]', type=list[_Line])
    declared = [SourceField("Amount", "decimal", 2, attribute="amount"), SourceField("Kind", attribute="kind")]
    as_sent = StreamFields(declared)
    assert as_sent.texts(lines) == ['[115.00,"X"]', '["n/a",null]']
    assert as_sent.seen.samples == {"Amount": ["115.00", '"n/a"'], "Kind": ['"X"']}
    assert as_sent.seen.failed == 0

    cast = StreamFields(declared, {"Amount": Override("decimal", 0)})
    assert cast.texts(lines) == ['[115,"X"]', "[null,null]"]
    assert cast.seen.failures == [{"field": "Amount", "value": '"n/a"', "type": "Decimal, 0 places", "line": "b"}]


def test_a_value_first_met_late_in_a_load_cut_in_many_small_stretches_still_becomes_a_sample():
    # A change feed maps a transaction at a time: its 60th stretch is still sampled.
    declared = [SourceField("Kind", attribute="kind")]
    fields = StreamFields(declared)
    for number in range(60):
        fields.texts([_Line(f"line-{number}", kind="late" if number == 59 else "usual")])
    assert fields.seen.samples == {"Kind": ['"usual"', '"late"']}
    # Many large batches: the first ones' first rows only, so a long load pays nothing for samples after them.
    many = StreamFields(declared)
    for number in range(60):
        many.texts([_Line(f"{number}-{row}", kind=f"kind-{number}") for row in range(SAMPLED_ROWS + 1)])
    assert len(many.seen.samples["Kind"]) == 8 and many.seen.sampled_lines == 50 * SAMPLED_ROWS


def test_nothing_to_cast_is_no_error_and_lines_mapped_again_are_noted_once():
    cast = StreamFields([SourceField("Kind", attribute="kind")], {"Kind": Override("integer")})
    assert cast.texts([]) == [] and cast.seen.failed == 0  # a change feed's empty stretch before a deletion
    cast.cast_records([], [])
    lines = [_Line("a", kind="X")]
    assert cast.texts(lines) == cast.texts(lines, noted=True) == ["[null]"]
    assert cast.seen.failed == 1 and len(cast.seen.failures) == 1


# --- through the API and a refresh

def test_streams_list_fields_with_defaults_and_samples_and_lines_keep_them(client, workspace, books, db):
    found = streams(client, workspace.member(), books.connection_id)
    assert {"journals", "accounts"} <= set(found)
    assert [f["name"] for f in found["journals"]["fields"]] == JOURNAL_FIELDS
    gross = field_of(found, "journals", "GrossAmount")
    assert (gross["default_type"], gross["default_scale"], gross["type"], gross["overridden"]) == (
        "decimal", 2, "decimal", False)
    references = field_of(found, "journals", "Reference")["samples"]
    assert references and all(isinstance(r, str) for r in references)
    assert field_of(found, "accounts", "ReportingCode")["samples"]
    assert found["tracking_categories"]["fields"] == []

    lines = kept_fields(db, books.connection_id)
    assert lines and all(isinstance(fields["JournalNumber"], int) for fields in lines.values())
    assert {fields["SourceType"] for fields in lines.values()} >= {"ACCREC", "ACCPAY"}
    with db.sessions() as session:
        codes = [json.loads(text)[1] for text in session.scalars(  # TaxType, ReportingCode, ReportingCodeName
            select(Account.source_fields).where(Account.connection_id == books.connection_id))]
    assert codes and all(codes)


def test_an_override_the_samples_do_not_fit_is_refused_with_them(client, workspace, books):
    refused = put_fields(client, workspace.admin(), books.connection_id, "journals",
                         [{"name": "SourceType", "type": "string"}, {"name": "Reference", "type": "integer"}],
                         expect=422)["error"]
    assert (refused["code"], refused["field"]) == ("type_does_not_fit", "fields.1.type")
    samples = field_of(streams(client, workspace.admin(), books.connection_id), "journals", "Reference")["samples"]
    assert refused["samples"] and set(refused["samples"]) <= set(samples)
    assert "Reference" in refused["message"] and str(refused["samples"][0]) in refused["message"]
    assert not field_of(streams(client, workspace.admin(), books.connection_id), "journals",
                        "Reference")["overridden"]  # nothing was saved
    cents = put_fields(client, workspace.admin(), books.connection_id, "journals",
                       [{"name": "GrossAmount", "type": "integer"}], expect=422)["error"]
    assert cents["samples"] and all(Decimal(amount) != int(Decimal(amount)) for amount in cents["samples"])


def test_overrides_cast_during_the_load_and_a_later_misfit_is_logged_while_its_line_loads(
        client, workspace, books, journey, provider, db):
    admin = workspace.admin()
    casts = [{"name": "JournalNumber", "type": "string"}, {"name": "GrossAmount", "type": "decimal", "scale": 0}]
    saved = put_fields(client, admin, books.connection_id, "journals", casts)
    assert saved["changed"] == ["JournalNumber: Whole number -> Text", "GrossAmount: Decimal, 2 places -> Decimal, "
                                                                    "0 places"]
    [change] = client.get(f"/api/v1/mapping/changes?connection_id={books.connection_id}",
                          headers=admin).get_json()["items"]
    assert change["action"] == "fields.saved" and "JournalNumber: Whole number -> Text" in change["summary"]
    post_journal(provider, books.tenant_id, "1001")
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    assert field_of(streams(client, admin, books.connection_id), "journals", "Reference")["samples"] == ["1001"]
    # Now every Reference the last refresh saw is a number: the override fits.
    put_fields(client, admin, books.connection_id, "journals", [*casts, {"name": "Reference", "type": "integer"}])
    post_journal(provider, books.tenant_id, "ABC-7")
    post_journal(provider, books.tenant_id, "1002")
    before = set(kept_fields(db, books.connection_id))
    run = run_refresh(journey, books.connection_id)
    assert run["status"] == "succeeded"

    new = {line_id: fields for line_id, fields in kept_fields(db, books.connection_id).items()
           if line_id not in before}
    assert len(new) == 4  # both journals' lines loaded, the one that did not fit included
    assert sorted(fields["Reference"] or 0 for fields in new.values()) == [0, 0, 1002, 1002]  # 0: left empty
    assert all(fields["GrossAmount"] == 46 or fields["GrossAmount"] == -40 for fields in new.values())
    assert all(fields["JournalNumber"] == str(int(fields["JournalNumber"])) for fields in new.values())
    misfit = next(line_id for line_id, fields in new.items() if fields["Reference"] is None)
    events = client.get(f"/api/v1/log?connection_id={books.connection_id}&status=needs_attention"
                        "&data_type=journals", headers=admin).get_json()["items"]
    [event] = [e for e in events if e["run_id"] == run["id"]]
    assert 'Reference "ABC-7" (wanted Whole number)' in event["detail"] and misfit in event["detail"]
    assert "2 values did not fit" in event["detail"]

    # Misfits met by the reader helper process (every page after the first) are reported the same way.
    posted = provider.admin("POST", f"/admin/tenants/{books.tenant_id}/journals", {"generate": 150},
                            expect=201)["journals"]
    before = set(kept_fields(db, books.connection_id))
    run = run_refresh(journey, books.connection_id)
    assert run["status"] == "succeeded"
    new = [fields for line_id, fields in kept_fields(db, books.connection_id).items() if line_id not in before]
    assert len(new) == sum(journal["lineCount"] for journal in posted)
    assert all(fields["Reference"] is None for fields in new)  # INV-..., BILL-...: none is an integer
    events = client.get(f"/api/v1/log?connection_id={books.connection_id}&status=needs_attention"
                        "&data_type=journals", headers=admin).get_json()["items"]
    [event] = [e for e in events if e["run_id"] == run["id"]]
    assert f"{len(new)} values did not fit" in event["detail"] and f"and {len(new) - 20} more" in event["detail"]
    # Back to the default: fields left out of a save are no longer overridden.
    back = put_fields(client, admin, books.connection_id, "journals", [])
    assert not any(f["overridden"] for f in back["fields"])


def test_a_misfit_on_a_line_whose_account_was_not_known_yet_is_reported_once(client, workspace, books, journey,
                                                                             provider, db):
    admin = workspace.admin()
    post_journal(provider, books.tenant_id, "1001")
    assert run_refresh(journey, books.connection_id)["status"] == "succeeded"
    put_fields(client, admin, books.connection_id, "journals", [{"name": "Reference", "type": "integer"}])
    # The workspace forgets an account no line uses yet; Xero sends only changed accounts, so the next refresh
    # meets it first on a line (mapped once without it, again once it is added from the line).
    with db.sessions() as session:
        used = select(LedgerLine.account_id).where(LedgerLine.connection_id == books.connection_id)
        account_id, code, source_id = session.execute(
            select(Account.id, Account.code, Account.source_account_id).where(
                Account.connection_id == books.connection_id, Account.status == "active", Account.code != "",
                Account.id.not_in(used)).order_by(Account.code)).first()
        session.execute(delete(Account).where(Account.id == account_id))
        session.commit()
    provider.admin("POST", f"/admin/tenants/{books.tenant_id}/journals", {
        "reference": "ABC-7", "lines": [{"accountCode": code, "netAmount": "12.50"},
                                        {"accountCode": "800", "netAmount": "-12.50"}]}, expect=201)
    run = run_refresh(journey, books.connection_id)
    assert run["status"] == "succeeded"
    with db.sessions() as session:
        added = session.scalar(select(Account.source_fields).where(
            Account.connection_id == books.connection_id, Account.source_account_id == source_id))
    assert added == ""  # added from the line, not from the chart: the line was mapped twice
    events = client.get(f"/api/v1/log?connection_id={books.connection_id}&status=needs_attention"
                        "&data_type=journals", headers=admin).get_json()["items"]
    [event] = [e for e in events if e["run_id"] == run["id"]]
    assert "2 values did not fit" in event["detail"]  # one per line of ABC-7
    assert event["detail"].count('Reference "ABC-7"') == 2


def test_only_admins_save_field_types_and_other_workspaces_see_nothing(client, workspace, other_workspace, books):
    body = [{"name": "SourceType", "type": "string"}]
    assert put_fields(client, workspace.member(), books.connection_id, "journals", body, expect=403)
    assert put_fields(client, other_workspace.admin(), books.connection_id, "journals", body, expect=404)
    assert client.get(f"/api/v1/connections/{books.connection_id}/streams",
                      headers=other_workspace.admin()).status_code == 404
    assert put_fields(client, workspace.admin(), books.connection_id, "no_such", body, expect=404)
    unknown = put_fields(client, workspace.admin(), books.connection_id, "journals",
                         [{"name": "Colour", "type": "string"}], expect=422)["error"]
    assert (unknown["code"], unknown["field"]) == ("unknown_stream_field", "fields.0.name")
    scale = put_fields(client, workspace.admin(), books.connection_id, "journals",
                       [{"name": "TaxType", "type": "string", "scale": 2}], expect=422)["error"]
    assert scale["code"] == "scale_not_allowed"
