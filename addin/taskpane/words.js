// What the pane calls things, in a finance user's words: statuses and their meaning, times, counts.

export const STATUS = {
  setup: { label: "Setup", tone: "", tip: "Added, but the sign-in at the provider is not finished yet." },
  authenticated: { label: "Authenticated", tone: "brand",
    tip: "Signed in at the provider. Choose companies and refresh to bring data in." },
  live: { label: "Live", tone: "good", tip: "Companies are chosen and the last refresh succeeded." },
  reauth_required: { label: "Re-auth required", tone: "warn",
    tip: "The provider no longer accepts Ledgerpane's sign-in. An admin must reconnect it." },
  error: { label: "Error", tone: "bad",
    tip: "The last refresh failed after retries. The integration log says why." },
  disconnected: { label: "Disconnected", tone: "",
    tip: "Stopped by an admin: nothing refreshes, and the data already loaded stays." },
};

export const DATA_TYPES = {
  accounts: "Accounts",
  dimensions: "Dimensions",
  journals: "Journals",
  trial_balance: "Trial balance",
  currencies: "Currencies",
  schedule: "Schedule",
};

// The types a stream's field can load as (server/mapping/fields.py), as the field-types screen offers them.
export const FIELD_TYPES = {
  string: "Text",
  integer: "Whole number",
  decimal: "Decimal",
  date: "Date",
  datetime: "Date and time",
  boolean: "Yes or no",
};

export function fieldTypeText(type, scale) {
  const name = FIELD_TYPES[type] || type;
  return type === "decimal" ? `${name}, ${scale ?? 2} places` : name;
}

export const RUN_STATUS = {
  queued: "Waiting to start",
  running: "Refreshing",
  succeeded: "Succeeded",
  partly_succeeded: "Partly succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

export const EVENT_STATUS = {
  succeeded: "Succeeded", failed: "Failed", needs_attention: "Needs attention", skipped: "Skipped",
};

export function statusOf(connection) {
  return STATUS[connection.status] || { label: connection.status, tone: "", tip: "" };
}

export function credentialsLabel(connection) {
  return { active: "Active", error: "Error", none: "Not signed in" }[connection.credential_status.state]
    || connection.credential_status.state;
}

export function accountsLabel(connection) {
  const status = connection.account_status;
  return status.state === "loading" ? "Loading accounts" : status.state === "error" ? "Error" : status.label;
}

export function count(number, one, many = `${one}s`) {
  return `${Number(number || 0).toLocaleString("en-GB")} ${number === 1 ? one : many}`;
}

// "just now", "3 min ago", "5 h ago", "2 days ago", then the date.
export function ago(iso, now = Date.now()) {
  if (!iso) return "Never";
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.max(1, Math.round(seconds / 60))} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 7 * 86400) return count(Math.round(seconds / 86400), "day") + " ago";
  return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) : "Never";
}

export function progressText(run) {
  const progress = run.progress || {};
  if (run.status === "queued") return "Waiting to start…";
  return `Refreshing: ${count(progress.pages || 0, "page")}, ${count(progress.rows_read || 0, "row")} read`;
}

// The last run's outcome in one line, e.g. "Succeeded 3 min ago: 6,000 rows".
export function outcomeText(run) {
  const label = RUN_STATUS[run.status] || run.status;
  const rows = run.progress && run.progress.rows_written !== undefined
    ? `: ${count(run.progress.rows_written, "row")} loaded` : "";
  // A partly succeeded run names the companies that failed, why and what fixes it (run.error).
  const attention = run.status === "partly_succeeded" && run.error ? `. ${run.error}`
    : run.needs_attention ? " (needs attention: totals differ from the provider's trial balance)" : "";
  const loaded = run.status === "succeeded" || run.status === "partly_succeeded" ? rows : "";
  return `${label} ${ago(run.finished_at || run.queued_at)}${loaded}${attention}`;
}

// What went wrong with a connection, in plain words, and what fixes it; null when nothing is wrong.
export function problemOf(connection) {
  if (connection.status === "reauth_required" || connection.credential_status.state === "error") {
    return {
      text: "The provider no longer accepts Ledgerpane's sign-in (it was revoked or expired)"
        + (connection.credential_status.detail ? `: ${connection.credential_status.detail}` : "."),
      fix: "reconnect",
    };
  }
  if (connection.status === "error") {
    return { text: connection.status_detail || "The last refresh failed after retries.", fix: "refresh" };
  }
  if (connection.status === "setup") {
    return { text: "The sign-in at the provider was not finished.", fix: "reconnect" };
  }
  return null;
}

// The environment step: a provider's groups of companies (Business Central's environments), each with its count.
export function environmentChoice(name, companies) {
  return `${name} (${count(companies, "company", "companies")})`;
}
