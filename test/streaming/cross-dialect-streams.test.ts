/**
 * Streams across dialects, through the real SDKs' streaming helpers: `@google/genai` generateContentStream
 * against a gemini engine (native) and an openai engine (OpenAI chunks translated to Gemini chunks), the
 * `openai` SDK's stream iterator against a gemini engine (the other way), and the streamed JSON array that
 * `streamGenerateContent` answers without `alt=sse`.
 */
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

let openaiUpstream: FakeOpenAIUpstream;
let geminiUpstream: FakeGeminiUpstream;
let spool: TestApp;
let openai: OpenAI;
let ai: GoogleGenAI;

beforeAll(async () => {
  openaiUpstream = await startFakeOpenAIUpstream({ record: true });
  geminiUpstream = await startFakeGeminiUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-test", engine: "openai", baseUrl: openaiUpstream.url, concurrency: 2, maxRetries: 0 },
        { name: "gemini-test", engine: "gemini", baseUrl: geminiUpstream.baseUrl, upstreamModel: "gemini-2.5-flash", apiKey: "g", concurrency: 2, maxRetries: 0 },
      ],
    },
    { label: "cross-dialect-streams", workers: false },
  );
  openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  ai = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: spool.url } });
});

afterAll(async () => {
  await spool?.stop();
  await openaiUpstream?.close();
  await geminiUpstream?.close();
});

async function geminiStream(model: string, text: string) {
  const chunks = [];
  for await (const chunk of await ai.models.generateContentStream({ model, contents: text })) chunks.push(chunk);
  return chunks;
}

describe("streamGenerateContent", () => {
  it("streams a gemini engine's chunks as they come (genai generateContentStream)", async () => {
    const chunks = await geminiStream("gemini-test", "native stream");
    expect(chunks.map((chunk) => chunk.text ?? "").join("")).toBe("echo: native stream");
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe("STOP");
    expect(chunks.at(-1)?.usageMetadata?.candidatesTokenCount).toBeGreaterThan(0);
    expect(geminiUpstream.lastRequest?.method).toBe("streamGenerateContent");
    expect(geminiUpstream.lastRequest?.model).toBe("gemini-2.5-flash");
  });

  it("streams an openai engine's reply translated chunk by chunk, ending with finishReason and usageMetadata", async () => {
    const chunks = await geminiStream("gpt-test", "translated stream");
    expect(chunks.map((chunk) => chunk.text ?? "").join("")).toBe("echo: translated stream");
    expect(chunks.length).toBeGreaterThan(3);
    const last = chunks.at(-1);
    expect(last?.candidates?.[0]?.finishReason).toBe("STOP");
    expect(last?.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    expect(last?.modelVersion).toBe("gpt-test");
    // The translation asked the OpenAI upstream for its usage chunk.
    expect(openaiUpstream.lastRequest?.body).toMatchObject({ stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "translated stream" }] });
  });

  it("answers without alt=sse as one JSON array streamed element by element", async () => {
    const response = await fetch(`${spool.url}/v1beta/models/gpt-test:streamGenerateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": "g-test" },
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "array please" }] }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    const elements = (await response.json()) as { candidates?: { content?: { parts?: { text?: string }[] } }[] }[];
    expect(elements.length).toBeGreaterThan(3);
    expect(elements.map((element) => element.candidates?.[0]?.content?.parts?.map((part) => part.text ?? "").join("") ?? "").join("")).toBe("echo: array please");
  });

  it("answers a request refused before the stream began with Google's error envelope and status", async () => {
    geminiUpstream.setFault(({ key }) => (key === "refused" ? { status: 400 } : undefined));
    try {
      const error = await geminiStream("gemini-test", "refused").catch((caught: unknown) => caught);
      expect(String(error)).toContain("INVALID_ARGUMENT");
      expect((error as { status?: number }).status).toBe(400);
    } finally {
      geminiUpstream.setFault(null);
    }
  });
});

describe("OpenAI streams on a gemini engine", () => {
  it("translates Gemini chunks into chat.completion.chunks with the usage chunk when asked", async () => {
    const stream = await openai.chat.completions.create({ model: "gemini-test", messages: [{ role: "user", content: "from gemini" }], stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe("echo: from gemini");
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThan(3);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.at(-1)?.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(chunks.every((chunk) => chunk.model === "gemini-test")).toBe(true);
  });

  it("refuses text completions on a gemini engine with a 400 before streaming", async () => {
    const error = await openai.completions.create({ model: "gemini-test", prompt: "x", stream: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });
});
