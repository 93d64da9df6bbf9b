/**
 * The faults of a chaos run, one episode at a time, each aimed at a moment read from the victim Batch's
 * status (OpenAI's statuses name every phase; Gemini's fold finalizing into RUNNING). A kill whose phase
 * had already passed when the status came back is counted as missed, not as landed.
 */
import OpenAI, { toFile } from "openai";
import type { ChaosCluster } from "./chaos-cluster.ts";
import { inputFile, pause, type ChaosClients, type ChaosDialect, type TrackedBatch } from "./chaos-traffic.ts";

export const KILL_PHASES = ["upload", "validating", "running", "finalizing", "worker"] as const;
export type KillPhase = (typeof KILL_PHASES)[number];
export type EpisodeKind = "kill-upload" | "kill-validating" | "kill-running" | "kill-finalizing" | "kill-worker" | "db-restart" | "disk-full";

export interface EpisodeTally {
  kills: Record<KillPhase, { landed: number; missed: number; victims: string[] }>;
  dbRestarts: number;
  diskFulls: number;
  /** Creates that answered 200 while the disk was full (each then tracked like any acknowledged Batch). */
  acceptedOnFullDisk: number;
  /** Uploads cut by a kill that nevertheless show up as a File afterwards. */
  tornUploadsVisible: number;
}

export function emptyEpisodeTally(): EpisodeTally {
  const kills = Object.fromEntries(KILL_PHASES.map((phase) => [phase, { landed: 0, missed: 0, victims: [] as string[] }])) as EpisodeTally["kills"];
  return { kills, dbRestarts: 0, diskFulls: 0, acceptedOnFullDisk: 0, tornUploadsVisible: 0 };
}

export interface EpisodeContext {
  cluster: ChaosCluster;
  clients: ChaosClients;
  random: () => number;
  tally: EpisodeTally;
  /** Registers an acknowledged Batch for the final checks. */
  track(batch: TrackedBatch): void;
  /** Scales batch sizes (the short test uses small ones). */
  size(min: number, max: number): number;
}

/** Runs one episode; false when it aimed a kill at a phase that had already passed. */
export async function runEpisode(kind: EpisodeKind, context: EpisodeContext): Promise<boolean> {
  switch (kind) {
    case "kill-upload":
      return killDuringUpload(context);
    case "kill-validating":
      // Unscaled below 2,000 lines (two insert chunks): a Batch of one chunk validates in one Store call,
      // often before the first status read.
      return killAtPhase(context, "validating", Math.max(2_000, context.size(2_000, 3_000)), (batch) => batch.status === "validating");
    case "kill-running":
      return killAtPhase(context, "running", context.size(800, 1_500), progressed(0.1 + context.random() * 0.5));
    case "kill-finalizing":
      return killAtPhase(context, "finalizing", context.size(1_000, 2_000), (batch) => batch.status === "finalizing");
    case "kill-worker":
      return killAtPhase(context, "worker", context.size(800, 1_500), progressed(0.1 + context.random() * 0.5));
    case "db-restart":
      return restartDatabasePath(context);
    case "disk-full":
      return fillDisk(context);
  }
}

const progressed =
  (fraction: number) =>
  (batch: OpenAI.Batch): boolean => {
    const counts = batch.request_counts;
    return batch.status === "in_progress" && counts !== undefined && counts.completed + counts.failed >= fraction * counts.total;
  };

/** Submits an OpenAI Batch, polls it until `due` holds, and kills there; missed if it went terminal first. */
async function killAtPhase(context: EpisodeContext, phase: KillPhase, size: number, due: (batch: OpenAI.Batch) => boolean): Promise<boolean> {
  const { clients, cluster, tally } = context;
  const batch = await clients.submit("openai", size);
  context.track(batch);
  // Queued behind earlier Batches on a busy machine, the victim may take a while to reach its phase.
  const deadline = Date.now() + 120_000;
  for (;;) {
    const current = await clients.openaiStatus(batch.id);
    if (due(current)) break;
    if (["completed", "failed", "expired", "cancelled"].includes(current.status) || Date.now() > deadline) {
      tally.kills[phase].missed += 1;
      return false;
    }
    await pause(phase === "finalizing" || phase === "validating" ? 5 : 25);
  }
  if (phase === "worker") await cluster.killWorker(Math.floor(context.random() * cluster.workerCount));
  else await cluster.killAll();
  tally.kills[phase].landed += 1;
  tally.kills[phase].victims.push(batch.id);
  return true;
}

/**
 * Sends a large OpenAI upload through the real SDK over a fetch that trickles the request body, and kills
 * the API process once half of it is sent. The upload was never acknowledged, so no File may show it.
 */
async function killDuringUpload(context: EpisodeContext): Promise<boolean> {
  const { clients, cluster, tally } = context;
  const content = clients.nextContent(context.size(4_000, 6_000));
  const bytes = Buffer.from(inputFile("openai", content));
  const fileName = `${content.keys[0]}.jsonl`;
  let halfSent!: () => void;
  const half = new Promise<void>((resolve) => (halfSent = resolve));
  const slow = new OpenAI({ apiKey: "sk-chaos", baseURL: `${clients.baseUrl}/v1`, maxRetries: 0, fetch: tricklingFetch(bytes.length / 2, halfSent) });
  const upload = slow.files.create({ file: await toFile(bytes, fileName), purpose: "batch" }).then(
    () => "acknowledged" as const,
    () => "failed" as const,
  );
  const first = await Promise.race([half.then(() => "half" as const), upload]);
  if (first !== "half") {
    tally.kills.upload.missed += 1;
    return false;
  }
  await cluster.killApi();
  if ((await upload) === "acknowledged") {
    tally.kills.upload.missed += 1;
    return false;
  }
  tally.kills.upload.landed += 1;
  tally.kills.upload.victims.push(fileName);
  const files = await clients.retrying("list files", async () => {
    const names: string[] = [];
    for await (const file of clients.openai.files.list({ limit: 100 })) names.push(file.filename);
    return names;
  });
  if (files.includes(fileName)) tally.tornUploadsVisible += 1;
  return true;
}

/** A fetch that sends the request body in 16 KB pieces with a pause between, calling `onHalf` midway. */
function tricklingFetch(halfBytes: number, onHalf: () => void): typeof fetch {
  return async (input, init) => {
    if (init?.body === undefined || init.body === null) return fetch(input, init);
    const request = new Request(input, { ...init, duplex: "half" } as RequestInit);
    const reader = request.body!.getReader();
    let sent = 0;
    let pending: Uint8Array = new Uint8Array(0);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (pending.length === 0) {
          const next = await reader.read();
          if (next.done) {
            controller.close();
            return;
          }
          pending = next.value;
        }
        const piece = pending.subarray(0, 16 * 1024);
        pending = pending.subarray(piece.length);
        await pause(4);
        controller.enqueue(piece);
        sent += piece.length;
        if (sent >= halfBytes) onHalf();
      },
    });
    return fetch(request.url, { method: request.method, headers: request.headers, body, signal: init.signal, duplex: "half" } as RequestInit);
  };
}

/** Cuts the database path (the proxy) under running work, probes the API meanwhile, and restores it. */
async function restartDatabasePath(context: EpisodeContext): Promise<boolean> {
  const { clients, cluster, tally } = context;
  const proxy = cluster.proxy;
  if (proxy === null) return true;
  const batch = await clients.submit(context.random() < 0.5 ? "openai" : "gemini-file", context.size(500, 1_500));
  context.track(batch);
  await pause(200 + context.random() * 800);
  await proxy.cut();
  const until = Date.now() + 500 + context.random() * 1_500;
  while (Date.now() < until) {
    // Expected: 503 in the OpenAI shape, counted by the client tally.
    await clients.openai.batches.list({ limit: 1 }).catch((error: unknown) => clients.isTransient(error));
    await pause(100);
  }
  await proxy.restore();
  tally.dbRestarts += 1;
  return true;
}

/**
 * Fills the SQLite data dir's tmpfs under running work and, while it is full, tries an upload, a batch
 * create over a File uploaded just before, and an inline Gemini batch; then frees the space. A create that
 * answers 200 on the full disk is tracked like any acknowledged Batch: it must then really exist and run.
 */
async function fillDisk(context: EpisodeContext): Promise<boolean> {
  const { clients, cluster, tally } = context;
  const disk = cluster.disk;
  if (disk === null) return true;
  const batch = await clients.submit("openai", context.size(500, 1_000));
  context.track(batch);
  const ready = clients.nextContent(context.size(5, 20));
  const readyFile = await clients.retrying("upload", () => clients.upload("openai", ready));
  await pause(100 + context.random() * 500);
  disk.fill();
  try {
    const until = Date.now() + 300 + context.random() * 1_200;
    const attempt = async (dialect: ChaosDialect, content: { keys: string[]; prompts: string[] }, create: () => Promise<string>): Promise<void> => {
      try {
        const id = await create();
        tally.acceptedOnFullDisk += 1;
        context.track({ id, dialect, ...content });
      } catch (error) {
        if (!clients.isTransient(error)) throw error;
      }
    };
    await clients.upload("openai", clients.nextContent(context.size(5, 20))).catch((error: unknown) => {
      if (!clients.isTransient(error)) throw error;
    });
    await attempt("openai", ready, async () => (await clients.openai.batches.create({ input_file_id: readyFile, endpoint: "/v1/chat/completions", completion_window: "24h" })).id);
    const inline = clients.nextContent(context.size(5, 20));
    await attempt("gemini-inline", inline, () => clients.create("gemini-inline", inline));
    while (Date.now() < until) await pause(50);
  } finally {
    disk.free();
  }
  tally.diskFulls += 1;
  return true;
}
