/**
 * Generates a small llama-architecture GGUF with deterministic random weights, for tests, the out-of-the-box
 * demo and benchmarks (no model can be downloaded on the project's machines). The weights are noise, so the
 * model emits gibberish; it exercises the whole inference path (tokenizer, chat template, batching,
 * grammars, embeddings) at realistic speed for its size.
 *
 * Metadata and tensor layout follow what llama.cpp requires for `general.architecture = "llama"` (see
 * /work/shared/ENGINE-NOTES.md: each required key was checked by leaving it out).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { inspectGguf } from "../engines/llama-cpp/gguf-inspect.ts";
import { buildByteLevelBpeVocabulary } from "./byte-level-bpe.ts";
import { GgmlType } from "../engines/llama-cpp/gguf/gguf-format.ts";
import { writeGgufFile, type GgufFileSpec, type GgufMetadataValue, type GgufTensorSource } from "./gguf-writer.ts";
import { SeededRandom, fromFloat16Bits, toFloat16Bits } from "./seeded-random.ts";

export type TestModelTensorType = "q8_0" | "f16" | "f32";

export interface TestModelShape {
  embeddingLength: number;
  blockCount: number;
  headCount: number;
  /** Grouped-query attention: key/value heads (divides headCount). */
  headCountKv: number;
  feedForwardLength: number;
  /** BPE merges; the vocabulary is 256 byte tokens + merges + 3 special tokens. */
  mergeCount: number;
  contextLength: number;
  /** Type of the 2-D weight tensors (norms are always F32). */
  tensorType: TestModelTensorType;
}

export const TEST_MODEL_PRESETS = {
  /** ~110k parameters, ~150 KB as Q8_0: loads in milliseconds, generates thousands of tokens/s. */
  tiny: {
    embeddingLength: 64, blockCount: 2, headCount: 4, headCountKv: 2, feedForwardLength: 128,
    mergeCount: 128, contextLength: 2048, tensorType: "q8_0",
  },
  /** ~25.5M parameters, ~27 MB as Q8_0: a benchmark model whose decode cost is dominated by the weights. */
  "bench-25m": {
    embeddingLength: 512, blockCount: 8, headCount: 8, headCountKv: 8, feedForwardLength: 1344,
    mergeCount: 1024, contextLength: 4096, tensorType: "q8_0",
  },
} as const satisfies Record<string, TestModelShape>;

export type TestModelSize = keyof typeof TEST_MODEL_PRESETS;

export interface GenerateTestModelOptions extends Partial<TestModelShape> {
  /** Where to write the .gguf file; parent folders are created. */
  path: string;
  /** Shape preset; individual shape options override it. Default "tiny". */
  size?: TestModelSize;
  /** Default 1. */
  seed?: number;
  /** `general.name`; default "spool-<size>". */
  name?: string;
}

export interface GeneratedTestModel {
  path: string;
  /** False when an identical file (same fingerprint) was already there. */
  created: boolean;
  parameterCount: number;
  vocabularySize: number;
  fileBytes: number;
  /** SHA-256 of the generator version + resolved options; stored in the file as `spool.generator.fingerprint`. */
  fingerprint: string;
}

/** Bumped whenever the generator's output for the same options changes. */
const GENERATOR_VERSION = 1;
const FINGERPRINT_KEY = "spool.generator.fingerprint";
const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;

/** The ChatML template; node-llama-cpp recognises it and picks its ChatMLChatWrapper. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** What `generateTestModel` would write, without writing it: the GGUF spec plus its figures. */
export interface TestModelSpec {
  spec: GgufFileSpec;
  shape: TestModelShape;
  fingerprint: string;
  parameterCount: number;
  vocabularySize: number;
}

/**
 * Builds the metadata and (lazy) tensor sources for a test model. Tests use it to write deliberately broken
 * variants (a key left out, a file cut short) with `writeGgufFile`.
 */
export function buildTestModelSpec(options: Omit<GenerateTestModelOptions, "path">): TestModelSpec {
  const size = options.size ?? "tiny";
  const shape: TestModelShape = { ...TEST_MODEL_PRESETS[size], ...definedShapeOptions(options) };
  validateShape(shape);
  const seed = options.seed ?? 1;
  const name = options.name ?? `spool-${size}`;
  const fingerprint = createHash("sha256").update(JSON.stringify({ GENERATOR_VERSION, shape, seed, name })).digest("hex");
  const vocabulary = buildByteLevelBpeVocabulary({ mergeCount: shape.mergeCount, specialTokens: SPECIAL_TOKENS });
  const tensors = buildTensors(shape, vocabulary.tokens.length, seed);
  const parameterCount = tensors.reduce((sum, tensor) => sum + tensor.dims.reduce((product, dim) => product * dim, 1), 0);
  const headDimension = shape.embeddingLength / shape.headCount;
  const metadata: Array<[string, GgufMetadataValue]> = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: name }],
    ["general.file_type", { type: "u32", value: shape.tensorType === "q8_0" ? 7 : shape.tensorType === "f16" ? 1 : 0 }],
    [FINGERPRINT_KEY, { type: "string", value: fingerprint }],
    ["llama.context_length", { type: "u32", value: shape.contextLength }],
    ["llama.embedding_length", { type: "u32", value: shape.embeddingLength }],
    ["llama.block_count", { type: "u32", value: shape.blockCount }],
    ["llama.feed_forward_length", { type: "u32", value: shape.feedForwardLength }],
    ["llama.attention.head_count", { type: "u32", value: shape.headCount }],
    ["llama.attention.head_count_kv", { type: "u32", value: shape.headCountKv }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["llama.rope.dimension_count", { type: "u32", value: headDimension }],
    ["llama.rope.freq_base", { type: "f32", value: 10000 }],
    ["llama.vocab_size", { type: "u32", value: vocabulary.tokens.length }],
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", values: vocabulary.tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", values: vocabulary.tokenTypes }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", values: vocabulary.merges }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: vocabulary.specialTokenIds["<|endoftext|>"]! }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: vocabulary.specialTokenIds["<|im_end|>"]! }],
    ["tokenizer.ggml.padding_token_id", { type: "u32", value: vocabulary.specialTokenIds["<|endoftext|>"]! }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: CHATML_TEMPLATE }],
  ];
  return { spec: { metadata, tensors }, shape, fingerprint, parameterCount, vocabularySize: vocabulary.tokens.length };
}

/** Writes the model unless an identical one already exists. Concurrent callers are safe (temp file + rename). */
export async function generateTestModel(options: GenerateTestModelOptions): Promise<GeneratedTestModel> {
  const built = buildTestModelSpec(options);
  const { fingerprint, parameterCount, vocabularySize } = built;
  const existing = await readFingerprint(options.path);
  if (existing && existing.fingerprint === fingerprint) {
    return { path: options.path, created: false, parameterCount, vocabularySize, fileBytes: existing.fileBytes, fingerprint };
  }
  await mkdir(path.dirname(path.resolve(options.path)), { recursive: true });
  const temporaryPath = `${options.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fileBytes = await writeGgufFile(temporaryPath, built.spec);
    await rename(temporaryPath, options.path);
    return { path: options.path, created: true, parameterCount, vocabularySize, fileBytes, fingerprint };
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw error;
  }
}

function definedShapeOptions(options: Partial<TestModelShape>): Partial<TestModelShape> {
  const keys: Array<keyof TestModelShape> = [
    "embeddingLength", "blockCount", "headCount", "headCountKv", "feedForwardLength", "mergeCount", "contextLength", "tensorType",
  ];
  return Object.fromEntries(keys.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]));
}

function validateShape(shape: TestModelShape): void {
  const positive: Array<keyof TestModelShape> = ["embeddingLength", "blockCount", "headCount", "headCountKv", "feedForwardLength", "contextLength"];
  for (const key of positive) {
    const value = shape[key];
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) throw new Error(`generateTestModel: ${key} must be a positive integer`);
  }
  if (!Number.isInteger(shape.mergeCount) || shape.mergeCount < 0) throw new Error("generateTestModel: mergeCount must be an integer >= 0");
  if (shape.embeddingLength % shape.headCount !== 0) throw new Error("generateTestModel: embeddingLength must be a multiple of headCount");
  if (shape.headCount % shape.headCountKv !== 0) throw new Error("generateTestModel: headCount must be a multiple of headCountKv");
  if (shape.tensorType === "q8_0" && (shape.embeddingLength % 32 !== 0 || shape.feedForwardLength % 32 !== 0)) {
    throw new Error("generateTestModel: Q8_0 needs embeddingLength and feedForwardLength to be multiples of 32");
  }
}

async function readFingerprint(file: string): Promise<{ fingerprint: string; fileBytes: number } | null> {
  try {
    const info = await inspectGguf(file);
    const value = info.metadata.get(FINGERPRINT_KEY);
    return typeof value === "string" ? { fingerprint: value, fileBytes: info.fileBytes } : null;
  } catch {
    return null;
  }
}

function buildTensors(shape: TestModelShape, vocabularySize: number, seed: number): GgufTensorSource[] {
  const embd = shape.embeddingLength;
  const kvWidth = (embd / shape.headCount) * shape.headCountKv;
  const weightType = { q8_0: GgmlType.Q8_0, f16: GgmlType.F16, f32: GgmlType.F32 }[shape.tensorType];
  const matrix = (name: string, columns: number, rows: number, scale: number): GgufTensorSource =>
    randomMatrix({ name, columns, rows, type: weightType, scale, seed });
  const ones = (name: string): GgufTensorSource => constantVector(name, embd, 1);

  // Uniform(-a, a) with a = sqrt(3 / fan_in) keeps activations near unit variance, so the noise model
  // produces varied logits instead of saturating on one token.
  const scaleFor = (fanIn: number): number => Math.sqrt(3 / fanIn);
  const tensors: GgufTensorSource[] = [matrix("token_embd.weight", embd, vocabularySize, 1), ones("output_norm.weight")];
  for (let block = 0; block < shape.blockCount; block++) {
    const prefix = `blk.${block}`;
    tensors.push(
      ones(`${prefix}.attn_norm.weight`),
      matrix(`${prefix}.attn_q.weight`, embd, embd, scaleFor(embd)),
      matrix(`${prefix}.attn_k.weight`, embd, kvWidth, scaleFor(embd)),
      matrix(`${prefix}.attn_v.weight`, embd, kvWidth, scaleFor(embd)),
      matrix(`${prefix}.attn_output.weight`, embd, embd, scaleFor(embd)),
      ones(`${prefix}.ffn_norm.weight`),
      matrix(`${prefix}.ffn_gate.weight`, embd, shape.feedForwardLength, scaleFor(embd)),
      matrix(`${prefix}.ffn_up.weight`, embd, shape.feedForwardLength, scaleFor(embd)),
      matrix(`${prefix}.ffn_down.weight`, shape.feedForwardLength, embd, scaleFor(shape.feedForwardLength)),
    );
  }
  return tensors;
}

function constantVector(name: string, length: number, value: number): GgufTensorSource {
  return {
    name,
    dims: [length],
    type: GgmlType.F32,
    *chunks() {
      const bytes = Buffer.alloc(length * 4);
      for (let index = 0; index < length; index++) bytes.writeFloatLE(value, index * 4);
      yield bytes;
    },
  };
}

/** A [columns, rows] matrix (columns contiguous) of uniform noise, produced ~256 KB at a time. */
function randomMatrix(params: { name: string; columns: number; rows: number; type: GgmlType; scale: number; seed: number }): GgufTensorSource {
  const { name, columns, rows, type, scale, seed } = params;
  const rowBytes = type === GgmlType.Q8_0 ? (columns / 32) * 34 : columns * (type === GgmlType.F16 ? 2 : 4);
  const rowsPerChunk = Math.max(1, Math.floor((256 * 1024) / rowBytes));
  return {
    name,
    dims: [columns, rows],
    type,
    *chunks() {
      const random = new SeededRandom(seed, name);
      const values = new Float32Array(columns);
      for (let firstRow = 0; firstRow < rows; firstRow += rowsPerChunk) {
        const chunkRows = Math.min(rowsPerChunk, rows - firstRow);
        const bytes = Buffer.alloc(chunkRows * rowBytes);
        for (let row = 0; row < chunkRows; row++) {
          for (let column = 0; column < columns; column++) values[column] = random.nextSymmetric(scale);
          encodeRow(values, type, bytes, row * rowBytes);
        }
        yield bytes;
      }
    },
  };
}

function encodeRow(values: Float32Array, type: GgmlType, out: Buffer, offset: number): void {
  if (type === GgmlType.F32) {
    for (let index = 0; index < values.length; index++) out.writeFloatLE(values[index]!, offset + index * 4);
    return;
  }
  if (type === GgmlType.F16) {
    for (let index = 0; index < values.length; index++) out.writeUInt16LE(toFloat16Bits(values[index]!), offset + index * 2);
    return;
  }
  // Q8_0: blocks of 32 values = f16 scale d + 32 int8 q, value ≈ d * q (ggml's quantize_row_q8_0).
  for (let block = 0; block < values.length / 32; block++) {
    let absoluteMax = 0;
    for (let index = 0; index < 32; index++) absoluteMax = Math.max(absoluteMax, Math.abs(values[block * 32 + index]!));
    const scaleBits = toFloat16Bits(absoluteMax / 127);
    const scale = fromFloat16Bits(scaleBits);
    const blockOffset = offset + block * 34;
    out.writeUInt16LE(scaleBits, blockOffset);
    for (let index = 0; index < 32; index++) {
      const quantized = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(values[block * 32 + index]! / scale)));
      out.writeInt8(quantized, blockOffset + 2 + index);
    }
  }
}
