/**
 * The result cache across Batches (issue 10 part 5) end to end, through the real `openai` SDK against a
 * real spool (SQLite, Workers) and the fake OpenAI upstream: re-submitting a file with three lines changed
 * runs three requests on a Model with `resultCache`, every line still answered under its own custom_id and
 * exactly as the first run answered it; without `resultCache` (the default) everything runs again, and so
 * do requests `reuseResults` would not reuse (temperature 0.7).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { runOpenAIBatch } from "../helpers/openai-batch-run.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-cached", engine: "openai", baseUrl: upstream.url, concurrency: 8, resultCache: true },
        { name: "gpt-uncached", engine: "openai", baseUrl: upstream.url, concurrency: 8 },
      ],
      worker: { leaseMs: 5_000, sweepMs: 50 },
    },
    { label: "result-cache" },
  );
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

beforeEach(() => upstream.resetCounts());

interface OutputLine {
  custom_id: string;
  response: { status_code: number; body: { choices?: { message: { content: string } }[] } };
}

const runBatch = (content: string) => runOpenAIBatch<OutputLine>(spool, content);

const fileOf = (texts: readonly string[], model: string, temperature = 0): string => `${texts.map((text, i) => chatLine(`req-${i}`, text, model, { temperature })).join("\n")}\n`;
const callsTo = (model: string): number => upstream.received.filter((request) => request.body.model === model).length;
const FIRST = Array.from({ length: 50 }, (_, i) => `question ${i}`);
/** The same file with lines 7, 21 and 40 changed. */
const EDITED = FIRST.map((text, i) => ([7, 21, 40].includes(i) ? `${text}, reworded` : text));

describe("result cache across batches", () => {
  it("runs only the three changed lines of a re-submitted file; every line is answered as in the first run", async () => {
    const first = await runBatch(fileOf(FIRST, "gpt-cached"));
    expect(callsTo("gpt-cached")).toBe(50);
    upstream.resetCounts();

    const second = await runBatch(fileOf(EDITED, "gpt-cached"));
    expect(callsTo("gpt-cached")).toBe(3);
    const sent = upstream.received.map((request) => (request.body.messages as { content: string }[]).at(-1)?.content);
    expect(sent.sort()).toEqual(["question 21, reworded", "question 40, reworded", "question 7, reworded"]);
    expect(second.done.request_counts).toEqual({ total: 50, completed: 50, failed: 0 });
    expect(second.progress.request_counts).toMatchObject({ total: 50, succeeded: 50, reused: 47 });
    expect(second.lines.map((line) => line.custom_id)).toEqual(EDITED.map((_, i) => `req-${i}`));
    expect(second.lines.map((line) => line.response.body.choices?.[0]?.message.content)).toEqual(EDITED.map((text) => `echo: ${text}`));
    // An unchanged line's answer is the first run's, as the upstream sent it, with nothing marking it as reused.
    expect(second.lines[0]?.response).toEqual(first.lines[0]?.response);
    expect(Object.keys(second.lines[0] ?? {})).toEqual(Object.keys(second.lines[7] ?? {}));
  });

  it("is off unless configured: a model without resultCache runs a re-submitted file again", async () => {
    await runBatch(fileOf(FIRST, "gpt-uncached"));
    const again = await runBatch(fileOf(FIRST, "gpt-uncached"));
    expect(callsTo("gpt-uncached")).toBe(100);
    expect(again.progress.request_counts).toMatchObject({ reused: 0 });
  });

  it("only reuses what reuseResults would: lines at temperature 0.7 run again", async () => {
    const texts = FIRST.slice(0, 10).map((text) => `${text} (warm)`);
    await runBatch(fileOf(texts, "gpt-cached", 0.7));
    const again = await runBatch(fileOf(texts, "gpt-cached", 0.7));
    expect(callsTo("gpt-cached")).toBe(20);
    expect(again.progress.request_counts).toMatchObject({ reused: 0 });
  });
});
