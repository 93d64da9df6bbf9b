/**
 * A GGUF v3 writer that streams tensor data: the header (metadata + tensor infos) is built in memory (it is
 * small: the vocabulary is the largest part), then each tensor's bytes are pulled chunk by chunk from its
 * source and written, so a model of any size never sits whole in memory.
 */
import { open } from "node:fs/promises";
import {
  GGML_TYPE_GEOMETRY,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  alignUp,
  type GgmlType,
} from "../engines/llama-cpp/gguf/gguf-format.ts";

export type GgufArrayItemType = "string" | "i32" | "u32" | "f32";

export type GgufMetadataValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: "string"; values: readonly string[] }
  | { type: "array"; itemType: "i32" | "u32" | "f32"; values: readonly number[] };

export interface GgufTensorSource {
  name: string;
  /** First dimension first (the contiguous one), as GGUF stores them. */
  dims: readonly number[];
  type: GgmlType;
  /** Yields the tensor's bytes in order; their total must equal the size implied by dims and type. */
  chunks(): Iterable<Uint8Array>;
}

export interface GgufFileSpec {
  metadata: ReadonlyArray<readonly [key: string, value: GgufMetadataValue]>;
  tensors: readonly GgufTensorSource[];
}

export function tensorByteSize(dims: readonly number[], type: number): number {
  const geometry = GGML_TYPE_GEOMETRY[type];
  if (!geometry) throw new Error(`Unknown ggml type ${type}`);
  const [first = 1] = dims;
  if (first % geometry.blockSize !== 0) {
    throw new Error(`First dimension ${first} is not a multiple of the ${geometry.name} block size ${geometry.blockSize}`);
  }
  const elements = dims.reduce((product, dim) => product * dim, 1);
  return (elements / geometry.blockSize) * geometry.typeSize;
}

/** Append-only little-endian byte builder for the header. */
class ByteBuilder {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const next = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  u32(value: number): void {
    this.reserve(4);
    this.length = this.buffer.writeUInt32LE(value, this.length);
  }

  i32(value: number): void {
    this.reserve(4);
    this.length = this.buffer.writeInt32LE(value, this.length);
  }

  f32(value: number): void {
    this.reserve(4);
    this.length = this.buffer.writeFloatLE(value, this.length);
  }

  u64(value: number): void {
    this.reserve(8);
    this.length = this.buffer.writeBigUInt64LE(BigInt(value), this.length);
  }

  u8(value: number): void {
    this.reserve(1);
    this.length = this.buffer.writeUInt8(value, this.length);
  }

  string(value: string): void {
    const bytes = Buffer.from(value, "utf8");
    this.u64(bytes.length);
    this.reserve(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }

  padTo(alignment: number): void {
    const padded = alignUp(this.length, alignment);
    this.reserve(padded - this.length);
    this.buffer.fill(0, this.length, padded);
    this.length = padded;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

const ARRAY_ITEM_TYPES: Record<GgufArrayItemType, number> = {
  string: GgufValueType.STRING,
  i32: GgufValueType.INT32,
  u32: GgufValueType.UINT32,
  f32: GgufValueType.FLOAT32,
};

function writeValue(out: ByteBuilder, value: GgufMetadataValue): void {
  switch (value.type) {
    case "u32":
      out.u32(GgufValueType.UINT32);
      out.u32(value.value);
      return;
    case "i32":
      out.u32(GgufValueType.INT32);
      out.i32(value.value);
      return;
    case "f32":
      out.u32(GgufValueType.FLOAT32);
      out.f32(value.value);
      return;
    case "bool":
      out.u32(GgufValueType.BOOL);
      out.u8(value.value ? 1 : 0);
      return;
    case "string":
      out.u32(GgufValueType.STRING);
      out.string(value.value);
      return;
    case "array":
      out.u32(GgufValueType.ARRAY);
      out.u32(ARRAY_ITEM_TYPES[value.itemType]);
      out.u64(value.values.length);
      if (value.itemType === "string") {
        for (const item of value.values) out.string(item);
        return;
      }
      for (const item of value.values) {
        if (value.itemType === "i32") out.i32(item);
        else if (value.itemType === "u32") out.u32(item);
        else out.f32(item);
      }
  }
}

/** Header bytes (up to and including the padding before the data section) and each tensor's data offset. */
export function buildGgufHeader(spec: GgufFileSpec, alignment = GGUF_DEFAULT_ALIGNMENT): { header: Buffer; offsets: number[]; sizes: number[] } {
  const out = new ByteBuilder();
  out.u32(GGUF_MAGIC);
  out.u32(3);
  out.u64(spec.tensors.length);
  out.u64(spec.metadata.length);
  for (const [key, value] of spec.metadata) {
    out.string(key);
    writeValue(out, value);
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  for (const tensor of spec.tensors) {
    const size = tensorByteSize(tensor.dims, tensor.type);
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(tensor.type);
    out.u64(offset);
    offsets.push(offset);
    sizes.push(size);
    offset = alignUp(offset + size, alignment);
  }
  out.padTo(alignment);
  return { header: Buffer.from(out.bytes()), offsets, sizes };
}

/** Writes `spec` to `path` (created or truncated). Returns the file size. */
export async function writeGgufFile(path: string, spec: GgufFileSpec): Promise<number> {
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  const { header, sizes } = buildGgufHeader(spec, alignment);
  const handle = await open(path, "w");
  try {
    let position = 0;
    const write = async (bytes: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    };
    await write(header);
    for (const [index, tensor] of spec.tensors.entries()) {
      const expected = sizes[index]!;
      let written = 0;
      for (const chunk of tensor.chunks()) {
        await write(chunk);
        written += chunk.length;
      }
      if (written !== expected) {
        throw new Error(`Tensor ${tensor.name} produced ${written} bytes, expected ${expected}`);
      }
      const padding = alignUp(written, alignment) - written;
      if (padding > 0 && index < spec.tensors.length - 1) await write(new Uint8Array(padding));
    }
    await handle.sync();
    return position;
  } finally {
    await handle.close();
  }
}
