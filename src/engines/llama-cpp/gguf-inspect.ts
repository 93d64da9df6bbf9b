/**
 * Validates a GGUF file before llama.cpp sees it.
 *
 * Why: llama.cpp trusts its input. Measured on this project's machines (ENGINE-NOTES.md), a GGUF missing
 * `llama.feed_forward_length` or `llama.attention.head_count` aborts the whole Node process (exit 134, no JS
 * exception), and a valid magic/version followed by a truncated header makes loading hang. A server that loads
 * a user-supplied model must refuse such files with a message instead of dying.
 *
 * The header is read streaming, in windows, with every length checked against the bytes that remain, so a
 * huge model is never read whole and a lying length (a 2^60-element array) fails at once instead of looping.
 * Checked: magic, version 2 or 3, counts, every metadata key/value, tensor infos (dims, known types, aligned
 * offsets), that every tensor's data lies inside the file, and the keys the architecture needs.
 */
import { open, type FileHandle } from "node:fs/promises";
import {
  GGML_TYPE_GEOMETRY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_SCALAR_SIZES,
  GGUF_VALUE_TYPE_NAMES,
  GgufValueType,
  alignUp,
} from "./gguf/gguf-format.ts";

export type GgufScalar = string | number | bigint | boolean;

export interface GgufArraySummary {
  kind: "array";
  itemType: string;
  length: number;
  /** The items of short scalar arrays (per-layer values); null for long arrays such as the vocabulary. */
  items: GgufScalar[] | null;
}

export type GgufInspectedValue = GgufScalar | GgufArraySummary;

export interface GgufTensorSummary {
  name: string;
  dims: number[];
  type: string;
  /** Absolute byte offset of the tensor's data in the file. */
  start: number;
  bytes: number;
}

export interface GgufInspection {
  path: string;
  fileBytes: number;
  version: number;
  architecture: string;
  metadata: Map<string, GgufInspectedValue>;
  /** Value type name of each metadata key ("u32", "f32", "string", "array"). */
  metadataTypes: Map<string, string>;
  tensors: GgufTensorSummary[];
  dataStart: number;
}

/** The file is not a GGUF llama.cpp can load safely. `problem` is the message without the file name. */
export class GgufInspectionError extends Error {
  readonly file: string;
  readonly problem: string;

  constructor(file: string, problem: string, options: { separator?: string } = {}) {
    super(`${file}${options.separator ?? ": "}${problem}`);
    this.name = "GgufInspectionError";
    this.file = file;
    this.problem = problem;
  }
}

export interface InspectGgufOptions {
  /** Longest metadata string value accepted (chat templates are the long ones). Default 16 MiB. */
  maxStringBytes?: number;
}

const MAX_KEY_BYTES = 65_535;
const MAX_TENSOR_NAME_BYTES = 63; // GGML_MAX_NAME (64) including the terminator
const MAX_COUNT = 1_000_000;
const SHORT_ARRAY_ITEMS = 256;
const WINDOW_BYTES = 1 << 20;

/** Architectures without attention heads or a feed-forward length (llama.cpp loads them differently). */
const RECURRENT_ARCHITECTURES = new Set(["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"]);

/**
 * Keys llama.cpp reads unconditionally; `{arch}` is `general.architecture`. For `llama` each was confirmed
 * by leaving it out (missing feed_forward_length or head_count aborts the process); the common three are
 * required by every architecture's loader.
 */
function requiredKeys(architecture: string): Array<{ key: string; expect: "integer" | "integers" | "f32" }> {
  const keys: Array<{ key: string; expect: "integer" | "integers" | "f32" }> = [
    { key: `${architecture}.context_length`, expect: "integer" },
    { key: `${architecture}.embedding_length`, expect: "integer" },
    { key: `${architecture}.block_count`, expect: "integer" },
  ];
  if (!RECURRENT_ARCHITECTURES.has(architecture)) {
    // Both may be per-layer arrays in llama.cpp (e.g. gemma3n, OpenELM).
    keys.push({ key: `${architecture}.feed_forward_length`, expect: "integers" });
    keys.push({ key: `${architecture}.attention.head_count`, expect: "integers" });
  }
  if (architecture === "llama") keys.push({ key: "llama.attention.layer_norm_rms_epsilon", expect: "f32" });
  return keys;
}

/** Buffered little-endian reader over a file; every read is bounds-checked against the file size. */
class FileCursor {
  private window = Buffer.alloc(0);
  private windowStart = 0;
  position = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileBytes: number,
    private readonly fail: (problem: string, separator?: string) => never,
  ) {}

  get remaining(): number {
    return this.fileBytes - this.position;
  }

  private async ensure(bytes: number, what: string): Promise<number> {
    if (this.position + bytes > this.fileBytes) {
      this.fail(`truncated: ${what} needs ${bytes} bytes at offset ${this.position} but the file has ${this.fileBytes} bytes`, " is ");
    }
    const relative = this.position - this.windowStart;
    if (relative >= 0 && relative + bytes <= this.window.length) return relative;
    const length = Math.min(Math.max(bytes, WINDOW_BYTES), this.fileBytes - this.position);
    const window = Buffer.alloc(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.handle.read(window, filled, length - filled, this.position + filled);
      if (bytesRead === 0) this.fail(`could not read ${length} bytes at offset ${this.position} (file changed while reading?)`);
      filled += bytesRead;
    }
    this.window = window;
    this.windowStart = this.position;
    return 0;
  }

  async u32(what: string): Promise<number> {
    const at = await this.ensure(4, what);
    this.position += 4;
    return this.window.readUInt32LE(at);
  }

  /** A u64 that must fit a JS number (counts, lengths, dims, offsets). */
  async u64(what: string): Promise<number> {
    const at = await this.ensure(8, what);
    this.position += 8;
    const value = this.window.readBigUInt64LE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} is ${value}, which is impossibly large`);
    return Number(value);
  }

  async string(what: string, maxBytes: number): Promise<string> {
    const length = await this.u64(`${what} length`);
    if (length > maxBytes) this.fail(`${what} is ${length} bytes long (limit ${maxBytes})`);
    const at = await this.ensure(length, what);
    this.position += length;
    return this.window.toString("utf8", at, at + length);
  }

  /** Skips a string without decoding it. */
  async skipString(what: string, maxBytes: number): Promise<void> {
    const length = await this.u64(`${what} length`);
    if (length > maxBytes) this.fail(`${what} is ${length} bytes long (limit ${maxBytes})`);
    if (length > this.remaining) await this.ensure(length, what);
    this.position += length;
  }

  async scalar(type: number, what: string): Promise<GgufScalar> {
    const size = GGUF_SCALAR_SIZES[type]!;
    const at = await this.ensure(size, what);
    this.position += size;
    const window = this.window;
    switch (type) {
      case GgufValueType.UINT8: return window.readUInt8(at);
      case GgufValueType.INT8: return window.readInt8(at);
      case GgufValueType.UINT16: return window.readUInt16LE(at);
      case GgufValueType.INT16: return window.readInt16LE(at);
      case GgufValueType.UINT32: return window.readUInt32LE(at);
      case GgufValueType.INT32: return window.readInt32LE(at);
      case GgufValueType.FLOAT32: return window.readFloatLE(at);
      case GgufValueType.BOOL: return window.readUInt8(at) !== 0;
      case GgufValueType.UINT64: return safeNumber(window.readBigUInt64LE(at));
      case GgufValueType.INT64: return safeNumber(window.readBigInt64LE(at));
      default: return window.readDoubleLE(at);
    }
  }

  skip(bytes: number, what: string): Promise<number> {
    return this.ensure(bytes, what).then(() => {
      this.position += bytes;
      return bytes;
    });
  }
}

function safeNumber(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

/**
 * Reads and validates `file`'s GGUF header. Throws GgufInspectionError naming the file and the problem.
 * Reads only the header (plus a stat): cost is independent of the tensor data size.
 */
export async function inspectGguf(file: string, options: InspectGgufOptions = {}): Promise<GgufInspection> {
  const maxStringBytes = options.maxStringBytes ?? 16 * 1024 * 1024;
  const fail = (problem: string, separator?: string): never => {
    throw new GgufInspectionError(file, problem, { separator });
  };
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(code === "ENOENT" ? "file not found" : `cannot open the file (${code ?? String(error)})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) fail("not a regular file");
    if (stat.size === 0) fail("the file is empty, not a GGUF model");
    const cursor = new FileCursor(handle, stat.size, fail);
    if (stat.size < 4) fail(`${stat.size} bytes is too short to be a GGUF model`);
    const magic = await cursor.u32("the magic number");
    if (magic !== GGUF_MAGIC) fail("not a GGUF file (the first 4 bytes are not \"GGUF\")");
    const version = await cursor.u32("the version");
    if (version !== 2 && version !== 3) {
      fail(version === 1 ? "GGUF version 1 is no longer supported by llama.cpp; convert the model again" : `unsupported GGUF version ${version} (expected 2 or 3; a big-endian file?)`);
    }
    const tensorCount = await cursor.u64("the tensor count");
    const metadataCount = await cursor.u64("the metadata count");
    if (tensorCount > MAX_COUNT) fail(`declares ${tensorCount} tensors (limit ${MAX_COUNT})`);
    if (metadataCount > MAX_COUNT) fail(`declares ${metadataCount} metadata entries (limit ${MAX_COUNT})`);
    // Every entry needs at least a key length + type (12 bytes), every tensor info at least 8+4+8+4+8.
    if (metadataCount * 12 + tensorCount * 32 > cursor.remaining) {
      fail(`truncated: the header declares ${metadataCount} metadata entries and ${tensorCount} tensors, more than the ${stat.size}-byte file can hold`, " is ");
    }

    const metadata = new Map<string, GgufInspectedValue>();
    const metadataTypes = new Map<string, string>();
    for (let index = 0; index < metadataCount; index++) {
      const key = await cursor.string(`metadata key #${index}`, MAX_KEY_BYTES);
      if (metadata.has(key)) fail(`duplicate metadata key ${key}`);
      const type = await cursor.u32(`the type of ${key}`);
      metadataTypes.set(key, GGUF_VALUE_TYPE_NAMES[type] ?? String(type));
      metadata.set(key, await readValue(cursor, type, key, maxStringBytes, fail));
    }

    const alignmentValue = metadata.get("general.alignment");
    const alignment = alignmentValue === undefined ? GGUF_DEFAULT_ALIGNMENT : typeof alignmentValue === "number" ? alignmentValue : Number.NaN;
    if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
      fail(`general.alignment must be a power of two, got ${String(alignmentValue)}`);
    }

    const tensorInfos: Array<{ name: string; dims: number[]; typeName: string; offset: number; bytes: number }> = [];
    const tensorNames = new Set<string>();
    for (let index = 0; index < tensorCount; index++) {
      const name = await cursor.string(`the name of tensor #${index}`, MAX_TENSOR_NAME_BYTES);
      if (tensorNames.has(name)) fail(`duplicate tensor ${name}`);
      tensorNames.add(name);
      const dimCount = await cursor.u32(`the dimension count of tensor ${name}`);
      if (dimCount < 1 || dimCount > GGUF_MAX_DIMS) fail(`tensor ${name} has ${dimCount} dimensions (1 to ${GGUF_MAX_DIMS} allowed)`);
      const dims: number[] = [];
      for (let dim = 0; dim < dimCount; dim++) dims.push(await cursor.u64(`dimension ${dim} of tensor ${name}`));
      const type = await cursor.u32(`the type of tensor ${name}`);
      const offset = await cursor.u64(`the data offset of tensor ${name}`);
      const geometry = GGML_TYPE_GEOMETRY[type];
      if (!geometry) fail(`tensor ${name} has unknown or unsupported ggml type ${type}`);
      if (dims[0]! % geometry!.blockSize !== 0) {
        fail(`tensor ${name}: first dimension ${dims[0]} is not a multiple of the ${geometry!.name} block size ${geometry!.blockSize}`);
      }
      if (offset % alignment !== 0) fail(`tensor ${name}: data offset ${offset} is not aligned to ${alignment}`);
      const elements = dims.reduce((product, dim) => product * dim, 1);
      if (!Number.isSafeInteger(elements)) fail(`tensor ${name} has an impossible number of elements`);
      tensorInfos.push({ name, dims, typeName: geometry!.name, offset, bytes: (elements / geometry!.blockSize) * geometry!.typeSize });
    }

    const dataStart = alignUp(cursor.position, alignment);
    const tensors: GgufTensorSummary[] = [];
    for (const info of tensorInfos) {
      const start = dataStart + info.offset;
      const end = start + info.bytes;
      if (end > stat.size) fail(`truncated: tensor ${info.name} ends at byte ${end} but the file has ${stat.size} bytes`, " is ");
      tensors.push({ name: info.name, dims: info.dims, type: info.typeName, start, bytes: info.bytes });
    }

    const architecture = checkArchitecture(metadata, metadataTypes, tensors, fail);
    return { path: file, fileBytes: stat.size, version, architecture, metadata, metadataTypes, tensors, dataStart };
  } finally {
    await handle.close();
  }
}

async function readValue(
  cursor: FileCursor,
  type: number,
  key: string,
  maxStringBytes: number,
  fail: (problem: string, separator?: string) => never,
): Promise<GgufInspectedValue> {
  if (type === GgufValueType.STRING) return cursor.string(`the value of ${key}`, maxStringBytes);
  if (type !== GgufValueType.ARRAY) {
    if (GGUF_SCALAR_SIZES[type] === undefined) fail(`metadata key ${key} has unknown value type ${type}`);
    return cursor.scalar(type, `the value of ${key}`);
  }
  const itemType = await cursor.u32(`the item type of ${key}`);
  const length = await cursor.u64(`the length of ${key}`);
  const itemName = GGUF_VALUE_TYPE_NAMES[itemType];
  if (itemType === GgufValueType.ARRAY || itemName === undefined) fail(`metadata key ${key} is an array of unsupported type ${itemType}`);
  const minimumItemBytes = itemType === GgufValueType.STRING ? 8 : GGUF_SCALAR_SIZES[itemType]!;
  if (length * minimumItemBytes > cursor.remaining) {
    fail(`truncated: metadata key ${key} declares ${length} items, which need at least ${length * minimumItemBytes} bytes at offset ${cursor.position} but the file has ${cursor.fileBytes} bytes`, " is ");
  }
  const keepItems = length <= SHORT_ARRAY_ITEMS;
  const items: GgufScalar[] = [];
  if (itemType === GgufValueType.STRING) {
    for (let index = 0; index < length; index++) {
      if (keepItems) items.push(await cursor.string(`${key}[${index}]`, maxStringBytes));
      else await cursor.skipString(`${key}[${index}]`, maxStringBytes);
    }
  } else if (keepItems) {
    for (let index = 0; index < length; index++) items.push(await cursor.scalar(itemType, `${key}[${index}]`));
  } else {
    await cursor.skip(length * minimumItemBytes, `the items of ${key}`);
  }
  return { kind: "array", itemType: itemName!, length, items: keepItems ? items : null };
}

function isArraySummary(value: GgufInspectedValue | undefined): value is GgufArraySummary {
  return typeof value === "object" && value !== null && (value as GgufArraySummary).kind === "array";
}

function isInteger(value: GgufScalar | undefined): boolean {
  return (typeof value === "number" && Number.isInteger(value)) || typeof value === "bigint";
}

function checkArchitecture(
  metadata: Map<string, GgufInspectedValue>,
  types: Map<string, string>,
  tensors: GgufTensorSummary[],
  fail: (problem: string) => never,
): string {
  const architecture = metadata.get("general.architecture");
  if (architecture === undefined) fail("missing required key general.architecture");
  if (typeof architecture !== "string" || architecture.length === 0) fail("general.architecture must be a non-empty string");
  const arch = architecture as string;

  for (const { key, expect } of requiredKeys(arch)) {
    const value = metadata.get(key);
    if (value === undefined) fail(`missing required key ${key}`);
    if (expect === "f32") {
      if (types.get(key) !== "f32") fail(`${key} must be an f32, got ${types.get(key)}`);
      continue;
    }
    const values = isArraySummary(value) && expect === "integers" ? (value.items ?? []) : [value as GgufScalar];
    if (values.length === 0 || !values.every(isInteger)) fail(`${key} must be ${expect === "integers" ? "an integer or an array of integers" : "an integer"}`);
  }
  const positive = (key: string): number => {
    const value = metadata.get(key);
    const first = isArraySummary(value) ? value.items?.find((item) => Number(item) > 0) : value;
    return Number(first);
  };
  if (positive(`${arch}.embedding_length`) <= 0) fail(`${arch}.embedding_length must be positive`);
  if (positive(`${arch}.block_count`) <= 0) fail(`${arch}.block_count must be positive`);
  if (!RECURRENT_ARCHITECTURES.has(arch)) {
    const heads = positive(`${arch}.attention.head_count`);
    if (!(heads > 0)) fail(`${arch}.attention.head_count must be positive`);
    const headsKv = metadata.get(`${arch}.attention.head_count_kv`);
    if (typeof headsKv === "number" && (headsKv <= 0 || heads % headsKv !== 0)) {
      fail(`${arch}.attention.head_count_kv (${headsKv}) must be positive and divide attention.head_count (${heads})`);
    }
  }

  const tokenizerModel = metadata.get("tokenizer.ggml.model");
  if (tokenizerModel === undefined) fail("missing required key tokenizer.ggml.model");
  if (typeof tokenizerModel !== "string") fail("tokenizer.ggml.model must be a string");
  if (tokenizerModel !== "none") {
    const tokens = metadata.get("tokenizer.ggml.tokens");
    if (tokens === undefined) fail("missing required key tokenizer.ggml.tokens");
    if (!isArraySummary(tokens) || tokens.itemType !== "string" || tokens.length === 0) fail("tokenizer.ggml.tokens must be a non-empty array of strings");
    const tokenCount = (tokens as GgufArraySummary).length;
    if (tokenizerModel === "gpt2") {
      const merges = metadata.get("tokenizer.ggml.merges");
      if (merges === undefined) fail("missing required key tokenizer.ggml.merges (needed by the gpt2 BPE tokenizer)");
      if (!isArraySummary(merges) || merges.itemType !== "string") fail("tokenizer.ggml.merges must be an array of strings");
    }
    const tokenTypes = metadata.get("tokenizer.ggml.token_type");
    if (isArraySummary(tokenTypes) && tokenTypes.length !== tokenCount) {
      fail(`tokenizer.ggml.token_type has ${tokenTypes.length} entries but tokenizer.ggml.tokens has ${tokenCount}`);
    }
    for (const idKey of ["bos", "eos", "eot", "unknown", "padding", "seperator"]) {
      const id = metadata.get(`tokenizer.ggml.${idKey}_token_id`);
      if (typeof id === "number" && id >= tokenCount) {
        fail(`tokenizer.ggml.${idKey}_token_id (${id}) is outside the vocabulary of ${tokenCount} tokens`);
      }
    }
    const embeddings = tensors.find((tensor) => tensor.name === "token_embd.weight");
    if (embeddings && embeddings.dims.length >= 2 && embeddings.dims[1] !== tokenCount) {
      fail(`token_embd.weight has ${embeddings.dims[1]} rows but the vocabulary has ${tokenCount} tokens`);
    }
  }
  return arch;
}
