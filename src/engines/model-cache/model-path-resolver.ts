/**
 * The model cache: turns a llama-cpp Model's configured `path` into a local GGUF file the engine can load.
 *
 * Remote files (`hf:` URIs, http(s) URLs) are downloaded once into `<cacheDir>/<stable key>/<filename>` and
 * reused afterwards without any network access. The cached file only ever appears by an atomic rename of a
 * complete `.part` that passed the configured SHA-256 and the GGUF header inspection, so a truncated,
 * tampered or non-GGUF download is never loaded (llama.cpp aborts or hangs on some malformed files, see
 * gguf-inspect.ts) and never poisons the cache. An interrupted download resumes from its `.part`.
 *
 * Concurrent resolves of one file in this process share one download. Two processes downloading the same
 * file into one cache dir at the same moment are not coordinated (each would write the same `.part`);
 * scale-out deployments give each machine its own data dir.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import type { LlamaCppModelConfig } from "../../config/config.ts";
import { GgufInspectionError, inspectGguf } from "../llama-cpp/gguf-inspect.ts";
import type { ModelPathResolver } from "../registry.ts";
import { DownloadError, downloadFile, type DownloadProgress } from "./download-file.ts";
import { DEFAULT_HF_ENDPOINT, ModelSourceError, parseModelSource, type ModelSource } from "./model-source.ts";

export interface ModelPathResolverOptions {
  /** Root of the cache; the composition root uses `<dataDir>/models`. */
  cacheDir: string;
  logger: Pick<Logger, "info" | "warn">;
  /** Hugging Face endpoint for `hf:` URIs. Default: env SPOOL_HF_ENDPOINT, then HF_ENDPOINT, then https://huggingface.co. */
  hfEndpoint?: string;
  /** Where HF_TOKEN and the endpoint variables are read. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Tries per download (each retry resumes the `.part`). Default 5. */
  downloadAttempts?: number;
  /** First retry delay, doubled each time (capped at 30 s). Default 1000. */
  retryBaseDelayMs?: number;
  /** Least time between two progress log lines. Default 2000. */
  progressIntervalMs?: number;
}

/** A Model's file cannot be used: missing, not downloadable, wrong checksum, not a valid GGUF. */
export class ModelFileError extends Error {
  constructor(
    readonly model: string,
    message: string,
  ) {
    super(`Model '${model}': ${message}`);
    this.name = "ModelFileError";
  }
}

/** Recorded next to a downloaded file, so a configured sha256 can be checked without hashing gigabytes. */
interface DownloadRecord {
  url: string;
  bytes: number;
  sha256: string;
  downloadedAtMs: number;
}

type ResolverSettings = Required<Omit<ModelPathResolverOptions, "env" | "hfEndpoint">> & { hfEndpoint: string; token: string | null };

export function createModelPathResolver(options: ModelPathResolverOptions): ModelPathResolver {
  const env = options.env ?? process.env;
  const settings: ResolverSettings = {
    cacheDir: path.resolve(options.cacheDir),
    logger: options.logger,
    hfEndpoint: options.hfEndpoint ?? nonEmpty(env.SPOOL_HF_ENDPOINT) ?? nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_HF_ENDPOINT,
    token: nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN) ?? null,
    downloadAttempts: options.downloadAttempts ?? 5,
    retryBaseDelayMs: options.retryBaseDelayMs ?? 1_000,
    progressIntervalMs: options.progressIntervalMs ?? 2_000,
  };
  const inFlight = new Map<string, Promise<string>>();

  return async (model: LlamaCppModelConfig): Promise<string> => {
    let source: ModelSource;
    try {
      source = parseModelSource(model.path, settings.hfEndpoint);
    } catch (error) {
      if (error instanceof ModelSourceError) throw new ModelFileError(model.name, error.message);
      throw error;
    }
    if (source.kind === "local") return checkLocalFile(model.name, source.path);

    const target = path.join(settings.cacheDir, source.cacheKey, source.filename);
    let pending = inFlight.get(target);
    if (!pending) {
      pending = ensureCached(settings, model, source, target).finally(() => inFlight.delete(target));
      inFlight.set(target, pending);
    }
    return pending;
  };
}

async function checkLocalFile(name: string, file: string): Promise<string> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new ModelFileError(name, error.code === "ENOENT" ? `model file ${file} does not exist (check the model's path in the config).` : `cannot read model file ${file} (${error.code ?? error.message}).`);
  });
  if (!info.isFile()) throw new ModelFileError(name, `${file} is not a file (the model's path must name a .gguf file).`);
  return file;
}

async function ensureCached(settings: ResolverSettings, model: LlamaCppModelConfig, source: Extract<ModelSource, { kind: "remote" }>, target: string): Promise<string> {
  const recordPath = `${target}.download.json`;
  if (await isFile(target)) {
    if (!model.sha256) return target;
    const record = await readRecord(recordPath);
    const cachedSha = record?.sha256 ?? (await sha256Of(target));
    if (cachedSha === model.sha256) {
      if (!record) await writeRecord(recordPath, { url: source.url, bytes: (await stat(target)).size, sha256: cachedSha, downloadedAtMs: Date.now() });
      return target;
    }
    settings.logger.warn({ model: model.name, path: target, expected: model.sha256, cached: cachedSha }, "the cached model file does not match the configured sha256; downloading it again");
    await rm(target, { force: true });
  }

  await mkdir(path.dirname(target), { recursive: true });
  const partPath = `${target}.part`;
  const log = settings.logger;
  const started = Date.now();
  log.info({ model: model.name, source: source.source, url: source.url, path: target }, `downloading model '${model.name}' from ${source.url}`);
  const progress = progressLogger(settings, model.name, source.filename);

  let result;
  try {
    result = await downloadFile({
      url: source.url,
      partPath,
      token: settings.token,
      tokenOrigin: source.tokenOrigin,
      attempts: settings.downloadAttempts,
      baseDelayMs: settings.retryBaseDelayMs,
      onProgress: progress,
      onResume: (fromBytes) => log.info({ model: model.name, fromBytes }, `resuming the download of '${model.name}' at ${formatBytes(fromBytes)}`),
      onRetry: (attempt, error, delayMs) => log.warn({ model: model.name, attempt, delayMs, err: error.message }, `model download interrupted; retrying in ${delayMs} ms`),
    });
  } catch (error) {
    if (error instanceof DownloadError) throw new ModelFileError(model.name, `downloading ${source.source} failed: ${error.message}`);
    throw error;
  }

  if (model.sha256 && result.sha256 !== model.sha256) {
    await rm(partPath, { force: true });
    throw new ModelFileError(
      model.name,
      `the file downloaded from ${source.url} has sha256 ${result.sha256}, but the config expects ${model.sha256}. It was deleted; check the sha256 or the source.`,
    );
  }
  try {
    await inspectGguf(partPath);
  } catch (error) {
    if (!(error instanceof GgufInspectionError)) throw error;
    await rm(partPath, { force: true });
    throw new ModelFileError(model.name, `the file downloaded from ${source.url} is not a usable GGUF model: ${error.problem}. It was deleted.`);
  }
  await writeRecord(recordPath, { url: source.url, bytes: result.bytes, sha256: result.sha256, downloadedAtMs: Date.now() });
  await rename(partPath, target);
  const seconds = (Date.now() - started) / 1000;
  log.info({ model: model.name, path: target, bytes: result.bytes, sha256: result.sha256, seconds }, `downloaded model '${model.name}' (${formatBytes(result.bytes)} in ${seconds.toFixed(1)} s)`);
  return target;
}

/** Logs percent, bytes and rate at most every `progressIntervalMs`. */
function progressLogger(settings: ResolverSettings, model: string, filename: string): (progress: DownloadProgress) => void {
  let lastAt = Date.now();
  let lastBytes: number | null = null;
  return ({ bytes, totalBytes }) => {
    const now = Date.now();
    lastBytes ??= bytes;
    if (now - lastAt < settings.progressIntervalMs) return;
    const rate = ((bytes - lastBytes) * 1000) / (now - lastAt);
    lastAt = now;
    lastBytes = bytes;
    const percent = totalBytes ? (bytes / totalBytes) * 100 : null;
    const amount = totalBytes ? `${formatBytes(bytes)} of ${formatBytes(totalBytes)}` : formatBytes(bytes);
    settings.logger.info(
      { model, bytes, totalBytes, percent: percent === null ? null : Math.floor(percent), bytesPerSecond: Math.round(rate) },
      `downloading ${filename}: ${percent === null ? "" : `${percent.toFixed(1)}% `}(${amount}) at ${formatBytes(rate)}/s`,
    );
  };
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false;
}

async function readRecord(file: string): Promise<DownloadRecord | null> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<DownloadRecord>;
    return typeof parsed.sha256 === "string" ? (parsed as DownloadRecord) : null;
  } catch {
    return null;
  }
}

async function writeRecord(file: string, record: DownloadRecord): Promise<void> {
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`);
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
