/**
 * The hosted upstream of the chaos run: the in-process fake OpenAI server with a seeded fault mix. Which
 * fault a request meets depends only on (seed, prompt, attempt), so a run replays with the same --seed
 * whatever the timing. Only the first FAULTY_ATTEMPTS tries of a prompt can fail: with the Model's
 * maxRetries above that, every request succeeds within one claim, and any extra upstream call is
 * explained by a crash, a lost Lease or a lost result, which is what the run measures.
 */
import { createHash } from "node:crypto";
import { startFakeOpenAIUpstream, type FakeFault, type FakeOpenAIUpstream } from "../test/helpers/fake-openai-upstream.ts";

export const FAULT_KINDS = ["429 retry-after", "5xx", "reset", "hang", "truncated"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Tries of one prompt that may meet a fault; later tries are always answered. */
export const FAULTY_ATTEMPTS = 2;

/** Cumulative probability of each fault on a faulty attempt (the rest is answered normally). */
const MIX: [FaultKind, number][] = [
  ["429 retry-after", 0.06],
  ["5xx", 0.1],
  ["reset", 0.13],
  ["hang", 0.14],
  ["truncated", 0.17],
];

export interface ChaosUpstream {
  upstream: FakeOpenAIUpstream;
  /** Faults served so far, by kind. */
  faults: Record<FaultKind, number>;
  seed: number;
  close(): Promise<void>;
}

export async function startChaosUpstream(seed: number): Promise<ChaosUpstream> {
  const upstream = await startFakeOpenAIUpstream({ latencyMs: 3 });
  const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  upstream.setFault(({ key, attemptForKey }) => {
    const draw = drawFor(seed, key, attemptForKey);
    const kind = faultKindOf(draw, attemptForKey);
    if (kind === undefined) return undefined;
    faults[kind] += 1;
    return faultOf(kind, draw);
  });
  return { upstream, faults, seed, close: () => upstream.close() };
}

const drawFor = (seed: number, key: string, attempt: number): number => hashUnit(`${seed}|${key}|${attempt}`);

function faultKindOf(draw: number, attempt: number): FaultKind | undefined {
  return attempt > FAULTY_ATTEMPTS ? undefined : MIX.find(([, upTo]) => draw < upTo)?.[0];
}

/**
 * Upstream calls the prompt takes when nothing crashes: the fault mix is a function of (seed, prompt,
 * attempt), so this is exact, and any call beyond it was a request sent again after a crash or lost Lease.
 */
export function callsWithoutCrashes(seed: number, key: string): number {
  let attempt = 1;
  while (faultKindOf(drawFor(seed, key, attempt), attempt) !== undefined) attempt += 1;
  return attempt;
}

function faultOf(kind: FaultKind, draw: number): FakeFault {
  switch (kind) {
    case "429 retry-after":
      // Both header forms OpenAI sends; short, so the run stays short.
      return draw < 0.03 ? { status: 429, retryAfter: "0.2" } : { status: 429, retryAfterMs: "150" };
    case "5xx":
      return { status: [500, 502, 503][Math.floor(draw * 1000) % 3] };
    case "reset":
      return { reset: true };
    case "hang":
      return { hang: true };
    case "truncated":
      return { truncate: true };
  }
}

/** `text` hashed to [0, 1): a stable, well-spread draw per request, independent of arrival order. */
export function hashUnit(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32BE(0) / 0x100000000;
}

/** A small seeded generator (mulberry32) for the run's schedule: sizes, dialects, fault order, moments. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}
