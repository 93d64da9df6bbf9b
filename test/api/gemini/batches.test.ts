/**
 * Gemini Batch Mode end to end through the real `@google/genai` SDK: a real spool (SQLite, Workers)
 * running Items on an OpenAI-compatible upstream (translated) and on a Gemini upstream (native).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ApiError} from "@google/genai";
import { type BatchJob } from "@google/genai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { startGeminiTestApp, type GeminiTestApp } from "./gemini-test-app.ts";

let openai: FakeOpenAIUpstream;
let gemini: FakeGeminiUpstream;
let spool: GeminiTestApp;
const scratch = mkdtempSync(path.join(tmpdir(), "spool-gemini-batches-"));
const TERMINAL = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"]);

beforeAll(async () => {
  openai = await startFakeOpenAIUpstream({ record: true });
  gemini = await startFakeGeminiUpstream();
  spool = await startGeminiTestApp(
    {
      models: [
        { name: "gpt-backed", engine: "openai", baseUrl: openai.url, concurrency: 4, maxRetries: 0 },
        { name: "gemini-native", engine: "gemini", baseUrl: gemini.baseUrl, apiKey: "upstream-key", concurrency: 4, maxRetries: 0 },
        { name: "embed-backed", engine: "openai", baseUrl: openai.url, kinds: ["embedding"] },
      ],
      worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50 },
      scheduling: { defaultWindow: { gemini: "7d" } },
    },
    { label: "gemini-batches" },
  );
});

afterAll(async () => {
  await spool?.stop();
  await openai?.close();
  await gemini?.close();
});

const line = (key: string, text: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ key, request: { contents: [{ role: "user", parts: [{ text }] }], ...extra } });

async function upload(name: string, content: string): Promise<string> {
  const target = path.join(scratch, name);
  writeFileSync(target, content);
  const file = await spool.ai.files.upload({ file: target, config: { mimeType: "jsonl", displayName: name } });
  return file.name ?? "";
}

async function finished(name: string): Promise<BatchJob> {
  return waitFor(async () => {
    const job = await spool.ai.batches.get({ name });
    return TERMINAL.has(job.state ?? "") ? job : undefined;
  }, { what: `batch ${name} to finish` });
}

async function resultLines(fileName: string): Promise<Record<string, unknown>[]> {
  const target = path.join(scratch, `${fileName.replace(/\W/g, "_")}.jsonl`);
  await spool.ai.files.download({ file: fileName, downloadPath: target });
  await waitFor(() => readFileSync(target, "utf8").endsWith("\n"), { what: "download to land" });
  return readFileSync(target, "utf8").trim().split("\n").map((text) => JSON.parse(text) as Record<string, unknown>);
}

async function rest(pathAndQuery: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown>; contentType: string | null }> {
  const response = await fetch(`${spool.url}${pathAndQuery}`, { ...init, headers: { "x-goog-api-key": "g-test", "content-type": "application/json", ...init.headers } });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown>, contentType: response.headers.get("content-type") };
}

type Candidate = { content?: { parts?: { text?: string }[] } };
const firstText = (response: unknown): string | undefined => (response as { candidates?: Candidate[] }).candidates?.[0]?.content?.parts?.[0]?.text;

describe("Gemini batches through the genai SDK", () => {
  it("runs a file batch to JOB_STATE_SUCCEEDED with one result line per key, in input order", async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `req-${i}`);
    const fileName = await upload("chat.jsonl", `${keys.map((key, i) => line(key, `prompt ${i}`)).join("\n")}\n`);
    const created = await spool.ai.batches.create({ model: "gpt-backed", src: fileName, config: { displayName: "job-1" } });
    expect(created.name).toMatch(/^batches\/batch_[a-z0-9]+$/);
    expect(created.state).toBe("JOB_STATE_PENDING");
    expect(created.model).toBe("models/gpt-backed");
    expect(created.displayName).toBe("job-1");

    const done = await finished(created.name ?? "");
    expect(done.state).toBe("JOB_STATE_SUCCEEDED");
    expect(done.endTime).toBeTruthy();
    const lines = await resultLines(done.dest?.fileName ?? "");
    expect(lines.map((each) => each.key)).toEqual(keys);
    expect(firstText(lines[3]?.response)).toBe("echo: prompt 3");

    const operation = await rest(`/v1beta/${created.name}`);
    expect(operation.contentType).toBe("application/json; charset=UTF-8");
    const metadata = operation.body.metadata as Record<string, unknown>;
    expect(metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(metadata.batchStats).toEqual({ requestCount: "12", successfulRequestCount: "12", failedRequestCount: "0", pendingRequestCount: "0" });
    expect(metadata.inputConfig).toEqual({ fileName });
    expect(operation.body.done).toBe(true);
    expect(operation.body.response).toMatchObject({ responsesFile: done.dest?.fileName });
  });

  it("returns inline results in order with each request's metadata echoed, also on a gemini engine", async () => {
    for (const model of ["gpt-backed", "gemini-native"]) {
      const created = await spool.ai.batches.create({
        model,
        src: [
          { contents: "first question", metadata: { key: "a", n: "1" } },
          { contents: [{ role: "user", parts: [{ text: "second question" }] }], config: { temperature: 0.1, systemInstruction: "Be brief" }, metadata: { key: "a" } },
          { contents: "third question" },
        ],
        config: { displayName: `inline-${model}` },
      });
      const done = await finished(created.name ?? "");
      expect(done.state).toBe("JOB_STATE_SUCCEEDED");
      const responses = done.dest?.inlinedResponses ?? [];
      expect(responses.map((each) => each.metadata)).toEqual([{ key: "a", n: "1" }, { key: "a" }, undefined]);
      expect(responses.map((each) => firstText(each.response))).toEqual(["echo: first question", "echo: second question", "echo: third question"]);
      // Google's schema requires inputConfig on every batch's metadata, inline ones included.
      const raw = (await (await fetch(`${spool.url}/v1beta/${created.name ?? ""}`, { headers: { "x-goog-api-key": "g-test" } })).json()) as { metadata: { inputConfig?: unknown } };
      expect(raw.metadata.inputConfig).toEqual({ requests: {} });
    }
  });

  it("gives batches the configured default window (the wire has none) and keeps their priority", async () => {
    const created = await spool.ai.batches.create({ model: "gpt-backed", src: [{ contents: "a question" }], config: { displayName: "windowed" } });
    const id = (created.name ?? "").replace("batches/", "");
    const stored = await spool.app.context.store.getBatch(id);
    expect((stored?.expiresAtMs ?? 0) - (stored?.createdAtMs ?? 0)).toBe(7 * 24 * 3600 * 1000);
    const response = await fetch(`${spool.url}/v1beta/models/gpt-backed:batchGenerateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": "g-test" },
      body: JSON.stringify({ batch: { priority: "4", inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: "hi" }] }] } }] } } } }),
    });
    const operation = (await response.json()) as { name: string; metadata: { priority?: string } };
    expect(operation.metadata.priority).toBe("4");
    expect((await spool.app.context.store.getBatch(operation.name.replace("batches/", "")))?.priority).toBe(4);
    expect((await finished(created.name ?? "")).state).toBe("JOB_STATE_SUCCEEDED");
  });

  it("runs embedding batches from a file and inline, honouring output_dimensionality", async () => {
    const fileName = await upload(
      "embed.jsonl",
      [
        JSON.stringify({ key: "e1", request: { output_dimensionality: 3, content: { parts: [{ text: "one" }] } } }),
        JSON.stringify({ key: "e2", request: { taskType: "RETRIEVAL_QUERY", content: { parts: [{ text: "two" }] } } }),
      ].join("\n"),
    );
    const fromFile = await finished((await spool.ai.batches.createEmbeddings({ model: "embed-backed", src: { fileName } })).name ?? "");
    expect(fromFile.state).toBe("JOB_STATE_SUCCEEDED");
    const lines = await resultLines(fromFile.dest?.fileName ?? "");
    expect(lines.map((each) => each.key)).toEqual(["e1", "e2"]);
    expect((lines[0]?.response as { embedding: { values: number[] } }).embedding.values).toHaveLength(3);

    const inline = await spool.ai.batches.createEmbeddings({
      model: "embed-backed",
      src: { inlinedRequests: { contents: ["alpha", "beta"], config: { outputDimensionality: 4, taskType: "RETRIEVAL_DOCUMENT" } } },
    });
    const done = await finished(inline.name ?? "");
    const embeddings = done.dest?.inlinedEmbedContentResponses ?? [];
    expect(embeddings).toHaveLength(2);
    expect(embeddings.map((each) => each.response?.embedding?.values?.length)).toEqual([4, 4]);
  });

  it("sends responseJsonSchema as a JSON schema to OpenAI-shaped engines and gets JSON back from a gemini engine", async () => {
    const schema = { type: "object", properties: { echo: { type: "string" } }, required: ["echo"] };
    const fileName = await upload("structured.jsonl", `${line("s1", "structured please", { generation_config: { response_mime_type: "application/json", response_json_schema: schema } })}\n`);
    const viaOpenAI = await finished((await spool.ai.batches.create({ model: "gpt-backed", src: fileName })).name ?? "");
    expect(viaOpenAI.state).toBe("JOB_STATE_SUCCEEDED");
    const sent = openai.received.find((request) => JSON.stringify(request.body).includes("structured please"));
    expect(sent?.body.response_format).toMatchObject({ type: "json_schema", json_schema: { schema } });

    const native = await spool.ai.batches.create({
      model: "gemini-native",
      src: [{ contents: "structured native", config: { responseMimeType: "application/json", responseJsonSchema: schema } }],
    });
    const done = await finished(native.name ?? "");
    const text = firstText(done.dest?.inlinedResponses?.[0]?.response) ?? "";
    expect(JSON.parse(text)).toEqual({ echo: "structured native" });
  });

  it("names every bad line of a malformed file (line number and field) while the good lines still run", async () => {
    const content = [
      line("good-1", "fine"), // 1
      "{not json", // 2
      JSON.stringify({ key: "no-request" }), // 3
      JSON.stringify({ key: "empty", request: { contents: [] } }), // 4
      JSON.stringify({ key: "role", request: { contents: [{ role: "assistant", parts: [{ text: "x" }] }] } }), // 5
      JSON.stringify({ key: "sdk", request: { contents: [{ parts: [{ text: "x" }] }], config: { temperature: 1 } } }), // 6
      JSON.stringify({ key: "both", request: { contents: [{ parts: [{ text: "x" }] }], generationConfig: { responseSchema: { type: "OBJECT" }, responseJsonSchema: { type: "object" } } } }), // 7
      JSON.stringify({ key: "model", request: { model: "models/nope", contents: [{ parts: [{ text: "x" }] }] } }), // 8
      line("good-1", "duplicate key"), // 9
      JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }), // 10
      line("good-2", "also fine"), // 11
    ].join("\n");
    const done = await finished((await spool.ai.batches.create({ model: "gpt-backed", src: await upload("bad.jsonl", content) })).name ?? "");
    expect(done.state).toBe("JOB_STATE_SUCCEEDED");
    const lines = await resultLines(done.dest?.fileName ?? "");
    expect(lines).toHaveLength(11);
    expect(firstText(lines[0]?.response)).toBe("echo: fine");
    expect(firstText(lines[10]?.response)).toBe("echo: also fine");
    const errorOf = (index: number) => lines[index]?.error as { code: number; message: string; details: { fieldViolations?: { field: string }[] }[] };
    const expected: [number, string][] = [
      [1, "Line 2 is not valid JSON"],
      [2, "request: is required"],
      [3, "request.contents: must not be empty"],
      [4, "request.contents[0].role"],
      [5, "request.config"],
      [6, "request.generationConfig.responseJsonSchema"],
      [7, "Model 'nope' is not configured"],
      [8, "already used on line 1"],
      [9, 'unknown field "contents"'],
    ];
    for (const [index, text] of expected) {
      expect(errorOf(index).code).toBe(3);
      expect(errorOf(index).message).toContain(`Line ${index + 1}`);
      expect(errorOf(index).message).toContain(text);
    }
    expect(errorOf(5).message).toContain("generationConfig");
    expect(errorOf(3).details[0]?.fieldViolations?.[0]?.field).toBe("request.contents");
    expect(lines.map((each) => each.key)).toEqual(["good-1", undefined, "no-request", "empty", "role", "sdk", "both", "model", "good-1", undefined, "good-2"]);
    const operation = await rest(`/v1beta/${done.name}`);
    expect((operation.body.metadata as { batchStats: unknown }).batchStats).toMatchObject({ requestCount: "11", successfulRequestCount: "2", failedRequestCount: "9" });
  });

  it("rejects empty inline requests naming the field, and unknown models listing the configured ones", async () => {
    const empty = await rest("/v1beta/models/gpt-backed:batchGenerateContent", {
      method: "POST",
      body: JSON.stringify({ batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: "ok" }] }] } }, {}, { request: {} }, { request: { contents: [] } }] } } } }),
    });
    expect(empty.status).toBe(400);
    const error = empty.body.error as { status: string; message: string; details: { fieldViolations: { field: string }[] }[] };
    expect(error.status).toBe("INVALID_ARGUMENT");
    expect(error.details[0]?.fieldViolations.map((violation) => violation.field)).toEqual([
      "batch.inputConfig.requests.requests[1].request.contents",
      "batch.inputConfig.requests.requests[2].request.contents",
      "batch.inputConfig.requests.requests[3].request.contents",
    ]);

    const unknown = await spool.ai.batches.create({ model: "not-configured", src: [{ contents: "x" }] }).catch((caught: unknown) => caught);
    expect((unknown as ApiError).status).toBe(404);
    expect((unknown as ApiError).message).toContain("gpt-backed, gemini-native, embed-backed");

    const noFile = await spool.ai.batches.create({ model: "gpt-backed", src: "files/does-not-exist" }).catch((caught: unknown) => caught);
    expect((noFile as ApiError).status).toBe(404);
    expect((noFile as ApiError).message).toContain("batch.inputConfig.fileName");
  });

  it("lists gemini batches newest first, cancels idempotently, and deletes to a 404", async () => {
    gemini.setFault(({ key }) => (key.startsWith("slow") ? { delayMs: 3_000 } : undefined));
    try {
      const slow = await spool.ai.batches.create({ model: "gemini-native", src: Array.from({ length: 12 }, (_, i) => ({ contents: `slow ${i}` })) });
      const quick = await spool.ai.batches.create({ model: "gpt-backed", src: [{ contents: "quick" }] });
      const names: string[] = [];
      for await (const job of await spool.ai.batches.list({ config: { pageSize: 1 } })) names.push(job.name ?? "");
      expect(names.indexOf(quick.name ?? "")).toBeLessThan(names.indexOf(slow.name ?? ""));
      expect(new Set(names).size).toBe(names.length);
      const page = await rest("/v1beta/batches?pageSize=100");
      expect(page.body.nextPageToken).toBeUndefined();

      await spool.ai.batches.cancel({ name: slow.name ?? "" });
      const cancelled = await finished(slow.name ?? "");
      expect(cancelled.state).toBe("JOB_STATE_CANCELLED");
      const operation = await rest(`/v1beta/${slow.name}`);
      expect(operation.body.error).toMatchObject({ code: 1 });
      const stats = (operation.body.metadata as { batchStats: Record<string, string> }).batchStats;
      expect(Number(stats.successfulRequestCount) + Number(stats.failedRequestCount) + Number(stats.pendingRequestCount)).toBe(12);
      await expect(spool.ai.batches.cancel({ name: slow.name ?? "" })).resolves.toBeUndefined();
      expect((await rest(`/v1beta/${slow.name}:cancel`)).status).toBe(200);

      await finished(quick.name ?? "");
      const deleted = await spool.ai.batches.delete({ name: quick.name ?? "" });
      expect(deleted).toBeDefined();
      await expect(spool.ai.batches.get({ name: quick.name ?? "" })).rejects.toMatchObject({ status: 404 });
    } finally {
      gemini.setFault(null);
    }
  });

  it("serves generateContent, embedContent, batchEmbedContents and the model list synchronously", async () => {
    const reply = await spool.ai.models.generateContent({ model: "gpt-backed", contents: "hello sync" });
    expect(reply.text).toBe("echo: hello sync");
    const native = await spool.ai.models.generateContent({ model: "gemini-native", contents: "hello native" });
    expect(native.text).toBe("echo: hello native");
    const embedded = await spool.ai.models.embedContent({ model: "embed-backed", contents: ["a", "b"], config: { outputDimensionality: 5 } });
    expect(embedded.embeddings?.map((each) => each.values?.length)).toEqual([5, 5]);
    const models = await rest("/v1beta/models");
    expect((models.body.models as { name: string }[]).map((model) => model.name)).toEqual(["models/gpt-backed", "models/gemini-native", "models/embed-backed"]);
  });
});
