/**
 * Issue 13: two tenants on one spool, with every dialect's real SDK and a table of every route that takes an
 * id. Tenant beta asking for tenant alpha's File, Batch, upload session or results gets exactly the answer a
 * missing id gets (status and body, in the dialect's envelope); lists never show the other tenant's; no key,
 * an unknown key and a revoked key are 401s the SDKs raise as their authentication errors; an admin key sees
 * everything. Run on every Store backend (SQLite file, PostgreSQL schema).
 */
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI, type ApiError } from "@google/genai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { TEST_DATABASE_URL, freshTestSchema } from "../helpers/postgres.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { storeBackends } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";

const KEYS = { alpha: "alpha-key-0123456789", beta: "beta-key-0123456789", ops: "ops-admin-key-0123456789" } as const;

interface Fixture {
  spool: TestApp;
  /** Ids tenant alpha owns. */
  ids: Record<"file" | "output" | "batch" | "geminiFile" | "geminiBatch" | "messageBatch" | "uploadId", string>;
}

const upstreams: FakeOpenAIUpstream[] = [];
afterAll(async () => {
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function startSpool(backend: string, label: string): Promise<TestApp> {
  const upstream = await startFakeOpenAIUpstream();
  upstreams.push(upstream);
  let databaseUrl: string | undefined;
  if (backend === "postgres") {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", await freshTestSchema(label));
    databaseUrl = url.toString();
  }
  return startTestApp(
    {
      models: [{ name: "m", engine: "openai", baseUrl: upstream.url }],
      tenants: [
        { name: "alpha", keys: [KEYS.alpha] },
        { name: "beta", keys: [KEYS.beta] },
        { name: "ops", keys: [KEYS.ops], role: "admin" },
      ],
      worker: { sweepMs: 50, pollMs: 50 },
      ...(databaseUrl ? { databaseUrl } : {}),
    },
    { label },
  );
}

function clients(spool: TestApp, key: string) {
  return {
    openai: new OpenAI({ apiKey: key, baseURL: spool.openaiBaseUrl, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: key, baseURL: spool.url, maxRetries: 0 }),
    ai: new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: spool.url } }),
  };
}

/** Alpha's resources: an OpenAI file and finished batch, a Gemini file and batch, a Message Batch, an open upload session. */
async function seedAlpha(spool: TestApp): Promise<Fixture["ids"]> {
  const { openai, anthropic, ai } = clients(spool, KEYS.alpha);
  const file = await openai.files.create({ file: await toFile(Buffer.from([chatLine("a", "hello", "m"), chatLine("b", "there", "m")].join("\n")), "in.jsonl"), purpose: "batch" });
  const created = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  const batch = await waitFor(async () => {
    const current = await openai.batches.retrieve(created.id);
    return current.status === "completed" ? current : undefined;
  }, { what: "alpha's batch to complete" });
  const local = path.join(spool.dataDir, "gemini.jsonl");
  writeFileSync(local, `${JSON.stringify({ key: "g", request: { contents: [{ role: "user", parts: [{ text: "hi" }] }] } })}\n`);
  const geminiFile = await ai.files.upload({ file: local, config: { mimeType: "jsonl" } });
  const geminiBatch = await ai.batches.create({ model: "m", src: geminiFile.name ?? "" });
  const messageBatch = await anthropic.messages.batches.create({ requests: [{ custom_id: "x", params: { model: "m", max_tokens: 4, messages: [{ role: "user", content: "hi" }] } }] });
  const start = await fetch(`${spool.url}/upload/v1beta/files`, {
    method: "POST",
    headers: { "x-goog-api-key": KEYS.alpha, "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "x-goog-upload-header-content-length": "10", "content-type": "application/json" },
    body: JSON.stringify({ file: { displayName: "later.jsonl" } }),
  });
  const uploadUrl = start.headers.get("x-goog-upload-url") ?? "";
  expect(uploadUrl).toContain("upload_id=");
  return {
    file: file.id,
    output: batch.output_file_id ?? "",
    batch: batch.id,
    geminiFile: (geminiFile.name ?? "").replace(/^files\//, ""),
    geminiBatch: (geminiBatch.name ?? "").replace(/^batches\//, ""),
    messageBatch: messageBatch.id,
    uploadId: new URL(uploadUrl).searchParams.get("upload_id") ?? "",
  };
}

type IdName = keyof Fixture["ids"];
interface Route {
  method: "GET" | "POST" | "DELETE";
  /** `{file}` etc. stand for alpha's ids. */
  path: string;
  /** Headers of the dialect's SDK (besides the key). */
  headers?: Record<string, string>;
  body?: unknown;
  /** The owner may call it without changing anything (checked as alpha and as the admin). */
  readOnly: boolean;
}

const GOOG_QUERY = { "x-goog-upload-command": "query" };
const ROUTES: Route[] = [
  { method: "GET", path: "/v1/files/{file}", readOnly: true },
  { method: "GET", path: "/v1/files/{file}/content", readOnly: true },
  { method: "GET", path: "/v1/files/{output}/content", readOnly: true },
  { method: "DELETE", path: "/v1/files/{file}", readOnly: false },
  { method: "GET", path: "/v1/batches/{batch}", readOnly: true },
  { method: "GET", path: "/v1/batches/{batch}/progress", readOnly: true },
  { method: "GET", path: "/v1/batches/{batch}/results", readOnly: true },
  { method: "POST", path: "/v1/batches/{batch}/cancel", readOnly: false },
  { method: "POST", path: "/v1/batches/{batch}/retry_failed", readOnly: false },
  { method: "GET", path: "/v1beta/openai/batches/{batch}", readOnly: true },
  { method: "GET", path: "/v1beta/openai/files/{file}", readOnly: true },
  { method: "GET", path: "/v1beta/files/{geminiFile}", readOnly: true },
  { method: "GET", path: "/v1beta/files/{geminiFile}:download?alt=media", readOnly: true },
  { method: "GET", path: "/download/v1beta/files/{geminiFile}:download?alt=media", readOnly: true },
  { method: "DELETE", path: "/v1beta/files/{geminiFile}", readOnly: false },
  { method: "GET", path: "/v1beta/batches/{geminiBatch}", readOnly: true },
  { method: "POST", path: "/v1beta/batches/{geminiBatch}:cancel", readOnly: false },
  { method: "DELETE", path: "/v1beta/batches/{geminiBatch}", readOnly: false },
  { method: "POST", path: "/upload/v1beta/files?upload_id={uploadId}&upload_protocol=resumable", headers: GOOG_QUERY, readOnly: true },
  { method: "GET", path: "/v1/messages/batches/{messageBatch}", readOnly: true },
  { method: "GET", path: "/v1/messages/batches/{messageBatch}/results", readOnly: true },
  { method: "GET", path: "/v1/messages/batches/{messageBatch}/progress", readOnly: true },
  { method: "POST", path: "/v1/messages/batches/{messageBatch}/cancel", readOnly: false },
  { method: "POST", path: "/v1/messages/batches/{messageBatch}/retry_failed", readOnly: false },
  { method: "DELETE", path: "/v1/messages/batches/{messageBatch}", readOnly: false },
  { method: "GET", path: "/dashboard/api/batches/{batch}", readOnly: true },
  { method: "GET", path: "/dashboard/api/batches/{batch}/timeline", readOnly: true },
  { method: "GET", path: "/dashboard/api/batches/{batch}/failures", readOnly: true },
  { method: "GET", path: "/dashboard/api/batches/{batch}/results", readOnly: true },
  { method: "GET", path: "/dashboard/api/batches/{batch}/webhooks", readOnly: true },
  { method: "POST", path: "/dashboard/api/batches/{batch}/cancel", readOnly: false },
  { method: "POST", path: "/dashboard/api/batches/{batch}/retry", readOnly: false },
  { method: "POST", path: "/dashboard/api/files/{file}/link", readOnly: true },
];

/** An id of the same form and length that names nothing. */
function missing(id: string): string {
  return id.slice(0, -6) + (id.endsWith("zzzzzz") ? "yyyyyy" : "zzzzzz");
}

async function call(spool: TestApp, route: Route, ids: Fixture["ids"], key: string | null, swap: IdName | null = null): Promise<{ status: number; text: string }> {
  const used = new Map<string, string>();
  const url = route.path.replace(/\{(\w+)\}/g, (_match, name: IdName) => {
    const real = ids[name];
    const id = name === swap ? missing(real) : real;
    used.set(id, real);
    return id;
  });
  const headers: Record<string, string> = { ...route.headers };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${spool.url}${url}`, { method: route.method, headers });
  const text = (await response.text()).replace(/req_[a-z0-9]+/g, "req_");
  return { status: response.status, text };
}

const idNameOf = (route: Route): IdName => (/\{(\w+)\}/.exec(route.path)?.[1] ?? "file") as IdName;

describe.each(storeBackends.map((backend) => backend.name))("tenant isolation (%s store)", (backend) => {
  let fixture: Fixture;

  beforeAll(async () => {
    const spool = await startSpool(backend, `tenancy isolation ${backend}`);
    fixture = { spool, ids: await seedAlpha(spool) };
  }, 120_000);
  afterAll(async () => {
    await fixture?.spool.stop();
  });

  it.each(ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))("%s: another tenant's id answers exactly as a missing one", async (_name, route) => {
    const { spool, ids } = fixture;
    const idName = idNameOf(route);
    const foreign = await call(spool, route, ids, KEYS.beta);
    const absent = await call(spool, route, ids, KEYS.alpha, idName);
    expect(foreign.status).toBe(404);
    expect(absent.status).toBe(404);
    expect(foreign.text).toBe(absent.text.split(missing(ids[idName])).join(ids[idName]));
    expect((await call(spool, route, ids, null)).status).toBe(401);
    expect((await call(spool, route, ids, "not-a-key")).status).toBe(401);
    if (route.readOnly) {
      expect((await call(spool, route, ids, KEYS.alpha)).status).toBeLessThan(300);
      expect((await call(spool, route, ids, KEYS.ops)).status).toBeLessThan(300);
    }
  });

  it("lists only the caller's files and batches in every dialect; an admin lists everyone's", async () => {
    const { spool, ids } = fixture;
    const beta = clients(spool, KEYS.beta);
    const ops = clients(spool, KEYS.ops);
    const betaFile = await beta.openai.files.create({ file: await toFile(Buffer.from(chatLine("c", "mine", "m")), "beta.jsonl"), purpose: "batch" });
    const betaFiles = (await beta.openai.files.list()).data.map((file) => file.id);
    expect(betaFiles).toEqual([betaFile.id]);
    expect((await beta.openai.batches.list()).data).toEqual([]);
    expect((await beta.anthropic.messages.batches.list()).data).toEqual([]);
    const geminiFiles: string[] = [];
    for await (const file of await beta.ai.files.list()) geminiFiles.push(file.name ?? "");
    expect(geminiFiles).toEqual([`files/${betaFile.id}`]);
    const geminiBatches: string[] = [];
    for await (const batch of await beta.ai.batches.list()) geminiBatches.push(batch.name ?? "");
    expect(geminiBatches).toEqual([]);
    const dashboard = await fetch(`${spool.url}/dashboard/api/batches`, { headers: { authorization: `Bearer ${KEYS.beta}` } });
    expect(((await dashboard.json()) as { batches: unknown[] }).batches).toEqual([]);
    // A cursor naming another tenant's object is refused like an unknown one, not paged from.
    await expect(beta.openai.batches.list({ after: ids.batch })).rejects.toBeInstanceOf(OpenAI.BadRequestError);

    const everyFile = (await ops.openai.files.list()).data.map((file) => file.id);
    expect(everyFile).toEqual(expect.arrayContaining([ids.file, betaFile.id]));
    expect((await ops.openai.batches.list()).data.map((batch) => batch.id)).toContain(ids.batch);
    expect((await ops.anthropic.messages.batches.list()).data.map((batch) => batch.id)).toContain(ids.messageBatch);
  });

  it("gives each SDK its own typed errors: not found for another tenant's id, authentication for no or a wrong key", async () => {
    const { spool, ids } = fixture;
    const beta = clients(spool, KEYS.beta);
    await expect(beta.openai.batches.retrieve(ids.batch)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(beta.openai.files.content(ids.output)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(beta.anthropic.messages.batches.retrieve(ids.messageBatch)).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    const geminiMissing = await beta.ai.batches.get({ name: `batches/${ids.geminiBatch}` }).catch((error: unknown) => error);
    expect((geminiMissing as ApiError).status).toBe(404);
    expect(String((geminiMissing as ApiError).message)).toContain("NOT_FOUND");

    const stranger = clients(spool, "wrong-key");
    await expect(stranger.openai.batches.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(stranger.anthropic.messages.batches.list()).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    const geminiDenied = await stranger.ai.batches.get({ name: `batches/${ids.geminiBatch}` }).catch((error: unknown) => error);
    expect((geminiDenied as ApiError).status).toBe(401);
    expect(String((geminiDenied as ApiError).message)).toContain("UNAUTHENTICATED");
  });

  it("never lets a batch read another tenant's file: created on it, it fails exactly as on a missing file", async () => {
    const { spool, ids } = fixture;
    const beta = clients(spool, KEYS.beta).openai;
    const failedOn = async (fileId: string) => {
      const created = await beta.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" });
      return waitFor(async () => {
        const batch = await beta.batches.retrieve(created.id);
        return batch.status === "failed" ? batch : undefined;
      }, { what: `beta's batch on ${fileId} to fail` });
    };
    const [foreign, absent] = await Promise.all([failedOn(ids.file), failedOn(missing(ids.file))]);
    expect(foreign.errors?.data?.[0]?.message).toContain("Cannot find file");
    expect(JSON.stringify(foreign.errors)).toBe(JSON.stringify(absent.errors).split(missing(ids.file)).join(ids.file));
    expect(foreign.output_file_id ?? null).toBeNull();
  });

  it("stops a key revoked through the admin API at once; members cannot use the admin API", async () => {
    const { spool, ids } = fixture;
    const admin = (path: string, init: RequestInit = {}) => fetch(`${spool.url}/admin/v1${path}`, { ...init, headers: { authorization: `Bearer ${KEYS.ops}`, "content-type": "application/json" } });
    const made = (await (await admin("/keys", { method: "POST", body: JSON.stringify({ tenant: "alpha" }) })).json()) as { id: string; key: string; hint: string };
    expect(made.key.startsWith(made.hint.replace("…", ""))).toBe(true);
    const alpha = new OpenAI({ apiKey: made.key, baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    expect((await alpha.batches.retrieve(ids.batch)).id).toBe(ids.batch);
    const listed = (await (await admin("/keys?tenant=alpha")).json()) as { data: { id: string; hint: string }[] };
    expect(listed.data.map((key) => key.id)).toContain(made.id);
    expect(JSON.stringify(listed)).not.toContain(made.key);
    expect((await admin(`/keys/${made.id}`, { method: "DELETE" })).status).toBe(200);
    await expect(alpha.batches.retrieve(ids.batch)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const member = await fetch(`${spool.url}/admin/v1/tenants`, { headers: { authorization: `Bearer ${KEYS.alpha}` } });
    expect(member.status).toBe(403);
    const usage = (await (await admin("/tenants")).json()) as { data: { tenant: string; files: number; storedBytes: number }[] };
    const alphaUsage = usage.data.find((entry) => entry.tenant === "alpha");
    expect(alphaUsage?.files).toBeGreaterThanOrEqual(3);
    expect(alphaUsage?.storedBytes).toBeGreaterThan(0);
  });
});
