/**
 * The edges of authentication (issue 13): no key ever reaches the log (headers or Gemini's `?key=`, accepted
 * or refused, created through the admin API), CORS is off unless origins are configured, and the config
 * file's `tenants` are checked with errors that name the entry.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { captureLog, type CapturedLog } from "../helpers/log-capture.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

const KEY = "tenant-secret-key-42";
const ADMIN = "admin-secret-key-42";

describe("keys never logged, CORS off by default", () => {
  let spool: TestApp;
  let log: CapturedLog;
  let withCors: TestApp;

  beforeAll(async () => {
    log = captureLog("trace");
    const models = [{ name: "m", engine: "openai" as const, baseUrl: "http://127.0.0.1:9/v1" }];
    const tenants = [{ name: "t", keys: [KEY] }, { name: "ops", keys: [ADMIN], role: "admin" as const }];
    spool = await startTestApp({ models, tenants, logLevel: "trace" }, { label: "auth-edges", workers: false, logger: log.logger });
    withCors = await startTestApp({ models, tenants, corsOrigins: ["https://app.example"] }, { label: "auth-edges-cors", workers: false });
  }, 60_000);
  afterAll(async () => {
    await spool?.stop();
    await withCors?.stop();
  });

  it("keeps every key out of the log: headers, ?key=, wrong keys and keys the admin API makes", async () => {
    await fetch(`${spool.url}/v1beta/batches?key=${KEY}`);
    await fetch(`${spool.url}/v1beta/batches/nope?key=wrong-${KEY}`);
    await fetch(`${spool.url}/v1/batches`, { headers: { authorization: `Bearer ${KEY}` } });
    await fetch(`${spool.url}/v1/messages/batches`, { headers: { "x-api-key": `bad-${KEY}` } });
    const made = await fetch(`${spool.url}/admin/v1/keys`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: JSON.stringify({ tenant: "t" }) });
    const { key } = (await made.json()) as { key: string };
    await fetch(`${spool.url}/v1/batches?key=${key}`);
    const text = JSON.stringify(log.lines);
    expect(log.lines.some((line) => typeof line.path === "string" && line.path.includes("key=REDACTED"))).toBe(true);
    for (const secret of [KEY, ADMIN, key]) expect(text).not.toContain(secret);
  });

  it("sends no CORS headers unless the origin is configured, and answers its preflight", async () => {
    const plain = await fetch(`${spool.url}/v1/batches`, { headers: { origin: "https://app.example", authorization: `Bearer ${KEY}` } });
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(`${withCors.url}/v1/batches`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    const elsewhere = await fetch(`${withCors.url}/v1/batches`, { headers: { origin: "https://evil.example", authorization: `Bearer ${KEY}` } });
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("tenants in the config file", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "spool-tenants-config-"));
  const load = (text: string) => {
    const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, text);
    return loadConfig({ config: file }, {});
  };
  const errorOf = (text: string): string => {
    try {
      load(text);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error("expected a ConfigError");
  };

  it("reads tenants with keys, role and quotas, and default quotas", () => {
    const config = load("tenants:\n  - name: team-a\n    keys: [a1, a2]\n    quotas: { maxQueuedItems: 10 }\n  - name: ops\n    keys: [o1]\n    role: admin\ndefaultQuotas: { syncRequestsPerMinute: 60 }\n");
    expect(config.tenants).toEqual([
      { name: "team-a", keys: ["a1", "a2"], quotas: { maxQueuedItems: 10 } },
      { name: "ops", keys: ["o1"], role: "admin" },
    ]);
    expect(config.defaultQuotas).toEqual({ syncRequestsPerMinute: 60 });
    expect(config.corsOrigins).toEqual([]);
  });

  it("names a duplicate tenant, a key shared by two tenants, a bad name and an unknown quota", () => {
    expect(errorOf("tenants:\n  - name: a\n  - name: a\n")).toContain("tenants[1].name 'a' is declared twice");
    expect(errorOf("tenants:\n  - name: a\n    keys: [k]\n  - name: b\n    keys: [k]\n")).toContain("tenants[1].keys[0] is also a key of another tenant");
    expect(errorOf("tenants:\n  - name: 'a b'\n")).toContain("tenants[0].name");
    expect(errorOf("tenants:\n  - name: a\n    quotas: { maxItems: 3 }\n")).toMatch(/maxItems/);
  });
});
