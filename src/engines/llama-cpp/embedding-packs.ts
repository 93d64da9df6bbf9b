/**
 * Embedding packs on the llama-cpp Engine. The embedding context evaluates one input at a time
 * (node-llama-cpp reads the pooled embedding of its one sequence only), so a pack is the same loop as a
 * multi-input request, minus everything per request around it (a Dispatcher slot, a claim's share, a
 * result write): that is what packing saves here. Each member runs exactly as it would alone, so its
 * vector, usage and errors are its own. A decode shared by several inputs (one sequence each) was measured
 * and costs what the inputs cost apart, since attention runs per sequence: decision 0026.
 */
import type { LlamaCppModelConfig } from "../../config/config.ts";
import { EngineError, type EnginePack, type EngineReply, type PackCandidate, type PackKey } from "../../core/engine.ts";
import { openAIEmbeddingPackKey } from "../packing/openai-embeddings.ts";

/** A pure function of the body, usable before the model is loaded (or even downloaded). */
export function llamaCppEmbeddingPackKey(config: LlamaCppModelConfig, request: PackCandidate): PackKey | null {
  if (config.embeddings === false || request.dialect !== "openai") return null;
  return openAIEmbeddingPackKey(request.body);
}

/** Runs each member with `embed` in turn; a member's own failure takes its place, an abort ends the pack. */
export async function embedPackOneByOne(pack: EnginePack, embed: (body: Record<string, unknown>) => Promise<EngineReply>): Promise<(EngineReply | EngineError)[]> {
  const results: (EngineReply | EngineError)[] = [];
  for (const body of pack.bodies) {
    try {
      results.push(await embed(body));
    } catch (error) {
      if (!(error instanceof EngineError) || error.kind === "aborted") throw error;
      results.push(error);
    }
  }
  return results;
}
