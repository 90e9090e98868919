// Files from the service saved to the user's disk: fetched with the key in the Authorization header (never in
// an address, where it would reach logs and history), then saved through a temporary blob link.

import { ApiError, NetworkError } from "../api.js";
import { storedKey } from "../key.js";

const DOWNLOAD_DEADLINE_MS = 120000;

export async function fileBytes(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${storedKey()}` }, cache: "no-store",
      signal: AbortSignal.timeout(DOWNLOAD_DEADLINE_MS) });
  } catch {
    throw new NetworkError("Ledgerpane can't reach its service. Check your connection, then retry.");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    const detail = (body && body.error) || {};
    throw new ApiError(response.status, detail.code || `http_${response.status}`,
      detail.message || `Ledgerpane's service answered with an unexpected response (HTTP ${response.status}).`,
      detail.field ?? null);
  }
  return response.blob();
}

export async function saveFile(path, fileName) {
  const url = URL.createObjectURL(await fileBytes(path));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000); // after the browser has taken the file
}

// The file as base64, which is how Excel takes a workbook to insert sheets from.
export async function fileBase64(path) {
  const blob = await fileBytes(path);
  const dataUrl = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  return String(dataUrl).slice(String(dataUrl).indexOf(",") + 1);
}
