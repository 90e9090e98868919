// Splitting rows into requests Excel accepts. Excel on the web refuses a request over 5 MB
// (RequestPayloadSizeLimitExceeded, research/wave2.md 3) and there is no safe rows-per-request figure:
// rows differ in size, so each request is bounded by the bytes of what it carries.

// 4 MB of cells under the 5 MB limit: the margin covers what a request carries beside them (object paths,
// the resize, the suspend calls) and how Office.js encodes them.
export const REQUEST_BUDGET_BYTES = 4 * 1024 * 1024;

// The size of `text` in UTF-8, as it travels, without building the bytes.
export function utf8Length(text) {
  let bytes = text.length;
  for (let at = 0; at < text.length; at += 1) {
    const code = text.charCodeAt(at);
    if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      at += 1;
    } else if (code > 0x7ff) {
      bytes += 2;
    } else if (code > 0x7f) {
      bytes += 1;
    }
  }
  return bytes;
}

// [start, end) runs of `rows` whose serialised cells, plus `extraBytesPerRow` (their number formats), stay
// within `budget`. A row too large for any budget still gets a run of its own (Excel then says so).
export function byteBoundedRuns(rows, extraBytesPerRow = 0, budget = REQUEST_BUDGET_BYTES) {
  const runs = [];
  let start = 0;
  let bytes = 0;
  rows.forEach((row, at) => {
    const size = utf8Length(JSON.stringify(row)) + 1 + extraBytesPerRow;
    if (at > start && bytes + size > budget) {
      runs.push([start, at]);
      start = at;
      bytes = 0;
    }
    bytes += size;
  });
  if (start < rows.length) runs.push([start, rows.length]);
  return runs;
}
