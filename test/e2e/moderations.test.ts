/**
 * `/v1/moderations` (issue 15), with the real `openai` SDK against a running spool: sync `POST
 * /v1/moderations` and moderation batches run on an `openai` engine (passed through to the upstream's
 * `/v1/moderations`, a loopback stand-in here); on engines that cannot serve them (llama-cpp, gemini) each
 * request fails on its own with a 400 naming the endpoint, and a batch still completes.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  spool = await startTestApp(
    {
      models: [
        { name: "omni-moderation-latest", engine: "openai", baseUrl: upstream.url, upstreamModel: "omni-moderation-2024-09-26", maxRetries: 0 },
        { name: "tiny", engine: "llama-cpp", path: await ensureTinyModel(), threads: 1, sequences: 1 },
        { name: "gem", engine: "gemini", baseUrl: "http://127.0.0.1:9", apiKey: "g", maxRetries: 0 },
      ],
      worker: { sweepMs: 50 },
    },
    { label: "moderations" },
  );
  client = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

type ResultLine = { custom_id: string; response: { status_code: number; body: Record<string, unknown> } | null; error: unknown };

function moderationLine(id: string, input: unknown, model?: string): string {
  return JSON.stringify({ custom_id: id, method: "POST", url: "/v1/moderations", body: { ...(model === undefined ? {} : { model }), input } });
}

async function runBatch(lines: string[]): Promise<{ batch: OpenAI.Batches.Batch; output: ResultLine[]; errors: ResultLine[] }> {
  const file = await client.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "moderations.jsonl"), purpose: "batch" });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/moderations", completion_window: "24h" });
  const batch = await waitFor(async () => {
    const current = await client.batches.retrieve(created.id);
    return ["completed", "failed"].includes(current.status) ? current : undefined;
  }, { what: "the moderation batch to end" });
  const read = async (id: string | null | undefined): Promise<ResultLine[]> =>
    id ? (await (await client.files.content(id)).text()).trim().split("\n").map((line) => JSON.parse(line) as ResultLine) : [];
  return { batch, output: await read(batch.output_file_id), errors: await read(batch.error_file_id) };
}

describe("/v1/moderations", () => {
  it("passes a sync moderation through to an openai engine's upstream, with the model the client named", async () => {
    const result = await client.moderations.create({ model: "omni-moderation-latest", input: ["we attack at dawn", "a quiet walk"] });
    expect(result.model).toBe("omni-moderation-latest");
    expect(result.results.map((each) => [each.flagged, each.categories.violence])).toEqual([
      [true, true],
      [false, false],
    ]);
    expect(upstream.received.at(-1)).toMatchObject({ path: "/v1/moderations", body: { model: "omni-moderation-2024-09-26", input: ["we attack at dawn", "a quiet walk"] } });
    // No model named: OpenAI's default, omni-moderation-latest, which is configured here.
    const defaulted = await client.moderations.create({ input: "attack" });
    expect(defaulted.results[0]?.flagged).toBe(true);
  });

  it("answers a sync moderation on an engine that cannot serve it with a 400 naming the endpoint", async () => {
    for (const model of ["tiny", "gem"]) {
      const error = await client.moderations.create({ model, input: "hi" }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(new RegExp(`^400 Model '${model}' \\(engine (llama-cpp|gemini)\\) cannot serve /v1/moderations: `));
    }
    const streamed = await client.moderations.create({ model: "omni-moderation-latest", input: "hi", stream: true } as OpenAI.ModerationCreateParams).catch((caught: unknown) => caught);
    expect(streamed).toMatchObject({ status: 400, param: "stream" });
  });

  it("runs a /v1/moderations batch on an openai engine: one result per line, a line without a model on the default", async () => {
    upstream.resetCounts();
    const { batch, output, errors } = await runBatch([
      moderationLine("m-1", "they attack the castle", "omni-moderation-latest"),
      moderationLine("m-2", ["tea", "attack"], "omni-moderation-latest"),
      moderationLine("m-3", "a calm sea"),
    ]);
    expect(batch.status).toBe("completed");
    expect(batch.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    expect(errors).toEqual([]);
    expect(output.map((line) => [line.custom_id, line.response?.status_code, (line.response?.body.results as { flagged: boolean }[]).map((each) => each.flagged)])).toEqual([
      ["m-1", 200, [true]],
      ["m-2", 200, [false, true]],
      ["m-3", 200, [false]],
    ]);
    expect(upstream.requests).toBe(3);
    expect(upstream.received.slice(-3).every((request) => request.path === "/v1/moderations")).toBe(true);
  });

  it("fails each line of a moderation batch on a llama-cpp or gemini model alone, naming the endpoint, and completes the batch", async () => {
    for (const model of ["tiny", "gem"]) {
      const { batch, output, errors } = await runBatch([moderationLine("a", "hello", model), moderationLine("b", "world", model)]);
      expect(batch.status).toBe("completed");
      expect(batch.request_counts).toEqual({ total: 2, completed: 0, failed: 2 });
      expect(output).toEqual([]);
      expect(errors.map((line) => [line.custom_id, line.response?.status_code])).toEqual([
        ["a", 400],
        ["b", 400],
      ]);
      expect(errors[0]?.response?.body).toMatchObject({ error: { message: expect.stringMatching(new RegExp(`^Model '${model}' \\(engine (llama-cpp|gemini)\\) cannot serve /v1/moderations: `)), type: "invalid_request_error" } });
    }
  });

  it("checks moderation lines at create like any other: a line without input fails the batch naming line and field", async () => {
    const { batch } = await runBatch([moderationLine("ok", "fine", "omni-moderation-latest"), JSON.stringify({ custom_id: "bad", method: "POST", url: "/v1/moderations", body: { model: "omni-moderation-latest" } })]);
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data).toEqual([
      expect.objectContaining({ line: 2, code: "invalid_request", param: "body.input", message: expect.stringContaining("'body.input' is required for /v1/moderations") }),
    ]);
  });
});
