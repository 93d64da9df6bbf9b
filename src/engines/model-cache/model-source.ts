/**
 * Where a llama-cpp Model's file comes from, decided from its configured `path`:
 * - a local path (used as it is),
 * - `hf:owner/repo/path/to/file.gguf` or `hf:owner/repo@revision/path/to/file.gguf` (a file of a Hugging Face
 *   repository, at `revision` or `main`), or
 * - an `https://` / `http://` URL.
 * Remote sources are downloaded once into the model cache under a stable key derived from the URL.
 */
import { createHash } from "node:crypto";

export type ModelSource =
  | { kind: "local"; path: string }
  | {
      kind: "remote";
      /** What the user configured (for messages). */
      source: string;
      url: string;
      /** Folder name in the cache: readable prefix + hash of the URL, so two URLs never share a folder. */
      cacheKey: string;
      /** File name inside the cache folder (the URL's last path segment). */
      filename: string;
      /** Send HF_TOKEN with requests to this origin (the Hugging Face endpoint), never elsewhere. */
      tokenOrigin: string | null;
    };

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

export class ModelSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelSourceError";
  }
}

/** Parses a configured model `path`. Throws ModelSourceError for a malformed `hf:` URI or URL. */
export function parseModelSource(configured: string, hfEndpoint: string = DEFAULT_HF_ENDPOINT): ModelSource {
  if (configured.startsWith("hf:")) return parseHuggingFace(configured, hfEndpoint);
  if (/^https?:\/\//i.test(configured)) {
    let url: URL;
    try {
      url = new URL(configured);
    } catch {
      throw new ModelSourceError(`'${configured}' is not a valid URL.`);
    }
    const hfOrigin = originOf(hfEndpoint);
    return {
      kind: "remote",
      source: configured,
      url: url.href,
      cacheKey: cacheKeyFor(`url-${url.hostname}`, url.href),
      filename: filenameOf(url.pathname),
      tokenOrigin: url.origin === hfOrigin ? hfOrigin : null,
    };
  }
  return { kind: "local", path: configured };
}

function parseHuggingFace(configured: string, hfEndpoint: string): ModelSource {
  const spec = configured.slice("hf:".length);
  const segments = spec.split("/");
  const owner = segments[0] ?? "";
  const repoAndRevision = segments[1] ?? "";
  const fileSegments = segments.slice(2);
  const at = repoAndRevision.indexOf("@");
  const repo = at === -1 ? repoAndRevision : repoAndRevision.slice(0, at);
  const revision = at === -1 ? "main" : repoAndRevision.slice(at + 1);
  if (owner === "" || repo === "" || revision === "" || fileSegments.length === 0 || fileSegments.some((segment) => segment === "" || segment === "." || segment === "..")) {
    throw new ModelSourceError(
      `'${configured}' is not a valid Hugging Face model URI: expected hf:owner/repo/path/to/file.gguf or hf:owner/repo@revision/path/to/file.gguf.`,
    );
  }
  const endpoint = hfEndpoint.replace(/\/+$/, "");
  const filePath = fileSegments.map(encodeURIComponent).join("/");
  const url = `${endpoint}/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/resolve/${encodeURIComponent(revision)}/${filePath}`;
  return {
    kind: "remote",
    source: configured,
    url,
    cacheKey: cacheKeyFor(`hf-${owner}-${repo}-${revision}`, url),
    filename: filenameOf(fileSegments[fileSegments.length - 1] ?? ""),
    tokenOrigin: originOf(endpoint),
  };
}

function cacheKeyFor(readable: string, url: string): string {
  const slug = readable.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80);
  const hash = createHash("sha256").update(url).digest("hex").slice(0, 16);
  return `${slug}-${hash}`;
}

/** The last path segment, decoded and made safe as a file name; "model.gguf" when there is none. */
function filenameOf(pathname: string): string {
  const last = pathname.split("/").filter((segment) => segment !== "").pop() ?? "";
  let decoded = last;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    // keep the raw segment
  }
  const safe = decoded.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "");
  return safe === "" ? "model.gguf" : safe.slice(0, 200);
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new ModelSourceError(`The Hugging Face endpoint '${url}' is not a valid URL (SPOOL_HF_ENDPOINT / HF_ENDPOINT).`);
  }
}
