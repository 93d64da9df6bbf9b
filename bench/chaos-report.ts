/** The figures of one chaos run per store, what counts as a problem, and how they are printed. */
import { MODEL, WORKER, type ChaosStore } from "./chaos-cluster.ts";
import { KILL_PHASES, type EpisodeKind, type EpisodeTally } from "./chaos-episodes.ts";
import type { ChaosClients, ClientTally, TrackedBatch } from "./chaos-traffic.ts";
import { callsWithoutCrashes, FAULT_KINDS, type ChaosUpstream, type FaultKind } from "./chaos-upstream.ts";
import type { BatchVerdict } from "./chaos-verify.ts";
import { row } from "./lib.ts";

/** Most upstream calls one request may take: every claim (maxAttempts) may use every try (1 + maxRetries). */
export const CALLS_BOUND = (MODEL.maxRetries + 1) * WORKER.maxAttempts;

export interface ChaosFigures {
  store: ChaosStore;
  description: string;
  elapsedMs: number;
  episodes: Map<EpisodeKind, number>;
  batchesByDialect: Record<string, number>;
  items: number;
  tally: EpisodeTally;
  client: ClientTally;
  uploadFailureMessages: string[];
  faults: Record<FaultKind, number>;
  succeeded: number;
  failed: number;
  failureCodes: Map<string, number>;
  failureSamples: Map<string, string>;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  wrong: number;
  countMismatches: string[];
  notSucceeded: string[];
  stuck: string[];
  calls: { mean: number; max: number; overBound: number; resent: number };
  unexpectedExits: string[];
  /** Everything that makes the run fail; empty when it passed. */
  problems: string[];
}

export function summarize(input: {
  store: ChaosStore;
  description: string;
  tracked: TrackedBatch[];
  verdicts: BatchVerdict[];
  /** Each unfinished Batch with its last state. */
  stuck: string[];
  tally: EpisodeTally;
  episodesRun: Map<EpisodeKind, number>;
  upstream: ChaosUpstream;
  clients: ChaosClients;
  unexpectedExits: string[];
  elapsedMs: number;
}): ChaosFigures {
  const sum = (pick: (verdict: BatchVerdict) => number): number => input.verdicts.reduce((total, verdict) => total + pick(verdict), 0);
  const failureCodes = new Map<string, number>();
  const failureSamples = new Map<string, string>();
  for (const verdict of input.verdicts) {
    for (const [code, count] of verdict.failureCodes) failureCodes.set(code, (failureCodes.get(code) ?? 0) + count);
    for (const [code, sample] of verdict.failureSamples) if (!failureSamples.has(code)) failureSamples.set(code, `${verdict.batch.id} ${sample}`);
  }
  const batchesByDialect: Record<string, number> = {};
  for (const batch of input.tracked) batchesByDialect[batch.dialect] = (batchesByDialect[batch.dialect] ?? 0) + 1;
  const figures: ChaosFigures = {
    store: input.store,
    description: input.description,
    elapsedMs: input.elapsedMs,
    episodes: input.episodesRun,
    batchesByDialect,
    items: input.tracked.reduce((total, batch) => total + batch.keys.length, 0),
    tally: input.tally,
    client: input.clients.tally,
    uploadFailureMessages: [...input.clients.uploadFailureMessages],
    faults: input.upstream.faults,
    succeeded: sum((verdict) => verdict.succeeded),
    failed: sum((verdict) => verdict.failed),
    failureCodes,
    failureSamples,
    lost: sum((verdict) => verdict.lost),
    duplicated: sum((verdict) => verdict.duplicated),
    outOfOrder: sum((verdict) => verdict.outOfOrder),
    wrong: sum((verdict) => verdict.wrong),
    countMismatches: input.verdicts.filter((verdict) => verdict.countMismatch !== null).map((verdict) => `${verdict.batch.id}: ${verdict.countMismatch}`),
    notSucceeded: input.verdicts.filter((verdict) => verdict.status !== "completed" && verdict.status !== "JOB_STATE_SUCCEEDED").map((verdict) => `${verdict.batch.id}: ${verdict.status}`),
    stuck: input.stuck,
    calls: callFigures(input.verdicts, input.upstream),
    unexpectedExits: input.unexpectedExits,
    problems: [],
  };
  figures.problems = problemsOf(figures);
  return figures;
}

function callFigures(verdicts: BatchVerdict[], upstream: ChaosUpstream): ChaosFigures["calls"] {
  let total = 0;
  let requests = 0;
  const calls = { mean: 0, max: 0, overBound: 0, resent: 0 };
  for (const { batch } of verdicts) {
    for (const prompt of batch.prompts) {
      const count = upstream.upstream.countsByKey.get(prompt) ?? 0;
      total += count;
      requests += 1;
      calls.max = Math.max(calls.max, count);
      if (count > CALLS_BOUND) calls.overBound += 1;
      if (count > callsWithoutCrashes(upstream.seed, prompt)) calls.resent += 1;
    }
  }
  calls.mean = requests === 0 ? 0 : total / requests;
  return calls;
}

function problemsOf(figures: ChaosFigures): string[] {
  const problems: string[] = [];
  const check = (count: number, what: string): void => {
    if (count > 0) problems.push(`${count} ${what}`);
  };
  check(figures.lost, "result lines lost");
  check(figures.duplicated, "result lines duplicated");
  check(figures.outOfOrder, "result lines out of input order");
  check(figures.wrong, "result lines under an unknown key or with another line's answer");
  check(figures.calls.overBound, `requests sent upstream more than ${CALLS_BOUND} times`);
  check(figures.tally.tornUploadsVisible, "interrupted uploads visible as Files");
  // Faults stop before the Model's retries run out, so a request can only fail by crashing its workers
  // maxAttempts times (item_crashed); any other failure is spool's.
  const unexplained = [...figures.failureCodes].filter(([code]) => code !== "item_crashed").reduce((total, [, count]) => total + count, 0);
  check(unexplained, `results failed for a reason the faults do not explain (${[...figures.failureSamples.values()].slice(0, 2).join(" | ")})`);
  for (const [label, list] of [["counters disagree", figures.countMismatches], ["did not succeed", figures.notSucceeded], ["stuck (not terminal)", figures.stuck], ["unexpected process exits", figures.unexpectedExits]] as const) {
    if (list.length > 0) problems.push(`${list.length} ${label}: ${list.slice(0, 3).join(" | ")}`);
  }
  return problems;
}

export function printFigures(figures: ChaosFigures): void {
  console.log(`\n  ${figures.store}: ${figures.description}, ${(figures.elapsedMs / 1000).toFixed(0)} s`);
  row("episodes", String([...figures.episodes.values()].reduce((a, b) => a + b, 0)), [...figures.episodes].map(([kind, n]) => `${kind} ${n}`).join(", "));
  row("batches acknowledged / requests", `${Object.values(figures.batchesByDialect).reduce((a, b) => a + b, 0)} / ${figures.items}`, Object.entries(figures.batchesByDialect).map(([dialect, n]) => `${dialect} ${n}`).join(", "));
  for (const phase of KILL_PHASES) {
    const kills = figures.tally.kills[phase];
    if (kills.landed + kills.missed > 0) row(`kills survived: ${phase}`, `${kills.landed}`, kills.missed > 0 ? `(${kills.missed} aimed but the phase had passed)` : "");
  }
  if (figures.tally.dbRestarts > 0) row("database path cut and restored", String(figures.tally.dbRestarts));
  if (figures.tally.diskFulls > 0) row("disk filled and freed", String(figures.tally.diskFulls), `(${figures.tally.acceptedOnFullDisk} creates accepted while full, then checked)`);
  row("upstream faults served", String(Object.values(figures.faults).reduce((a, b) => a + b, 0)), FAULT_KINDS.map((kind) => `${kind} ${figures.faults[kind]}`).join(", "));
  row("results: succeeded / failed", `${figures.succeeded} / ${figures.failed}`, [...figures.failureCodes].map(([code, n]) => `${code} ${n}`).join(", "));
  for (const [code, sample] of figures.failureSamples) console.log(`    e.g. ${code}: ${sample.slice(0, 300)}`);
  row("lost / duplicated / out of order / wrong", `${figures.lost} / ${figures.duplicated} / ${figures.outOfOrder} / ${figures.wrong}`);
  row("upstream calls per request: mean / max", `${figures.calls.mean.toFixed(2)} / ${figures.calls.max}`, `(bound ${CALLS_BOUND}; ${figures.calls.resent} requests sent again after a crash or lost lease)`);
  row("503 / 507 answers seen by clients", `${figures.client.answers503} / ${figures.client.answers507}`, `(${figures.client.connectionErrors} connection errors during restarts, ${figures.client.abandonedCreates} creates abandoned and resubmitted)`);
  if (figures.client.failedUploads > 0) row("uploads failed otherwise and resent", String(figures.client.failedUploads), figures.uploadFailureMessages.slice(0, 3).join(" | "));
  row("verdict", figures.problems.length === 0 ? "PASS" : "FAIL");
  for (const problem of figures.problems) console.log(`    problem: ${problem}`);
}
