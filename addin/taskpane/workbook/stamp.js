// Freshness: what each loaded sheet says about its data, and what the workbook remembers of it (in the
// workbook's own settings, saved inside the file) so that the pane can tell when the workspace has newer data.

export const SETTING = "ledgerpane.workbook";

// To the second: two refreshes a minute apart must not read the same.
const WHEN = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" });

export function whenText(iso) {
  return iso ? `${WHEN.format(new Date(iso))} UTC` : "no refresh yet";
}

// The line above each table: where its data comes from, how fresh it is, and whether the load finished.
export function stampLine(stamp, sheet) {
  const parts = [`Ledgerpane: ${stamp.workspace}`, `data as of ${whenText(stamp.data_as_of)}`,
    `loaded ${whenText(stamp.loaded_at)}`];
  if (!sheet.complete) {
    parts.push(`stopped after ${sheet.rows.toLocaleString("en-GB")} of ${sheet.total.toLocaleString("en-GB")} rows`);
  }
  return parts.join(" · ");
}

// Why the workbook needs a reload, in words, or null when it holds the workspace's newest data.
export function staleness(stamp, workspaceDataAsOf) {
  if (!stamp) return null;
  if (Object.values(stamp.sheets || {}).some((sheet) => !sheet.complete)) {
    return "The last load into this workbook stopped before the end, so its tables hold only part of the data.";
  }
  if (workspaceDataAsOf && (!stamp.data_as_of || Date.parse(workspaceDataAsOf) > Date.parse(stamp.data_as_of))) {
    return `The workspace has newer data (as of ${whenText(workspaceDataAsOf)}) than this workbook `
      + `(${stamp.data_as_of ? `as of ${whenText(stamp.data_as_of)}` : "loaded before any refresh"}).`;
  }
  return null;
}

// The stamp this workbook keeps, or null (never loaded, or not in Excel).
export async function readStamp(context) {
  const setting = context.workbook.settings.getItemOrNullObject(SETTING);
  setting.load("value");
  await context.sync();
  return setting.isNullObject ? null : setting.value;
}

export function keepStamp(context, stamp) {
  context.workbook.settings.add(SETTING, stamp);
}
