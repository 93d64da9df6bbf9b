import { createHash } from "node:crypto";
import { readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { inspectGguf } from "../../src/engines/llama-cpp/gguf-inspect.ts";
import { buildTestModelSpec, generateTestModel } from "../../src/demo-model/generate-test-model.ts";
import { TEST_MODELS_DIR } from "../helpers/test-model.ts";

const dir = path.join(TEST_MODELS_DIR, `generator-${process.pid}`);

async function sha256Of(file: string): Promise<string> {
  return createHash("sha256").update(await readFile(file)).digest("hex");
}

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("generateTestModel", () => {
  it("writes the same bytes for the same seed and different bytes for another seed", async () => {
    const first = await generateTestModel({ path: path.join(dir, "a.gguf"), size: "tiny", seed: 7 });
    const again = await generateTestModel({ path: path.join(dir, "b.gguf"), size: "tiny", seed: 7 });
    const other = await generateTestModel({ path: path.join(dir, "c.gguf"), size: "tiny", seed: 8 });
    expect(await sha256Of(first.path)).toBe(await sha256Of(again.path));
    expect(await sha256Of(first.path)).not.toBe(await sha256Of(other.path));
  });

  it("keeps an existing identical file and rewrites one generated with other parameters", async () => {
    const file = path.join(dir, "reuse.gguf");
    const created = await generateTestModel({ path: file, size: "tiny", seed: 3 });
    const modifiedAt = (await stat(file)).mtimeMs;
    const reused = await generateTestModel({ path: file, size: "tiny", seed: 3 });
    expect(created.created).toBe(true);
    expect(reused).toMatchObject({ created: false, fingerprint: created.fingerprint, fileBytes: created.fileBytes });
    expect((await stat(file)).mtimeMs).toBe(modifiedAt);
    const replaced = await generateTestModel({ path: file, size: "tiny", seed: 4 });
    expect(replaced.created).toBe(true);
    expect(replaced.fingerprint).not.toBe(created.fingerprint);
  });

  it("makes a tiny model of a few hundred KB with a byte-level BPE vocabulary and a ChatML template", async () => {
    const model = await generateTestModel({ path: path.join(dir, "tiny.gguf"), size: "tiny" });
    expect(model.fileBytes).toBeLessThan(400_000);
    const info = await inspectGguf(model.path);
    expect(info.metadata.get("tokenizer.ggml.model")).toBe("gpt2");
    expect(info.metadata.get("tokenizer.ggml.tokens")).toMatchObject({ length: 256 + 128 + 3 });
    expect(info.metadata.get("tokenizer.chat_template")).toContain("<|im_start|>");
    expect(info.tensors.map((tensor) => tensor.name)).toContain("blk.1.ffn_gate.weight");
  });

  it("describes a ~25M-parameter benchmark model without writing it", () => {
    const bench = buildTestModelSpec({ size: "bench-25m" });
    expect(bench.parameterCount).toBeGreaterThan(24_000_000);
    expect(bench.parameterCount).toBeLessThan(27_000_000);
    expect(bench.vocabularySize).toBe(256 + 1024 + 3);
  });

  it("honours shape options and F16 tensors", async () => {
    const model = await generateTestModel({ path: path.join(dir, "f16.gguf"), size: "tiny", tensorType: "f16", blockCount: 1, embeddingLength: 32, headCount: 2, headCountKv: 2 });
    const info = await inspectGguf(model.path);
    expect(info.metadata.get("llama.block_count")).toBe(1);
    expect(info.tensors.find((tensor) => tensor.name === "blk.0.attn_q.weight")).toMatchObject({ dims: [32, 32], type: "F16" });
  });

  it("rejects shapes llama.cpp cannot load", async () => {
    await expect(generateTestModel({ path: path.join(dir, "bad.gguf"), embeddingLength: 48, headCount: 5 })).rejects.toThrow(/multiple of headCount/);
    await expect(generateTestModel({ path: path.join(dir, "bad.gguf"), embeddingLength: 48, headCount: 4, headCountKv: 4 })).rejects.toThrow(/multiples of 32/);
  });
});
