/**
 * Uploads of spool's Files to the Gemini API's Files API, so a request names the File (`fileData.fileUri`)
 * instead of carrying its bytes: one upload per File and upstream, shared by every Item naming it
 * (Engine.fileReference, decision 0024).
 *
 * The protocol is the resumable one the genai SDK uses: a `start` POST with the size and MIME type answers
 * with an upload URL; one `upload, finalize` POST streams the bytes and answers with the File resource.
 * Files still `PROCESSING` (video) are polled until `ACTIVE`, as Google asks before they are used.
 *
 * An upload is reused while it lives upstream (Google keeps Files 48 hours; its `expirationTime` says when),
 * less a margin so a reference never reaches Google just after its File went away. Concurrent requests for
 * a File not yet uploaded share one upload, which runs under its own timeout rather than the signal of the
 * request that started it: a cancelled Item does not fail the others waiting for the same upload (each
 * stops waiting on its own signal). A failed upload is not remembered, so the next Item tries again (its
 * EngineError carries the usual retry decision).
 */
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { EngineError } from "../../core/engine.ts";
import type { MediaFile } from "../../core/media.ts";
import { untilAborted } from "../../core/until-aborted.ts";
import { isObject } from "../../core/json.ts";
import { exchangeError, toJsonReply, withTimeout } from "../http/post-json.ts";
import { headerValue } from "../http/retry-after.ts";

/** What an upload needs of the engine's route to one upstream. */
export interface UploadRoute {
  dispatcher: Dispatcher;
  origin: string;
  basePath: string;
  apiKey: string | undefined;
  timeoutMs: number;
}

const REUSE_MARGIN_MS = 3600 * 1000;
const DEFAULT_LIFETIME_MS = 48 * 3600 * 1000;
const POLL_MS = 1000;

interface Upload {
  uri: string;
  expiresAtMs: number;
}

export class GeminiUploads {
  private readonly uploads = new Map<string, Upload>();
  private readonly pending = new Map<string, Promise<Upload>>();
  /** Uploads made (not reused); for tests and logs. */
  count = 0;

  constructor(private readonly nowMs: () => number) {}

  async reference(route: UploadRoute, file: MediaFile, open: () => Promise<Readable>, signal: AbortSignal): Promise<string> {
    const key = `${route.origin}${route.basePath}|${route.apiKey ?? ""}|${file.id}:${file.sha256}`;
    const known = this.uploads.get(key);
    if (known !== undefined && known.expiresAtMs - REUSE_MARGIN_MS > this.nowMs()) return known.uri;
    let upload = this.pending.get(key);
    if (upload === undefined) {
      upload = this.upload(route, file, open).then((done) => {
        this.uploads.set(key, done);
        return done;
      });
      upload.finally(() => this.pending.delete(key)).catch(() => undefined);
      this.pending.set(key, upload);
    }
    // The signal's abort as an EngineError when it fires first; the shared upload runs on.
    return (await untilAborted(upload, signal, () => exchangeError(new Error("aborted"), signal, `upload of File ${file.id}`))).uri;
  }

  private async upload(route: UploadRoute, file: MediaFile, open: () => Promise<Readable>): Promise<Upload> {
    const description = `upload of File ${file.id} to ${route.origin}`;
    const { signal, cleanup } = withTimeout(undefined, route.timeoutMs, description);
    try {
      const auth: Record<string, string> = route.apiKey === undefined ? {} : { "x-goog-api-key": route.apiKey };
      const start = await route.dispatcher.request({
        method: "POST",
        path: `${route.basePath}/upload/v1beta/files`,
        headers: {
          ...auth,
          "content-type": "application/json",
          "x-goog-upload-protocol": "resumable",
          "x-goog-upload-command": "start",
          "x-goog-upload-header-content-length": String(file.bytes),
          "x-goog-upload-header-content-type": file.mimeType,
        },
        body: JSON.stringify({ file: { displayName: file.filename, mimeType: file.mimeType } }),
        signal,
      });
      const startText = await start.body.text();
      const request = { dispatcher: route.dispatcher, path: "", headers: {}, body: "", description, nowMs: this.nowMs };
      toJsonReply(start.statusCode, start.headers, startText, request);
      const uploadUrl = headerValue(start.headers, "x-goog-upload-url");
      if (uploadUrl === undefined) throw new EngineError({ kind: "http", message: `${description}: the upstream gave no upload URL.`, statusCode: 502, retryable: true });
      const target = new URL(uploadUrl, route.origin);
      if (target.origin !== route.origin) throw new EngineError({ kind: "http", message: `${description}: the upload URL is on another host (${target.origin}).`, statusCode: 502, retryable: false });
      const sent = await route.dispatcher.request({
        method: "POST",
        path: `${target.pathname}${target.search}`,
        headers: { ...auth, "content-length": String(file.bytes), "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0" },
        body: await open(),
        signal,
      });
      const reply = toJsonReply(sent.statusCode, sent.headers, await sent.body.text(), request);
      let resource = isObject(reply.body) && isObject(reply.body.file) ? reply.body.file : null;
      while (resource !== null && resource.state === "PROCESSING" && typeof resource.name === "string") {
        await delay(POLL_MS, signal);
        resource = await this.fetchResource(route, resource.name, auth, signal, request);
      }
      if (resource === null || typeof resource.uri !== "string" || (resource.state !== undefined && resource.state !== "ACTIVE")) {
        throw new EngineError({ kind: "http", message: `${description}: the upstream did not make the File ACTIVE (${JSON.stringify(resource?.state ?? null)}).`, statusCode: 502, retryable: false });
      }
      this.count += 1;
      const expires = typeof resource.expirationTime === "string" ? Date.parse(resource.expirationTime) : Number.NaN;
      return { uri: resource.uri, expiresAtMs: Number.isFinite(expires) ? expires : this.nowMs() + DEFAULT_LIFETIME_MS };
    } catch (error) {
      throw exchangeError(error, signal, description);
    } finally {
      cleanup();
    }
  }

  private async fetchResource(route: UploadRoute, name: string, auth: Record<string, string>, signal: AbortSignal | undefined, request: Parameters<typeof toJsonReply>[3]): Promise<Record<string, unknown> | null> {
    const answer = await route.dispatcher.request({ method: "GET", path: `${route.basePath}/v1beta/${name}`, headers: auth, signal });
    const reply = toJsonReply(answer.statusCode, answer.headers, await answer.body.text(), request);
    return isObject(reply.body) ? reply.body : null;
  }
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
