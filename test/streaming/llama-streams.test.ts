/**
 * Token-by-token streaming from the embedded llama-cpp engine on the generated tiny model, through the
 * real SDKs: the streamed text is exactly the text the same seeded request gets without streaming, it
 * arrives in many chunks, and a client that hangs up frees the engine's only sequence at once.
 */
import { GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let spool: TestApp;
let openai: OpenAI;
let ai: GoogleGenAI;

beforeAll(async () => {
  const modelPath = await ensureTinyModel();
  spool = await startTestApp(
    {
      models: [
        { name: "tiny", engine: "llama-cpp", path: modelPath, threads: 1, sequences: 2, concurrency: 2 },
        { name: "tiny-one", engine: "llama-cpp", path: modelPath, threads: 1, sequences: 1, concurrency: 1 },
      ],
    },
    { label: "llama-streams", workers: false },
  );
  openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  ai = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: spool.url } });
}, 120_000);

afterAll(async () => {
  await spool?.stop();
});

const seeded = { temperature: 0.8, seed: 7, max_tokens: 40 };

describe("llama-cpp streaming", () => {
  it("streams chat tokens as they are decoded, the same text as the reply without streaming, with usage", async () => {
    const messages = [{ role: "user" as const, content: "tell me something" }];
    const whole = await openai.chat.completions.create({ model: "tiny", messages, ...seeded });
    const stream = await openai.chat.completions.create({ model: "tiny", messages, ...seeded, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(whole.choices[0]?.message.content);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThan(5);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe(whole.choices[0]?.finish_reason);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(whole.usage?.completion_tokens);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
  });

  it("streams text completions, n choices each with its own index", async () => {
    const stream = await openai.completions.create({ model: "tiny", prompt: "once upon", max_tokens: 12, n: 2, seed: 3, stream: true });
    const texts = ["", ""];
    const finished = new Set<number>();
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.text;
        if (choice.finish_reason) finished.add(choice.index);
      }
    }
    expect([...finished].sort()).toEqual([0, 1]);
    const whole = await openai.completions.create({ model: "tiny", prompt: "once upon", max_tokens: 12, n: 2, seed: 3 });
    expect(texts).toEqual(whole.choices.map((choice) => choice.text));
  });

  it("streams to a Gemini client (genai generateContentStream) through translation", async () => {
    const chunks = [];
    for await (const chunk of await ai.models.generateContentStream({ model: "tiny", contents: "hello", config: { maxOutputTokens: 20, seed: 5, temperature: 0.5 } })) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.at(-1)?.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    const whole = await ai.models.generateContent({ model: "tiny", contents: "hello", config: { maxOutputTokens: 20, seed: 5, temperature: 0.5 } });
    expect(chunks.map((chunk) => chunk.text ?? "").join("")).toBe(whole.text ?? "");
  });

  it("serves the Responses API on llama-cpp, plain and as streamed events", async () => {
    const settings = { model: "tiny", input: "a question", max_output_tokens: 16, temperature: 0.7 };
    const plain = await openai.responses.create(settings);
    expect(plain.status === "completed" || plain.status === "incomplete").toBe(true);
    expect(plain.usage?.output_tokens).toBeGreaterThan(0);
    const stream = openai.responses.stream(settings);
    let deltas = 0;
    for await (const event of stream) if (event.type === "response.output_text.delta") deltas += 1;
    const final = await stream.finalResponse();
    expect(deltas).toBeGreaterThan(1);
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
    expect(final.output[0]?.type).toBe("message");
  });

  it("answers a prompt longer than the context with a 400 before streaming", async () => {
    const error = await openai.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "x ".repeat(20_000) }], stream: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("context_length_exceeded");
  });

  it("frees the only sequence as soon as the client hangs up, so the next request starts at once", async () => {
    // The aborted reply would run to the context's end: 2,030 tokens, about 3 s on this model.
    const controller = new AbortController();
    const long = await openai.chat.completions.create(
      { model: "tiny-one", messages: [{ role: "user", content: "go on forever" }], max_tokens: 3_000, temperature: 1, seed: 1, stream: true },
      { signal: controller.signal },
    );
    const iterator = long[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    controller.abort();
    await waitFor(() => spool.app.context.dispatcher.load("tiny-one").running === 0, { what: "the slot to be freed", timeoutMs: 2_000 });
    const started = Date.now();
    const next = await openai.chat.completions.create({ model: "tiny-one", messages: [{ role: "user", content: "next" }], max_tokens: 4 });
    expect(next.choices).toHaveLength(1);
    // Only possible if the sequence was freed: the model has one, and the aborted reply had seconds to go.
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
