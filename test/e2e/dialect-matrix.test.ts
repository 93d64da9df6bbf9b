/**
 * A batch of any of the three dialects runs on any of the four engines: OpenAI, Gemini and Anthropic batches,
 * each through its real SDK, on the llama-cpp engine (the generated tiny model: assert structure, not text)
 * and on stand-ins for an OpenAI-compatible server, the Gemini API and the Anthropic API.
 */
import Anthropic, { BadRequestError } from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeAnthropicUpstream, type FakeAnthropicUpstream } from "../helpers/fake-anthropic-upstream.ts";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { waitFor } from "../helpers/wait-for.ts";

const MODELS = ["local", "via-openai", "via-gemini", "via-anthropic"] as const;

let openaiUpstream: FakeOpenAIUpstream;
let geminiUpstream: FakeGeminiUpstream;
let anthropicUpstream: FakeAnthropicUpstream;
let spool: TestApp;
let anthropic: Anthropic;

beforeAll(async () => {
  openaiUpstream = await startFakeOpenAIUpstream();
  geminiUpstream = await startFakeGeminiUpstream();
  anthropicUpstream = await startFakeAnthropicUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "local", engine: "llama-cpp", path: await ensureTinyModel(), threads: 1, sequences: 2, concurrency: 2 },
        { name: "via-openai", engine: "openai", baseUrl: openaiUpstream.url },
        { name: "via-gemini", engine: "gemini", baseUrl: geminiUpstream.baseUrl },
        { name: "via-anthropic", engine: "anthropic", baseUrl: anthropicUpstream.url },
      ],
      worker: { sweepMs: 50, pollMs: 50 },
    },
    { label: "dialect-matrix" },
  );
  anthropic = new Anthropic({ apiKey: "k", baseURL: spool.url, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await spool?.stop();
  await Promise.all([openaiUpstream?.close(), geminiUpstream?.close(), anthropicUpstream?.close()]);
});

describe("every dialect on every engine", () => {
  it("runs one Anthropic batch whose requests name each of the four engines' models", async () => {
    const requests = MODELS.flatMap((model) => [0, 1].map((i) => ({ custom_id: `${model}-${i}`, params: { model, max_tokens: 6, system: "Answer.", messages: [{ role: "user" as const, content: `question ${i}` }] } })));
    const created = await anthropic.messages.batches.create({ requests });
    const done = await waitFor(async () => {
      const batch = await anthropic.messages.batches.retrieve(created.id);
      return batch.processing_status === "ended" ? batch : undefined;
    }, { timeoutMs: 60_000 });
    expect(done.request_counts).toEqual({ processing: 0, succeeded: 8, errored: 0, canceled: 0, expired: 0 });
    const seen = new Set<string>();
    for await (const line of await anthropic.messages.batches.results(created.id)) {
      if (line.result.type !== "succeeded") throw new Error(`${line.custom_id}: ${JSON.stringify(line.result)}`);
      const { message } = line.result;
      seen.add(line.custom_id);
      expect(message).toMatchObject({ type: "message", role: "assistant" });
      expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
      expect(message.usage.input_tokens + (message.usage.cache_read_input_tokens ?? 0)).toBeGreaterThan(0);
      expect(message.usage.output_tokens).toBeLessThanOrEqual(6);
      for (const block of message.content) expect(block.type).toBe("text");
      if (!line.custom_id.startsWith("local")) expect(message.content).toMatchObject([{ type: "text", text: expect.stringContaining("question") }]);
    }
    expect(seen.size).toBe(8);
  });

  it("runs an OpenAI batch on each engine", async () => {
    const openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const created = await Promise.all(
      MODELS.map(async (model) => {
        const lines = [0, 1].map((i) => chatLine(`${model}-${i}`, `openai ${i}`, model, { max_tokens: 6 }));
        const file = await openai.files.create({ file: await toFile(Buffer.from(lines.join("\n")), `${model}.jsonl`), purpose: "batch" });
        return openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      }),
    );
    for (const batch of created) {
      const done = await waitFor(async () => {
        const current = await openai.batches.retrieve(batch.id);
        return ["completed", "failed"].includes(current.status) ? current : undefined;
      }, { timeoutMs: 60_000 });
      expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
      const output = (await (await openai.files.content(done.output_file_id ?? "")).text()).trim().split("\n");
      for (const line of output) {
        const body = (JSON.parse(line) as { response: { body: { object: string; choices: { message: { role: string } }[]; usage: { prompt_tokens: number } } } }).response.body;
        expect(body.object).toBe("chat.completion");
        expect(body.choices[0]?.message.role).toBe("assistant");
        expect(body.usage.prompt_tokens).toBeGreaterThan(0);
      }
    }
  });

  it("runs a Gemini batch on each engine", async () => {
    const ai = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: spool.url } });
    for (const model of MODELS) {
      const created = await ai.batches.create({ model, src: [{ contents: "gemini one", config: { maxOutputTokens: 6 } }, { contents: "gemini two", config: { maxOutputTokens: 6 } }] });
      const job = await waitFor(async () => {
        const current = await ai.batches.get({ name: created.name ?? "" });
        return current.state === "JOB_STATE_SUCCEEDED" || current.state === "JOB_STATE_FAILED" ? current : undefined;
      }, { timeoutMs: 60_000 });
      expect(job.state).toBe("JOB_STATE_SUCCEEDED");
      const responses = job.dest?.inlinedResponses ?? [];
      expect(responses).toHaveLength(2);
      for (const each of responses) {
        expect(each.error).toBeUndefined();
        expect(each.response?.candidates?.[0]?.content?.role).toBe("model");
        expect(each.response?.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
      }
    }
  });
});

describe("Anthropic streams from every engine", () => {
  it("streams a message as Anthropic's named events from each of the four engines", async () => {
    for (const model of MODELS) {
      const stream = await anthropic.messages.create({ model, max_tokens: 6, stream: true, messages: [{ role: "user", content: `stream on ${model}` }] });
      const types: string[] = [];
      let text = "";
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
      }
      expect(types[0]).toBe("message_start");
      expect(types.slice(-2)).toEqual(["message_delta", "message_stop"]);
      expect(types.filter((type) => type === "content_block_start").length).toBe(types.filter((type) => type === "content_block_stop").length);
      if (model !== "local") expect(text).toContain(`stream on ${model}`);
      const final = await anthropic.messages.stream({ model, max_tokens: 6, messages: [{ role: "user", content: `again on ${model}` }] }).finalMessage();
      expect(final).toMatchObject({ type: "message", role: "assistant" });
      expect(["end_turn", "max_tokens"]).toContain(final.stop_reason);
      expect(final.usage.output_tokens).toBeGreaterThan(0);
    }
  });
});

describe("Anthropic messages on the llama-cpp engine", () => {
  const story = { model: "local", temperature: 0, messages: [{ role: "user" as const, content: "Tell me a long story." }] };

  it("reports the stop sequence that ended a real generation", async () => {
    const free = await anthropic.messages.create({ ...story, max_tokens: 40 });
    const text = free.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    const stop = text.slice(3, 5);
    expect(stop.length).toBe(2);
    const stopped = await anthropic.messages.create({ ...story, max_tokens: 40, stop_sequences: [stop] });
    expect(stopped).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: stop });
    const stoppedText = stopped.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    expect(text.startsWith(stoppedText)).toBe(true);
    expect(stoppedText).not.toContain(stop);
  });

  it("streams the same text it answers whole, and the stop sequence that ended it", async () => {
    const whole = await anthropic.messages.create({ ...story, max_tokens: 30 });
    const text = whole.content.map((block) => (block.type === "text" ? block.text : "")).join("");
    const streamed = await anthropic.messages.stream({ ...story, max_tokens: 30 }).finalMessage();
    expect(streamed.content.map((block) => (block.type === "text" ? block.text : "")).join("")).toBe(text);
    const stop = text.slice(3, 5);
    const stopped = await anthropic.messages.stream({ ...story, max_tokens: 30, stop_sequences: [stop] }).finalMessage();
    expect(stopped).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: stop });
  });

  it("refuses tools, which the engine cannot call, with a BadRequestError naming them", async () => {
    const refused = await anthropic.messages
      .create({ ...story, max_tokens: 5, tools: [{ name: "f", input_schema: { type: "object" } }] })
      .catch((caught: unknown) => caught);
    expect(refused).toBeInstanceOf(BadRequestError);
    expect((refused as BadRequestError).apiMessage).toMatch(/'tools': tool calling is not supported by the llama-cpp engine/);
  });

  it("counts the tokens of a prompt as the engine counts them when it runs it", async () => {
    const counted = await anthropic.messages.countTokens({ model: "local", system: "Be brief.", messages: [{ role: "user", content: "How many tokens is this?" }] });
    const ran = await anthropic.messages.create({ model: "local", max_tokens: 2, system: "Be brief.", messages: [{ role: "user", content: "How many tokens is this?" }] });
    expect(counted.input_tokens).toBeGreaterThan(5);
    expect(counted.input_tokens).toBe(ran.usage.input_tokens + (ran.usage.cache_read_input_tokens ?? 0));
  });
});
