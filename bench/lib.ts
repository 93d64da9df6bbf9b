/** Shared helpers for benchmarks: input generation, timing, and printing figures with ratios. */
import { createWriteStream, existsSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { once } from "node:events";

export const WORK_DIR = path.join(process.cwd(), "bench", ".work");

export function workPath(name: string): string {
  mkdirSync(WORK_DIR, { recursive: true });
  return path.join(WORK_DIR, name);
}

/** A realistic OpenAI chat batch line of about `bytes` bytes (system prompt + user text). */
export function benchChatLine(index: number, bytes = 520, model = "gpt-bench"): string {
  const filler = "lorem ipsum dolor sit amet consectetur adipiscing elit ".repeat(Math.ceil(bytes / 56)).slice(0, Math.max(0, bytes - 230));
  return JSON.stringify({
    custom_id: `request-${index}`,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model, messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content: `Question ${index}: ${filler}` }], max_tokens: 64, temperature: 0.2 },
  });
}

/** Writes `lines` chat lines to `file` once (reused across runs), streaming. Returns the size in bytes. */
export async function ensureChatFile(file: string, lines: number, model = "gpt-bench"): Promise<number> {
  if (existsSync(file)) return statSync(file).size;
  const out = createWriteStream(`${file}.part`);
  for (let i = 0; i < lines; i += 1) {
    if (!out.write(`${benchChatLine(i, 520, model)}\n`)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  const { renameSync } = await import("node:fs");
  renameSync(`${file}.part`, file);
  return statSync(file).size;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

export function row(label: string, figure: string, note = ""): void {
  console.log(`  ${label.padEnd(58)} ${figure.padStart(16)}  ${note}`);
}

export function ratio(value: number, baseline: number, goal?: { min?: number; max?: number }): string {
  const r = value / baseline;
  let verdict = "";
  if (goal?.min !== undefined) verdict = r >= goal.min ? `(goal >= ${goal.min}: met)` : `(goal >= ${goal.min}: NOT met)`;
  if (goal?.max !== undefined) verdict = r <= goal.max ? `(goal <= ${goal.max}: met)` : `(goal <= ${goal.max}: NOT met)`;
  return `${r.toFixed(2)}x ${verdict}`;
}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
