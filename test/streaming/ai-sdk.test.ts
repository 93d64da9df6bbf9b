/**
 * A third-party client (issue 15): the Vercel AI SDK's `streamText` with `@ai-sdk/openai` pointed at a
 * running spool (`createOpenAI({ baseURL })`), on the built-in llama-cpp demo model and on an `openai`
 * engine with a loopback upstream. `openai(id)` is the SDK's default, the Responses API (`POST /v1/responses`
 * with `stream: true`); `openai.chat(id)` streams chat completions. Both must stream text in pieces, end
 * with a finish reason and usage, and report no error.
 */
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, type LanguageModel } from "ai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

let upstream: FakeOpenAIUpstream;
let demo: TestApp;
let hosted: TestApp;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true, streamPieceChars: 3 });
  // No models configured: the built-in demo model, as after `npm start` on a fresh clone.
  demo = await startTestApp({}, { label: "ai-sdk-demo", workers: false });
  hosted = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, upstreamModel: "upstream-name", maxRetries: 0 }] }, { label: "ai-sdk-openai", workers: false });
}, 120_000);

afterAll(async () => {
  await demo?.stop();
  await hosted?.stop();
  await upstream?.close();
});

interface Streamed {
  parts: string[];
  text: string;
  finishReason: string;
  usage: { inputTokens: number | undefined; outputTokens: number | undefined };
  errors: unknown[];
}

async function stream(model: LanguageModel, prompt: string, maxOutputTokens: number): Promise<Streamed> {
  const errors: unknown[] = [];
  const result = streamText({ model, prompt, maxOutputTokens, temperature: 0, onError: ({ error }) => void errors.push(error) });
  const parts: string[] = [];
  for await (const part of result.textStream) parts.push(part);
  const usage = await result.usage;
  return { parts, text: await result.text, finishReason: await result.finishReason, usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens }, errors };
}

function providerFor(spool: TestApp) {
  return createOpenAI({ baseURL: spool.openaiBaseUrl, apiKey: "sk-test" });
}

describe("Vercel AI SDK streamText against spool", () => {
  it("streams from an openai engine through the Responses API (openai(id)) and chat completions (openai.chat(id))", async () => {
    const openai = providerFor(hosted);
    for (const [label, model, path] of [
      ["responses", openai("gpt-test"), "/v1/chat/completions"],
      ["chat", openai.chat("gpt-test"), "/v1/chat/completions"],
    ] as const) {
      const before = upstream.received.length;
      const streamed = await stream(model, "hello from the ai sdk", 64);
      expect({ label, errors: streamed.errors }).toEqual({ label, errors: [] });
      expect(streamed.text).toBe("echo: hello from the ai sdk");
      expect(streamed.parts.join("")).toBe(streamed.text);
      expect(streamed.parts.length).toBeGreaterThan(3);
      expect(streamed.finishReason).toBe("stop");
      expect(streamed.usage.inputTokens).toBeGreaterThan(0);
      expect(streamed.usage.outputTokens).toBeGreaterThan(0);
      // One upstream call per stream, streamed itself, named by the configured upstream model.
      const sent = upstream.received.slice(before);
      expect(sent.map((request) => [request.path, request.body.stream, request.body.model])).toEqual([[path, true, "upstream-name"]]);
    }
  });

  it("streams tokens from the llama-cpp demo model through both APIs", async () => {
    const openai = providerFor(demo);
    for (const [label, model] of [
      ["responses", openai("spool-demo")],
      ["chat", openai.chat("spool-demo")],
    ] as const) {
      const streamed = await stream(model, "tell me a story", 24);
      expect({ label, errors: streamed.errors }).toEqual({ label, errors: [] });
      // Random weights: the text is noise, but greedy decoding makes it the same as the reply not streamed,
      // and it arrives in pieces as tokens are decoded.
      const whole = await generateText({ model, prompt: "tell me a story", maxOutputTokens: 24, temperature: 0 });
      expect(streamed.text).toBe(whole.text);
      expect(streamed.text.length).toBeGreaterThan(0);
      expect(streamed.parts.join("")).toBe(streamed.text);
      expect(streamed.parts.length).toBeGreaterThan(1);
      expect(["stop", "length"]).toContain(streamed.finishReason);
      expect(streamed.usage.outputTokens).toBeGreaterThan(0);
      expect(streamed.usage.outputTokens).toBeLessThanOrEqual(24);
    }
  });
});
