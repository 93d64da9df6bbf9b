/**
 * Runs one OpenAI Batch through the real `openai` SDK against a test spool: upload, create, poll until it
 * ends (expected: completed), then the output file's lines and spool's progress extension. Shared by the
 * e2e tests that look at what a whole Batch produced (claim order, duplicate and cross-Batch reuse).
 */
import OpenAI, { toFile } from "openai";
import { expect } from "vitest";
import type { TestApp } from "./spool-app.ts";
import { waitFor } from "./wait-for.ts";

export async function runOpenAIBatch<Line>(app: TestApp, content: string, endpoint: "/v1/chat/completions" | "/v1/embeddings" = "/v1/chat/completions") {
  const sdk = new OpenAI({ apiKey: "sk-test", baseURL: app.openaiBaseUrl, maxRetries: 0 });
  const file = await sdk.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
  const created = await sdk.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
  const done = await waitFor(async () => {
    const batch = await sdk.batches.retrieve(created.id);
    return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
  }, { what: `batch ${created.id} to finish` });
  expect(done.status).toBe("completed");
  const text = await (await sdk.files.content(done.output_file_id ?? "")).text();
  const lines = text.trim().split("\n").map((line) => JSON.parse(line) as Line);
  const progress = (await (await fetch(`${app.url}/v1/batches/${created.id}/progress`)).json()) as { request_counts: Record<string, number> };
  return { done, lines, progress };
}

/** Waits until the Batch's validation is under way: still validating, with chunks of Items written (counted in `total`). */
export function validationUnderWay(client: OpenAI, batchId: string, timeoutMs?: number): Promise<OpenAI.Batch> {
  return waitFor(async () => {
    const current = await client.batches.retrieve(batchId);
    return current.status === "validating" && (current.request_counts?.total ?? 0) > 0 ? current : undefined;
  }, { what: "validation under way", intervalMs: 5, timeoutMs });
}
