/**
 * The seed's OpenAI-compatibility flow: the `openai` SDK pointed at `/v1beta/openai/` uploads a file and
 * creates, retrieves and cancels batches whose lines name a Gemini model — served here by the `gemini`
 * engine on a stand-in Gemini upstream, so each OpenAI chat body is translated to generateContent and back.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../helpers/fake-gemini-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let gemini: FakeGeminiUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  gemini = await startFakeGeminiUpstream({ apiKey: "g-upstream-key" });
  spool = await startTestApp(
    { models: [{ name: "gemini-2.5-flash", engine: "gemini", baseUrl: gemini.baseUrl, apiKey: "g-upstream-key", concurrency: 4 }], worker: { sweepMs: 100 } },
    { label: "gemini-openai-compat" },
  );
  client = new OpenAI({ apiKey: "gemini-key", baseURL: `${spool.url}/v1beta/openai/`, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await gemini?.close();
});

describe("Gemini OpenAI-compatibility surface", () => {
  it("runs the seed's batch flow with a Gemini model on the gemini engine", async () => {
    const lines = ["What is a batch?", "Say hello"].map((text, i) => chatLine(`compat-${i}`, text, "gemini-2.5-flash"));
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "compat.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return ["completed", "failed", "expired", "cancelled"].includes(current.status) ? current : undefined;
    });
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
    const output = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((line) => JSON.parse(line) as {
      custom_id: string;
      response: { status_code: number; body: { object: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { prompt_tokens: number; total_tokens: number } } };
    });
    expect(output.map((line) => line.custom_id)).toEqual(["compat-0", "compat-1"]);
    for (const line of output) {
      expect(line.response.body.object).toBe("chat.completion");
      expect(line.response.body.choices[0]?.message.role).toBe("assistant");
      expect(line.response.body.choices[0]?.finish_reason).toBe("stop");
      expect(line.response.body.usage.total_tokens).toBeGreaterThan(0);
    }
    expect(output[1]?.response.body.choices[0]?.message.content).toBe("echo: Say hello");
    // The upstream received native generateContent calls, with the configured key.
    expect(gemini.received.length).toBeGreaterThanOrEqual(2);
    expect(gemini.countsByKey.get("Say hello")).toBe(1);
    expect((await client.batches.list()).data.some((listed) => listed.id === batch.id)).toBe(true);
  });

  it("cancels a batch through the compat surface", async () => {
    gemini.setFault(() => ({ delayMs: 300 }));
    try {
      const lines = Array.from({ length: 30 }, (_, i) => chatLine(`slow-${i}`, `slow ${i}`, "gemini-2.5-flash"));
      const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "slow.jsonl"), purpose: "batch" });
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      await waitFor(async () => (await client.batches.retrieve(batch.id)).status === "in_progress");
      await client.batches.cancel(batch.id);
      const done = await waitFor(async () => {
        const current = await client.batches.retrieve(batch.id);
        return current.status === "cancelled" ? current : undefined;
      });
      expect(done.request_counts!.completed + done.request_counts!.failed).toBe(30);
      expect(done.request_counts!.completed).toBeLessThan(30);
    } finally {
      gemini.setFault(null);
    }
  });
});
