/**
 * Streaming through spool on an `openai` engine, with the real `openai` SDK's stream iterators: the
 * upstream's events pass through as they arrive (model name rewritten), usage chunks when asked, failures
 * before the first chunk as plain statuses and after it as stream errors, the Gemini OpenAI-compatibility
 * mount, and a client that hangs up mid-stream freeing its slot and the upstream connection at once.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-test", engine: "openai", baseUrl: upstream.url, upstreamModel: "upstream-name", concurrency: 4, maxRetries: 1 },
        { name: "one-slot", engine: "openai", baseUrl: upstream.url, concurrency: 1, maxRetries: 0 },
      ],
    },
    { label: "openai-streams", workers: false },
  );
  client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

describe("streamed chat and text completions on an openai engine", () => {
  it("streams chat chunks as the upstream sends them, with the client's model name and the usage chunk", async () => {
    upstream.resetCounts();
    const stream = await client.chat.completions.create({
      model: "gpt-test",
      messages: [{ role: "user", content: "stream this reply please" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("echo: stream this reply please");
    // Several content chunks: the reply was not gathered into one.
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThan(3);
    expect(chunks.every((chunk) => chunk.model === "gpt-test" && chunk.object === "chat.completion.chunk")).toBe(true);
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    const usage = chunks.at(-1)?.usage;
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(upstream.lastRequest?.body).toMatchObject({ model: "upstream-name", stream: true, stream_options: { include_usage: true } });
  });

  it("streams text completions, and the chat stream helper assembles the final message", async () => {
    const stream = await client.completions.create({ model: "gpt-test", prompt: "complete me", stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe("echo: complete me");

    const runner = client.chat.completions.stream({ model: "gpt-test", messages: [{ role: "user", content: "helper" }] });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe("echo: helper");
  });

  it("streams on the Gemini OpenAI-compatibility mount too", async () => {
    const compat = new OpenAI({ apiKey: "sk-test", baseURL: `${spool.url}/v1beta/openai/`, maxRetries: 0 });
    const stream = await compat.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "compat" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("echo: compat");
  });

  it("answers an upstream refusal before the first chunk with its status and envelope", async () => {
    upstream.setFault(({ key }) => (key === "refuse" ? { status: 400, body: { error: { message: "Invalid value for 'temperature'.", type: "invalid_request_error", param: "temperature", code: null } } } : undefined));
    try {
      const error = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "refuse" }], stream: true }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("temperature");
    } finally {
      upstream.setFault(null);
    }
  });

  it("retries a 429 that arrives before the stream begins, then streams", async () => {
    upstream.setFault(({ key, attemptForKey }) => (key === "busy" && attemptForKey === 1 ? { status: 429, retryAfterMs: "10" } : undefined));
    try {
      const stream = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "busy" }], stream: true });
      let text = "";
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
      expect(text).toBe("echo: busy");
      expect(upstream.countsByKey.get("busy")).toBe(2);
    } finally {
      upstream.setFault(null);
    }
  });

  it("reports an upstream failure after the stream began as an error the SDK throws", async () => {
    upstream.setFault(({ key }) => (key === "break midway" ? { streamErrorAfter: 3 } : undefined));
    try {
      const stream = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "break midway" }], stream: true });
      const received: string[] = [];
      const failure = await (async () => {
        for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? "");
      })().catch((caught: unknown) => caught);
      expect(received.length).toBe(3);
      expect(failure).toBeInstanceOf(OpenAI.APIError);
      expect(String((failure as Error).message)).toContain("error while streaming");
    } finally {
      upstream.setFault(null);
    }
  });

  it("refuses stream: true on embeddings with a 400 naming 'stream'", async () => {
    const response = await fetch(`${spool.openaiBaseUrl}/embeddings`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-test" },
      body: JSON.stringify({ model: "gpt-test", input: "x", stream: true }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { param: string } }).error.param).toBe("stream");
  });

  it("frees the slot and closes the upstream stream as soon as the client hangs up", async () => {
    upstream.setStreamInterval(50);
    try {
      const controller = new AbortController();
      const slow = await client.chat.completions.create(
        { model: "one-slot", messages: [{ role: "user", content: "a long reply that the client will not wait for" }], stream: true },
        { signal: controller.signal },
      );
      const iterator = slow[Symbol.asyncIterator]();
      await iterator.next();
      const cutBefore = upstream.streamsCutShort;
      controller.abort();
      // The upstream sees its stream closed well before the ~13 events left would have taken.
      await waitFor(() => upstream.streamsCutShort > cutBefore, { what: "the upstream stream to be cut short", timeoutMs: 2_000 });
      // The model's only slot is free: the next request starts at once rather than after the first reply.
      upstream.setStreamInterval(0);
      const started = Date.now();
      const next = await client.chat.completions.create({ model: "one-slot", messages: [{ role: "user", content: "next" }] });
      expect(next.choices[0]?.message.content).toBe("echo: next");
      expect(Date.now() - started).toBeLessThan(500);
      expect(spool.app.context.dispatcher.load("one-slot").running).toBe(0);
    } finally {
      upstream.setStreamInterval(0);
    }
  });
});
