/**
 * What clients do during a chaos run, through the real SDKs (`openai`, `@google/genai`) with their own
 * retries off, so every 503/507 and every dropped connection is seen and counted here. A Batch counts as
 * acknowledged only when its create call answered; a create that failed in any way is abandoned and
 * submitted again as a new Batch with new prompts (a create whose answer was lost may still have been
 * committed, and its prompts must not be mistaken for retries of the tracked Batch's).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { MODEL } from "./chaos-cluster.ts";
import { WORK_DIR } from "./lib.ts";

export type ChaosDialect = "openai" | "gemini-file" | "gemini-inline";

export interface TrackedBatch {
  /** OpenAI batch id, or Gemini `batches/...` name. */
  id: string;
  dialect: ChaosDialect;
  /** custom_id / key of each input line, in input order. */
  keys: string[];
  /** User text of each line; the upstream echoes it and counts calls by it. */
  prompts: string[];
}

export interface ClientTally {
  answers503: number;
  answers507: number;
  connectionErrors: number;
  abandonedCreates: number;
  /** Uploads that failed otherwise (e.g. a Gemini upload session lost with its process) and were sent again. */
  failedUploads: number;
}

export class ChaosClients {
  readonly openai: OpenAI;
  readonly gemini: GoogleGenAI;
  readonly tally: ClientTally = { answers503: 0, answers507: 0, connectionErrors: 0, abandonedCreates: 0, failedUploads: 0 };
  /** First message of each kind of failed upload, for the report. */
  readonly uploadFailureMessages = new Set<string>();
  private readonly scratch: string;
  private batchNumber = 0;

  constructor(
    readonly baseUrl: string,
    private readonly label: string,
    options: { fetch?: typeof fetch } = {},
  ) {
    this.openai = new OpenAI({ apiKey: "sk-chaos", baseURL: `${baseUrl}/v1`, maxRetries: 0, timeout: 60_000, fetch: options.fetch });
    this.gemini = new GoogleGenAI({ apiKey: "g-chaos", httpOptions: { baseUrl, retryOptions: { attempts: 1 }, timeout: 60_000 } });
    this.scratch = path.join(WORK_DIR, "chaos", label);
    mkdirSync(this.scratch, { recursive: true });
  }

  /** Runs `call` until it answers, waiting out restarts (connection errors) and 503/507 answers. */
  async retrying<T>(what: string, call: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        if (!this.isTransient(error) || Date.now() > deadline) throw new Error(`${what} failed: ${String(error)}`, { cause: error });
        await pause(150);
      }
    }
  }

  /** Counts the failure; true when waiting and trying again makes sense (restart, outage, full disk). */
  isTransient(error: unknown): boolean {
    const status = statusOf(error);
    if (status === 503) this.tally.answers503 += 1;
    else if (status === 507) this.tally.answers507 += 1;
    else if (status === null && isConnectionError(error)) this.tally.connectionErrors += 1;
    else return false;
    return true;
  }

  /** Submits a Batch of `size` lines in `dialect` until one is acknowledged. */
  async submit(dialect: ChaosDialect, size: number): Promise<TrackedBatch> {
    for (;;) {
      const content = this.nextContent(size);
      try {
        const id = await this.create(dialect, content);
        return { id, dialect, ...content };
      } catch (error) {
        if (!this.isTransient(error)) throw error;
        this.tally.abandonedCreates += 1;
        await pause(150);
      }
    }
  }

  /** The create call alone, for callers that handle its failure themselves (the full-disk check). */
  async create(dialect: ChaosDialect, content: { keys: string[]; prompts: string[] }): Promise<string> {
    if (dialect === "gemini-inline") {
      const job = await this.gemini.batches.create({
        model: MODEL.name,
        src: content.prompts.map((text, i) => ({ contents: text, metadata: { key: content.keys[i]! } })),
      });
      return job.name ?? "";
    }
    const fileId = await this.uploadPersistently(dialect, content);
    if (dialect === "openai") {
      return (await this.openai.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })).id;
    }
    return (await this.gemini.batches.create({ model: MODEL.name, src: fileId })).name ?? "";
  }

  /**
   * Uploads until one is accepted. An upload the client saw fail may still leave an orphan File, which is
   * harmless (nothing refers to it); so besides restarts and outages, any failure is counted and retried.
   */
  private async uploadPersistently(dialect: ChaosDialect, content: { keys: string[]; prompts: string[] }): Promise<string> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.retrying("upload", () => this.upload(dialect, content));
      } catch (error) {
        this.tally.failedUploads += 1;
        this.uploadFailureMessages.add(String((error as Error).cause ?? error).slice(0, 200));
        if (attempt >= 5) throw error;
        await pause(300);
      }
    }
  }

  /** Uploads the input File of `content` in `dialect`'s line format; returns its id / name. */
  async upload(dialect: ChaosDialect, content: { keys: string[]; prompts: string[] }): Promise<string> {
    const text = inputFile(dialect, content);
    if (dialect === "openai") {
      return (await this.openai.files.create({ file: await toFile(Buffer.from(text), `${content.keys[0]}.jsonl`), purpose: "batch" })).id;
    }
    const target = path.join(this.scratch, `${content.keys[0]}.jsonl`);
    writeFileSync(target, text);
    return (await this.gemini.files.upload({ file: target, config: { mimeType: "jsonl", displayName: `${content.keys[0]}.jsonl` } })).name ?? "";
  }

  /** New keys and prompts, unique in the run (the upstream counts calls per prompt). */
  nextContent(size: number): { keys: string[]; prompts: string[] } {
    this.batchNumber += 1;
    const tag = `${this.label}-b${this.batchNumber}`;
    return {
      keys: Array.from({ length: size }, (_, i) => `${tag}-${i}`),
      prompts: Array.from({ length: size }, (_, i) => `${tag} prompt ${i}`),
    };
  }

  /** The OpenAI view of a Batch (status, counts); Gemini names are read through the Gemini SDK. */
  async openaiStatus(id: string): Promise<OpenAI.Batch> {
    return this.retrying(`retrieve ${id}`, () => this.openai.batches.retrieve(id));
  }

  scratchPath(name: string): string {
    return path.join(this.scratch, name);
  }
}

export function inputFile(dialect: ChaosDialect, content: { keys: string[]; prompts: string[] }): string {
  const lines = content.keys.map((key, i) => {
    const text = content.prompts[i]!;
    if (dialect === "openai") {
      return JSON.stringify({ custom_id: key, method: "POST", url: "/v1/chat/completions", body: { model: MODEL.name, messages: [{ role: "user", content: text }], max_tokens: 16 } });
    }
    return JSON.stringify({ key, request: { contents: [{ role: "user", parts: [{ text }] }] } });
  });
  return `${lines.join("\n")}\n`;
}

export function statusOf(error: unknown): number | null {
  if (error instanceof OpenAI.APIError && typeof error.status === "number") return error.status;
  if (error instanceof ApiError) return error.status;
  return null;
}

/** A request that got no HTTP answer: refused, reset, or cut mid-way (a restart). */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof OpenAI.APIConnectionError) return true;
  // undici's fetch (used by @google/genai) fails with a TypeError whose cause carries the socket error.
  return error instanceof TypeError && (error.cause !== undefined || error.message === "fetch failed");
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
