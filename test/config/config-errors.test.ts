/**
 * Configuration errors in plain words: where (file and line, flag or variable), the key path, and what to
 * write instead, with "did you mean" for misspelt keys and values.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { closestName, editDistance } from "../../src/config/did-you-mean.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const dir = testWorkDir("config", "config-errors");

/** The ConfigError's message for a config file with `text`, plus optional env and flags. */
function errorFor(name: string, text: string, env: NodeJS.ProcessEnv = {}, flags: Record<string, string> = {}): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  try {
    loadConfig({ config: file, ...flags }, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`${name} was accepted`);
}

describe("configuration errors", () => {
  it("says a required key is missing, for the engine that needs it", () => {
    expect(errorFor("required.yaml", "models:\n  - name: a\n    engine: openai\n")).toBe("required.yaml:2: models[0].baseUrl is required for engine 'openai' (or several URLs in baseUrls).");
    expect(errorFor("no-engine.yaml", "models:\n  - name: a\n    path: x.gguf\n")).toBe("no-engine.yaml:2: models[0].engine is required: one of 'openai', 'gemini', 'anthropic', 'llama-cpp'.");
  });

  it("suggests the key meant for an unknown key, at its own level and line", () => {
    expect(errorFor("typo.yaml", "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    concurency: 4\n")).toBe(
      "typo.yaml:5: unknown key 'models[0].concurency': did you mean 'concurrency'?",
    );
    expect(errorFor("top.yaml", "host: 0.0.0.0\nprot: 8080\n")).toBe("top.yaml:2: unknown key 'prot': did you mean 'port'?");
    expect(errorFor("section.yaml", "worker:\n  lease_ms: 5000\n")).toBe("section.yaml:2: unknown key 'worker.lease_ms': did you mean 'leaseMs'?");
    // The allowed keys depend on the engine: `path` belongs to llama-cpp models, not openai ones.
    expect(errorFor("engine-keys.yaml", "models:\n  - name: a\n    engine: llama-cpp\n    pth: x.gguf\n")).toContain("unknown key 'models[0].pth': did you mean 'path'?");
  });

  it("lists the allowed keys when no key is close", () => {
    expect(errorFor("far.yaml", "limits:\n  banana: 1\n")).toBe(
      "far.yaml:2: unknown key 'limits.banana': the keys allowed here are maxUploadBytes, maxGeminiUploadBytes, maxVisionUploadBytes, maxUserDataUploadBytes, maxLineBytes, maxBatchItems.",
    );
  });

  it("explains wrong values in words, with did-you-mean for choices", () => {
    const message = errorFor("values.yaml", 'port: "80a"\nlogLevel: warning\nworker:\n  leaseMs: 0\n  pollMs: 1.5\n  maxAttempts: "3"\nmodels:\n  - {name: a, engine: llamacpp, path: x}\n');
    expect(message.split("\n")).toEqual([
      "values.yaml:1: port must be a number, got '80a'.",
      "values.yaml:2: logLevel must be one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', got 'warning' (did you mean 'warn'?).",
      "values.yaml:4: worker.leaseMs must be greater than 0, got 0.",
      "values.yaml:5: worker.pollMs must be a whole number, got 1.5.",
      "values.yaml:6: worker.maxAttempts must be a number, got '3' (write the number without quotes).",
      "values.yaml:8: models[0].engine must be one of 'openai', 'gemini', 'anthropic', 'llama-cpp', got 'llamacpp' (did you mean 'llama-cpp'?).",
    ]);
    expect(message).not.toMatch(/Invalid input|expected string, received/);
  });

  it("never echoes the value of a key or secret setting", () => {
    const message = errorFor("secret.yaml", "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    apiKey: 123456789\n");
    expect(message).toBe("secret.yaml:5: models[0].apiKey must be text, got a number (not shown).");
  });

  it("names the flag or variable a bad value came from, not the file it overrode", () => {
    expect(errorFor("layers.yaml", "port: 8080\n", { SPOOL_PORT: "http" })).toBe("SPOOL_PORT: port must be a number, got 'http'.");
    expect(errorFor("layers2.yaml", "port: 8080\n", {}, { port: "99999" })).toBe("--port: port must be at most 65535, got 99999.");
    expect(() => loadConfig({ logLevel: "loud" }, {})).toThrow(/^--log-level: logLevel must be one of /);
  });

  it("rejects a database URL that is not PostgreSQL, without printing its password", () => {
    const message = errorFor("db.yaml", "databaseUrl: mysql://root:hunter2@db/spool\n");
    expect(message).toBe("db.yaml:1: databaseUrl must start with postgres:// or postgresql://, got mysql://root:****@db/spool: spool stores its state in SQLite (no URL) or PostgreSQL.");
    expect(() => loadConfig({ databaseUrl: "not a url" }, {})).toThrow(/^--database-url: databaseUrl is not a URL/);
  });

  it("checks databaseListenUrl like databaseUrl, and refuses it without one", () => {
    const db = "postgres://spool@db:5432/spool";
    expect(() => loadConfig({ databaseUrl: db }, { SPOOL_DATABASE_LISTEN_URL: "mysql://root:hunter2@db/spool" })).toThrow(
      "SPOOL_DATABASE_LISTEN_URL: databaseListenUrl must start with postgres:// or postgresql://, got mysql://root:****@db/spool: spool stores its state in SQLite (no URL) or PostgreSQL.",
    );
    expect(() => loadConfig({ databaseUrl: db, databaseListenUrl: "db:5432" }, {})).toThrow(/^--database-listen-url: databaseListenUrl must start with postgres:\/\//);
    expect(errorFor("listen.yaml", "port: 8080\ndatabaseListenUrl: postgres://spool@db:5432/spool\n")).toBe(
      "listen.yaml:2: databaseListenUrl is only for a PostgreSQL store: set databaseUrl too (the listening connection must reach the same database), or remove databaseListenUrl.",
    );
  });

  it("gives the line and column of a syntax error", () => {
    expect(errorFor("bad.yaml", "port: 8080\nmodels:\n  - name: a\n   engine: openai\n")).toMatch(/^bad\.yaml:4:\d+: not valid YAML: .+\.$/);
    expect(errorFor("comma.json", '{\n  "port": 8080,\n  "host": "127.0.0.1",\n}\n')).toBe("comma.json:3:22: not valid JSON: a trailing comma before '}' (JSON allows none).");
    expect(errorFor("missing-comma.json", '{\n  "port": 8080\n  "host": "x"\n}')).toBe("missing-comma.json:3:3: not valid JSON: unexpected '\"', expected ',' or '}'.");
    expect(errorFor("empty.json", "")).toBe("empty.json:1:1: not valid JSON: unexpected end of the file, expected a value.");
  });

  it("reports every unset variable with the key that uses it", () => {
    const message = errorFor("vars.yaml", "databaseUrl: ${DB_URL}\nmodels:\n  - name: a\n    engine: gemini\n    apiKey: ${GEMINI_KEY}\n    baseUrl: ${GEMINI_URL:-https://example.test/v1}\n");
    expect(message.split("\n")).toEqual([
      "vars.yaml:1: databaseUrl uses ${DB_URL}, which is not set: export DB_URL=..., or write ${DB_URL:-default}.",
      "vars.yaml:5: models[0].apiKey uses ${GEMINI_KEY}, which is not set: export GEMINI_KEY=..., or write ${GEMINI_KEY:-default}.",
    ]);
  });

  it("names a config file that is missing, a directory, or not a mapping", () => {
    expect(() => loadConfig({ config: path.join(dir, "absent.yaml") }, {})).toThrow(`config file ${path.join(dir, "absent.yaml")} does not exist (ENOENT): check --config.`);
    expect(() => loadConfig({}, { SPOOL_CONFIG: dir })).toThrow(`config file ${dir} is a directory (EISDIR): check SPOOL_CONFIG.`);
    expect(errorFor("list.yaml", "- a\n- b\n")).toBe("list.yaml: the file must hold a mapping of settings (host:, port:, models:, ...), not a list.");
  });

  it("names both entries of a model name configured twice", () => {
    expect(errorFor("twice.yaml", "models:\n  - {name: a, engine: openai, baseUrl: 'http://x/v1'}\n  - {name: a, engine: openai, baseUrl: 'http://y/v1'}\n")).toBe(
      "twice.yaml:3: models[1].name 'a' is configured twice (also models[0]): give each model its own name.",
    );
  });
});

describe("closestName", () => {
  it("finds misspellings, swapped letters, other casings and snake_case", () => {
    const keys = ["name", "engine", "concurrency", "timeoutMs", "maxRetries", "baseUrl"];
    expect(closestName("concurency", keys)).toBe("concurrency");
    expect(closestName("egnine", keys)).toBe("engine");
    expect(closestName("baseURL", keys)).toBe("baseUrl");
    expect(closestName("max_retries", keys)).toBe("maxRetries");
    expect(closestName("timeout", keys)).toBe("timeoutMs");
  });

  it("suggests nothing for a name far from every allowed one", () => {
    expect(closestName("banana", ["port", "host", "models"])).toBeNull();
    expect(closestName("", ["port"])).toBeNull();
  });

  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("prot", "port")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
  });
});
