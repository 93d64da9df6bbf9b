/**
 * Webhooks end to end: real spool processes (in this process, SQLite) call an in-process receiver when
 * batches end; every delivery is checked with the official SDK's `openai.webhooks.unwrap()` (Standard
 * Webhooks signatures). A receiver that fails gets the event once it recovers, and a spool restart
 * between a failed attempt and its retry still delivers it (the outbox is in the Store).
 */
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { makeDataDir, startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../helpers/webhook-receiver.ts";
import type { ConfigFile } from "../../src/config/config.ts";

const SECRET = `whsec_${Buffer.from("spool webhook test secret: 32 b!").toString("base64")}`;

let upstream: FakeOpenAIUpstream;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  cleanups.push(() => upstream.close());
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  upstream = await startFakeOpenAIUpstream();
  cleanups.push(() => upstream.close());
});

function config(receiver: WebhookReceiver, retryDelaysMs: number[]): ConfigFile {
  return {
    models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 }],
    worker: { sweepMs: 100 },
    webhooks: [{ url: receiver.url, secret: SECRET }],
    webhookDelivery: { retryDelaysMs, timeoutMs: 5_000 },
  };
}

async function started(receiver: WebhookReceiver, retryDelaysMs: number[], dataDir?: string): Promise<{ spool: TestApp; client: OpenAI }> {
  const spool = await startTestApp(config(receiver, retryDelaysMs), { label: "webhooks", dataDir });
  let stopped: Promise<void> | null = null;
  spool.stop = () => (stopped ??= spool.app.stop());
  cleanups.push(() => spool.stop());
  return { spool, client: new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0, webhookSecret: SECRET }) };
}

async function receiverWith(answer?: WebhookReceiver["answer"]): Promise<WebhookReceiver> {
  const receiver = await startWebhookReceiver();
  if (answer) receiver.answer = answer;
  cleanups.push(() => receiver.close());
  return receiver;
}

async function createBatch(client: OpenAI, content: string) {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
  return client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
}

/** The events received and accepted by the SDK's verification, in arrival order (data.id is the batch's id). */
async function verified(client: OpenAI, receiver: WebhookReceiver) {
  const events = await Promise.all(receiver.received.map((delivery) => client.webhooks.unwrap(delivery.body, delivery.headers)));
  return events.map((event) => ({ ...event, data: event.data as { id: string } }));
}

describe("webhooks", () => {
  it("sends batch.completed, batch.cancelled and batch.failed, each verified by openai.webhooks.unwrap()", async () => {
    const receiver = await receiverWith();
    const { client } = await started(receiver, [100]);

    const completed = await createBatch(client, chatFile(3));
    await waitFor(() => receiver.received.length >= 1, { what: "the completed event" });
    upstream.setFault(() => ({ delayMs: 2_000 }));
    const cancelled = await createBatch(client, chatFile(20));
    await waitFor(async () => (await client.batches.retrieve(cancelled.id)).status === "in_progress", { what: "the batch to start" });
    await client.batches.cancel(cancelled.id);
    await waitFor(() => receiver.received.length >= 2, { what: "the cancelled event" });
    upstream.setFault(null);
    const failed = await createBatch(client, `${chatLine("a", "x")}\n{"custom_id": 5}\n`);
    await waitFor(() => receiver.received.length >= 3, { what: "the failed event" });

    const events = await verified(client, receiver);
    expect(events.map((event) => [event.type, event.data.id])).toEqual([
      ["batch.completed", completed.id],
      ["batch.cancelled", cancelled.id],
      ["batch.failed", failed.id],
    ]);
    for (const [index, event] of events.entries()) {
      expect(event.object).toBe("event");
      expect(event.id).toMatch(/^evt_/);
      expect(receiver.received[index]?.headers["webhook-id"]).toBe(event.id);
      expect(Math.abs(event.created_at - Date.now() / 1000)).toBeLessThan(60);
    }
    // A tampered body or another secret fails verification: the signature covers both.
    const first = receiver.received[0]!;
    await expect(client.webhooks.unwrap(first.body.replace("batch.completed", "batch.failed"), first.headers)).rejects.toThrow(/signature/);
    await expect(client.webhooks.unwrap(first.body, first.headers, `whsec_${Buffer.from("another secret, 32 bytes long!!!").toString("base64")}`)).rejects.toThrow(/signature/);
  });

  it("retries a receiver that fails twice and delivers the same event once it recovers; the delivery log shows it", async () => {
    const receiver = await receiverWith((n) => (n <= 2 ? 503 : 204));
    const { spool, client } = await started(receiver, [50, 100, 200]);
    const batch = await createBatch(client, chatFile(2));
    await waitFor(() => receiver.received.some((delivery) => delivery.status === 204), { what: "the third attempt to succeed" });
    // The retries follow the configured schedule (50 ms, then 100 ms), not the outbox's 1 s poll.
    const [one, two, three] = receiver.received.map((delivery) => delivery.atMs);
    const gapsMs = [two! - one!, three! - two!];
    expect(gapsMs.every((gapMs) => gapMs < 950), `gaps between attempts: ${gapsMs.join(", ")} ms`).toBe(true);

    expect(receiver.received.map((delivery) => delivery.status)).toEqual([503, 503, 204]);
    expect(new Set(receiver.received.map((delivery) => delivery.headers["webhook-id"])).size).toBe(1);
    const events = await verified(client, receiver);
    expect(events.every((event) => event.type === "batch.completed" && event.data.id === batch.id)).toBe(true);

    const log = (await (await fetch(`${spool.url}/dashboard/api/batches/${batch.id}/webhooks`)).json()) as { deliveries: { status: string; attempts: number; lastStatusCode: number; endpointUrl: string }[] };
    expect(log.deliveries).toEqual([expect.objectContaining({ status: "delivered", attempts: 3, lastStatusCode: 204, endpointUrl: receiver.url })]);
  });

  it("delivers an event whose first attempt failed after spool restarts before the retry", async () => {
    let healthy = false;
    const receiver = await receiverWith(() => (healthy ? 200 : 500));
    const dataDir = makeDataDir("webhooks-restart");
    const first = await started(receiver, [1_500], dataDir);
    const batch = await createBatch(first.client, chatFile(2));
    await waitFor(() => receiver.received.length === 1, { what: "the first, failing attempt" });
    await first.spool.stop();

    healthy = true;
    const second = await started(receiver, [1_500], dataDir);
    await waitFor(() => receiver.received.length === 2, { what: "the retry after the restart", timeoutMs: 15_000 });
    const events = await verified(second.client, receiver);
    expect(events.map((event) => [event.type, event.data.id, event.id])).toEqual([
      ["batch.completed", batch.id, events[0]!.id],
      ["batch.completed", batch.id, events[0]!.id],
    ]);
    expect(receiver.received.map((delivery) => delivery.status)).toEqual([500, 200]);
  });

  it("fires the same events for Gemini batches, naming the batch as Gemini clients know it", async () => {
    const receiver = await receiverWith();
    const { spool, client } = await started(receiver, [100]);
    const ai = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: spool.url } });
    const job = await ai.batches.create({ model: "gpt-test", src: [{ contents: "first question" }, { contents: "second question" }] });
    await waitFor(() => receiver.received.length >= 1, { what: "the Gemini batch's event" });
    const [event] = await verified(client, receiver);
    expect(event?.type).toBe("batch.completed");
    expect(event?.data.id).toBe(job.name);
    expect(job.name).toMatch(/^batches\//);
  });
});
