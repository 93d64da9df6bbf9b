/**
 * Resumable HTTP download into a `.part` file, hashing as it goes.
 *
 * - A `.part` left by an interrupted download (this process or an earlier one) is continued with
 *   `Range: bytes=<size>-`: on 206 the bytes are appended, on 200 (server ignores ranges) it starts over,
 *   on 416 (the part is as long as or longer than the file) it starts over.
 * - Redirects are followed by hand (Hugging Face answers with a 302 to a CDN), so the Authorization
 *   header can be dropped when the redirect leaves the origin the token belongs to.
 * - Connection failures, short bodies, 408/429/5xx are retried with backoff, each retry resuming.
 * - The size is checked against Content-Length / Content-Range; a body that ends early is an error.
 *
 * The caller decides what a complete `.part` becomes (checksum, GGUF inspection, atomic rename).
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, rm, stat } from "node:fs/promises";
import { request } from "undici";
import { errorCode } from "../http/network-errors.ts";

export interface DownloadProgress {
  /** Bytes in the `.part` file now. */
  bytes: number;
  /** Size of the whole file when the server said; null otherwise. */
  totalBytes: number | null;
}

export interface DownloadRequest {
  url: string;
  partPath: string;
  /** Bearer token sent only to `tokenOrigin` (never to a redirect target elsewhere). */
  token: string | null;
  tokenOrigin: string | null;
  onProgress?: (progress: DownloadProgress) => void;
  /** Called when an attempt fails and another follows. */
  onRetry?: (attempt: number, error: DownloadError, delayMs: number) => void;
  /** Called when an attempt resumes an existing `.part` (bytes already there). */
  onResume?: (fromBytes: number) => void;
  attempts?: number;
  baseDelayMs?: number;
}

export interface DownloadResult {
  bytes: number;
  sha256: string;
  /** Requests sent, redirects included. */
  requests: number;
}

/** A download that did not produce a complete file. `status` is the HTTP status when there was one. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = "DownloadError";
  }
}

const MAX_REDIRECTS = 10;
/** Errors of the local disk, not of the network: another try will not help. */
const LOCAL_FILE_CODES = new Set(["ENOSPC", "EACCES", "EROFS", "EDQUOT", "EPERM", "EISDIR", "ENOTDIR"]);
const MAX_DELAY_MS = 30_000;

export async function downloadFile(download: DownloadRequest): Promise<DownloadResult> {
  const attempts = download.attempts ?? 5;
  const baseDelayMs = download.baseDelayMs ?? 1_000;
  let requests = 0;
  let restarts = 0;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const outcome = await downloadOnce(download);
      requests += outcome.requests;
      if (outcome.kind === "done") return { bytes: outcome.bytes, sha256: outcome.sha256, requests };
      // The part could not be continued (416, or a range other than the one asked for): start over at
      // once. Not a failure, but twice in a row means the server's range support is broken.
      restarts += 1;
      if (restarts > 1) throw new DownloadError(`${download.url}: the server keeps refusing to continue the download.`, false);
      await rm(download.partPath, { force: true });
      attempt -= 1;
    } catch (caught) {
      const error = toDownloadError(caught, download.url);
      if (!error.retryable || attempt >= attempts) throw error;
      const delayMs = Math.min(MAX_DELAY_MS, baseDelayMs * 2 ** (attempt - 1));
      download.onRetry?.(attempt, error, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

type AttemptOutcome = { kind: "done"; bytes: number; sha256: string; requests: number } | { kind: "restart"; requests: number };

async function downloadOnce(download: DownloadRequest): Promise<AttemptOutcome> {
  const existing = (await stat(download.partPath).catch(() => null))?.size ?? 0;
  const { response, requests } = await get(download, existing);
  const { statusCode, headers, body } = response;

  if (statusCode === 416 && existing > 0) {
    await body.dump();
    return { kind: "restart", requests };
  }
  if (statusCode !== 200 && statusCode !== 206) {
    await body.dump().catch(() => undefined);
    const retryable = statusCode === 408 || statusCode === 429 || statusCode >= 500;
    throw new DownloadError(`${download.url}: the server answered HTTP ${statusCode}${hint(statusCode)}.`, retryable, statusCode);
  }

  let offset = 0;
  let totalBytes: number | null = numberHeader(headers["content-length"]);
  if (statusCode === 206) {
    const range = parseContentRange(headerText(headers["content-range"]));
    if (range === null || range.start !== existing) {
      await body.dump();
      return { kind: "restart", requests };
    }
    offset = existing;
    totalBytes = range.total;
    download.onResume?.(existing);
  }

  const hash = createHash("sha256");
  if (offset > 0) await hashFile(download.partPath, offset, hash);
  const file = await open(download.partPath, offset > 0 ? "r+" : "w");
  let bytes = offset;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      await file.write(chunk, 0, chunk.length, bytes);
      hash.update(chunk);
      bytes += chunk.length;
      download.onProgress?.({ bytes, totalBytes });
    }
  } finally {
    await file.close();
  }
  if (totalBytes !== null && bytes !== totalBytes) {
    throw new DownloadError(`${download.url}: the download ended after ${bytes} of ${totalBytes} bytes.`, true);
  }
  return { kind: "done", bytes, sha256: hash.digest("hex"), requests };
}

/** GET with manual redirects; the token goes only to its own origin. */
async function get(download: DownloadRequest, from: number): Promise<{ response: Awaited<ReturnType<typeof request>>; requests: number }> {
  let url = download.url;
  for (let redirects = 0; ; redirects += 1) {
    const headers: Record<string, string> = { "accept-encoding": "identity", "user-agent": "spool-model-cache" };
    if (from > 0) headers.range = `bytes=${from}-`;
    if (download.token !== null && download.tokenOrigin !== null && new URL(url).origin === download.tokenOrigin) {
      headers.authorization = `Bearer ${download.token}`;
    }
    const response = await request(url, { method: "GET", headers });
    const location = headerText(response.headers.location);
    if (response.statusCode >= 300 && response.statusCode < 400 && location !== null) {
      await response.body.dump();
      if (redirects >= MAX_REDIRECTS) throw new DownloadError(`${download.url}: more than ${MAX_REDIRECTS} redirects.`, false);
      url = new URL(location, url).href;
      continue;
    }
    return { response, requests: redirects + 1 };
  }
}

async function hashFile(path: string, bytes: number, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
}

function toDownloadError(error: unknown, url: string): DownloadError {
  if (error instanceof DownloadError) return error;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code !== null && LOCAL_FILE_CODES.has(code)) return new DownloadError(`${url}: cannot write the download to the model cache (${code}: ${message}).`, false);
  // Node system errors (ECONNRESET, ENOTFOUND...) and undici's UND_ERR_* are network failures: retry.
  if (code !== null && (code.startsWith("UND_ERR_") || /^E[A-Z]+$/.test(code))) return new DownloadError(`${url}: network error (${code}: ${message}).`, true);
  return new DownloadError(`${url}: ${message}`, false);
}

function hint(status: number): string {
  if (status === 401 || status === 403) return " (a gated or private repository needs HF_TOKEN with access to it)";
  if (status === 404) return " (no such file: check the owner, repository, revision and file name)";
  return "";
}

function headerText(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

function numberHeader(value: string | string[] | undefined): number | null {
  const text = headerText(value);
  if (text === null || !/^\d+$/.test(text.trim())) return null;
  return Number(text.trim());
}

/** `bytes 100-199/1000` -> {start: 100, total: 1000}; total null for `*`. */
function parseContentRange(value: string | null): { start: number; total: number | null } | null {
  const match = value === null ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (!match) return null;
  return { start: Number(match[1]), total: match[3] === "*" ? null : Number(match[3]) };
}
