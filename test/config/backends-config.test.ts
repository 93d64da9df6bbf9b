/**
 * `backends` on a Model (issue 12, part 5): an existing single-engine Model resolves as before; backends
 * resolve to full configs that keep the Model's name and inherit what they leave out; bad backends are
 * named by line and key path.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { totalConcurrency } from "../../src/config/backends.ts";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import type { Config } from "../../src/config/config.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const dir = testWorkDir("config", "backends-config");

function load(name: string, text: string): Config {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return loadConfig({ config: file }, {});
}

function errorFor(name: string, text: string): string {
  try {
    load(name, text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`${name} was accepted`);
}

const TWO_BACKENDS = `models:
  - name: llama-70b
    engine: openai
    baseUrl: http://cheap.local:8000/v1
    concurrency: 8
    timeoutMs: 30000
    upstreamModel: meta/llama-70b
    price: { input: 0.2, output: 0.4 }
    breaker: { failures: 3 }
    backends:
      - engine: openai
        baseUrl: https://dear.example.com/v1
        apiKey: sk-dear
        concurrency: 32
        price: { input: 1, output: 2, batchDiscount: 0.5 }
      - name: local
        engine: llama-cpp
        path: ./models/llama.gguf
        price: { input: 0, output: 0 }
`;

describe("backends in the config", () => {
  it("keeps a single-engine Model as it was: no backends, no backend name", () => {
    const [model] = load("single.yaml", "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    concurrency: 4\n").models;
    expect(model).toMatchObject({ name: "a", engine: "openai", concurrency: 4 });
    expect(model?.backends).toBeUndefined();
    expect(model?.backendName).toBeUndefined();
    expect(totalConcurrency(model!)).toBe(4);
  });

  it("resolves each backend to a full config under the Model's name, inheriting what it leaves out", () => {
    const [model] = load("two.yaml", TWO_BACKENDS).models;
    expect(model).toMatchObject({ name: "llama-70b", backendName: "openai@cheap.local:8000", concurrency: 8, breaker: { failures: 3 } });
    expect(model?.backends).toHaveLength(2);
    expect(model?.backends?.[0]).toMatchObject({
      name: "llama-70b", backendName: "openai@dear.example.com", engine: "openai", apiKey: "sk-dear", concurrency: 32,
      timeoutMs: 30_000, maxRetries: 5, upstreamModel: "meta/llama-70b", price: { input: 1, output: 2, batchDiscount: 0.5 },
    });
    // Engine defaults of the backend's own engine, and a local path resolved next to the config file.
    expect(model?.backends?.[1]).toMatchObject({ backendName: "local", engine: "llama-cpp", concurrency: 4, path: path.join(dir, "models", "llama.gguf") });
    expect(totalConcurrency(model!)).toBe(8 + 32 + 4);
  });

  it("names a backend's bad key by line and path", () => {
    const text = "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    backends:\n      - engine: openai\n        concurency: 4\n        baseUrl: http://y/v1\n";
    expect(errorFor("typo.yaml", text)).toBe("typo.yaml:7: unknown key 'models[0].backends[0].concurency': did you mean 'concurrency'?");
    const noUrl = "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    backends:\n      - engine: openai\n        concurrency: 4\n";
    expect(errorFor("no-url.yaml", noUrl)).toContain("models[0].backends[0].baseUrl is required");
  });

  it("refuses two backends of one name", () => {
    const text = "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    backends:\n      - engine: openai\n        baseUrl: http://x/v1\n";
    expect(errorFor("same.yaml", text)).toBe(
      "same.yaml:6: models[0].backends[0].name 'openai@x' is also the name of the model's own engine: give each backend its own `name`.",
    );
  });

  it("asks for a price on every backend once one has a price", () => {
    const text = "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    price: { input: 1, output: 1 }\n    backends:\n      - engine: openai\n        baseUrl: http://y/v1\n";
    expect(errorFor("unpriced.yaml", text)).toMatch(/^unpriced\.yaml:7: models\[0\]\.backends\[0\]\.price is required: with backends, give every backend/);
  });

  it("refuses breaker settings on a Model without backends", () => {
    const text = "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    breaker: { failures: 2 }\n";
    expect(errorFor("breaker.yaml", text)).toBe("breaker.yaml:5: models[0].breaker only applies to a model with backends: add `backends`, or remove `breaker`.");
  });
});
