/** Shared helpers for benchmarks: input generation, timing, and printing figures with ratios. */
import { createWriteStream, existsSync, mkdirSync, statSync } from "node:fs";
import os from "node:os";
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

/** The rates of alternating rounds, for the note beside a best-of figure: "rounds: 5,249, 5,790". */
export function roundRates(rates: readonly number[]): string {
  return `rounds: ${rates.map((rate) => Math.round(rate).toLocaleString()).join(", ")}`;
}

export function ratio(value: number, baseline: number, goal?: { min?: number; max?: number }): string {
  const r = value / baseline;
  return `${r.toFixed(2)}x ${goal ? verdict(r, goal) : ""}`;
}

/** `(goal >= 0.9: met)`, `(goal <= 300 MB: NOT met)`: how a figure compares with the goal. */
export function verdict(value: number, goal: { min?: number; max?: number }, unit = ""): string {
  if (goal.min !== undefined) return `(goal >= ${goal.min}${unit}: ${value >= goal.min ? "met" : "NOT met"})`;
  if (goal.max !== undefined) return `(goal <= ${goal.max}${unit}: ${value <= goal.max ? "met" : "NOT met"})`;
  return "";
}

/** The machine's 1-minute load average, for section headers: figures from a loaded machine read differently. */
export const loadNote = (): string => `load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`;

/** The value at quantile `q` (0..1) of `values` (nearest rank); NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
