/**
 * Multimodal Batches by reference (issue 18): an image uploaded once through a dialect's Files API, named by
 * many Batch Items, reaches each engine as that engine takes media: inline bytes (with the upload's MIME
 * type) on an `openai` engine, whose stand-in checks every byte; an upload to the Gemini Files API named by
 * `fileData.fileUri` on the `gemini` engine, whose stand-in checks the reference names the same bytes.
 * The BlobStore is read once for the whole Batch, and results never carry the image.
 */
import { createHash, randomBytes } from "node:crypto";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI, type InlinedRequest } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream, type FaultRule } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { waitFor } from "../helpers/wait-for.ts";

/** Not a decodable PNG (nothing here decodes it), but a PNG's first bytes and random content. */
function fakePng(bytes: number): Buffer {
  const image = randomBytes(bytes);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(image);
  return image;
}

const sha = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

let openaiUpstream: FakeOpenAIUpstream;
let geminiUpstream: FakeGeminiUpstream;
let spool: TestApp;
let openai: OpenAI;
let ai: GoogleGenAI;
const image = fakePng(48 * 1024);
/** Data URLs the openai stand-in received, checked against `image`: `ok` or what was wrong. */
let seen: { ok: number; wrong: string[] };

beforeAll(async () => {
  openaiUpstream = await startFakeOpenAIUpstream();
  geminiUpstream = await startFakeGeminiUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "vision", engine: "openai", baseUrl: openaiUpstream.url, concurrency: 8 },
        { name: "one-at-a-time", engine: "openai", baseUrl: openaiUpstream.url, concurrency: 1, adaptive: false },
        { name: "text-only", engine: "llama-cpp", path: await ensureTinyModel(), threads: 1, sequences: 1, concurrency: 1 },
        { name: "gemini-vision", engine: "gemini", baseUrl: geminiUpstream.baseUrl, concurrency: 8 },
      ],
      worker: { sweepMs: 50, pollMs: 50 },
    },
    { label: "media-batches" },
  );
  openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  ai = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: spool.url } });
  openaiUpstream.setFault(checkImages);
}, 60_000);

/** The openai stand-in's check of every request: one image_url part holding exactly `image` as PNG. */
const checkImages: FaultRule = ({ body }) => {
  const url = imageUrlOf(body);
  const match = url === undefined ? null : /^data:([^;]+);base64,(.*)$/s.exec(url);
  const problem = match === null ? `no data URL in ${JSON.stringify(body).slice(0, 300)}` : match[1] !== "image/png" ? `MIME ${match[1]}` : sha(Buffer.from(match[2] ?? "", "base64")) !== sha(image) ? "other bytes" : null;
  if (problem === null) seen.ok += 1;
  else seen.wrong.push(problem);
  return problem === null ? undefined : { status: 400 };
};

beforeEach(() => {
  seen = { ok: 0, wrong: [] };
});

afterAll(async () => {
  await spool?.stop();
  await Promise.all([openaiUpstream?.close(), geminiUpstream?.close()]);
});

function imageUrlOf(body: Record<string, unknown>): string | undefined {
  const messages = body.messages as { content: unknown }[] | undefined;
  for (const message of messages ?? []) {
    if (!Array.isArray(message.content)) continue;
    for (const part of message.content as { type: string; image_url?: { url: string } }[]) if (part.type === "image_url") return part.image_url?.url;
  }
  return undefined;
}

async function runOpenAIBatch(lines: unknown[]): Promise<{ batch: OpenAI.Batch; output: string; errors: string }> {
  const input = await openai.files.create({ file: await toFile(Buffer.from(lines.map((line) => JSON.stringify(line)).join("\n")), "media.jsonl"), purpose: "batch" });
  const created = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  const batch = await waitFor(async () => {
    const current = await openai.batches.retrieve(created.id);
    return ["completed", "failed"].includes(current.status) ? current : undefined;
  }, { timeoutMs: 60_000 });
  const read = async (id: string | null | undefined): Promise<string> => (id ? (await openai.files.content(id)).text() : "");
  return { batch, output: await read(batch.output_file_id), errors: await read(batch.error_file_id) };
}

function chatWith(customId: string, part: unknown, model = "vision"): unknown {
  return { custom_id: customId, method: "POST", url: "/v1/chat/completions", body: { model, messages: [{ role: "user", content: [{ type: "text", text: `describe ${customId}` }, part] }] } };
}

async function geminiJob(model: string, src: InlinedRequest[]) {
  const created = await ai.batches.create({ model, src });
  return waitFor(async () => {
    const current = await ai.batches.get({ name: created.name ?? "" });
    return current.state === "JOB_STATE_SUCCEEDED" || current.state === "JOB_STATE_FAILED" ? current : undefined;
  }, { timeoutMs: 60_000 });
}

describe("an image uploaded through the OpenAI Files API", () => {
  it("reaches an openai engine inline, with its bytes and MIME type, in every Item that names it", async () => {
    const uploaded = await openai.files.create({ file: await toFile(image, "cat.png", { type: "image/png" }), purpose: "vision" });
    const readsBefore = spool.app.context.media.stats().blobReads;
    const lines = Array.from({ length: 40 }, (_, i) =>
      chatWith(`item-${i}`, i % 2 === 0 ? { type: "file", file: { file_id: uploaded.id } } : { type: "image_url", image_url: { url: `${spool.openaiBaseUrl}/files/${uploaded.id}/content` } }),
    );
    const { batch, output } = await runOpenAIBatch(lines);
    expect(seen.wrong).toEqual([]);
    expect(seen.ok).toBe(40);
    expect(batch.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    expect(spool.app.context.media.stats().blobReads - readsBefore).toBe(1);
    // Results are replies only: no input media echoed back.
    expect(output).not.toContain(image.toString("base64").slice(0, 64));
    expect(output.length).toBeLessThan(40 * 2000);
  });

  it("resolves Responses API input_image and input_file parts naming it by file_id", async () => {
    const uploaded = await openai.files.create({ file: await toFile(image, "cat.png", { type: "image/png" }), purpose: "user_data" });
    const lines = ["input_image", "input_file"].map((type, i) => ({
      custom_id: `responses-${i}`,
      method: "POST",
      url: "/v1/responses",
      body: { model: "vision", input: [{ role: "user", content: [{ type: "input_text", text: `what is in ${i}` }, { type, file_id: uploaded.id }] }] },
    }));
    const input = await openai.files.create({ file: await toFile(Buffer.from(lines.map((line) => JSON.stringify(line)).join("\n")), "responses.jsonl"), purpose: "batch" });
    const created = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/responses", completion_window: "24h" });
    const batch = await waitFor(async () => {
      const current = await openai.batches.retrieve(created.id);
      return ["completed", "failed"].includes(current.status) ? current : undefined;
    }, { timeoutMs: 60_000 });
    expect(seen.wrong).toEqual([]);
    expect(seen.ok).toBe(2);
    expect(batch.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
  });
});

describe("an image uploaded through the Gemini Files API", () => {
  it("runs a Gemini batch naming it by uri and by name on an openai engine, inline", async () => {
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(image)]), config: { mimeType: "image/png", displayName: "cat" } });
    const src: InlinedRequest[] = Array.from({ length: 20 }, (_, i) => ({
      contents: [{ role: "user", parts: [{ text: `describe ${i}` }, { fileData: { fileUri: i % 2 === 0 ? (file.uri ?? "") : (file.name ?? ""), mimeType: "image/png" } }] }],
    }));
    const job = await geminiJob("vision", src);
    expect(seen.wrong).toEqual([]);
    expect(seen.ok).toBe(20);
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    for (const each of job.dest?.inlinedResponses ?? []) expect(each.error).toBeUndefined();
    expect(JSON.stringify(job)).not.toContain(image.toString("base64").slice(0, 64));
  });

  it("runs it on the gemini engine by reference: one upload to the Gemini Files API, named by every Item", async () => {
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(image)]), config: { mimeType: "image/png" } });
    const before = geminiUpstream.received.length;
    const src: InlinedRequest[] = Array.from({ length: 20 }, (_, i) => ({ contents: [{ role: "user", parts: [{ text: `label ${i}` }, { fileData: { fileUri: file.uri ?? "" } }] }] }));
    const job = await geminiJob("gemini-vision", src);
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    for (const each of job.dest?.inlinedResponses ?? []) expect(each.error).toBeUndefined();
    const requests = geminiUpstream.received.slice(before);
    expect(requests).toHaveLength(20);
    const uris = new Set(requests.map((request) => JSON.stringify((request.body.contents as { parts: { fileData?: unknown }[] }[])[0]?.parts[1]?.fileData)));
    expect(uris.size).toBe(1);
    const reference = JSON.parse([...uris][0] ?? "{}") as { fileUri: string; mimeType: string };
    expect(reference.mimeType).toBe("image/png");
    const upstreamFile = geminiUpstream.files.get(reference.fileUri);
    expect(upstreamFile?.mimeType).toBe("image/png");
    expect(sha(upstreamFile?.bytes ?? Buffer.alloc(0))).toBe(sha(image));
    expect(JSON.stringify(requests.map((request) => request.body))).not.toContain("inlineData");
  });
});

describe("synchronous requests naming a spool File", () => {
  it("resolves references in chat completions and generateContent as in batches", async () => {
    const uploaded = await openai.files.create({ file: await toFile(image, "cat.png", { type: "image/png" }), purpose: "vision" });
    const completion = await openai.chat.completions.create({ model: "vision", messages: [{ role: "user", content: [{ type: "text", text: "sync" }, { type: "file", file: { file_id: uploaded.id } }] }] });
    expect(completion.choices[0]?.message.role).toBe("assistant");
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(image)]), config: { mimeType: "image/png" } });
    const reply = await ai.models.generateContent({ model: "vision", contents: [{ role: "user", parts: [{ text: "sync" }, { fileData: { fileUri: file.uri ?? "" } }] }] });
    expect(reply.candidates?.[0]?.content?.role).toBe("model");
    expect(seen).toEqual({ ok: 2, wrong: [] });
    await expect(openai.chat.completions.create({ model: "vision", messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-nosuch" } }] }] })).rejects.toMatchObject({
      status: 400,
      param: "messages[0].content[0].file.file_id",
    });
  });
});

describe("an Anthropic Message Batch naming a spool File", () => {
  it("sends an image block whose source is the File to an openai engine, inline", async () => {
    const uploaded = await openai.files.create({ file: await toFile(image, "cat.png", { type: "image/png" }), purpose: "vision" });
    const anthropic = new Anthropic({ apiKey: "k", baseURL: spool.url, maxRetries: 0 });
    const requests = [0, 1, 2].map((i) => ({
      custom_id: `claude-${i}`,
      params: { model: "vision", max_tokens: 8, messages: [{ role: "user" as const, content: [{ type: "text" as const, text: `look ${i}` }, { type: "image" as const, source: { type: "file", file_id: uploaded.id } as never }] }] },
    }));
    const created = await anthropic.messages.batches.create({ requests });
    const done = await waitFor(async () => {
      const batch = await anthropic.messages.batches.retrieve(created.id);
      return batch.processing_status === "ended" ? batch : undefined;
    }, { timeoutMs: 60_000 });
    expect(seen.wrong).toEqual([]);
    expect(seen.ok).toBe(3);
    expect(done.request_counts).toMatchObject({ succeeded: 3, errored: 0 });
  });
});

describe("references and media that cannot be sent", () => {
  it("fails an OpenAI batch at validation, naming each line's bad reference or bad media part", async () => {
    const doomed = await openai.files.create({ file: await toFile(image, "gone.png", { type: "image/png" }), purpose: "vision" });
    await openai.files.delete(doomed.id);
    const kept = await openai.files.create({ file: await toFile(image, "kept.png", { type: "image/png" }), purpose: "vision" });
    const lines = [
      chatWith("good", { type: "file", file: { file_id: kept.id } }),
      chatWith("deleted", { type: "file", file: { file_id: doomed.id } }),
      chatWith("typo", { type: "image_url", image_url: { url: `${spool.openaiBaseUrl}/files/file-nosuch/content` } }),
      chatWith("bad-base64", { type: "image_url", image_url: { url: "data:image/png;base64,not*base64" } }),
      chatWith("bad-type", { type: "image_url", image_url: { url: `data:image/bmp;base64,${image.toString("base64").slice(0, 16)}` } }),
      chatWith("not-data-url", { type: "file", file: { file_data: "data:application/pdf,plain" } }),
    ];
    const { batch } = await runOpenAIBatch(lines);
    expect(batch.status).toBe("failed");
    const errors = (batch.errors?.data ?? []).map((error) => ({ line: error.line, param: error.param, message: error.message }));
    expect(errors).toEqual([
      { line: 2, param: "body.messages[0].content[1].file.file_id", message: expect.stringContaining(doomed.id) },
      { line: 3, param: "body.messages[0].content[1].image_url.url", message: expect.stringContaining("file-nosuch") },
      { line: 4, param: "body.messages[0].content[1].image_url.url", message: expect.stringContaining("base64") },
      { line: 5, param: "body.messages[0].content[1].image_url.url", message: expect.stringContaining("image/bmp") },
      { line: 6, param: "body.messages[0].content[1].file.file_data", message: expect.stringContaining("data URL") },
    ]);
    expect(seen.ok + seen.wrong.length).toBe(0);
  });

  it("runs the good Items of a Gemini batch and fails the one naming a missing File, naming its part", async () => {
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(image)]), config: { mimeType: "image/png" } });
    const part = (fileUri: string) => ({ contents: [{ role: "user", parts: [{ text: "x" }, { fileData: { fileUri } }] }] });
    const job = await geminiJob("vision", [part(file.uri ?? ""), part("files/nosuchfile"), part(file.name ?? "")]);
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    const responses = job.dest?.inlinedResponses ?? [];
    expect(responses.map((each) => each.error === undefined)).toEqual([true, false, true]);
    expect(responses[1]?.error?.message).toMatch(/request\.contents\[0\]\.parts\[1\]\.fileData\.fileUri.*files\/nosuchfile/);
    expect(seen.ok).toBe(2);
  });

  it("fails each Item on a text-only llama.cpp model with an error naming its image part, running the text-only ones", async () => {
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(image)]), config: { mimeType: "image/png" } });
    const withImage = { contents: [{ role: "user", parts: [{ text: "what is this" }, { fileData: { fileUri: file.uri ?? "" } }] }], config: { maxOutputTokens: 4 } };
    const job = await geminiJob("text-only", [withImage, { contents: "just text", config: { maxOutputTokens: 4 } }]);
    const responses = job.dest?.inlinedResponses ?? [];
    expect(responses[0]?.error?.message).toMatch(/content\[1\].*llama-cpp engine takes text only/);
    expect(responses[1]?.error).toBeUndefined();
  });

  it("fails the Items still waiting when their File is deleted while the batch runs, naming the part", async () => {
    const uploaded = await openai.files.create({ file: await toFile(image, "brief.png", { type: "image/png" }), purpose: "vision" });
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    openaiUpstream.setFault(() => (held++ === 0 ? { until: gate } : undefined));
    try {
      const lines = Array.from({ length: 4 }, (_, i) => chatWith(`late-${i}`, { type: "file", file: { file_id: uploaded.id } }, "one-at-a-time"));
      const running = runOpenAIBatch(lines);
      await waitFor(() => (held > 0 ? true : undefined), { timeoutMs: 30_000 });
      await openai.files.delete(uploaded.id);
      release();
      const { batch, errors } = await running;
      expect(batch.request_counts).toEqual({ total: 4, completed: 1, failed: 3 });
      for (const line of errors.trim().split("\n")) {
        const error = (JSON.parse(line) as { response: { status_code: number; body: { error: { param: string; message: string } } } }).response;
        expect(error.status_code).toBe(400);
        expect(error.body.error).toMatchObject({ param: "messages[0].content[1].file.file_id", message: expect.stringContaining(uploaded.id) });
      }
    } finally {
      openaiUpstream.setFault(checkImages);
    }
  });
});
