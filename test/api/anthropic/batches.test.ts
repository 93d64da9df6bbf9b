/**
 * Anthropic Message Batches end to end through the real `@anthropic-ai/sdk`: a real spool (SQLite, Workers)
 * running the requests on an OpenAI-compatible upstream (translated both ways).
 */
import { BadRequestError, NotFoundError } from "@anthropic-ai/sdk";
import type { MessageBatch, MessageBatchIndividualResponse } from "@anthropic-ai/sdk/resources/messages/batches";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { startAnthropicTestApp, type AnthropicTestApp } from "./anthropic-test-app.ts";

let upstream: FakeOpenAIUpstream;
let spool: AnthropicTestApp;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  spool = await startAnthropicTestApp(
    {
      models: [
        { name: "claude-on-openai", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 },
        { name: "claude-one-at-a-time", engine: "openai", baseUrl: upstream.url, concurrency: 1, maxRetries: 0 },
      ],
      worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50 },
    },
    { label: "anthropic-batches" },
  );
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

const request = (customId: string, text: string, params: Record<string, unknown> = {}) => ({
  custom_id: customId,
  params: { model: "claude-on-openai", max_tokens: 16, messages: [{ role: "user" as const, content: text }], ...params },
});

async function ended(id: string): Promise<MessageBatch> {
  return waitFor(async () => {
    const batch = await spool.client.messages.batches.retrieve(id);
    return batch.processing_status === "ended" ? batch : undefined;
  }, { what: `batch ${id} to end` });
}

async function resultsOf(id: string): Promise<Map<string, MessageBatchIndividualResponse["result"]>> {
  const results = new Map<string, MessageBatchIndividualResponse["result"]>();
  for await (const line of await spool.client.messages.batches.results(id)) results.set(line.custom_id, line.result);
  return results;
}

describe("Anthropic Message Batches", () => {
  it("runs valid requests and errors the invalid ones by field, with results keyed by custom_id", async () => {
    const created = await spool.client.messages.batches.create({
      requests: [
        request("plain", "hello there", { system: [{ type: "text", text: "Be terse." }], stop_sequences: ["###"], temperature: 0.5, top_k: 40 }),
        request("second", "second one"),
        // Both reach the SDK's types only by force: clients in other languages send them.
        request("no-max", "x", { max_tokens: undefined }) as never,
        request("bad-model", "x", { model: "claude-unknown" }),
      ],
    });
    expect(created).toMatchObject({ type: "message_batch", processing_status: "in_progress", results_url: null, ended_at: null });
    expect(created.id).toMatch(/^msgbatch_/);
    expect(Object.values(created.request_counts).reduce((sum, count) => sum + count, 0)).toBe(4);
    expect(Date.parse(created.expires_at) - Date.parse(created.created_at)).toBe(24 * 3600 * 1000);

    const done = await ended(created.id);
    expect(done.request_counts).toEqual({ processing: 0, succeeded: 2, errored: 2, canceled: 0, expired: 0 });
    expect(done.results_url).toBe(`${spool.url}/v1/messages/batches/${created.id}/results`);
    expect(done.ended_at).not.toBeNull();

    const results = await resultsOf(created.id);
    expect([...results.keys()].sort()).toEqual(["bad-model", "no-max", "plain", "second"]);
    const plain = results.get("plain");
    if (plain?.type !== "succeeded") throw new Error(`plain: ${JSON.stringify(plain)}`);
    expect(plain.message).toMatchObject({ type: "message", role: "assistant", model: "claude-on-openai", stop_reason: "end_turn", stop_sequence: null });
    expect(plain.message.content).toEqual([{ type: "text", text: "echo: hello there", citations: null }]);
    expect(plain.message.usage.input_tokens).toBeGreaterThan(0);
    expect(plain.message.usage.output_tokens).toBeGreaterThan(0);

    const noMax = results.get("no-max");
    const badModel = results.get("bad-model");
    if (noMax?.type !== "errored" || badModel?.type !== "errored") throw new Error("invalid requests must be errored");
    expect(noMax.error.error).toMatchObject({ type: "invalid_request_error" });
    expect(noMax.error.error.message).toMatch(/^requests\.2\.params\.max_tokens: Field required/);
    expect(badModel.error.error.message).toMatch(/^requests\.3\.params\.model: Model 'claude-unknown' is not configured\. Configured models: claude-on-openai, claude-one-at-a-time\./);

    // What the OpenAI-shaped upstream received for "plain": the system prompt, stop and sampling translated.
    const sent = upstream.received.find((each) => JSON.stringify(each.body).includes("hello there"))?.body;
    expect(sent).toMatchObject({
      messages: [{ role: "system", content: "Be terse." }, { role: "user", content: "hello there" }],
      max_tokens: 16,
      stop: ["###"],
      temperature: 0.5,
      top_k: 40,
    });
  });

  it("refuses a malformed create body with a BadRequestError naming each bad request", async () => {
    const before = (await spool.client.messages.batches.list({ limit: 1000 })).data.length;
    const error = await spool.client.messages.batches
      .create({ requests: [request("a", "x"), request("a", "y"), request("has space", "z"), { custom_id: "no-params" } as never] })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRequestError);
    const bad = error as BadRequestError;
    expect(bad.type).toBe("invalid_request_error");
    expect(bad.apiMessage).toContain("requests.1.custom_id: duplicate value 'a'");
    expect(bad.apiMessage).toContain('requests.2.custom_id: "has space" must match ^[a-zA-Z0-9_-]{1,64}$.');
    expect(bad.apiMessage).toContain("requests.3.params: Field required");
    await expect(spool.client.messages.batches.create({ requests: [] })).rejects.toBeInstanceOf(BadRequestError);
    // Nothing was stored.
    expect((await spool.client.messages.batches.list({ limit: 1000 })).data.length).toBe(before);
  });

  it("cancels a running batch: finished requests keep their results, running and unstarted ones are canceled", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    upstream.setFault(({ key }) => (key.startsWith("held-") && key !== "held-0" ? { until: gate } : undefined));
    try {
      const texts = Array.from({ length: 5 }, (_, i) => `held-${i}`);
      const created = await spool.client.messages.batches.create({ requests: texts.map((text, i) => request(`c${i}`, text, { model: "claude-one-at-a-time" })) });
      // One request done and the next one held upstream: the rest wait their turn.
      await waitFor(async () => (await spool.client.messages.batches.retrieve(created.id)).request_counts.succeeded === 1 && upstream.inFlight === 1, { what: "first result, second held" });

      // Results finished so far can be read before the batch ends (spool extension; results_url is still null).
      const partial = await fetch(`${spool.url}/v1/messages/batches/${created.id}/results`, { headers: { "x-api-key": "k" } });
      const partialLines = (await partial.text()).trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string });
      expect(partialLines.map((line) => line.custom_id)).toEqual(["c0"]);

      const canceling = await spool.client.messages.batches.cancel(created.id);
      expect(canceling.processing_status).toBe("canceling");
      expect(canceling.cancel_initiated_at).not.toBeNull();
      expect(canceling.results_url).toBeNull();
      open();
      const done = await ended(created.id);
      // c0 had finished. The cancel stopped c1 running upstream (spool stops paid work): errored. The rest
      // never ran, c2 claimed beside c1 and waiting for the Model's one slot included: "unrun requests of a
      // cancelled batch end as canceled".
      const results = await resultsOf(created.id);
      const types = Object.fromEntries([...results].map(([id, result]) => [id, result.type]));
      expect(types).toEqual({ c0: "succeeded", c1: "errored", c2: "canceled", c3: "canceled", c4: "canceled" });
      expect(results.get("c1")).toMatchObject({ error: { error: { type: "api_error", message: expect.stringMatching(/cancel/i) } } });
      expect(done.request_counts).toEqual({ processing: 0, succeeded: 1, errored: 1, canceled: 3, expired: 0 });
      expect(results.size).toBe(5);
      await expect(spool.client.messages.batches.cancel(created.id)).rejects.toBeInstanceOf(BadRequestError);
    } finally {
      open();
      upstream.setFault(null);
    }
  });

  it("reads a create body larger than the 32 MiB JSON limit request by request", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    upstream.setFault(({ key }) => (key.startsWith("big ") ? { until: gate } : undefined));
    try {
      const filler = "z".repeat(50_000);
      const requests = Array.from({ length: 700 }, (_, i) => request(`big-${i}`, `big ${i} ${filler}`, { model: "claude-one-at-a-time" }));
      const created = await spool.client.messages.batches.create({ requests });
      expect(Object.values(created.request_counts).reduce((sum, count) => sum + count, 0)).toBe(700);
      await spool.client.messages.batches.cancel(created.id);
      open();
      const done = await ended(created.id);
      expect(done.request_counts.succeeded + done.request_counts.canceled).toBe(700);
      expect(done.request_counts.canceled).toBeGreaterThan(690);
    } finally {
      open();
      upstream.setFault(null);
    }
  });

  it("lists batches newest first and pages forwards with after_id and backwards with before_id", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await spool.client.messages.batches.create({ requests: [request(`l${i}`, `list ${i}`)] })).id);
    const newestFirst = [...ids].reverse();

    const forwards: string[] = [];
    for await (const batch of spool.client.messages.batches.list({ limit: 2 })) forwards.push(batch.id);
    expect(forwards.slice(0, 5)).toEqual(newestFirst);
    expect(forwards.length).toBeGreaterThan(5);

    const firstPage = await spool.client.messages.batches.list({ limit: 2 });
    expect(firstPage).toMatchObject({ has_more: true, first_id: newestFirst[0], last_id: newestFirst[1] });

    const backwards = await spool.client.messages.batches.list({ before_id: ids[0], limit: 2 });
    expect(backwards.data.map((batch) => batch.id)).toEqual([ids[2], ids[1]]);
    expect(backwards.has_more).toBe(true);
    const walked: string[] = [];
    for await (const batch of spool.client.messages.batches.list({ before_id: ids[0], limit: 2 })) walked.push(batch.id);
    expect(walked).toEqual([ids[2], ids[1], ids[4], ids[3]]);

    await expect(spool.client.messages.batches.list({ after_id: "msgbatch_unknown" })).rejects.toBeInstanceOf(BadRequestError);
    await expect(spool.client.messages.batches.list({ limit: 0 })).rejects.toBeInstanceOf(BadRequestError);
  });

  it("deletes only ended batches; a deleted or unknown batch is a NotFoundError in Anthropic's envelope", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    upstream.setFault(({ key }) => (key === "delete-me" ? { until: gate } : undefined));
    try {
      const created = await spool.client.messages.batches.create({ requests: [request("d", "delete-me")] });
      const refused = await spool.client.messages.batches.delete(created.id).catch((caught: unknown) => caught);
      expect(refused).toBeInstanceOf(BadRequestError);
      expect((refused as BadRequestError).apiMessage).toMatch(/still processing; cancel it/);
      open();
      await ended(created.id);
      expect(await spool.client.messages.batches.delete(created.id)).toEqual({ id: created.id, type: "message_batch_deleted" });
      const gone = await spool.client.messages.batches.retrieve(created.id).catch((caught: unknown) => caught);
      expect(gone).toBeInstanceOf(NotFoundError);
      expect((gone as NotFoundError).type).toBe("not_found_error");
      expect((gone as NotFoundError).requestID).toMatch(/^req_/);
      expect((gone as NotFoundError).error).toMatchObject({ type: "error", error: { type: "not_found_error" }, request_id: (gone as NotFoundError).requestID });
      await expect(spool.client.messages.batches.results("msgbatch_nope")).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      open();
      upstream.setFault(null);
    }
  });

  it("reports live progress and retries the errored requests of an ended batch into the same results", async () => {
    upstream.setFault(({ key, attemptForKey }) => (key === "flaky" && attemptForKey === 1 ? { status: 500 } : undefined));
    try {
      const created = await spool.client.messages.batches.create({ requests: [request("ok", "fine"), request("flaky", "flaky")] });
      const first = await ended(created.id);
      expect(first.request_counts).toMatchObject({ succeeded: 1, errored: 1 });
      const errored = (await resultsOf(created.id)).get("flaky");
      expect(errored).toMatchObject({ type: "errored", error: { type: "error", error: { type: "api_error" } } });

      const progress = await fetch(`${spool.url}/v1/messages/batches/${created.id}/progress`).then((response) => response.json() as Promise<Record<string, unknown>>);
      expect(progress).toMatchObject({ id: created.id, type: "message_batch_progress", processing_status: "ended", request_counts: { succeeded: 1, errored: 1, processing: 0 } });
      // The scheduler's view (issue 12): an ended batch has no forecast, only its priority and deadline.
      expect(progress.schedule).toEqual({ priority: 0, deadline_at: Math.floor(Date.parse(first.expires_at) / 1000), estimated_completion_at: null, meets_deadline: null, share: null, waiting_until: null });

      const retried = await fetch(`${spool.url}/v1/messages/batches/${created.id}/retry_failed`, { method: "POST" }).then((response) => response.json() as Promise<MessageBatch>);
      expect(retried.processing_status).toBe("in_progress");
      const second = await ended(created.id);
      expect(second.request_counts).toEqual({ processing: 0, succeeded: 2, errored: 0, canceled: 0, expired: 0 });
      expect((await resultsOf(created.id)).get("flaky")?.type).toBe("succeeded");
    } finally {
      upstream.setFault(null);
    }
  });
});
