// An Office.js stand-in for the browser tests: served in place of
// https://appsforoffice.microsoft.com/lib/1/hosted/office.js, it answers Office.onReady as Excel does and
// implements the part of the Excel JavaScript API the pane uses, shaped as the real one is: proxy objects
// whose calls are queued, sent as one request per context.sync(), and only then carried out on a workbook
// kept in memory. Every request is recorded with its serialised size, and one over 5 MB fails the way
// Excel on the web fails it (RichApi.Error RequestPayloadSizeLimitExceeded, research/wave2.md 3).
//
// Tests read and arrange the workbook through window.officeStandin (see tests/support/office.py).
(() => {
  const REQUEST_LIMIT_BYTES = 5 * 1024 * 1024;
  const MAX_ROWS = 1048576;
  const MAX_COLUMNS = 16384;

  const book = { sheets: [], tables: [], settings: {}, nextTableId: 1, requests: [], calculationSuspended: 0,
    screenUpdatingSuspended: 0, gate: null, release: null, heldCall: null };

  class RichApiError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "RichApi.Error";
      this.code = code;
      this.debugInfo = { code, message };
    }
  }

  // ---- the workbook itself ---------------------------------------------------------------------------

  function sheetNamed(name) {
    return book.sheets.find((sheet) => sheet.name.toLowerCase() === String(name).toLowerCase()) || null;
  }

  function addSheet(name) {
    if (sheetNamed(name)) throw new RichApiError("ItemAlreadyExists", `A worksheet named ${name} already exists.`);
    const sheet = { name, values: [], formats: [], formulas: new Map() };
    book.sheets.push(sheet);
    return sheet;
  }

  // Cells kept as rows of values and rows of formats (a million-row table stays within a tab's memory).
  function cell(sheet, row, column) {
    const values = sheet.values[row];
    const formats = sheet.formats[row];
    return { value: values && values[column] !== undefined ? values[column] : "",
      format: (formats && formats[column]) || "General", formula: sheet.formulas.get(`${row},${column}`) || null };
  }

  function setCell(sheet, row, column, change) {
    if ("value" in change) (sheet.values[row] ||= [])[column] = change.value;
    if ("format" in change) (sheet.formats[row] ||= [])[column] = change.format;
    if ("formula" in change) {
      if (change.formula) sheet.formulas.set(`${row},${column}`, change.formula);
      else sheet.formulas.delete(`${row},${column}`);
    }
  }

  // As Excel reads a typed value: a leading apostrophe keeps text as text; = + - start a formula.
  // (and, as Excel does, a string that reads as a number becomes one unless the cell is formatted as text).
  function written(value, format) {
    if (typeof value !== "string") return { value, formula: null };
    if (value.startsWith("'")) return { value: value.slice(1), formula: null };
    if (format === "@") return { value, formula: null };
    if (/^[=+-]/.test(value) && Number.isNaN(Number(value))) return { value: "#NAME?", formula: value };
    if (value.trim() !== "" && !Number.isNaN(Number(value))) return { value: Number(value), formula: null };
    return { value, formula: null };
  }

  function tableNamed(name) {
    return book.tables.find((table) => table.name.toLowerCase() === String(name).toLowerCase()) || null;
  }

  function letters(column) {
    let name = "";
    for (let n = column + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
    return name;
  }

  function address(area) {
    const start = `${letters(area.column)}${area.row + 1}`;
    const end = `${letters(area.column + area.columns - 1)}${area.row + area.rows}`;
    return `${area.sheet.name}!${start === end ? start : `${start}:${end}`}`;
  }

  function parseAddress(text, defaultSheet) {
    let sheet = defaultSheet;
    let local = String(text);
    if (local.includes("!")) {
      const [name, rest] = local.split("!");
      sheet = sheetNamed(name.replace(/^'|'$/g, ""));
      if (!sheet) throw new RichApiError("ItemNotFound", `No worksheet named ${name}.`);
      local = rest;
    }
    const [from, to = from] = local.split(":");
    const point = (ref) => {
      const match = /^\$?([A-Z]+)\$?(\d+)$/i.exec(ref);
      if (!match) throw new RichApiError("InvalidArgument", `The address ${text} is not valid.`);
      const column = [...match[1].toUpperCase()].reduce((total, char) => total * 26 + char.charCodeAt(0) - 64, 0) - 1;
      return { row: Number(match[2]) - 1, column };
    };
    const a = point(from);
    const b = point(to);
    return area(sheet, Math.min(a.row, b.row), Math.min(a.column, b.column), Math.abs(b.row - a.row) + 1,
      Math.abs(b.column - a.column) + 1);
  }

  function area(sheet, row, column, rows, columns) {
    if (!sheet) throw new RichApiError("InvalidArgument", "A range needs a worksheet.");
    if (row < 0 || column < 0 || rows < 1 || columns < 1 || row + rows > MAX_ROWS || column + columns > MAX_COLUMNS) {
      throw new RichApiError("InvalidArgument", "The argument is invalid or missing or has an incorrect format.");
    }
    return { sheet, row, column, rows, columns };
  }

  function overlaps(a, b) {
    return a.sheet === b.sheet && a.row < b.row + b.rows && b.row < a.row + a.rows
      && a.column < b.column + b.columns && b.column < a.column + a.columns;
  }

  function tableArea(table) {
    return area(table.sheet, table.row, table.column, table.rows, table.columns);
  }

  function grid(target, read) {
    return Array.from({ length: target.rows }, (_, r) => Array.from({ length: target.columns },
      (__, c) => read(cell(target.sheet, target.row + r, target.column + c))));
  }

  // Excel takes a 2-D array of exactly the range's shape (a single value is not a 2-D array).
  function assignGrid(target, values, apply) {
    if (!Array.isArray(values) || values.length !== target.rows
      || values.some((row) => !Array.isArray(row) || row.length !== target.columns)) {
      throw new RichApiError("InvalidArgument",
        `The number of rows or columns in the input array doesn't match the size or dimensions of the range ${address(target)}.`);
    }
    values.forEach((row, r) => row.forEach((value, c) => {
      if (value !== null) apply(target.row + r, target.column + c, value); // null leaves a cell as it is
    }));
  }

  function addTable(target, hasHeaders) {
    if (!hasHeaders) throw new RichApiError("InvalidArgument", "The stand-in only adds tables whose first row is headers.");
    for (const other of book.tables) {
      if (overlaps(tableArea(other), target)) {
        throw new RichApiError("InvalidOperation", "A table can't overlap another table.");
      }
    }
    const id = book.nextTableId++;
    const table = { id: String(id), identity: id, name: `Table${id}`, sheet: target.sheet, row: target.row,
      column: target.column, rows: Math.max(target.rows, 2), columns: target.columns };
    book.tables.push(table);
    nameHeaders(table);
    return table;
  }

  // A table's header cells always hold unique, non-empty names.
  function nameHeaders(table) {
    const seen = new Set();
    for (let c = 0; c < table.columns; c += 1) {
      let name = String(cell(table.sheet, table.row, table.column + c).value || `Column${c + 1}`);
      for (let n = 2; seen.has(name.toLowerCase()); n += 1) name = `${name}${n}`;
      seen.add(name.toLowerCase());
      setCell(table.sheet, table.row, table.column + c, { value: name, formula: null });
    }
  }

  function resizeTable(table, target) {
    if (target.sheet !== table.sheet || target.row !== table.row) {
      throw new RichApiError("InvalidArgument", "The table's header row must stay in the same row.");
    }
    if (target.rows < 2) throw new RichApiError("InvalidArgument", "A table needs a header row and a data row.");
    if (!overlaps(target, tableArea(table))) {
      throw new RichApiError("InvalidArgument", "The new range must overlap the table's current range.");
    }
    for (const other of book.tables) {
      if (other !== table && overlaps(tableArea(other), target)) {
        throw new RichApiError("InvalidOperation", "A table can't overlap another table.");
      }
    }
    Object.assign(table, { column: target.column, rows: target.rows, columns: target.columns });
    nameHeaders(table);
  }

  // ---- proxy objects and the request they build --------------------------------------------------------

  let nextObjectId = 1;

  class ClientObject {
    constructor(context, parent, method, args, locate) {
      this.context = context;
      this._id = nextObjectId++;
      this._locate = locate; // (resolved parent) -> the thing in the workbook, run when the request is carried out
      this._parent = parent;
      this._loaded = {};
      this._target = undefined;
      context._queue(this, parent, method, args, "create");
    }

    _resolve() {
      if (this._target === undefined) this._target = this._locate(this._parent ? this._parent._resolve() : null);
      return this._target;
    }

    _act(method, args, run) {
      this.context._queue(this, null, method, args, "call", run);
    }

    _set(property, value, run) {
      this.context._queue(this, null, property, [value], "set", run);
    }

    _get(property) {
      if (!(property in this._loaded)) {
        throw new RichApiError("PropertyNotLoaded", `The property '${property}' is not available. Before reading `
          + "the property's value, call the load method on the containing object and call \"context.sync()\" on "
          + "the associated request context.");
      }
      return this._loaded[property];
    }

    load(properties) {
      const names = typeof properties === "string" ? properties.split(",").map((name) => name.trim())
        : Array.isArray(properties) ? properties : Object.keys(properties || {});
      this.context._queue(this, null, "load", [names], "load", () => {
        const target = this._resolve();
        for (const name of names) this._loaded[name] = this._read(target, name);
      });
      return this;
    }

    get isNullObject() {
      return this._get("isNullObject");
    }
  }

  // Office.js fills in isNullObject on every sync, loaded or not.
  function nullable(object) {
    object.context._queue(object, null, "isNullObject", [], "call", () => {
      object._loaded.isNullObject = object._resolve() === null;
    });
    return object;
  }

  class Range extends ClientObject {
    _read(target, name) {
      const reads = {
        values: () => grid(target, (c) => c.value),
        numberFormat: () => grid(target, (c) => c.format),
        formulas: () => grid(target, (c) => c.formula || c.value),
        address: () => address(target),
        rowIndex: () => target.row,
        columnIndex: () => target.column,
        rowCount: () => target.rows,
        columnCount: () => target.columns,
      };
      if (!reads[name]) throw new RichApiError("InvalidArgument", `Range has no property ${name}.`);
      return reads[name]();
    }

    set values(values) {
      this._set("values", values, () => assignGrid(this._resolve(), values,
        (row, column, value) => {
          const sheet = this._resolve().sheet;
          setCell(sheet, row, column, written(value, cell(sheet, row, column).format));
        }));
    }

    get values() {
      return this._get("values");
    }

    set numberFormat(formats) {
      this._set("numberFormat", formats, () => assignGrid(this._resolve(), formats,
        (row, column, format) => setCell(this._resolve().sheet, row, column, { format: String(format) })));
    }

    get numberFormat() {
      return this._get("numberFormat");
    }

    get rowIndex() { return this._get("rowIndex"); }

    get columnIndex() { return this._get("columnIndex"); }

    get rowCount() { return this._get("rowCount"); }

    get columnCount() { return this._get("columnCount"); }

    get address() { return this._get("address"); }

    getResizedRange(deltaRows, deltaColumns) {
      return new Range(this.context, this, "getResizedRange", [deltaRows, deltaColumns],
        (it) => area(it.sheet, it.row, it.column, it.rows + deltaRows, it.columns + deltaColumns));
    }

    getOffsetRange(rowOffset, columnOffset) {
      return new Range(this.context, this, "getOffsetRange", [rowOffset, columnOffset],
        (it) => area(it.sheet, it.row + rowOffset, it.column + columnOffset, it.rows, it.columns));
    }

    getCell(row, column) {
      return new Range(this.context, this, "getCell", [row, column],
        (it) => area(it.sheet, it.row + row, it.column + column, 1, 1));
    }

    clear(applyTo = "All") {
      this._act("clear", [applyTo], () => {
        const target = this._resolve();
        for (let r = 0; r < target.rows; r += 1) {
          for (let c = 0; c < target.columns; c += 1) {
            const change = {};
            if (applyTo === "All" || applyTo === "Contents") Object.assign(change, { value: "", formula: null });
            if (applyTo === "All" || applyTo === "Formats") change.format = "General";
            setCell(target.sheet, target.row + r, target.column + c, change);
          }
        }
      });
    }
  }

  class Table extends ClientObject {
    _read(target, name) {
      if (name === "isNullObject") return target === null;
      if (target === null) return undefined;
      if (name === "name") return target.name;
      if (name === "id") return target.id;
      throw new RichApiError("InvalidArgument", `Table has no property ${name}.`);
    }

    _live() {
      const table = this._resolve();
      if (!table || !book.tables.includes(table)) throw new RichApiError("ItemNotFound", "The table does not exist.");
      return table;
    }

    get name() { return this._get("name"); }

    set name(name) {
      this._set("name", name, () => {
        const other = tableNamed(name);
        if (other && other !== this._live()) throw new RichApiError("ItemAlreadyExists", `A table named ${name} exists.`);
        this._live().name = name;
      });
    }

    get id() { return this._get("id"); }

    get worksheet() {
      return new Worksheet(this.context, this, "worksheet", [], (table) => table.sheet);
    }

    getRange() {
      return new Range(this.context, this, "getRange", [], (table) => tableArea(table));
    }

    getHeaderRowRange() {
      return new Range(this.context, this, "getHeaderRowRange", [],
        (table) => area(table.sheet, table.row, table.column, 1, table.columns));
    }

    getDataBodyRange() {
      return new Range(this.context, this, "getDataBodyRange", [],
        (table) => area(table.sheet, table.row + 1, table.column, table.rows - 1, table.columns));
    }

    resize(newRange) {
      this._act("resize", [newRange instanceof Range ? { object: newRange._id } : newRange], () => {
        const table = this._live();
        resizeTable(table, newRange instanceof Range ? newRange._resolve() : parseAddress(newRange, table.sheet));
      });
    }

    delete() {
      this._act("delete", [], () => {
        book.tables = book.tables.filter((table) => table !== this._live());
      });
    }
  }

  class TableCollection extends ClientObject {
    _read() {
      throw new RichApiError("InvalidArgument", "Load a table, not the collection.");
    }

    getItem(name) {
      return new Table(this.context, this, "getItem", [name], () => {
        const table = tableNamed(name);
        if (!table) throw new RichApiError("ItemNotFound", `The table ${name} does not exist.`);
        return table;
      });
    }

    getItemOrNullObject(name) {
      return nullable(new Table(this.context, this, "getItemOrNullObject", [name], () => tableNamed(name)));
    }

    add(target, hasHeaders) {
      const table = new Table(this.context, this, "add", [target instanceof Range ? { object: target._id } : target,
        hasHeaders], (sheet) => addTable(target instanceof Range ? target._resolve()
        : parseAddress(target, sheet && sheet.values ? sheet : null), hasHeaders));
      // Adding happens when the request runs, whether or not anything else uses the new table.
      this.context._queue(table, null, "ensure", [], "call", () => table._resolve());
      return table;
    }
  }

  class Worksheet extends ClientObject {
    _read(target, name) {
      if (name === "isNullObject") return target === null;
      if (target === null) return undefined;
      if (name === "name") return target.name;
      throw new RichApiError("InvalidArgument", `Worksheet has no property ${name}.`);
    }

    _live() {
      const sheet = this._resolve();
      if (!sheet || !book.sheets.includes(sheet)) throw new RichApiError("ItemNotFound", "The worksheet does not exist.");
      return sheet;
    }

    get name() { return this._get("name"); }

    get tables() {
      return new TableCollection(this.context, this, "tables", [], (sheet) => sheet);
    }

    getRange(text) {
      return new Range(this.context, this, "getRange", [text], () => parseAddress(text, this._live()));
    }

    getRangeByIndexes(row, column, rows, columns) {
      return new Range(this.context, this, "getRangeByIndexes", [row, column, rows, columns],
        () => area(this._live(), row, column, rows, columns));
    }

    activate() {
      this._act("activate", [], () => { book.active = this._live(); });
    }
  }

  class WorksheetCollection extends ClientObject {
    _read(target, name) {
      if (name === "items/name" || name === "items") return book.sheets.map((sheet) => sheet.name);
      throw new RichApiError("InvalidArgument", `WorksheetCollection has no property ${name}.`);
    }

    getItem(name) {
      return new Worksheet(this.context, this, "getItem", [name], () => {
        const sheet = sheetNamed(name);
        if (!sheet) throw new RichApiError("ItemNotFound", `The worksheet ${name} does not exist.`);
        return sheet;
      });
    }

    getItemOrNullObject(name) {
      return nullable(new Worksheet(this.context, this, "getItemOrNullObject", [name], () => sheetNamed(name)));
    }

    add(name) {
      const sheet = new Worksheet(this.context, this, "add", [name], () => addSheet(name));
      this.context._queue(sheet, null, "ensure", [], "call", () => sheet._resolve());
      return sheet;
    }
  }

  class Setting extends ClientObject {
    _read(target, name) {
      if (name === "isNullObject") return target === null;
      if (target === null) return undefined;
      if (name === "value") return JSON.parse(JSON.stringify(book.settings[target]));
      if (name === "key") return target;
      throw new RichApiError("InvalidArgument", `Setting has no property ${name}.`);
    }

    get value() { return this._get("value"); }
  }

  class SettingCollection extends ClientObject {
    _read() {
      throw new RichApiError("InvalidArgument", "Load a setting, not the collection.");
    }

    add(key, value) {
      const setting = new Setting(this.context, this, "add", [key, value], () => {
        book.settings[key] = JSON.parse(JSON.stringify(value));
        return key;
      });
      this.context._queue(setting, null, "ensure", [], "call", () => setting._resolve());
      return setting;
    }

    getItemOrNullObject(key) {
      return nullable(new Setting(this.context, this, "getItemOrNullObject", [key],
        () => (key in book.settings ? key : null)));
    }
  }

  class Workbook extends ClientObject {
    constructor(context) {
      super(context, null, "workbook", [], () => book);
      this.worksheets = new WorksheetCollection(context, this, "worksheets", [], () => book);
      this.tables = new TableCollection(context, this, "tables", [], () => book);
      this.settings = new SettingCollection(context, this, "settings", [], () => book);
    }

    _read() {
      throw new RichApiError("InvalidArgument", "Nothing to load on the workbook here.");
    }

    // ExcelApi 1.13: the sheets of an .xlsx given as base64, added at the end (or as `options` say).
    insertWorksheetsFromBase64(base64, options = {}) {
      this._act("insertWorksheetsFromBase64", [base64, options], null);
      this.context._pendingInserts.push(sheetNamesOf(base64).then((names) => {
        const wanted = options.sheetNamesToInsert && options.sheetNamesToInsert.length
          ? names.filter((name) => options.sheetNamesToInsert.includes(name)) : names;
        return () => wanted.map((name) => {
          let free = name;
          for (let n = 2; sheetNamed(free); n += 1) free = `${name} (${n})`;
          addSheet(free).inserted = true;
          return free;
        });
      }));
    }
  }

  class Application extends ClientObject {
    _read() {
      throw new RichApiError("InvalidArgument", "Nothing to load on the application here.");
    }

    suspendApiCalculationUntilNextSync() {
      this._act("suspendApiCalculationUntilNextSync", [], () => { book.calculationSuspended += 1; });
    }

    suspendScreenUpdatingUntilNextSync() {
      this._act("suspendScreenUpdatingUntilNextSync", [], () => { book.screenUpdatingSuspended += 1; });
    }
  }

  // The sheet names inside an .xlsx (a zip): xl/workbook.xml, found through the zip's central directory.
  async function sheetNamesOf(base64) {
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    let end = bytes.length - 22;
    while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end -= 1;
    if (end < 0) throw new RichApiError("InvalidArgument", "The file is not an Excel workbook.");
    let at = view.getUint32(end + 16, true);
    for (let n = view.getUint16(end + 10, true); n > 0; n -= 1) {
      const method = view.getUint16(at + 10, true);
      const size = view.getUint32(at + 20, true);
      const nameLength = view.getUint16(at + 28, true);
      const skip = view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
      const local = view.getUint32(at + 42, true);
      const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
      if (name === "xl/workbook.xml") {
        const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
        let data = bytes.subarray(start, start + size);
        if (method === 8) {
          data = new Uint8Array(await new Response(new Blob([data]).stream()
            .pipeThrough(new DecompressionStream("deflate-raw"))).arrayBuffer());
        }
        const xml = new TextDecoder().decode(data);
        return [...xml.matchAll(/<(?:\w+:)?sheet\b[^>]*\bname="([^"]*)"/g)].map((match) => match[1]
          .replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"'));
      }
      at += 46 + nameLength + skip;
    }
    throw new RichApiError("InvalidArgument", "The file is not an Excel workbook.");
  }

  class RequestContext {
    constructor() {
      this._operations = [];
      this._pendingInserts = [];
      this.workbook = new Workbook(this);
      this.application = new Application(this, null, "application", [], () => book);
    }

    _queue(object, parent, name, args, kind, run = null) {
      this._operations.push({ object, parent, name, args, kind, run });
    }

    // One request: the queued operations serialised as Office.js sends them, refused whole when too large,
    // otherwise carried out in order; the first failure stops the rest, as in Excel.
    async sync() {
      const operations = this._operations;
      const inserts = this._pendingInserts;
      this._operations = [];
      this._pendingInserts = [];
      const body = JSON.stringify(operations.map((op) => ({ Id: op.object._id, ParentId: op.parent ? op.parent._id
        : undefined, Kind: op.kind, Name: op.name, Args: op.args })));
      const bytes = new TextEncoder().encode(body).length;
      const request = { bytes, operations: operations.length, calls: operations.map((op) => op.name), ok: true };
      book.requests.push(request);
      await new Promise((resolve) => setTimeout(resolve, 0)); // the round trip
      if (!book.heldCall || request.calls.includes(book.heldCall)) await book.gate; // a test holding requests back
      if (bytes > REQUEST_LIMIT_BYTES) {
        request.ok = false;
        throw new RichApiError("RequestPayloadSizeLimitExceeded",
          "The request payload size has exceeded the limit. Please refer to the documentation: "
          + "\"https://learn.microsoft.com/office/dev/add-ins/concepts/resource-limits-and-performance-optimization"
          + "#excel-add-ins\".");
      }
      const insertions = await Promise.all(inserts).catch((error) => {
        request.ok = false;
        throw error;
      });
      let nextInsertion = 0;
      try {
        for (const op of operations) {
          if (op.name === "insertWorksheetsFromBase64") insertions[nextInsertion++]();
          else if (op.run) op.run();
        }
      } catch (error) {
        request.ok = false;
        throw error;
      } finally {
        book.calculationSuspended = 0;
        book.screenUpdatingSuspended = 0;
      }
    }
  }

  window.OfficeExtension = { Error: RichApiError };
  window.Excel = {
    run: async (batch) => batch(new RequestContext()),
    RequestContext,
    ClearApplyTo: { all: "All", formats: "Formats", contents: "Contents" },
    WorksheetPositionType: { none: "None", before: "Before", after: "After", beginning: "Beginning", end: "End" },
  };
  window.Office = {
    HostType: { Excel: "Excel" },
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    context: { officeTheme: null, requirements: { isSetSupported: (name, version) => name === "ExcelApi"
      && Number(version) <= 1.13 } },
    onReady(callback) {
      const info = { host: "Excel", platform: "OfficeOnline" };
      if (callback) setTimeout(() => callback(info), 0);
      return Promise.resolve(info);
    },
  };

  // For the tests: the workbook as values, and ways to arrange it.
  window.officeStandin = {
    requests: () => book.requests.map((request) => ({ ...request, calls: [...request.calls] })),
    largestRequest: () => Math.max(0, ...book.requests.map((request) => request.bytes)),
    clearRequests: () => { book.requests = []; },
    sheetNames: () => book.sheets.map((sheet) => sheet.name),
    insertedSheets: () => book.sheets.filter((sheet) => sheet.inserted).map((sheet) => sheet.name),
    tables: () => book.tables.map((table) => ({ name: table.name, identity: table.identity, sheet: table.sheet.name,
      address: address(tableArea(table)), rows: table.rows - 1, columns: table.columns })),
    // A table's body (or `column` of it) as values and number formats, read straight from the workbook.
    tableBody: (name) => {
      const table = tableNamed(name);
      const body = area(table.sheet, table.row + 1, table.column, table.rows - 1, table.columns);
      return { header: grid(area(table.sheet, table.row, table.column, 1, table.columns), (c) => c.value)[0],
        values: grid(body, (c) => c.value), formats: grid(body, (c) => c.format) };
    },
    cellText: (sheetName, text) => {
      const target = parseAddress(text, sheetNamed(sheetName));
      return cell(target.sheet, target.row, target.column).value;
    },
    // What a formula such as =SUM(Actuals[Amount]) would read: the column of the table known by `identity`.
    columnByIdentity: (identity, header) => {
      const table = book.tables.find((candidate) => candidate.identity === identity);
      if (!table) return null;
      const names = grid(area(table.sheet, table.row, table.column, 1, table.columns), (c) => c.value)[0];
      const at = names.indexOf(header);
      if (at < 0) return null;
      return grid(area(table.sheet, table.row + 1, table.column + at, table.rows - 1, 1), (c) => c.value)
        .map((row) => row[0]);
    },
    cellsBelow: (name, count) => {
      const table = tableNamed(name);
      return grid(area(table.sheet, table.row + table.rows, table.column, count, table.columns), (c) => c.value);
    },
    settings: () => JSON.parse(JSON.stringify(book.settings)),
    // Requests (those making `call`, or all) wait, once recorded, until released: a slow Excel.
    hold: (call = null) => {
      book.heldCall = call;
      book.gate = new Promise((resolve) => { book.release = resolve; });
    },
    release: () => { if (book.release) book.release(); book.gate = null; book.release = null; },
    setSetting: (key, value) => { book.settings[key] = value; },
  };
})();
