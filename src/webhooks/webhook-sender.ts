/**
 * The WebhookSender: takes due deliveries from the Store's outbox (src/store/webhook-outbox.ts), POSTs each
 * event to its endpoint signed per Standard Webhooks, and records the outcome: delivered on a 2xx answer;
 * otherwise retried after the configured schedule's next wait (`webhookDelivery.retryDelaysMs`), or failed
 * once the schedule is spent. Every process with Workers runs one; the outbox's Leases make sure each
 * attempt is made by one of them, and a process that dies mid-send leaves the delivery to another.
 *
 * At least once: a receiver that answered 2xx after the Lease ran out (a very slow receiver) may get the
 * event again; the `webhook-id` header (the event id) is the same on every attempt so it can deduplicate.
 * Redirects are not followed (a 3xx is a failed attempt): an endpoint is configured with its final URL.
 */
import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import { isStorageFailure } from "../core/errors.ts";
import type { Batch } from "../core/types.ts";
import type { Store } from "../store/store.ts";
import type { WebhookAttemptOutcome, WebhookDelivery } from "../store/webhook-outbox.ts";
import { signWebhook } from "./standard-webhooks.ts";

/** The event's JSON body, in the Batch's dialect's event shape (OpenAI's `batch.<status>` events). */
export type RenderWebhookEvent = (delivery: WebhookDelivery, batch: Batch | null) => string;

export interface WebhookSenderDeps {
  store: Pick<Store, "claimWebhookDeliveries" | "recordWebhookAttempt" | "getBatch">;
  clock: Clock;
  logger: Logger;
  webhooks: Config["webhooks"];
  settings: Config["webhookDelivery"];
  render: RenderWebhookEvent;
  /** Lease owner: unique per process. */
  owner: string;
  /** Longest sleep between looks at the outbox when nothing woke the sender. */
  pollMs?: number;
  /** Told of each attempt's outcome (metrics). */
  onAttempt?: (result: "delivered" | "retry" | "failed") => void;
}

const CLAIM_LIMIT = 16;
const MAX_ERROR_CHARS = 300;

export class WebhookSender {
  private running = false;
  /**
   * The retries this process scheduled and has not made yet, by delivery id: the loop wakes for the earliest.
   * Per delivery, not one earliest time: a retry that came due during a pass is made in that pass, and its
   * next retry must replace it, not hide behind its spent time (which the next pass forgets, leaving the new
   * retry to the poll).
   */
  private readonly retries = new Map<string, number>();
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  /** notify() came while a pass ran (no sleep to end): the next sleep is skipped. */
  private notifiedDuringPass = false;
  private readonly logger: Logger;

  constructor(private readonly deps: WebhookSenderDeps) {
    this.logger = deps.logger.child({ component: "webhooks" });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Look at the outbox now rather than at the next poll; during a pass, once more right after it. */
  notify(): void {
    if (this.wakeUp !== null) this.wakeUp();
    else this.notifiedDuringPass = true;
  }

  /**
   * A Batch ended: its events are in the outbox if any endpoint is configured. With none, the end queued
   * nothing (syncWebhookEndpoints keeps the Store's endpoints to the configuration), so there is nothing
   * to look for: a Store pass per Batch end was ~0.4 Store calls per Batch for nothing with many small
   * Batches. The poll still runs and fails what endpoints since removed left behind.
   */
  batchEnded(): void {
    if (this.deps.webhooks.length > 0) this.notify();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
  }

  /** One pass: sends every delivery due now (exported for tests). Returns how many were attempted. */
  async sendDue(): Promise<number> {
    const { store, clock, owner, settings } = this.deps;
    const leaseMs = settings.timeoutMs + 10_000;
    let attempted = 0;
    for (;;) {
      const due = await store.claimWebhookDeliveries({ owner, nowMs: clock.now(), leaseMs, limit: CLAIM_LIMIT });
      if (due.length === 0) return attempted;
      attempted += due.length;
      await Promise.all(due.map((delivery) => this.attempt(delivery)));
      if (!this.running) return attempted;
    }
  }

  private async run(): Promise<void> {
    const pollMs = this.deps.pollMs ?? 1_000;
    let failures = 0;
    while (this.running) {
      // This pass makes (or finds taken by another process) every retry due now; retries it records replace
      // them. One not yet due is kept: a timer can fire a millisecond before the clock reaches the retry's
      // time, and forgetting the retry then would leave it to the next poll.
      const nowMs = this.deps.clock.now();
      for (const [id, retryAtMs] of this.retries) if (retryAtMs <= nowMs) this.retries.delete(id);
      this.notifiedDuringPass = false;
      try {
        await this.sendDue();
        failures = 0;
      } catch (error) {
        failures += 1;
        if (!isStorageFailure(error)) this.logger.error({ err: error }, "sending webhooks failed");
      }
      // stop() during the pass found no sleep to end: do not start one.
      if (!this.running) break;
      // A Batch that ended during the pass may have queued its events after the pass's last look.
      if (this.notifiedDuringPass && failures === 0) continue;
      let earliestMs = Number.POSITIVE_INFINITY;
      for (const retryAtMs of this.retries.values()) earliestMs = Math.min(earliestMs, retryAtMs);
      const untilRetryMs = Math.max(0, earliestMs - this.deps.clock.now());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, failures > 0 ? pollMs * Math.min(10, 2 ** failures) : Math.min(pollMs, untilRetryMs));
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  private async attempt(delivery: WebhookDelivery): Promise<void> {
    const { store, clock, owner } = this.deps;
    this.retries.delete(delivery.id);
    const secret = this.deps.webhooks.find((webhook) => webhook.url === delivery.endpointUrl)?.secret;
    let outcome: WebhookAttemptOutcome;
    if (secret === undefined) {
      outcome = { delivered: false, statusCode: null, error: "The endpoint is no longer in the webhooks configuration.", retryAtMs: null, nowMs: clock.now() };
    } else {
      const batch = await store.getBatch(delivery.batchId);
      const body = this.deps.render(delivery, batch);
      const answer = await this.post(delivery, body, secret);
      const nowMs = clock.now();
      if (answer.ok) {
        outcome = { delivered: true, statusCode: answer.statusCode ?? 200, nowMs };
      } else {
        const delayMs = this.deps.settings.retryDelaysMs[delivery.attempts - 1];
        outcome = { delivered: false, statusCode: answer.statusCode, error: answer.error, retryAtMs: delayMs === undefined ? null : nowMs + delayMs, nowMs };
      }
    }
    const recorded = await store.recordWebhookAttempt(delivery.id, owner, outcome);
    if (!outcome.delivered && outcome.retryAtMs !== null) this.retries.set(delivery.id, outcome.retryAtMs);
    const result = outcome.delivered ? "delivered" : outcome.retryAtMs === null ? "failed" : "retry";
    this.deps.onAttempt?.(result);
    const fields = { eventId: delivery.id, batchId: delivery.batchId, event: delivery.event, url: delivery.endpointUrl, attempt: delivery.attempts, statusCode: outcome.statusCode, recorded };
    if (outcome.delivered) this.logger.info(fields, "webhook delivered");
    else if (result === "failed") this.logger.warn({ ...fields, err: outcome.error }, "webhook delivery failed; giving up");
    else this.logger.info({ ...fields, err: outcome.error, retryAtMs: outcome.retryAtMs }, "webhook delivery failed; will retry");
  }

  private async post(delivery: WebhookDelivery, body: string, secret: string): Promise<{ ok: boolean; statusCode: number | null; error: string }> {
    const headers = signWebhook({ id: delivery.id, timestampSeconds: this.deps.clock.now() / 1000, body, secret });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.deps.settings.timeoutMs);
    try {
      const response = await fetch(delivery.endpointUrl, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "user-agent": "spool-webhooks/1" },
        body,
        redirect: "manual",
        signal: controller.signal,
      });
      await response.body?.cancel();
      const ok = response.status >= 200 && response.status < 300;
      return { ok, statusCode: response.status, error: ok ? "" : `The endpoint answered HTTP ${response.status}.` };
    } catch (error) {
      const reason = controller.signal.aborted ? `no answer within ${this.deps.settings.timeoutMs} ms` : describeFetchError(error);
      return { ok: false, statusCode: null, error: `The request failed: ${reason}.`.slice(0, MAX_ERROR_CHARS) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** fetch wraps the socket error in `cause`; its code (ECONNREFUSED, ENOTFOUND) is what an operator needs. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === "string") return cause.code;
  if (typeof cause?.message === "string") return cause.message;
  return error instanceof Error ? error.message : String(error);
}
