"""Build the report templates: `python -m workbook_templates.build` rewrites the .xlsx files beside this script.

Every formula reads the `Actuals` table through structured references (`Actuals[Amount]`), so a template
inserted into a workbook that holds the Actuals table the pane loads works there, and depends on no other sheet.
Each file also carries a small sample Actuals table (a demo organisation's monthly totals) so it opens standalone;
the pane inserts only the report sheet.

Sign convention of the Actuals table: `Amount` is debit positive, credit negative. The reports turn that into what
a reader expects: income, costs, assets, liabilities and equity all show positive.

Account codes are text (leading zeros matter), and SUMIFS compares a range like ">=300" only against numbers, so
the code-range lines use SUMPRODUCT, which compares text as text ("310" lies between "300" and "399").

The output is byte for byte the same on every run: fixed document dates and fixed times inside the zip.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from server.sandbox.data import generate_organisation
from server.workbook.templates import TEMPLATES, ReportTemplate, template_file_name

HERE = Path(__file__).parent
ACTUALS_COLUMNS = ("Entity", "Period", "Account Code", "Account Name", "Account Type", "Account Class", "Amount",
                   "Transaction Currency", "Data Source")
SAMPLE_END = datetime(2026, 6, 30, tzinfo=UTC)  # the sample's history ends here, whenever it is built
FIXED_MOMENT = datetime(2026, 1, 1)  # the document's created/modified dates, and every zip entry's time

MONEY = '#,##0.00;[Red]-#,##0.00'
MONTH = "mmm yyyy"
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")  # Excel's own "Input" cell style colours
INPUT_BORDER = Border(*(Side(style="thin", color="7F7F7F"),) * 4)
BOLD = Font(bold=True)
FORMATS = {"Period": MONTH, "Date": "yyyy-mm-dd", "Amount": MONEY, "Transaction Amount": MONEY}
TOTAL_BORDER = Border(top=Side(style="thin"), bottom=Side(style="double"))

# Formula pieces: the entity and, where it applies, the period and class criteria of every SUMIFS.
AMOUNT = "Actuals[Amount]"
ENTITY = "Actuals[Entity]"
PERIOD = "Actuals[Period]"
CLASS = "Actuals[Account Class]"
CODE = "Actuals[Account Code]"


# --- the sample Actuals table ---------------------------------------------------------------------------------

def sample_actuals() -> list[list]:
    """Monthly totals per account of a demo organisation (the sandbox's UK company), summary-shaped."""
    organisation = generate_organisation(1, seed=7, lines=1500, end_ms=int(SAMPLE_END.timestamp() * 1000))
    accounts = {account.account_id: account for account in organisation.accounts}
    rows = []
    for (account_id, month), cents in sorted(organisation.net_movements().items(),
                                             key=lambda item: (item[0][1], accounts[item[0][0]].code)):
        account = accounts[account_id]
        rows.append([organisation.name, date.fromisoformat(f"{month}-01"), account.code, account.name,
                     account.type, account.account_class.lower(), cents / 100,
                     organisation.profile.base_currency, "Sample data"])
    return rows


def write_actuals(sheet: Worksheet, rows: Iterable[list], columns: Sequence[str] = ACTUALS_COLUMNS) -> None:
    """The Actuals table on `sheet` under the `columns` header, replacing whatever the sheet held (tests fill it with
    their own rows, in the shape the API serves)."""
    sheet.delete_rows(1, sheet.max_row)
    for name in list(sheet.tables):
        del sheet.tables[name]
    sheet.append(list(columns))
    formats = {position: FORMATS[name] for position, name in enumerate(columns, start=1) if name in FORMATS}
    count = 0
    for count, row in enumerate(rows, start=1):  # noqa: B007 - the count is the table's height
        sheet.append(row)
        for position, number_format in formats.items():
            sheet.cell(count + 1, position).number_format = number_format
    table = Table(displayName="Actuals", ref=f"A1:{get_column_letter(len(columns))}{max(count, 1) + 1}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
    sheet.add_table(table)
    for position, name in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = max(11, min(len(name) + 4, 34))


# --- layout helpers --------------------------------------------------------------------------------------------

def heading(sheet: Worksheet, title: str, explanation: str) -> None:
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = explanation
    sheet["A2"].alignment = Alignment(wrap_text=False)
    sheet["A2"].font = Font(italic=True, color="595959")


def mark_input(cell, value, number_format: str = "General") -> None:
    """A cell the user changes, in Excel's Input colours."""
    cell.value = value
    cell.fill, cell.border, cell.number_format = INPUT_FILL, INPUT_BORDER, number_format


def input_cell(sheet: Worksheet, address: str, label: str, value, number_format: str = "General") -> None:
    """An input labelled on its left."""
    cell = sheet[address]
    sheet.cell(cell.row, cell.column - 1, label).font = BOLD
    mark_input(cell, value, number_format)


def amount_row(sheet: Worksheet, row: int, columns: Iterable[int], formula: Callable[[str], str],
               total: bool = False) -> None:
    for column in columns:
        letter = sheet.cell(row, column).column_letter
        cell = sheet.cell(row, column, "=" + formula(letter))
        cell.number_format = MONEY
        if total:
            cell.font, cell.border = BOLD, TOTAL_BORDER


# --- the reports ----------------------------------------------------------------------------------------------

def profit_and_loss(sheet: Worksheet, entity: str, first_month: date) -> None:
    """Rows 8-13, months in E..P (row 7), the year's total in Q."""
    heading(sheet, "Profit and loss by month",
            "Reads the Actuals table. Change the yellow cells. Revenue and expenses show positive; net profit is "
            "revenue less expenses, in the entity's base currency.")
    input_cell(sheet, "B4", "Entity", entity)
    input_cell(sheet, "B5", "First month", first_month, MONTH)
    for column, title in enumerate(("Line", "Account class", "Codes from", "Codes to"), start=1):
        sheet.cell(7, column, title).font = BOLD
    months = range(5, 17)  # E..P
    for offset, column in enumerate(months):
        cell = sheet.cell(7, column, f"=DATE(YEAR($B$5),MONTH($B$5)+{offset},1)")
        cell.number_format, cell.font, cell.alignment = MONTH, BOLD, Alignment(horizontal="right")
    sheet.cell(7, 17, "Total").font = BOLD

    def class_total(account_class: str, sign: str = "") -> Callable[[str], str]:
        return lambda col: (f'{sign}SUMIFS({AMOUNT},{ENTITY},$B$4,{CLASS},"{account_class}",{PERIOD},{col}$7)')

    def code_range(row: int) -> Callable[[str], str]:
        return lambda col: (f"SUMPRODUCT(({ENTITY}=$B$4)*({CLASS}=$B{row})*({PERIOD}={col}$7)"
                            f"*({CODE}>=$C{row})*({CODE}<=$D{row}),{AMOUNT})")

    lines = [
        (8, "Revenue", "revenue", None, None, class_total("revenue", "-")),
        (9, "Cost of sales", "expense", "300", "399", code_range(9)),
        (10, "Gross profit", None, None, None, lambda col: f"{col}8-{col}9"),
        (11, "Operating expenses", "expense", "400", "499", code_range(11)),
        (12, "Other expenses", "expense", None, None,
         lambda col: f'{class_total("expense")(col)}-{col}9-{col}11'),
        (13, "Net profit", None, None, None, lambda col: f"{col}10-{col}11-{col}12"),
    ]
    for row, label, account_class, code_from, code_to, formula in lines:
        subtotal = account_class is None
        sheet.cell(row, 1, label).font = BOLD if subtotal else Font()
        if account_class:
            sheet.cell(row, 2, account_class)
        for column, code in ((3, code_from), (4, code_to)):
            if code is not None:
                mark_input(sheet.cell(row, column), code, "@")
        amount_row(sheet, row, months, formula, total=subtotal)
        amount_row(sheet, row, [17], lambda col, row=row: f"SUM(E{row}:P{row})", total=subtotal)
    sheet["A15"] = ("Other expenses: every expense account outside the two code ranges, so net profit always "
                    "covers every revenue and expense account. Codes compare as text.")
    sheet["A15"].font = Font(italic=True, color="595959")
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 14
    for letter in "EFGHIJKLMNOPQ":
        sheet.column_dimensions[letter].width = 13
    sheet.freeze_panes = "E8"


def balance_sheet(sheet: Worksheet, entity: str, month_end: date) -> None:
    """Amounts in column B: assets B10, liabilities B12, equity B14:B17, check B21."""
    heading(sheet, "Balance sheet",
            "Reads the Actuals table: balances are every movement up to the end of the chosen month. Assets, "
            "liabilities and equity show positive; earnings not yet closed to equity are shown so it balances.")
    input_cell(sheet, "B4", "Entity", entity)
    input_cell(sheet, "B5", "As at the end of", month_end, MONTH)
    input_cell(sheet, "B6", "Financial year starts in month", 1, "0")
    sheet["A7"], sheet["B7"] = "Financial year start", "=DATE(YEAR(B5)-IF(MONTH(B5)<B6,1,0),B6,1)"
    sheet["B7"].number_format = MONTH

    def balance(account_class: str, sign: str, *periods: str) -> str:
        conditions = "".join(f',{PERIOD},"{p}"&$B${cell}' for p, cell in (period.split(":") for period in periods))
        return f'{sign}SUMIFS({AMOUNT},{ENTITY},$B$4,{CLASS},"{account_class}"{conditions})'

    def earnings(*periods: str) -> str:
        return f"-({balance('revenue', '', *periods)}+{balance('expense', '', *periods)})"

    rows = [
        (10, "Assets", "=" + balance("asset", "", "<=:5"), True),
        (12, "Liabilities", "=" + balance("liability", "-", "<=:5"), True),
        (14, "Equity accounts", "=" + balance("equity", "-", "<=:5"), False),
        (15, "Earnings of earlier years", "=" + earnings("<:7"), False),
        (16, "Current year earnings", "=" + earnings(">=:7", "<=:5"), False),
        (17, "Equity", "=SUM(B14:B16)", True),
        (19, "Liabilities and equity", "=B12+B17", True),
        (21, "Difference (zero when it balances)", "=ROUND(B10-B19,2)", False),
    ]
    for row, label, formula, total in rows:
        sheet.cell(row, 1, label).font = BOLD if total else Font()
        cell = sheet.cell(row, 2, formula)
        cell.number_format = MONEY
        if total:
            cell.font, cell.border = BOLD, TOTAL_BORDER
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 18


def trial_balance(sheet: Worksheet, entity: str, month_end: date, codes: list[str], spare_rows: int = 40) -> None:
    """One row per account code listed in A (yellow: add your own), from row 8; totals under them."""
    heading(sheet, "Trial balance",
            "Reads the Actuals table: each listed account's balance up to the end of the chosen month, debit or "
            "credit. List your account codes in the yellow column; the last line shows what is not listed.")
    input_cell(sheet, "B4", "Entity", entity)
    input_cell(sheet, "B5", "As at the end of", month_end, MONTH)
    for column, title in enumerate(("Account Code", "Account Name", "Debit", "Credit", "Balance (debit +)"),
                                   start=1):
        sheet.cell(7, column, title).font = BOLD
    first, last = 8, 8 + len(codes) + spare_rows - 1
    for row in range(first, last + 1):
        mark_input(sheet.cell(row, 1), codes[row - first] if row - first < len(codes) else None, "@")
        sheet.cell(row, 2, f'=IF($A{row}="","",IFERROR(INDEX(Actuals[Account Name],'
                           f'MATCH($A{row},{CODE},0)),""))')
        # `&""`: a blank code row stays a text criterion (pycel evaluates both branches of the IF)
        sheet.cell(row, 5, f'=IF($A{row}="",0,SUMIFS({AMOUNT},{ENTITY},$B$4,{CODE},$A{row}&"",'
                           f'{PERIOD},"<="&$B$5))')
        sheet.cell(row, 3, f"=IF(E{row}>0,E{row},0)")
        sheet.cell(row, 4, f"=IF(E{row}<0,-E{row},0)")
        for column in (3, 4, 5):
            sheet.cell(row, column).number_format = MONEY
    totals, out_of_balance = last + 1, last + 2
    sheet.cell(totals, 1, "Total").font = BOLD
    for column, letter in ((3, "C"), (4, "D")):
        cell = sheet.cell(totals, column, f"=SUM({letter}{first}:{letter}{last})")
        cell.number_format, cell.font, cell.border = MONEY, BOLD, TOTAL_BORDER
    sheet.cell(out_of_balance, 1, "Out of balance (accounts with a balance not listed above)")
    cell = sheet.cell(out_of_balance, 3, f"=ROUND(C{totals}-D{totals},2)")
    cell.number_format = MONEY
    sheet.column_dimensions["A"].width = 14
    sheet.column_dimensions["B"].width = 40
    for letter in "CDE":
        sheet.column_dimensions[letter].width = 16
    sheet.freeze_panes = "A8"


# --- the files -------------------------------------------------------------------------------------------------

def template_workbook(template: ReportTemplate, actuals: list[list]) -> Workbook:
    """The report sheet first, the sample Actuals table after it; inputs point at the sample's last full year."""
    book = Workbook()
    report = book.active
    report.title = template.sheet
    write_actuals(book.create_sheet("Actuals"), actuals)
    entity = actuals[0][0]
    last_month = max(row[1] for row in actuals)
    year_end = date(last_month.year - (last_month.month < 12), 12, 1)
    if template.name == "profit-and-loss-by-month":
        profit_and_loss(report, entity, date(year_end.year, 1, 1))
    elif template.name == "balance-sheet":
        balance_sheet(report, entity, year_end)
    else:
        trial_balance(report, entity, year_end, sorted({row[2] for row in actuals}))
    book.properties.creator = book.properties.lastModifiedBy = "Ledgerpane"
    book.properties.title = template.title
    book.properties.created = book.properties.modified = FIXED_MOMENT
    return book


def workbook_bytes(book: Workbook) -> bytes:
    """The .xlsx, made reproducible: openpyxl's save stamps "now" into the document and the zip."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()
    steady = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(steady, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=FIXED_MOMENT.timetuple()[:6])
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, entry.external_attr
            target.writestr(fixed, source.read(entry.filename))
    return steady.getvalue()


def build(directory: Path = HERE) -> list[Path]:
    actuals = sample_actuals()
    written = []
    for template in TEMPLATES:
        path = directory / template_file_name(template)
        path.write_bytes(workbook_bytes(template_workbook(template, actuals)))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
