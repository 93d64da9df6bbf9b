/**
 * (b) End-to-end throughput: a 100k-request batch through spool (create -> completed, output written)
 * against an instant local upstream, vs a bare undici loop at the same concurrency against the same
 * upstream (the ceiling for dispatch on this machine).
 */
import { createReadStream, mkdtempSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import OpenAI from "openai";
import { Pool } from "undici";
import { ensureChatFile, ratio, row, timed, workPath, WORK_DIR } from "./lib.ts";
import { cpuMsOf, startSpool, startUpstream } from "./processes.ts";

const CONCURRENCY = 64;

async function bareLoop(upstreamUrl: string, file: string): Promise<{ rate: number; cpuUsPerRequest: number }> {
  const bodies: string[] = [];
  const reader = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of reader) bodies.push(JSON.stringify((JSON.parse(line) as { body: unknown }).body));
  const url = new URL(upstreamUrl);
  const pool = new Pool(url.origin, { connections: CONCURRENCY, pipelining: 1 });
  const chatPath = `${url.pathname.replace(/\/$/, "")}/chat/completions`;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const { ms } = await timed(async () => {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++];
          const response = await pool.request({ method: "POST", path: chatPath, headers: { "content-type": "application/json" }, body });
          await response.body.json();
        }
      }),
    );
  });
  const cpu = process.cpuUsage(cpuBefore);
  await pool.close();
  return { rate: bodies.length / (ms / 1000), cpuUsPerRequest: (cpu.user + cpu.system) / bodies.length };
}

export async function runSpoolBatch(baseUrl: string, file: string, count: number): Promise<{ rate: number; seconds: number }> {
  const client = new OpenAI({ apiKey: "bench", baseURL: `${baseUrl}/v1`, maxRetries: 0, timeout: 600_000 });
  const uploaded = await client.files.create({ file: createReadStream(file), purpose: "batch" });
  const { ms, value: batch } = await timed(async () => {
    const created = await client.batches.create({ input_file_id: uploaded.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    for (;;) {
      const current = await client.batches.retrieve(created.id);
      if (["completed", "failed", "expired", "cancelled"].includes(current.status)) return current;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  if (batch.status !== "completed" || batch.request_counts?.completed !== count) {
    throw new Error(`bench batch ended ${batch.status} with ${JSON.stringify(batch.request_counts)} ${JSON.stringify(batch.errors)}`);
  }
  return { rate: count / (ms / 1000), seconds: ms / 1000 };
}

export function writeBenchConfig(dir: string, extra: Record<string, unknown>): string {
  const configPath = path.join(dir, "spool.json");
  writeFileSync(configPath, JSON.stringify({ port: 0, dataDir: dir, logLevel: "warn", ...extra }, null, 2));
  return configPath;
}

export async function benchEndToEnd(count = 100_000): Promise<void> {
  console.log(`\n(b) End to end: ${count.toLocaleString()}-request batch via spool vs a bare undici loop (concurrency ${CONCURRENCY}, instant upstream)`);
  const file = workPath(`chat-${count}.jsonl`);
  await ensureChatFile(file, count);
  const upstream = await startUpstream(0);
  try {
    const bare = await bareLoop(upstream.url, file);
    const baseline = bare.rate;
    row("baseline bare undici loop", `${Math.round(baseline).toLocaleString()} req/s`, `${bare.cpuUsPerRequest.toFixed(0)} µs CPU/request`);
    const dir = mkdtempSync(path.join(WORK_DIR, "e2e-"));
    const configPath = writeBenchConfig(dir, { models: [{ name: "gpt-bench", engine: "openai", baseUrl: upstream.url, concurrency: CONCURRENCY }] });
    const spool = await startSpool("serve", configPath);
    try {
      const cpuBefore = cpuMsOf(spool.child);
      const result = await runSpoolBatch(spool.url, file, count);
      const cpuAfter = cpuMsOf(spool.child);
      const cpuUs = cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) * 1000) / count;
      row("spool create -> completed (output written)", `${Math.round(result.rate).toLocaleString()} req/s`, `${result.seconds.toFixed(1)} s`);
      if (cpuUs !== null) row("spool CPU per request (upload to output file)", `${cpuUs.toFixed(0)} µs`, `${(cpuUs / bare.cpuUsPerRequest).toFixed(1)}x the bare loop's`);
      row("throughput ratio spool/baseline", ratio(result.rate, baseline, { min: 0.5 }));
    } finally {
      await spool.stop();
    }
  } finally {
    await upstream.stop();
  }
}
