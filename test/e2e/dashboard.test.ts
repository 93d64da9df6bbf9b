/**
 * The web dashboard in a real browser (Debian's Chromium through playwright-core) against a real spool:
 * the API key is asked for once; a batch created through the openai SDK appears in the list and its
 * progress bar advances while it runs; cancel and retry-failed work from the page; a result file
 * downloads. Screenshots of the list and batch pages are kept in test/.work/screenshots/.
 */
import { readFileSync } from "node:fs";
import OpenAI, { toFile } from "openai";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasChromium, launchBrowser, NO_CHROMIUM_REASON, screenshotPath } from "../helpers/browser.ts";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../helpers/webhook-receiver.ts";

const API_KEY = "sk-dashboard-test";

if (!hasChromium) console.warn(`dashboard browser tests skipped: ${NO_CHROMIUM_REASON}`);

describe.skipIf(!hasChromium)("web dashboard in Chromium", () => {
  let upstream: FakeOpenAIUpstream;
  let spool: TestApp;
  let client: OpenAI;
  let browser: Browser;
  let receiver: WebhookReceiver;
  let page: Page;
  /** Requests whose text starts with "slow" wait for this long; those saying "reject" fail until `healed`. */
  let slowMs = 150;
  let healed = false;
  const pageProblems: string[] = [];

  beforeAll(async () => {
    upstream = await startFakeOpenAIUpstream();
    upstream.setFault(({ key }) => {
      if (key.startsWith("reject") && !healed) return { status: 400, body: { error: { message: `Rejected on purpose: ${key}`, type: "invalid_request_error", param: null, code: "bad_prompt" } } };
      if (key.startsWith("slow")) return { delayMs: slowMs };
      return undefined;
    });
    // The receiver refuses each event's first delivery: the log shows the retry.
    receiver = await startWebhookReceiver();
    receiver.answer = (_n, body) => (receiver.received.some((earlier) => earlier.body === body) ? 200 : 503);
    const webhooks = [{ url: receiver.url, secret: `whsec_${Buffer.from("dashboard test webhook secret 32").toString("base64")}` }];
    spool = await startTestApp(
      { apiKeys: [API_KEY], models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 2, maxRetries: 0 }], worker: { sweepMs: 100 }, webhooks, webhookDelivery: { retryDelaysMs: [200] } },
      { label: "dashboard" },
    );
    client = new OpenAI({ apiKey: API_KEY, baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
    // Script errors and blocked loads (the page's content security policy) would show up here.
    page.on("pageerror", (error) => pageProblems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error" && !/status of 401/.test(message.text())) pageProblems.push(`console: ${message.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await spool?.stop();
    await upstream?.close();
    await receiver?.close();
  });

  async function createBatch(content: string) {
    const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
    return client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  }

  const progressNow = async (): Promise<number> => Number(await page.locator("[data-testid=progress]").first().getAttribute("aria-valuenow"));

  it("asks for the API key once, lists a batch created through the SDK, and its progress bar advances live", async () => {
    const batch = await createBatch(chatFile(30, { prefix: "slow" }));
    await page.goto(`${spool.url}/`);
    expect(new URL(page.url()).pathname).toBe("/dashboard/");
    await page.locator("#key-dialog[open]").waitFor();
    await page.fill("#key-input", API_KEY);
    await page.click("#key-form button[type=submit]");

    const row = page.locator(`tr[data-batch="${batch.id}"]`);
    await row.waitFor();
    await expect(row.locator("a").textContent()).resolves.toBe(batch.id);
    await page.screenshot({ path: screenshotPath("dashboard-batches"), fullPage: true });

    await row.locator("a").click();
    await page.locator("[data-testid=batch-id]").waitFor();
    expect(await page.locator("[data-testid=batch-id]").textContent()).toBe(batch.id);
    const first = await waitFor(async () => {
      const done = await progressNow();
      return done > 0 && done < 30 ? done : undefined;
    }, { what: "the progress bar to show some finished items" });
    const later = await waitFor(async () => {
      const done = await progressNow();
      return done > first ? done : undefined;
    }, { what: "the progress bar to advance without a reload" });
    expect(later).toBeGreaterThan(first);
    await page.screenshot({ path: screenshotPath("dashboard-batch-running"), fullPage: true });
    await waitFor(async () => (await page.locator(".badge.completed").count()) > 0, { what: "the page to show the batch completed" });
    expect(await progressNow()).toBe(30);
  });

  it("cancels a running batch from its page", async () => {
    slowMs = 400;
    const batch = await createBatch(chatFile(40, { prefix: "slow" }));
    await page.goto(`${spool.url}/dashboard/#/batches/${batch.id}`);
    const cancel = page.locator("[data-action=cancel]");
    await cancel.waitFor();
    await cancel.click();
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return current.status === "cancelled" ? current : undefined;
    }, { what: "the batch to be cancelled" });
    expect(done.request_counts?.completed ?? 0).toBeLessThan(40);
    await page.locator(".badge.cancelled").first().waitFor();
    slowMs = 150;
  });

  it("shows failures grouped by code, retries the failed requests from the page, and downloads the output file", async () => {
    healed = false;
    const lines = [chatLine("good-1", "fine 1"), chatLine("bad-1", "reject one"), chatLine("good-2", "fine 2"), chatLine("bad-2", "reject two")];
    const batch = await createBatch(`${lines.join("\n")}\n`);
    await page.goto(`${spool.url}/dashboard/#/batches/${batch.id}`);
    const group = page.locator('[data-code="http_400"]');
    await group.waitFor({ timeout: 30_000 });
    // The page may open while the second failure is still on its way: wait for the group to count both.
    await waitFor(async () => (await group.textContent())?.includes("× 2"), { what: "both failures in the group" });
    expect(await group.textContent()).toContain("line 2 (bad-1): Rejected on purpose: reject one");
    await page.screenshot({ path: screenshotPath("dashboard-batch-failures"), fullPage: true });

    healed = true;
    await page.locator("[data-action=retry-failed]").click();
    await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return current.status === "completed" && current.request_counts?.failed === 0 ? current : undefined;
    }, { what: "the retried batch to complete without failures" });
    await waitFor(async () => (await page.locator('[data-code="http_400"]').count()) === 0, { what: "the errors to disappear from the page" });

    const download = page.waitForEvent("download");
    await page.locator("[data-action=download-output]").click();
    const file = await download;
    const text = readFileSync((await file.path()) ?? "", "utf8");
    const ids = text.trim().split("\n").map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
    expect(ids).toEqual(["good-1", "bad-1", "good-2", "bad-2"]);
  });

  it("shows the webhook delivery log, with the retried delivery", async () => {
    await page.goto(`${spool.url}/dashboard/#/webhooks`);
    const delivered = page.locator("[data-testid=deliveries-table] tr", { hasText: "delivered" });
    await waitFor(async () => (await delivered.count()) >= 3, { what: "three delivered events in the log", timeoutMs: 20_000 });
    const cells = await delivered.first().locator("td").allTextContents();
    expect(cells.some((cell) => /^batch\.(completed|cancelled)evt_/.test(cell))).toBe(true);
    expect(cells).toContain("2");
    expect(cells).toContain("200");
    await page.screenshot({ path: screenshotPath("dashboard-webhooks"), fullPage: true });
  });

  it("shows each model's engine, limits and queue", async () => {
    await page.goto(`${spool.url}/dashboard/#/models`);
    const row = page.locator('tr[data-model="gpt-test"]');
    await row.waitFor();
    const cells = await row.locator("td").allTextContents();
    expect(cells.slice(0, 4)).toEqual(["gpt-test", "openai", "2", "2"]);
    // This test's upstream does not report cached tokens: the cache-hit column says so rather than 0%.
    const headers = await page.locator("[data-testid=models-table] th").allTextContents();
    expect(headers.at(-1)).toBe("Prefix cache hits (1 min)");
    expect(cells.at(-1)).toBe("–");
    await page.screenshot({ path: screenshotPath("dashboard-models"), fullPage: true });
    expect(pageProblems).toEqual([]);
  });

  it("says a batch given no share of the model now is waiting its turn, and gives the others theirs", async () => {
    slowMs = 400;
    // Six equal Batches of one tenant: a few move at a time (decision 0038), the newest waits.
    const batches = [];
    for (let n = 0; n < 6; n += 1) batches.push(await createBatch(chatFile(20, { prefix: `slow${n}` })));
    const [first, last] = [batches[0]!, batches[5]!];
    await waitFor(async () => ((await client.batches.retrieve(last.id)).status === "in_progress" ? true : undefined), { what: "the last batch to start" });
    await page.goto(`${spool.url}/dashboard/#/batches/${last.id}`);
    await page.locator("[data-share]", { hasText: "waiting its turn (0% of the model now)" }).waitFor();
    await page.screenshot({ path: screenshotPath("dashboard-batch-waiting"), fullPage: true });
    await page.goto(`${spool.url}/dashboard/#/batches/${first.id}`);
    await page.locator("[data-share]", { hasText: /^\d+% of the model now$/ }).waitFor();
    for (const batch of batches) await client.batches.cancel(batch.id);
    slowMs = 150;
  });
});
