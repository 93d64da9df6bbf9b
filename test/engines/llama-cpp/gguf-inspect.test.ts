import { copyFile, mkdir, open, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../../src/core/engine.ts";
import { GgufInspectionError, inspectGguf } from "../../../src/engines/llama-cpp/gguf-inspect.ts";
import { buildTestModelSpec } from "../../../src/demo-model/generate-test-model.ts";
import { writeGgufFile } from "../../../src/demo-model/gguf-writer.ts";
import { LlamaCppEngine } from "../../../src/engines/llama-cpp/llama-cpp-engine.ts";
import { ModelProbeError, probeModelLoad } from "../../../src/engines/llama-cpp/probe-model-load.ts";
import { TEST_MODELS_DIR, ensureTinyModel } from "../../helpers/test-model.ts";

const dir = path.join(TEST_MODELS_DIR, `bad-${process.pid}`);
let tiny: string;

/** A copy of the tiny model's spec with `leaveOut` metadata keys removed, written to `name`. */
async function writeWithout(name: string, ...leaveOut: string[]): Promise<string> {
  const { spec } = buildTestModelSpec({ size: "tiny" });
  const file = path.join(dir, name);
  await writeGgufFile(file, { ...spec, metadata: spec.metadata.filter(([key]) => !leaveOut.includes(key)) });
  return file;
}

async function copyOfTiny(name: string): Promise<string> {
  const file = path.join(dir, name);
  await copyFile(tiny, file);
  return file;
}

async function overwrite(file: string, position: number, bytes: Buffer): Promise<void> {
  const handle = await open(file, "r+");
  await handle.write(bytes, 0, bytes.length, position);
  await handle.close();
}

function engineFor(file: string): LlamaCppEngine {
  // probe: false — the inspector alone must stop these files; if one reached llama.cpp, the missing-key
  // cases would abort this test process (exit 134) instead of failing an assertion.
  return new LlamaCppEngine({
    model: { name: "bad", engine: "llama-cpp", path: file, concurrency: 1, timeoutMs: 10_000, maxRetries: 0 },
    probe: false,
  });
}

/** The inspector rejects `file` with `message`, and the engine refuses to load it with the same words. */
async function expectRejected(file: string, message: string | RegExp): Promise<void> {
  const inspection = await inspectGguf(file).then(() => null, (error: unknown) => error);
  expect(inspection).toBeInstanceOf(GgufInspectionError);
  expect((inspection as Error).message).toMatch(message);
  const engine = engineFor(file);
  const failure = await engine.warmup().then(() => null, (error: unknown) => error);
  expect(failure).toBeInstanceOf(EngineError);
  expect(failure).toMatchObject({ kind: "engine", retryable: false });
  expect((failure as Error).message).toBe(`Model 'bad' cannot be loaded: ${(inspection as Error).message}`);
  await engine.close();
}

beforeAll(async () => {
  tiny = await ensureTinyModel();
  await mkdir(dir, { recursive: true });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("inspectGguf", () => {
  it("accepts the generated model and reports its architecture, tensors and vocabulary", async () => {
    const info = await inspectGguf(tiny);
    expect(info.version).toBe(3);
    expect(info.architecture).toBe("llama");
    expect(info.metadata.get("llama.embedding_length")).toBe(64);
    expect(info.metadata.get("tokenizer.ggml.tokens")).toMatchObject({ kind: "array", itemType: "string", length: 387 });
    expect(info.tensors.find((tensor) => tensor.name === "blk.1.ffn_down.weight")).toMatchObject({ dims: [128, 64], type: "Q8_0" });
    const last = info.tensors.at(-1)!;
    expect(last.start + last.bytes).toBe(info.fileBytes);
  });

  it("rejects a model missing llama.feed_forward_length (llama.cpp aborts the process on it)", async () => {
    const file = await writeWithout("no-ff.gguf", "llama.feed_forward_length");
    await expectRejected(file, `${file}: missing required key llama.feed_forward_length`);
  });

  it("rejects a model missing llama.attention.head_count (llama.cpp aborts the process on it)", async () => {
    const file = await writeWithout("no-heads.gguf", "llama.attention.head_count");
    await expectRejected(file, `${file}: missing required key llama.attention.head_count`);
  });

  it("rejects a model missing tokenizer.ggml.merges for a gpt2 tokenizer", async () => {
    const file = await writeWithout("no-merges.gguf", "tokenizer.ggml.merges");
    await expectRejected(file, /missing required key tokenizer\.ggml\.merges/);
  });

  it("rejects a valid magic and version followed by a truncated header (llama.cpp can hang on it)", async () => {
    const file = await copyOfTiny("truncated-header.gguf");
    await truncate(file, 3000);
    await expectRejected(file, new RegExp(`^${file} is truncated: .* needs? (at least )?\\d+ bytes at offset \\d+ but the file has 3000 bytes`));
  });

  it("rejects truncated tensor data, naming the tensor and both sizes", async () => {
    const file = await copyOfTiny("truncated-data.gguf");
    const full = (await inspectGguf(tiny)).fileBytes;
    await truncate(file, full - 100);
    await expectRejected(file, `${file} is truncated: tensor blk.1.ffn_down.weight ends at byte ${full} but the file has ${full - 100} bytes`);
  });

  it("rejects a wrong magic number", async () => {
    const file = await copyOfTiny("wrong-magic.gguf");
    await overwrite(file, 0, Buffer.from("GGUX"));
    await expectRejected(file, `${file}: not a GGUF file`);
  });

  it("rejects an empty file", async () => {
    const file = path.join(dir, "empty.gguf");
    await writeFile(file, "");
    await expectRejected(file, `${file}: the file is empty, not a GGUF model`);
  });

  it("rejects an unsupported version", async () => {
    const file = await copyOfTiny("version-9.gguf");
    await overwrite(file, 4, Buffer.from([9, 0, 0, 0]));
    await expectRejected(file, `${file}: unsupported GGUF version 9`);
  });

  it("rejects an absurd declared string length without trying to read it", async () => {
    const file = await copyOfTiny("lying-length.gguf");
    const header = Buffer.alloc(8);
    // The first metadata value is general.architecture (a string): give it a 2^50-byte length.
    header.writeBigUInt64LE(2n ** 50n);
    const keyLength = "general.architecture".length;
    await overwrite(file, 4 + 4 + 8 + 8 + 8 + keyLength + 4, header);
    await expectRejected(file, /the value of general\.architecture is \d+ bytes long \(limit/);
  });

  it("reports a missing file", async () => {
    await expect(inspectGguf(path.join(dir, "nope.gguf"))).rejects.toThrow(/nope\.gguf: file not found/);
  });
});

describe("probeModelLoad (defence in depth: a child process loads the model first)", () => {
  it("contains a native abort: a file llama.cpp asserts on fails the probe, not this process", async () => {
    const file = await writeWithout("probe-no-ff.gguf", "llama.feed_forward_length");
    const failure = await probeModelLoad(file, { timeoutMs: 60_000 }).then(() => null, (error: unknown) => error);
    expect(failure).toBeInstanceOf(ModelProbeError);
    expect((failure as Error).message).toMatch(/killed by SIGABRT|aborted/);
  });

  it("kills a probe that does not finish in time", async () => {
    const file = await copyOfTiny("probe-slow.gguf");
    await expect(probeModelLoad(file, { timeoutMs: 50 })).rejects.toThrow(/did not finish within 50 ms/);
  });

  it("passes the generated model", async () => {
    await expect(probeModelLoad(tiny, { timeoutMs: 60_000 })).resolves.toBeUndefined();
  });
});
