"""The workbook's sheets from the workspace: Actuals, Accounts and Dimensions built with pandas straight from the
database (sheets.py), the stamp saying how fresh they are (stamp.py), and the same sheets as a real .xlsx (xlsx.py)."""
