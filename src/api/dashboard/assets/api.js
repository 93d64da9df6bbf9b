// The dashboard API client: the API key entered once is kept in localStorage and sent as a Bearer token;
// a 401 opens the key dialog.
const KEY = "spool.apiKey";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

let askForKey = () => undefined;
export function onKeyNeeded(handler) {
  askForKey = handler;
}

export const apiKey = () => localStorage.getItem(KEY) ?? "";
export const setApiKey = (key) => (key ? localStorage.setItem(KEY, key) : localStorage.removeItem(KEY));

export async function api(path, options = {}) {
  const headers = { accept: "application/json" };
  if (apiKey()) headers.authorization = `Bearer ${apiKey()}`;
  if (options.method === "POST") headers["content-type"] = "application/json";
  const response = await fetch(`/dashboard/api${path}`, { method: options.method ?? "GET", headers, body: options.method === "POST" ? "{}" : undefined });
  const body = await response.json().catch(() => null);
  if (response.status === 401) askForKey();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Starts a download of a File through a short-lived signed link (no key in the URL). */
export async function download(fileId) {
  const link = await api(`/files/${encodeURIComponent(fileId)}/link`, { method: "POST" });
  const anchor = document.createElement("a");
  anchor.href = link.url;
  anchor.download = link.filename;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

export const query = (params) => {
  const entries = Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== "");
  return entries.length > 0 ? `?${new URLSearchParams(entries)}` : "";
};
