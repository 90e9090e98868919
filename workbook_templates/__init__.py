"""The report templates (P&L by month, balance sheet, trial balance) as built .xlsx files; `build.py` makes them.
The catalogue (names, titles, which sheet is the report) is `server.workbook.templates`."""
