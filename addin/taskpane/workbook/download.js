// Files from the service saved to the user's disk (fetched by api.js, the key in a header), through a
// temporary blob link.

import { getBlob } from "../api.js";

const DOWNLOAD_DEADLINE_MS = 120000;

function fileBytes(path) {
  return getBlob(path, DOWNLOAD_DEADLINE_MS);
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
