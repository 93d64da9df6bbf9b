/**
 * (embed-decode) What one llama.cpp decode of embedding inputs costs on the generated tiny model, and what a
 * pack could share (decision 0026): native decodes only, no spool, 1 thread, in this process.
 * - one input alone, by length: the per-input cost a pack cannot avoid;
 * - S inputs as S sequences of one decode vs S decodes of one input: what one shared decode would save;
 * - whether the vector read after a decode is bit-identical however the input was decoded: in a shared decode
 *   (as its last sequence), as its prefix then its last token, or padded past 64 tokens of one sequence.
 * Uses node-llama-cpp internals (`_embeddings`, the native context) as its own LlamaEmbeddingContext does.
 */
import path from "node:path";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { generateTestModel } from "../src/demo-model/generate-test-model.ts";
import { loadNote, ratio, row, WORK_DIR } from "./lib.ts";

/** The part of node-llama-cpp's native context (`LlamaContext._ctx`) this section drives directly. */
interface NativeContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  getEmbedding(inputTokensLength: number): Float64Array;
  disposeSequence(sequenceId: number): void;
  removeTokenCellsFromSequence(sequenceId: number, startPosition: number, endPosition: number): boolean;
}

interface Part {
  sequence: number;
  firstIndex: number;
  tokens: readonly number[];
}

const ROUNDS = 5;
const REPEATS = 30;
const TEXT = "Item 1234: spool packs single-input embedding requests of one model into shared engine calls (72). ".repeat(8);

async function nativeContext(model: LlamaModel, sequences: number): Promise<NativeContext> {
  const options = { contextSize: 1024, sequences, threads: 1, _embeddings: true };
  const context = await model.createContext(options as Parameters<LlamaModel["createContext"]>[0]);
  return (context as unknown as { _ctx: NativeContext })._ctx;
}

/** One decode of `parts` from empty sequences; the embedding node-llama-cpp reads after it (the last token's). */
async function decode(native: NativeContext, parts: readonly Part[], clear = true): Promise<Float64Array> {
  if (clear) for (const part of parts) native.disposeSequence(part.sequence);
  native.initBatch(parts.reduce((sum, part) => sum + part.tokens.length, 0));
  for (const part of parts) native.addToBatch(part.sequence, part.firstIndex, Uint32Array.from(part.tokens), Uint32Array.from([part.tokens.length - 1]));
  await native.decodeBatch();
  return native.getEmbedding(parts[parts.length - 1]!.tokens.length);
}

/** Best of ROUNDS medians, in ms. */
async function timeDecode(native: NativeContext, parts: readonly Part[]): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round += 1) {
    const times: number[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat += 1) {
      const started = performance.now();
      await decode(native, parts);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    best = Math.min(best, times[Math.floor(times.length / 2)]!);
  }
  return best;
}

const sameBits = (a: Float64Array, b: Float64Array): boolean => a.length === b.length && a.every((value, index) => Object.is(value, b[index]));

export async function benchEmbedDecode(): Promise<void> {
  console.log(`\n(embed-decode) Native embedding decodes on the tiny model, 1 thread, best of ${ROUNDS} medians (${loadNote()})`);
  const tiny = await generateTestModel({ path: path.join(WORK_DIR, "models", "spool-tiny.gguf"), size: "tiny", seed: 1 });
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: tiny.path });
  try {
    const tokens = model.tokenize(TEXT, false) as number[];
    const one = await nativeContext(model, 1);
    const alone = new Map<number, number>();
    for (const length of [16, 32, 57, 63, 64, 128]) {
      alone.set(length, await timeDecode(one, [{ sequence: 0, firstIndex: 0, tokens: tokens.slice(0, length) }]));
      row(`one input of ${length} tokens alone`, `${alone.get(length)!.toFixed(2)} ms`, length === 57 ? "(the packing bench's inputs are 55-59 tokens)" : "");
    }
    const sequences = 8;
    const shared = await nativeContext(model, sequences);
    for (const length of [16, 57]) {
      const parts = Array.from({ length: sequences }, (_, sequence) => ({ sequence, firstIndex: 0, tokens: tokens.slice(sequence, sequence + length) }));
      const together = await timeDecode(shared, parts);
      row(`${sequences} inputs of ${length} tokens: ${sequences} decodes / one shared decode`, ratio(sequences * alone.get(length)!, together), `(shared: ${together.toFixed(2)} ms)`);
    }

    const input = tokens.slice(0, 57);
    const reference = await decode(one, [{ sequence: 0, firstIndex: 0, tokens: input }]);
    const others = [1, 2, 3].map((sequence) => ({ sequence, firstIndex: 0, tokens: tokens.slice(sequence * 3, sequence * 3 + 50) }));
    const last = await decode(shared, [...others, { sequence: 0, firstIndex: 0, tokens: input }]);
    await decode(one, [{ sequence: 0, firstIndex: 0, tokens: input.slice(0, -1) }]);
    const split = await decode(one, [{ sequence: 0, firstIndex: input.length - 1, tokens: input.slice(-1) }], false);
    const padded = await paddedDecode(one, input, tokens.slice(0, 16));
    row("same bits: last sequence of a shared decode", sameBits(last, reference) ? "yes" : "no");
    row("same bits: prefix decode, then the last token alone", sameBits(split, reference) ? "yes" : "no");
    row("same bits: prefix padded past 64 tokens, then the last token", sameBits(padded, reference) ? "yes" : "no");
  } finally {
    await model.dispose();
  }
}

/**
 * The prefix decoded with `padding` after it in one sequence, its cells then removed, then the last token
 * alone. Past 64 query tokens llama.cpp's CPU flash attention takes its tiled path (~3x faster per token
 * here); causal attention keeps the padding out of the input's states, but the tiled path rounds otherwise.
 */
async function paddedDecode(native: NativeContext, input: readonly number[], padding: readonly number[]): Promise<Float64Array> {
  await decode(native, [{ sequence: 0, firstIndex: 0, tokens: [...input.slice(0, -1), ...padding] }]);
  native.removeTokenCellsFromSequence(0, input.length - 1, input.length - 1 + padding.length);
  return decode(native, [{ sequence: 0, firstIndex: input.length - 1, tokens: input.slice(-1) }], false);
}
