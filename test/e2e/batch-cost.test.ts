/**
 * Cost accounting in the progress extension: a Model with a price reports what its Batch spent (usage at the
 * batch price), projects the total from the Items that ran, and what the same work costs at sync price.
 * Half the Batch is held at the upstream, so the projection is made at 50% and checked against the final bill.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatFile } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

interface Progress {
  request_counts: { succeeded: number; pending: number };
  usage: { input_tokens: number; output_tokens: number };
  cost: { spent: number; projected: number; sync_equivalent: number; currency: string } | null;
}

const PRICE = { input: 2, output: 8, batchDiscount: 0.5 };
let upstream: FakeOpenAIUpstream;
let spool: TestApp;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-priced", engine: "openai", baseUrl: upstream.url, concurrency: 4, price: PRICE },
        { name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4 },
      ],
      worker: { sweepMs: 50 },
    },
    { label: "batch-cost" },
  );
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

describe("batch cost in the progress extension", () => {
  it("reports spent, a projection made at half-way that matches the final bill, and the sync equivalent", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // Items 10..19 wait at the upstream until the projection has been read.
    upstream.setFault(({ key }) => (Number(key.split(" ")[1]) >= 10 ? { until: gate } : undefined));
    const sdk = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const file = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(20, { model: "gpt-priced" })), "cost.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const progress = async (): Promise<Progress> => (await (await fetch(`${spool.url}/v1/batches/${batch.id}/progress`)).json()) as Progress;

    const half = await waitFor(async () => {
      const current = await progress();
      return current.request_counts.succeeded === 10 ? current : undefined;
    }, { what: "half the batch done" });
    open();
    upstream.setFault(null);
    const billAt = (usage: Progress["usage"], share: number) => ((usage.input_tokens * PRICE.input + usage.output_tokens * PRICE.output) / 1e6) * share;
    expect(half.cost).toMatchObject({ currency: "USD" });
    expect(half.cost!.spent).toBeCloseTo(billAt(half.usage, 0.5), 6);

    await waitFor(async () => (await sdk.batches.retrieve(batch.id)).status === "completed", { what: "completion" });
    const final = await progress();
    expect(final.cost!.spent).toBeCloseTo(billAt(final.usage, 0.5), 6);
    expect(final.cost!.projected).toBe(final.cost!.spent);
    expect(final.cost!.sync_equivalent).toBeCloseTo(billAt(final.usage, 1), 6);
    // Every prompt is about as long, so the half-way projection is within 10% of the final bill.
    expect(Math.abs(half.cost!.projected - final.cost!.spent) / final.cost!.spent).toBeLessThan(0.1);
    expect(half.cost!.projected).toBeGreaterThan(half.cost!.spent * 1.5);
  });

  it("reports no cost for a Model without a price", async () => {
    const sdk = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const file = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(2)), "free.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await waitFor(async () => (await sdk.batches.retrieve(batch.id)).status === "completed", { what: "completion" });
    const progress = (await (await fetch(`${spool.url}/v1/batches/${batch.id}/progress`)).json()) as Progress;
    expect(progress.cost).toBeNull();
  });
});
