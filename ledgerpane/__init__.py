"""Ledgerpane for Python: the workbook's sheets as pandas DataFrames (`ledgerpane.client`), and into an Excel
workbook through xlwings (`ledgerpane.excel`)."""
