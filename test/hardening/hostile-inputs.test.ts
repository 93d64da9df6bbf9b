/**
 * The hostile-input corpus (issue 9): every table of bad inputs in this folder run against one real
 * spool. Each case asserts the dialect's error envelope (status and fields) or the right result, then
 * that the process still answers /health; batches accepted before the corpus ran are checked untouched at
 * the end.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectAlive,
  expectEnvelope,
  fileText,
  runGeminiBatch,
  runOpenAIBatch,
  uploadBatchFile,
  send,
  startCorpusApp,
  type CorpusApp,
  type GeminiOutcome,
  type OpenAIBatch,
} from "./corpus-app.ts";
import { GEMINI_FILE_CASES, GEMINI_ODD_KEYS_FILE, ODD_IDS, OPENAI_FILE_CASES, OPENAI_ODD_IDS_FILE } from "./file-cases.ts";
import { HTTP_CASES } from "./http-cases.ts";
import * as lines from "./line-cases.ts";

let corpus: CorpusApp;
/** Batches accepted before any hostile input, with what they returned then. */
let before: { openai: OpenAIBatch; openaiOutput: string; gemini: GeminiOutcome };

beforeAll(async () => {
  corpus = await startCorpusApp();
  const openai = await runOpenAIBatch(corpus.url, `${lines.OPENAI_CHAT_FIRST}\n${JSON.stringify({ custom_id: "good-2", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [{ role: "user", content: "two" }] } })}\n`);
  expect(openai.status).toBe("completed");
  const gemini = await runGeminiBatch(corpus.url, `${lines.GEMINI_GENERATE_FIRST}\n`, "gpt-test");
  expect(gemini.operation.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
  before = { openai, openaiOutput: await fileText(corpus.url, openai.output_file_id), gemini };
}, 60_000);

afterAll(async () => corpus?.stop());

describe("hostile requests at the HTTP edge", () => {
  // Independent requests: run a few at once, as clients would.
  it.concurrent.each(HTTP_CASES.map((each) => [each.name, each] as const))("%s", async (_name, each) => {
    const sent = typeof each.send === "function" ? await each.send(corpus.url) : each.send;
    const received = await send(corpus.url, sent);
    if (each.expect === "answered-or-closed") {
      if (received !== null) expectEnvelope(received, each.dialect, { status: received.status });
    } else if ("ok" in each.expect) {
      expect(received?.status).toBe(each.expect.ok);
    } else {
      expectEnvelope(received, each.dialect, each.expect);
    }
    await expectAlive(corpus.url);
  });
});

describe.each([
  ["chat", "/v1/chat/completions", lines.OPENAI_CHAT_FIRST, lines.OPENAI_CHAT_LINES],
  ["embeddings", "/v1/embeddings", lines.OPENAI_EMBEDDING_FIRST, lines.OPENAI_EMBEDDING_LINES],
  ["completions", "/v1/completions", lines.OPENAI_COMPLETION_FIRST, lines.OPENAI_COMPLETION_LINES],
] as const)("bad OpenAI %s lines", (_kind, endpoint, first, cases) => {
  let batch: OpenAIBatch;
  beforeAll(async () => {
    batch = await runOpenAIBatch(corpus.url, lines.fileOf(first, cases), endpoint);
  });

  it("fail the batch, never line 1", () => {
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data.filter((error) => error.line === 1)).toEqual([]);
  });

  it.each(cases.map((each, index) => [each.name, each, index + 2] as const))("%s", async (_name, each, lineNumber) => {
    const errors = batch.errors?.data.filter((error) => error.line === lineNumber) ?? [];
    expect(errors.map((error) => ({ code: error.code, param: error.param }))).toContainEqual({ code: each.code, param: each.param });
    for (const error of errors) expect(error.message).toMatch(new RegExp(`^Line ${lineNumber}\\b`));
    await expectAlive(corpus.url);
  });
});

describe.each([
  ["generate", "batchGenerateContent", lines.GEMINI_GENERATE_FIRST, lines.GEMINI_GENERATE_LINES, "gpt-test"],
  ["embed", "asyncBatchEmbedContent", lines.GEMINI_EMBED_FIRST, lines.GEMINI_EMBED_LINES, "embed-test"],
] as const)("bad Gemini %s lines", (_kind, verb, first, cases, model) => {
  let outcome: GeminiOutcome;
  beforeAll(async () => {
    outcome = await runGeminiBatch(corpus.url, lines.fileOf(first, cases), model, verb);
  });

  it("skip to error results while the good line runs", () => {
    expect(outcome.operation.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
    expect(outcome.results).toHaveLength(cases.length + 1);
    expect(outcome.results[0]).toHaveProperty("response");
  });

  it.each(cases.map((each, index) => [each.name, each, index + 1] as const))("%s", async (_name, each, index) => {
    const result = outcome.results[index];
    expect(result?.error).toMatchObject({ code: 3, message: expect.stringMatching(new RegExp(`^Line ${index + 1}\\b`)) });
    const fields = (result?.error?.details[0]?.fieldViolations ?? []).map((violation) => violation.field);
    if (each.param === null) {
      expect(fields).toEqual([]);
      expect(result?.error?.message).toContain(each.message ?? "");
    } else {
      expect(fields).toContain(each.param);
    }
    await expectAlive(corpus.url);
  });
});

describe("odd input files", () => {
  it.each(OPENAI_FILE_CASES.map((each) => [each.name, each] as const))("OpenAI: %s", async (_name, each) => {
    if ("refusedAtUpload" in each.expect) {
      const upload = await uploadBatchFile(corpus.url, each.content);
      expect(upload.status).toBe(400);
      const { error } = (await upload.json()) as { error: { message: string; param: string; code: string } };
      expect(error).toMatchObject({ param: "file", code: "invalid_file_format" });
      expect(error.message).toMatch(/^Invalid file format for Batch API: /);
      expect(error.message).toMatch(each.expect.refusedAtUpload);
      await expectAlive(corpus.url);
      return;
    }
    const batch = await runOpenAIBatch(corpus.url, each.content);
    if ("completed" in each.expect) {
      expect(batch.status).toBe("completed");
      const output = (await fileText(corpus.url, batch.output_file_id)).split("\n").filter(Boolean);
      expect(output.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(each.expect.completed);
    } else {
      expect(batch.status).toBe("failed");
      expect(batch.errors?.data.map((error) => error.code)).toEqual(each.expect.failedWith);
    }
    await expectAlive(corpus.url);
  });

  it.each(GEMINI_FILE_CASES.map((each) => [each.name, each] as const))("Gemini: %s", async (_name, each) => {
    const { operation, results } = await runGeminiBatch(corpus.url, each.content, "gpt-test");
    if ("succeeded" in each.expect) {
      expect(operation.metadata.state).toBe("BATCH_STATE_SUCCEEDED");
      expect(results.map((result) => [result.key, "response" in result])).toEqual(each.expect.succeeded.map((key) => [key, true]));
    } else {
      expect(operation.metadata.state).toBe("BATCH_STATE_FAILED");
      expect(operation.error?.message).toMatch(each.expect.failedWith);
    }
    await expectAlive(corpus.url);
  });

  it("returns custom ids and keys with odd characters exactly as sent, in both dialects", async () => {
    const openai = await runOpenAIBatch(corpus.url, OPENAI_ODD_IDS_FILE);
    expect(openai.status).toBe("completed");
    const output = (await fileText(corpus.url, openai.output_file_id)).split("\n").filter(Boolean);
    expect(output.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(ODD_IDS);
    const gemini = await runGeminiBatch(corpus.url, GEMINI_ODD_KEYS_FILE, "gpt-test");
    expect(gemini.results.map((result) => result.key)).toEqual(ODD_IDS);
    await expectAlive(corpus.url);
  });
});

describe("after the corpus", () => {
  it("leaves the batches accepted before it intact, and kept no file from a rejected upload", async () => {
    const openai = (await (await fetch(`${corpus.url}/v1/batches/${before.openai.id}`)).json()) as OpenAIBatch;
    expect(openai).toEqual(before.openai);
    expect(await fileText(corpus.url, openai.output_file_id)).toBe(before.openaiOutput);
    const gemini = (await (await fetch(`${corpus.url}/v1beta/${before.gemini.operation.name}`)).json()) as GeminiOutcome["operation"];
    expect(gemini).toEqual(before.gemini.operation);

    const files = ((await (await fetch(`${corpus.url}/v1/files?limit=10000`)).json()) as { data: { filename: string; bytes: number }[] }).data;
    expect(files.filter((file) => ["big.jsonl", "a.jsonl"].includes(file.filename))).toEqual([]);
    expect(files.filter((file) => file.bytes > 256 * 1024)).toEqual([]);
  });
});
