/**
 * The end-of-run checks of one acknowledged Batch, read back through the SDKs: it reached a terminal
 * state; every input line has exactly one result line (none lost, none duplicated), each result file lists
 * its lines in input order under the right custom_id / key, each answer echoes its own line's prompt (no
 * result recorded against the wrong Item), and the Batch's counters agree with its files.
 */
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import type { BatchJob } from "@google/genai";
import type { ChaosClients, TrackedBatch } from "./chaos-traffic.ts";
import { pause } from "./chaos-traffic.ts";
import { waitFor } from "../test/helpers/wait-for.ts";

export interface BatchVerdict {
  batch: TrackedBatch;
  status: string;
  succeeded: number;
  failed: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Result lines with a key not in the input, or an answer that is not its own prompt's echo. */
  wrong: number;
  /** Why the Batch's counters disagree with its result lines, or null. */
  countMismatch: string | null;
  /** Error codes of failed lines, with how many. */
  failureCodes: Map<string, number>;
  /** The first message seen for each error code. */
  failureSamples: Map<string, string>;
}

/** One result line reduced to what the checks need. */
interface ResultEntry {
  key: string | null;
  /** The echoed text of a success; null for a failed line. */
  answer: string | null;
  errorCode: string | null;
  errorMessage?: string;
}

export const OPENAI_TERMINAL = new Set(["completed", "failed", "expired", "cancelled"]);
export const GEMINI_TERMINAL = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"]);

/** Whether the Batch is terminal now (reads errors count as "not yet"). */
export async function isTerminal(clients: ChaosClients, batch: TrackedBatch): Promise<boolean> {
  try {
    if (batch.dialect === "openai") return OPENAI_TERMINAL.has((await clients.openai.batches.retrieve(batch.id)).status);
    return GEMINI_TERMINAL.has((await clients.gemini.batches.get({ name: batch.id })).state ?? "");
  } catch (error) {
    if (clients.isTransient(error)) return false;
    throw error;
  }
}

/** The state of an unfinished Batch, for the report. */
export async function describeBatch(clients: ChaosClients, batch: TrackedBatch): Promise<string> {
  try {
    if (batch.dialect === "openai") {
      const current = await clients.openai.batches.retrieve(batch.id);
      return `${current.status} ${JSON.stringify(current.request_counts)}`;
    }
    return (await clients.gemini.batches.get({ name: batch.id })).state ?? "?";
  } catch (error) {
    return `unreadable: ${String(error)}`;
  }
}

export async function verifyBatch(clients: ChaosClients, batch: TrackedBatch): Promise<BatchVerdict> {
  if (batch.dialect === "openai") return verifyOpenAI(clients, batch);
  return verifyGemini(clients, batch);
}

async function verifyOpenAI(clients: ChaosClients, batch: TrackedBatch): Promise<BatchVerdict> {
  const current = await clients.openaiStatus(batch.id);
  const read = async (fileId: string | null | undefined): Promise<ResultEntry[]> => {
    if (!fileId) return [];
    const text = await clients.retrying(`content of ${fileId}`, async () => (await clients.openai.files.content(fileId)).text());
    return jsonLines(text).map((line) => {
      const response = line.response as { status_code?: number; body?: { choices?: { message?: { content?: string } }[] } } | null;
      const ok = response !== null && (response.status_code ?? 0) >= 200 && (response.status_code ?? 0) < 300;
      const error = line.error as { code?: string; message?: string } | null;
      const body = response?.body as { error?: { message?: string } } | undefined;
      return {
        key: typeof line.custom_id === "string" ? line.custom_id : null,
        answer: ok ? (response.body?.choices?.[0]?.message?.content ?? "") : null,
        errorCode: ok ? null : (error?.code ?? `http_${response?.status_code ?? "?"}`),
        errorMessage: error?.message ?? body?.error?.message,
      };
    });
  };
  const output = await read(current.output_file_id);
  const errors = await read(current.error_file_id);
  const verdict = compare(batch, current.status, [output, errors]);
  const counts = current.request_counts;
  const expected = { total: batch.keys.length, completed: verdict.succeeded, failed: verdict.failed };
  if (counts?.total !== expected.total || counts.completed !== expected.completed || counts.failed !== expected.failed) {
    verdict.countMismatch = `request_counts ${JSON.stringify(counts)}, result files ${JSON.stringify(expected)}`;
  }
  return verdict;
}

async function verifyGemini(clients: ChaosClients, batch: TrackedBatch): Promise<BatchVerdict> {
  const job: BatchJob = await clients.retrying(`get ${batch.id}`, () => clients.gemini.batches.get({ name: batch.id }));
  let entries: ResultEntry[] = [];
  if (batch.dialect === "gemini-inline") {
    entries = (job.dest?.inlinedResponses ?? []).map((entry) => ({
      key: typeof entry.metadata?.key === "string" ? entry.metadata.key : null,
      answer: entry.response ? (entry.response.candidates?.[0]?.content?.parts?.[0]?.text ?? "") : null,
      errorCode: entry.response ? null : geminiErrorCode(entry.error),
      errorMessage: entry.error?.message,
    }));
  } else if (job.dest?.fileName) {
    entries = jsonLines(await download(clients, job.dest.fileName)).map((line) => {
      const response = line.response as { candidates?: { content?: { parts?: { text?: string }[] } }[] } | undefined;
      const error = line.error as { code?: number; status?: string; message?: string } | undefined;
      return {
        key: typeof line.key === "string" ? line.key : null,
        answer: response ? (response.candidates?.[0]?.content?.parts?.[0]?.text ?? "") : null,
        errorCode: response ? null : geminiErrorCode(error),
        errorMessage: error?.message,
      };
    });
  }
  const verdict = compare(batch, job.state ?? "?", [entries]);
  // The SDK does not surface Gemini's batchStats; the REST operation does.
  const stats = await clients.retrying(`stats of ${batch.id}`, () => batchStats(clients.baseUrl, batch.id));
  const expected = { requestCount: String(batch.keys.length), successfulRequestCount: String(verdict.succeeded), failedRequestCount: String(verdict.failed) };
  if (stats.requestCount !== expected.requestCount || stats.successfulRequestCount !== expected.successfulRequestCount || stats.failedRequestCount !== expected.failedRequestCount) {
    verdict.countMismatch = `batchStats ${JSON.stringify(stats)}, results ${JSON.stringify(expected)}`;
  }
  return verdict;
}

/** Checks result entries (one list per result file) against the Batch's input. */
function compare(batch: TrackedBatch, status: string, files: ResultEntry[][]): BatchVerdict {
  const indexOf = new Map(batch.keys.map((key, index) => [key, index]));
  const seen = new Array<number>(batch.keys.length).fill(0);
  const verdict: BatchVerdict = { batch, status, succeeded: 0, failed: 0, lost: 0, duplicated: 0, outOfOrder: 0, wrong: 0, countMismatch: null, failureCodes: new Map(), failureSamples: new Map() };
  for (const entries of files) {
    let previous = -1;
    for (const entry of entries) {
      const index = entry.key === null ? undefined : indexOf.get(entry.key);
      if (index === undefined) {
        verdict.wrong += 1;
        continue;
      }
      seen[index]! += 1;
      if (index <= previous) verdict.outOfOrder += 1;
      previous = index;
      if (entry.answer === null) {
        verdict.failed += 1;
        const code = entry.errorCode ?? "?";
        verdict.failureCodes.set(code, (verdict.failureCodes.get(code) ?? 0) + 1);
        if (!verdict.failureSamples.has(code)) verdict.failureSamples.set(code, `${entry.key}: ${entry.errorMessage ?? ""}`);
      } else {
        verdict.succeeded += 1;
        if (entry.answer !== `echo: ${batch.prompts[index]}`) verdict.wrong += 1;
      }
    }
  }
  for (const count of seen) {
    if (count === 0) verdict.lost += 1;
    if (count > 1) verdict.duplicated += count - 1;
  }
  return verdict;
}

async function download(clients: ChaosClients, fileName: string): Promise<string> {
  const target = clients.scratchPath(`${fileName.replace(/\W/g, "_")}.out.jsonl`);
  rmSync(target, { force: true });
  await clients.retrying(`download ${fileName}`, () => clients.gemini.files.download({ file: fileName, downloadPath: target }));
  // The SDK resolves before its write stream has flushed: wait for the whole file.
  let size = -1;
  await waitFor(async () => {
    if (!existsSync(target)) return false;
    const now = statSync(target).size;
    const stable = now === size && readFileSync(target, "utf8").endsWith("\n");
    size = now;
    if (!stable) await pause(20);
    return stable;
  }, { what: `download of ${fileName}`, timeoutMs: 30_000 });
  return readFileSync(target, "utf8");
}

async function batchStats(baseUrl: string, name: string): Promise<Record<string, string>> {
  const response = await fetch(`${baseUrl}/v1beta/${name}`, { headers: { "x-goog-api-key": "g-chaos" } });
  if (!response.ok) throw new Error(`GET /v1beta/${name} answered ${response.status}`);
  const body = (await response.json()) as { metadata?: { batchStats?: Record<string, string> } };
  return body.metadata?.batchStats ?? {};
}

/** Gemini's google.rpc.Status: an Item that crashed its workers maxAttempts times is ABORTED (10). */
const RPC_ABORTED = 10;

function geminiErrorCode(error: { code?: number; message?: string } | undefined): string {
  if (error?.code === RPC_ABORTED) return "item_crashed";
  return `rpc_${error?.code ?? "?"}`;
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
