// Writing a sheet of the workspace into an Excel table, inside one Excel.run (`context`).
//
// The table keeps its name and its place: a reload empties its body and grows it again, resizing the same
// table, so formulas such as =SUM(Actuals[Amount]) keep pointing at it. Rows go in byte-bounded requests,
// each one 2-D `values` assignment to the rows just added to the body, with calculation and screen
// updating suspended for that request (research/wave2.md 3). After each request the table holds exactly
// the rows written so far, so stopping between two requests leaves a consistent table.

import { byteBoundedRuns, utf8Length } from "./chunks.js";
import { stampLine } from "./stamp.js";

// A new sheet: the stamp in A1, the table's header in A3.
const NEW_HEADER_ROW = 2;
const STAMP_ROWS_ABOVE = 2;
const PLAIN_FORMATS = new Set(["", "General"]);

// Writes the sheet whose first page is `page`; `nextPage(offset)` fetches the others. `onRows(written,
// total)` hears of each request done; `stopRequested()` is asked after each one. Ends with the stamp line
// (`stamp`: workspace, data as of, loaded at). Resolves to {rows, total, complete}.
export async function writeSheet(context, sheet, page, { nextPage, onRows, stopRequested, stamp }) {
  const place = await placeTable(context, sheet, page.columns);
  const result = await writeBody(context, place, page, { nextPage, onRows, stopRequested });
  writeStamp(context, place, stamp, result);
  await context.sync();
  return result;
}

async function writeBody(context, place, page, { nextPage, onRows, stopRequested }) {
  const columns = page.columns;
  const formatted = columns.map((column, at) => ({ at, format: column.format || "General" }))
    .filter((column) => !PLAIN_FORMATS.has(column.format));
  const formatBytes = formatted.reduce((total, column) => total + utf8Length(JSON.stringify(column.format)) + 3, 0);
  // A text-formatted ("@") column keeps text as typed; any other text column needs the apostrophe.
  const texts = columns.map((column) => column.type === "text" && column.format !== "@");
  let rows = 0;
  let total = page.total_rows;
  let current = page;
  while (current) {
    total = current.total_rows;
    // The next page downloads while this one is written.
    const coming = current.next_offset === null || current.next_offset === undefined ? null
      : nextPage(current.next_offset);
    coming?.catch(() => {});
    const cells = current.rows.map((row) => row.map((value, at) => cellValue(value, texts[at])));
    for (const [start, end] of byteBoundedRuns(cells, formatBytes)) {
      writeRows(context, place, cells.slice(start, end), rows, formatted);
      await context.sync();
      rows += end - start;
      onRows(rows, total);
      if (stopRequested()) return { rows, total, complete: rows >= total };
    }
    current = coming && await coming;
  }
  return { rows, total, complete: true };
}

// The line above the table that says how fresh it is (none where the user moved the table to the top).
function writeStamp(context, place, stamp, result) {
  if (place.row < STAMP_ROWS_ABOVE) return;
  place.worksheet.getRangeByIndexes(place.row - STAMP_ROWS_ABOVE, place.column, 1, 1).values = [[
    `'${stampLine(stamp, result)}`]];
}

// Finds the sheet's table (wherever the user moved it) or makes it, writes the header, and empties the body.
async function placeTable(context, sheet, columns) {
  const names = [columns.map((column) => column.name)];
  const width = columns.length;
  const table = context.workbook.tables.getItemOrNullObject(sheet.table);
  await context.sync();
  if (table.isNullObject) {
    let worksheet = context.workbook.worksheets.getItemOrNullObject(sheet.name);
    await context.sync();
    if (worksheet.isNullObject) worksheet = context.workbook.worksheets.add(sheet.name);
    worksheet.getRangeByIndexes(NEW_HEADER_ROW, 0, 1, width).values = names;
    const made = context.workbook.tables.add(worksheet.getRangeByIndexes(NEW_HEADER_ROW, 0, 2, width), true);
    made.name = sheet.table;
    await context.sync();
    return { table: made, worksheet, row: NEW_HEADER_ROW, column: 0, width };
  }
  const range = table.getRange();
  range.load("rowIndex,columnIndex,rowCount,columnCount");
  const worksheet = table.worksheet;
  await context.sync();
  const place = { table, worksheet, row: range.rowIndex, column: range.columnIndex, width };
  const oldWidth = range.columnCount;
  suspend(context);
  if (range.rowCount > 1) {
    worksheet.getRangeByIndexes(place.row + 1, place.column, range.rowCount - 1, Math.max(oldWidth, width))
      .clear("Contents");
  }
  worksheet.getRangeByIndexes(place.row, place.column, 1, width).values = names;
  table.resize(worksheet.getRangeByIndexes(place.row, place.column, 2, width));
  if (oldWidth > width) worksheet.getRangeByIndexes(place.row, place.column + width, 1, oldWidth - width).clear("Contents");
  await context.sync();
  return place;
}

// One request's worth: the table grows over the new rows, which get their number formats and values.
function writeRows(context, place, rows, before, formatted) {
  const { worksheet, table, row, column, width } = place;
  suspend(context);
  table.resize(worksheet.getRangeByIndexes(row, column, 1 + before + rows.length, width));
  for (const { at, format } of formatted) {
    worksheet.getRangeByIndexes(row + 1 + before, column + at, rows.length, 1).numberFormat = rows.map(() => [format]);
  }
  worksheet.getRangeByIndexes(row + 1 + before, column, rows.length, width).values = rows;
}

function suspend(context) {
  context.application.suspendApiCalculationUntilNextSync();
  context.application.suspendScreenUpdatingUntilNextSync();
}

// Text stays text: Excel would read "0100" as 100 and "=x" as a formula; the apostrophe keeps it as typed.
// An empty cell is written as "" (null would leave the cell as it was).
function cellValue(value, isText) {
  if (value === null || value === undefined) return "";
  return isText ? `'${value}` : value;
}
