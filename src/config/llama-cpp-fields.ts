/** The config fields of a `llama-cpp` Model or backend (embedded inference through node-llama-cpp). */
import { z } from "zod";

const positiveInt = z.number().int().positive();

export const llamaCppEngineFields = {
  engine: z.literal("llama-cpp"),
  /** Local path, `hf:owner/repo/file.gguf`, or an https URL (downloaded once into the model cache). */
  path: z.string().min(1),
  /** Expected SHA-256 of a downloaded model (hex); checked after download. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  threads: positiveInt.optional(),
  /** Parallel sequences in one context (continuous batching inside the engine). */
  sequences: positiveInt.optional(),
  /**
   * Keep each sequence's evaluated tokens between requests and send a request to the sequence holding the
   * longest prefix of its prompt, so a shared prefix is evaluated once per sequence. Default true; false
   * empties the sequence before every request.
   */
  kvReuse: z.boolean().optional(),
  contextSize: positiveInt.optional(),
  /**
   * llama.cpp's flash attention for generation contexts (llama-server's `-fa`): `auto` (default) lets
   * llama.cpp decide (on, on CPU); `true` or `false` force it. Measured on CPU (decision 0058): off evaluates
   * prompts about 30% slower and did not make a KV-reuse run faster, so the default stays llama.cpp's.
   */
  flashAttention: z.union([z.literal("auto"), z.boolean()]).optional(),
  /** Serve embeddings from this model. */
  embeddings: z.boolean().optional(),
};
