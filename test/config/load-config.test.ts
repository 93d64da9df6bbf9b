import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";

function writeConfig(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-config-"));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("loadConfig", () => {
  it("uses the embedded defaults with no file, env or flags", () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({ host: "127.0.0.1", port: 8080, databaseUrl: null, demoModel: true });
    expect(config.models).toEqual([expect.objectContaining({ name: "spool-demo", engine: "llama-cpp", path: path.join(config.dataDir, "models", "spool-demo.gguf") })]);
    expect(config.limits.maxUploadBytes).toBeGreaterThanOrEqual(200 * 1024 * 1024);
  });

  it("reads databaseListenUrl from the file, SPOOL_DATABASE_LISTEN_URL or --database-listen-url", () => {
    const file = writeConfig("db.yaml", "databaseUrl: postgres://spool@pgbouncer:6432/spool\ndatabaseListenUrl: postgres://spool@db:5432/spool\n");
    expect(loadConfig({ config: file }, {})).toMatchObject({ databaseUrl: "postgres://spool@pgbouncer:6432/spool", databaseListenUrl: "postgres://spool@db:5432/spool" });
    const fromEnv = loadConfig({ config: file }, { SPOOL_DATABASE_LISTEN_URL: "postgres://spool@db-env:5432/spool" });
    expect(fromEnv.databaseListenUrl).toBe("postgres://spool@db-env:5432/spool");
    const fromFlag = loadConfig({ config: file, databaseListenUrl: "postgres://spool@db-flag:5432/spool" }, { SPOOL_DATABASE_LISTEN_URL: "postgres://spool@db-env:5432/spool" });
    expect(fromFlag.databaseListenUrl).toBe("postgres://spool@db-flag:5432/spool");
    expect(loadConfig({}, {}).databaseListenUrl).toBeNull();
  });

  it("layers defaults < file < env < flags", () => {
    const file = writeConfig("spool.yaml", "host: 0.0.0.0\nport: 7000\ndataDir: ./from-file\n");
    const config = loadConfig({ config: file, port: "9100" }, { SPOOL_PORT: "9000", SPOOL_DATA_DIR: "/tmp/from-env" });
    expect(config.host).toBe("0.0.0.0");
    expect(config.port).toBe(9100);
    expect(config.dataDir).toBe("/tmp/from-env");
  });

  it("reads models with ${VAR} interpolation and fills engine defaults", () => {
    const file = writeConfig(
      "spool.yaml",
      [
        "models:",
        "  - name: gpt-4o-mini",
        "    engine: openai",
        "    baseUrl: http://127.0.0.1:8000/v1",
        "    apiKey: ${UPSTREAM_KEY}",
        "    upstreamModel: Qwen/Qwen2.5-7B-Instruct",
        "  - name: local-embed",
        "    engine: llama-cpp",
        "    path: ./models/embed.gguf",
      ].join("\n"),
    );
    const config = loadConfig({ config: file }, { UPSTREAM_KEY: "sk-secret" });
    expect(config.demoModel).toBe(false);
    expect(config.models[0]).toMatchObject({ name: "gpt-4o-mini", apiKey: "sk-secret", concurrency: 64, maxRetries: 5 });
    expect(config.models[1]).toMatchObject({ engine: "llama-cpp", path: path.join(path.dirname(file), "models/embed.gguf") });
  });

  it("accepts baseUrls and kvReuse, and refuses an openai model without any URL", () => {
    const file = writeConfig(
      "spool.yaml",
      [
        "models:",
        "  - name: replicas",
        "    engine: openai",
        "    baseUrls: [http://127.0.0.1:8001/v1, http://127.0.0.1:8002/v1]",
        "    baseUrlRouting: round-robin",
        "  - name: local",
        "    engine: llama-cpp",
        "    path: ./m.gguf",
        "    kvReuse: false",
      ].join("\n"),
    );
    const config = loadConfig({ config: file }, {});
    expect(config.models[0]).toMatchObject({ baseUrls: ["http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1"], baseUrlRouting: "round-robin" });
    expect(config.models[1]).toMatchObject({ kvReuse: false });
    const missing = writeConfig("spool.yaml", "models:\n  - name: a\n    engine: openai\n");
    expect(() => loadConfig({ config: missing }, {})).toThrow(/models\[0\]\.baseUrl is required for engine .openai. \(or several URLs in baseUrls\)/);
  });

  it("accepts flashAttention auto, true or false for a llama-cpp model, and nothing else", () => {
    const entry = (value: string): string => writeConfig("spool.yaml", `models:\n  - name: local\n    engine: llama-cpp\n    path: ./m.gguf\n    flashAttention: ${value}\n`);
    expect(loadConfig({ config: entry("false") }, {}).models[0]).toMatchObject({ flashAttention: false });
    expect(loadConfig({ config: entry("auto") }, {}).models[0]).toMatchObject({ flashAttention: "auto" });
    expect(() => loadConfig({ config: entry("off") }, {})).toThrow(/models\[0\]\.flashAttention/);
  });

  it("names the bad key in a model entry", () => {
    const file = writeConfig("spool.yaml", "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n  - name: b\n    engine: vllm\n");
    expect(() => loadConfig({ config: file }, {})).toThrow(/^spool\.yaml:6: models\[1\]\.engine must be one of 'openai', 'gemini', 'anthropic', 'llama-cpp', got 'vllm'\.$/);
  });

  it("names unknown keys instead of ignoring them", () => {
    const file = writeConfig("spool.json", JSON.stringify({ prot: 1 }));
    expect(() => loadConfig({ config: file }, {})).toThrow(/unknown key 'prot'/);
  });

  it("rejects a bad port from the environment naming the key", () => {
    expect(() => loadConfig({}, { SPOOL_PORT: "http" })).toThrow(ConfigError);
    expect(() => loadConfig({}, { SPOOL_PORT: "http" })).toThrow(/port/);
  });

  it("fails clearly when an interpolated variable is missing", () => {
    const file = writeConfig("spool.yaml", "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n    apiKey: ${NOPE_KEY}\n");
    expect(() => loadConfig({ config: file }, {})).toThrow(/^spool\.yaml:5: models\[0\]\.apiKey uses \$\{NOPE_KEY\}, which is not set/);
  });

  it("rejects a model name configured twice", () => {
    const file = writeConfig("spool.yaml", "models:\n  - {name: a, engine: openai, baseUrl: 'http://x/v1'}\n  - {name: a, engine: openai, baseUrl: 'http://y/v1'}\n");
    expect(() => loadConfig({ config: file }, {})).toThrow(/configured twice/);
  });

  it("fills server timeouts from defaults, takes them from the file, and refuses a header deadline past the request deadline", () => {
    expect(loadConfig({}, {}).server).toEqual({ headersTimeoutMs: 30_000, requestTimeoutMs: 3_600_000, keepAliveTimeoutMs: 72_000, bodyIdleTimeoutMs: 30_000 });
    const file = writeConfig("spool.yaml", "server:\n  bodyIdleTimeoutMs: 5000\n  requestTimeoutMs: 0\n");
    expect(loadConfig({ config: file }, {}).server).toMatchObject({ bodyIdleTimeoutMs: 5_000, requestTimeoutMs: 0, headersTimeoutMs: 30_000 });
    const bad = writeConfig("spool.yaml", "server:\n  headersTimeoutMs: 20000\n  requestTimeoutMs: 10000\n");
    expect(() => loadConfig({ config: bad }, {})).toThrow(/server\.headersTimeoutMs \(20000\) must not exceed server\.requestTimeoutMs \(10000\)/);
    expect(() => loadConfig({ config: writeConfig("spool.yaml", "server:\n  idleMs: 1\n") }, {})).toThrow(ConfigError);
  });
});

