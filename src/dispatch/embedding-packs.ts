/**
 * Embedding packing, the planning half: which of the Batch Items claimed together share one Engine call.
 *
 * A request is a pack candidate when it is a Batch (not sync) embedding request, its Model allows packs
 * (`embeddingPack.maxItems` > 1) and its Engine gives it a pack key (Engine.packKey: one input, options the
 * backend can apply to a whole call). Candidates group by Model, dialect, caller signal and key, in claim
 * order, and each group is cut greedily into packs of at most `maxItems` requests and `maxTokens`
 * estimated tokens (a request over the budget on its own still runs, alone). A pack of one is an ordinary
 * request. Everything else runs as `dispatch` runs it, in claim order, before the packs are queued.
 *
 * The executing half (one slot, retries as a whole, fallback to one call per Item) is
 * ModelDispatcher.dispatchPack; this file only decides and fans the pack's outcome out to its members.
 */
import { EMBEDDING_PACK_DEFAULTS, type ModelConfig } from "../config/config.ts";
import type { DispatchedItems, DispatchRequest } from "../core/dispatcher.ts";
import { EngineError, type Engine, type EnginePack, type EngineReply } from "../core/engine.ts";
import type { Dialect } from "../core/types.ts";

export interface PlannedPack {
  engine: Engine;
  model: ModelConfig;
  dialect: Dialect;
  signal: AbortSignal | undefined;
  /** Two or more, all with one pack key. */
  requests: DispatchRequest[];
}

/** What one member of a pack got: its own reply, or its own failure. */
export type PackOutcome = { ok: true; reply: EngineReply } | { ok: false; error: unknown };

export interface PackingDeps {
  resolve: (modelName: string) => { engine: Engine; model: ModelConfig } | undefined;
  single: (request: DispatchRequest) => Promise<EngineReply>;
  /** One outcome per request of the pack; rejects when the pack failed as a whole. */
  pack: (pack: PlannedPack) => Promise<PackOutcome[]>;
}

interface Member {
  index: number;
  request: DispatchRequest;
  tokens: number;
}

interface Group {
  engine: Engine;
  model: ModelConfig;
  limits: { maxItems: number; maxTokens: number };
  members: Member[];
}

export function dispatchPacked(requests: readonly DispatchRequest[], deps: PackingDeps): DispatchedItems {
  const replies = new Array<Promise<EngineReply>>(requests.length);
  const groups = new Map<string, Group>();
  const signalIds = new Map<AbortSignal | undefined, number>();
  let calls = 0;
  requests.forEach((request, index) => {
    const candidate = packCandidate(request, deps.resolve);
    if (candidate === null) {
      replies[index] = deps.single(request);
      calls += 1;
      return;
    }
    let signalId = signalIds.get(request.signal);
    if (signalId === undefined) signalIds.set(request.signal, (signalId = signalIds.size));
    // One Batch per pack, so cancelling a Batch (Dispatcher.cancelBatch) never stops another's Items.
    const key = `${candidate.model.name}\u0000${request.dialect}\u0000${signalId}\u0000${request.batchId ?? ""}\u0000${candidate.key}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { engine: candidate.engine, model: candidate.model, limits: candidate.limits, members: [] };
      groups.set(key, group);
    }
    group.members.push({ index, request, tokens: candidate.estimatedTokens });
  });
  for (const group of groups.values()) {
    for (const chunk of chunksOf(group.members, group.limits)) {
      calls += 1;
      const [first] = chunk;
      if (first === undefined) continue;
      if (chunk.length === 1) {
        replies[first.index] = deps.single(first.request);
        continue;
      }
      const outcomes = deps.pack({
        engine: group.engine,
        model: group.model,
        dialect: first.request.dialect,
        signal: first.request.signal,
        requests: chunk.map((member) => member.request),
      });
      chunk.forEach((member, position) => {
        replies[member.index] = outcomes.then((list) => replyOf(list[position]));
      });
    }
  }
  return { replies, calls };
}

/** Calls the Engine's executePack and checks it kept its side of the contract (one entry per body). */
export async function runEnginePack(engine: Engine, pack: EnginePack): Promise<(EngineReply | EngineError)[]> {
  if (engine.executePack === undefined) throw new Error(`Engine '${engine.name}' gave a pack key but cannot execute packs.`);
  const results = await engine.executePack(pack);
  if (results.length !== pack.bodies.length) {
    throw new EngineError({
      kind: "engine",
      message: `Engine '${engine.name}' returned ${results.length} replies for a pack of ${pack.bodies.length} requests.`,
      retryable: false,
    });
  }
  return results;
}

function packCandidate(
  request: DispatchRequest,
  resolve: PackingDeps["resolve"],
): { engine: Engine; model: ModelConfig; limits: Group["limits"]; key: string; estimatedTokens: number } | null {
  if (request.kind !== "embedding" || request.priority !== "batch") return null;
  const resolved = resolve(request.model);
  if (resolved === undefined) return null; // dispatch() reports the unknown Model
  const { engine, model } = resolved;
  // A pack may run on any of the Model's backends: only when all of them speak the same engine.
  if (model.backends?.some((backend) => backend.engine !== model.engine)) return null;
  const limits = {
    maxItems: model.embeddingPack?.maxItems ?? EMBEDDING_PACK_DEFAULTS.maxItems,
    maxTokens: model.embeddingPack?.maxTokens ?? EMBEDDING_PACK_DEFAULTS.maxTokens,
  };
  if (limits.maxItems < 2 || engine.packKey === undefined || engine.executePack === undefined) return null;
  const fit = engine.packKey({ dialect: request.dialect, body: request.body, model });
  return fit === null ? null : { engine, model, limits, key: fit.key, estimatedTokens: fit.estimatedTokens };
}

function* chunksOf(members: readonly Member[], limits: Group["limits"]): Generator<Member[]> {
  let chunk: Member[] = [];
  let tokens = 0;
  for (const member of members) {
    if (chunk.length > 0 && (chunk.length >= limits.maxItems || tokens + member.tokens > limits.maxTokens)) {
      yield chunk;
      chunk = [];
      tokens = 0;
    }
    chunk.push(member);
    tokens += member.tokens;
  }
  if (chunk.length > 0) yield chunk;
}

function replyOf(outcome: PackOutcome | undefined): EngineReply {
  if (outcome === undefined) throw new Error("A packed call returned fewer outcomes than it had requests.");
  if (outcome.ok) return outcome.reply;
  throw outcome.error;
}
