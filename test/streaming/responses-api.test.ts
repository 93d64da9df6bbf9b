/**
 * The Responses API with the real `openai` SDK (`responses.create`, `responses.stream`), served through
 * chat completions on an openai engine and, translated once more, on a gemini engine: text, instructions,
 * input items, structured output, function calls, usage, streamed events, and the fields spool refuses.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

let upstream: FakeOpenAIUpstream;
let gemini: FakeGeminiUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  gemini = await startFakeGeminiUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 },
        { name: "gemini-test", engine: "gemini", baseUrl: gemini.baseUrl, apiKey: "g", concurrency: 2, maxRetries: 0 },
      ],
    },
    { label: "responses-api", workers: false },
  );
  client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
  await gemini?.close();
});

const weather = { type: "function" as const, name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }, strict: true };

describe("POST /v1/responses", () => {
  it("answers a string input with instructions as a completed response with usage", async () => {
    const response = await client.responses.create({ model: "gpt-test", instructions: "Be terse.", input: "hello responses", max_output_tokens: 50, metadata: { job: "x" } });
    expect(response.object).toBe("response");
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe("completed");
    expect(response.output_text).toBe("echo: hello responses");
    expect(response.output[0]).toMatchObject({ type: "message", role: "assistant", status: "completed" });
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
    expect(response.usage?.total_tokens).toBe((response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0));
    expect(response.instructions).toBe("Be terse.");
    expect(response.metadata).toEqual({ job: "x" });
    expect(response.model).toBe("gpt-test");
    expect(upstream.lastRequest?.path).toBe("/v1/chat/completions");
    expect(upstream.lastRequest?.body).toMatchObject({ messages: [{ role: "system", content: "Be terse." }, { role: "user", content: "hello responses" }], max_completion_tokens: 50 });
  });

  it("takes input items (messages with parts, earlier function calls and their outputs) and structured output", async () => {
    const response = await client.responses.create({
      model: "gpt-test",
      input: [
        { role: "user", content: [{ type: "input_text", text: "what is the weather" }] },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"text":"Paris"}' },
        { type: "function_call_output", call_id: "call_1", output: "sunny" },
        { role: "user", content: "and now?" },
      ],
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true } },
    });
    expect(response.output_text).toBe("echo: and now?");
    expect(response.text?.format).toMatchObject({ type: "json_schema", name: "answer" });
    expect(upstream.lastRequest?.body).toMatchObject({
      messages: [
        { role: "user", content: [{ type: "text", text: "what is the weather" }] },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"text":"Paris"}' } }] },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
        { role: "user", content: "and now?" },
      ],
      response_format: { type: "json_schema", json_schema: { name: "answer", strict: true } },
    });
  });

  it("returns function calls as function_call output items", async () => {
    const response = await client.responses.create({ model: "gpt-test", input: "Paris", tools: [weather], tool_choice: "required" });
    const call = response.output.find((item) => item.type === "function_call");
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"text":"Paris"}', status: "completed" });
    expect(upstream.lastRequest?.body).toMatchObject({ tools: [{ type: "function", function: { name: "get_weather", strict: true } }], tool_choice: "required" });
  });

  it("streams Responses events that the SDK's responses.stream() assembles into the same response", async () => {
    const stream = client.responses.stream({ model: "gpt-test", input: "stream a response" });
    const types: string[] = [];
    let deltas = 0;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") deltas += 1;
    }
    const final = await stream.finalResponse();
    expect(final.output_text).toBe("echo: stream a response");
    expect(final.status).toBe("completed");
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
    expect(deltas).toBeGreaterThan(3);
    expect(types[0]).toBe("response.created");
    expect(types).toContain("response.output_item.added");
    expect(types).toContain("response.output_text.done");
    expect(types.at(-1)).toBe("response.completed");
  });

  it("streams function call arguments in pieces and closes the item", async () => {
    const events = await client.responses.create({ model: "gpt-test", input: "Lyon", tools: [weather], tool_choice: "required", stream: true });
    const seen: { type: string; arguments?: string; delta?: string }[] = [];
    for await (const event of events) seen.push(event as unknown as { type: string });
    expect(seen.filter((event) => event.type === "response.function_call_arguments.delta").length).toBeGreaterThan(1);
    expect(seen.find((event) => event.type === "response.function_call_arguments.done")?.arguments).toBe('{"text":"Lyon"}');
    const completed = seen.at(-1) as unknown as { type: string; response: { output: { type: string }[] } };
    expect(completed.type).toBe("response.completed");
    expect(completed.response.output.map((item) => item.type)).toEqual(["function_call"]);
  });

  it("is served by a gemini engine through two translations, streamed or not", async () => {
    const response = await client.responses.create({ model: "gemini-test", input: "from gemini" });
    expect(response.output_text).toBe("echo: from gemini");
    const stream = client.responses.stream({ model: "gemini-test", input: "streamed from gemini" });
    expect((await stream.finalResponse()).output_text).toBe("echo: streamed from gemini");
    expect(gemini.lastRequest?.method).toBe("streamGenerateContent");
  });

  it("refuses what needs stored state or a built-in tool with a 400 naming the field", async () => {
    const previous = await client.responses.create({ model: "gpt-test", input: "x", previous_response_id: "resp_123" }).catch((error: unknown) => error);
    expect(previous).toBeInstanceOf(OpenAI.BadRequestError);
    expect((previous as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("previous_response_id");
    const search = await client.responses.create({ model: "gpt-test", input: "x", tools: [{ type: "web_search" }] }).catch((error: unknown) => error);
    expect((search as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("tools[0].type");
  });

  it("reports a reply cut by max_output_tokens as incomplete", async () => {
    upstream.setFault(({ key }) => (key === "cut" ? { status: 200, body: { id: "chatcmpl-cut", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "partial" }, finish_reason: "length" }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } } } : undefined));
    try {
      const response = await client.responses.create({ model: "gpt-test", input: "cut", max_output_tokens: 2 });
      expect(response.status).toBe("incomplete");
      expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
      expect(response.id).toBe("resp_cut");
    } finally {
      upstream.setFault(null);
    }
  });
});
