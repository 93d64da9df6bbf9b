/**
 * Writes a generated llama-architecture test model (random weights, fixed seed).
 *   node --import tsx scripts/generate-model.ts <out.gguf> [--size tiny|bench-25m] [--seed N]
 */
import { TEST_MODEL_PRESETS, generateTestModel, type TestModelSize } from "../src/demo-model/generate-test-model.ts";

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const out = process.argv[2];
const size = option("size") ?? "tiny";
const seed = Number(option("seed") ?? "1");
if (!out || out.startsWith("--") || !(size in TEST_MODEL_PRESETS) || !Number.isInteger(seed)) {
  console.error(`usage: generate-model.ts <out.gguf> [--size ${Object.keys(TEST_MODEL_PRESETS).join("|")}] [--seed N]`);
  process.exit(2);
}
const started = Date.now();
const model = await generateTestModel({ path: out, size: size as TestModelSize, seed });
console.log(
  `${model.created ? "wrote" : "kept existing"} ${model.path}: ${model.parameterCount.toLocaleString("en")} parameters, ` +
    `${model.vocabularySize} tokens, ${model.fileBytes.toLocaleString("en")} bytes (${Date.now() - started} ms)`,
);
