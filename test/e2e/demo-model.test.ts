/**
 * A new user's first run: `spool serve` with no config on an empty data dir generates the built-in demo
 * model and completes a batch on it with real llama.cpp inference (random weights: structure, not text).
 */
import OpenAI, { toFile } from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { makeDataDir } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

let proc: SpoolProcess | null = null;

afterAll(() => {
  proc?.kill("SIGKILL");
});

describe("out of the box", () => {
  it("serves the demo model with no config and completes a chat batch on it", async () => {
    const dataDir = makeDataDir("demo");
    const env: Record<string, string> = { SPOOL_CONFIG: "", SPOOL_DATABASE_URL: "" };
    proc = await startSpoolProcess({ args: ["--port", "0", "--data-dir", dataDir], env, readyTimeoutMs: 60_000 });
    expect(proc.output()).toContain("spool-demo");
    const client = new OpenAI({ apiKey: "unused", baseURL: `${proc.url}/v1`, maxRetries: 0 });
    expect((await client.models.list()).data.map((model) => model.id)).toEqual(["spool-demo"]);

    const lines = ["Hello", "Name a colour", "Count to three"].map((text, i) =>
      JSON.stringify({ custom_id: `demo-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "spool-demo", messages: [{ role: "user", content: text }], max_tokens: 8 } }),
    );
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "demo.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return ["completed", "failed", "expired", "cancelled"].includes(current.status) ? current : undefined;
    }, { timeoutMs: 120_000, intervalMs: 200 });
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const output = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n");
    expect(output).toHaveLength(3);
    for (const [i, line] of output.entries()) {
      const parsed = JSON.parse(line) as { custom_id: string; response: { status_code: number; body: { object: string; usage: { prompt_tokens: number; completion_tokens: number } } } };
      expect(parsed.custom_id).toBe(`demo-${i}`);
      expect(parsed.response.status_code).toBe(200);
      expect(parsed.response.body.object).toBe("chat.completion");
      expect(parsed.response.body.usage.prompt_tokens).toBeGreaterThan(0);
      expect(parsed.response.body.usage.completion_tokens).toBeLessThanOrEqual(8);
    }
  });
});
