/**
 * The generated tiny model shared by tests (llama architecture, random weights, ~115 KB). Written once under
 * test/.work/models/ (git-ignored); later calls, and other test files, reuse it while its fingerprint matches.
 */
import { fileURLToPath } from "node:url";
import { generateTestModel } from "../../src/demo-model/generate-test-model.ts";

export const TEST_MODELS_DIR = fileURLToPath(new URL("../.work/models/", import.meta.url));

let tiny: Promise<string> | null = null;

export function ensureTinyModel(): Promise<string> {
  tiny ??= generateTestModel({ path: `${TEST_MODELS_DIR}tiny-seed1.gguf`, size: "tiny", seed: 1 }).then((model) => model.path);
  return tiny;
}
