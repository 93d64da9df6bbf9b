/**
 * The model cache against an in-process loopback HTTP server standing in for Hugging Face (and a CDN it
 * redirects to). Nothing here contacts an outside host: every resolver gets `hfEndpoint` pointing at the
 * loopback server.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { LlamaCppModelConfig } from "../../../src/config/config.ts";
import { generateTestModel } from "../../../src/demo-model/generate-test-model.ts";
import { createModelPathResolver, ModelFileError, type ModelPathResolverOptions } from "../../../src/engines/model-cache/model-path-resolver.ts";
import { parseModelSource } from "../../../src/engines/model-cache/model-source.ts";
import { testWorkDir } from "../../helpers/test-dirs.ts";

interface SeenRequest {
  path: string;
  range: string | null;
  authorization: string | null;
}

/** What the server does with one request for a file; default: serve it whole or the asked range. */
type Behaviour = (context: { n: number; range: string | null }) => { cutAfterBytes?: number; status?: number; redirectTo?: string; ignoreRange?: boolean } | undefined;

interface FileServer {
  origin: string;
  seen: SeenRequest[];
  files: Map<string, Buffer>;
  behave(rule: Behaviour | null): void;
  close(): Promise<void>;
}

async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, Buffer>();
  const seen: SeenRequest[] = [];
  let rule: Behaviour | null = null;
  const server = http.createServer((req, res) => {
    const urlPath = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const range = req.headers.range ?? null;
    seen.push({ path: urlPath, range, authorization: req.headers.authorization ?? null });
    const chosen = rule?.({ n: seen.length, range });
    if (chosen?.redirectTo) {
      res.writeHead(302, { location: chosen.redirectTo, "content-length": 0 });
      res.end();
      return;
    }
    const file = files.get(urlPath);
    if (chosen?.status !== undefined || !file) {
      const status = chosen?.status ?? 404;
      const body = JSON.stringify({ error: status === 404 ? "Entry not found" : "failure" });
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const match = range === null || chosen?.ignoreRange ? null : /^bytes=(\d+)-$/.exec(range);
    const start = match ? Number(match[1]) : 0;
    if (start >= file.length && match) {
      res.writeHead(416, { "content-range": `bytes */${file.length}`, "content-length": 0 });
      res.end();
      return;
    }
    const body = file.subarray(start);
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/octet-stream", "content-length": body.length, "accept-ranges": "bytes" };
    if (match) headers["content-range"] = `bytes ${start}-${file.length - 1}/${file.length}`;
    res.writeHead(match ? 206 : 200, headers);
    if (chosen?.cutAfterBytes !== undefined) {
      // A connection that drops mid-body: send some bytes, give the client a moment to take them, reset.
      res.write(body.subarray(0, chosen.cutAfterBytes), () => {
        setTimeout(() => res.socket?.destroy(), 100);
      });
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    files,
    behave: (next) => (rule = next),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const FILE_PATH = "/acme/tiny-llama/resolve/main/tiny.gguf";
let model: Buffer;
let modelSha: string;
const servers: FileServer[] = [];

beforeAll(async () => {
  const generated = await generateTestModel({ path: path.join(testWorkDir("model-cache", "source"), "tiny.gguf"), size: "tiny", seed: 1 });
  model = await readFile(generated.path);
  modelSha = createHash("sha256").update(model).digest("hex");
});

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function setUp(testName: string) {
  const server = await startFileServer();
  servers.push(server);
  server.files.set(FILE_PATH, model);
  const cacheDir = testWorkDir("model-cache", testName);
  const logs: string[] = [];
  const logger = {
    info: (_fields: object, message?: string) => void logs.push(message ?? ""),
    warn: (_fields: object, message?: string) => void logs.push(message ?? ""),
  } as unknown as ModelPathResolverOptions["logger"];
  const resolverFor = (extra: Partial<ModelPathResolverOptions> = {}) =>
    createModelPathResolver({ cacheDir, logger, hfEndpoint: server.origin, env: {}, retryBaseDelayMs: 10, ...extra });
  return { server, cacheDir, logs, resolverFor };
}

function llamaModel(source: string, extra: Partial<LlamaCppModelConfig> = {}): LlamaCppModelConfig {
  return { name: "tiny", engine: "llama-cpp", path: source, concurrency: 1, timeoutMs: 10_000, maxRetries: 0, ...extra };
}

/** Where the cache keeps `source` (the layout is the resolver's; the test only needs to plant a .part). */
function cachePathOf(source: string, hfEndpoint: string, cacheDir: string): string {
  const parsed = parseModelSource(source, hfEndpoint);
  if (parsed.kind !== "remote") throw new Error(`${source} is not remote`);
  return path.join(cacheDir, parsed.cacheKey, parsed.filename);
}

/** Every file under `dir`, relative. */
async function listFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

describe("model sources", () => {
  it("maps hf: URIs to the endpoint's resolve URL, with main as the default revision", () => {
    const plain = parseModelSource("hf:acme/tiny-llama/sub dir/tiny.gguf", "http://127.0.0.1:9");
    expect(plain).toMatchObject({ kind: "remote", url: "http://127.0.0.1:9/acme/tiny-llama/resolve/main/sub%20dir/tiny.gguf", filename: "tiny.gguf" });
    const pinned = parseModelSource("hf:acme/tiny-llama@v1.0/tiny.gguf", "http://127.0.0.1:9/");
    expect(pinned).toMatchObject({ url: "http://127.0.0.1:9/acme/tiny-llama/resolve/v1.0/tiny.gguf" });
    expect(pinned.kind === "remote" && plain.kind === "remote" && pinned.cacheKey !== plain.cacheKey).toBe(true);
    expect(parseModelSource("/models/x.gguf")).toEqual({ kind: "local", path: "/models/x.gguf" });
    expect(() => parseModelSource("hf:acme/tiny.gguf")).toThrow(/hf:owner\/repo\/path\/to\/file\.gguf/);
  });

  it("rejects a local path that does not exist, naming the model and the path", async () => {
    const { resolverFor } = await setUp("local missing");
    const missing = path.join(testWorkDir("model-cache", "nowhere"), "absent.gguf");
    await expect(resolverFor()(llamaModel(missing))).rejects.toThrow(`Model 'tiny': model file ${missing} does not exist`);
  });
});

describe("downloads", () => {
  it("downloads an hf: model once and serves later resolves from the cache without any request", async () => {
    const { server, cacheDir, resolverFor, logs } = await setUp("hf once");
    const resolved = await resolverFor({ progressIntervalMs: 0 })(llamaModel("hf:acme/tiny-llama/tiny.gguf", { sha256: modelSha }));
    expect(resolved.startsWith(cacheDir)).toBe(true);
    expect(path.basename(resolved)).toBe("tiny.gguf");
    expect((await readFile(resolved)).equals(model)).toBe(true);
    expect(server.seen.map((request) => request.path)).toEqual([FILE_PATH]);
    expect(logs.some((line) => /downloading tiny\.gguf: \d+\.\d% \(/.test(line))).toBe(true);

    // A fresh resolver (a restarted process) on the same cache dir: no network at all.
    const again = await resolverFor()(llamaModel("hf:acme/tiny-llama/tiny.gguf", { sha256: modelSha }));
    expect(again).toBe(resolved);
    expect(server.seen).toHaveLength(1);
    expect((await listFiles(cacheDir)).filter((file) => file.endsWith(".part"))).toEqual([]);
  });

  it("shares one download between concurrent resolves of the same model", async () => {
    const { server, resolverFor } = await setUp("concurrent");
    const resolve = resolverFor();
    const paths = await Promise.all([1, 2, 3].map(() => resolve(llamaModel("hf:acme/tiny-llama/tiny.gguf"))));
    expect(new Set(paths).size).toBe(1);
    expect(server.seen).toHaveLength(1);
  });

  it("resumes an interrupted download with a Range request and ends with a byte-identical file", async () => {
    const { server, resolverFor, logs } = await setUp("resume");
    const cut = 40_000;
    server.behave(({ n }) => (n === 1 ? { cutAfterBytes: cut } : undefined));
    const resolved = await resolverFor()(llamaModel("hf:acme/tiny-llama/tiny.gguf", { sha256: modelSha }));
    expect((await readFile(resolved)).equals(model)).toBe(true);
    expect(server.seen).toHaveLength(2);
    expect(server.seen[0]?.range).toBeNull();
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(server.seen[1]?.range ?? "")?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(cut);
    expect(logs.some((line) => line.startsWith("model download interrupted; retrying"))).toBe(true);
  });

  it("continues a .part left behind by an earlier process", async () => {
    const { server, cacheDir, resolverFor } = await setUp("part from earlier");
    const target = cachePathOf("hf:acme/tiny-llama/tiny.gguf", server.origin, cacheDir);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(`${target}.part`, model.subarray(0, 10_000));
    const resolved = await resolverFor()(llamaModel("hf:acme/tiny-llama/tiny.gguf", { sha256: modelSha }));
    expect(resolved).toBe(target);
    expect((await readFile(resolved)).equals(model)).toBe(true);
    expect(server.seen.map((request) => request.range)).toEqual(["bytes=10000-"]);
  });

  it("starts over when the server ignores the Range header and answers 200", async () => {
    const { server, cacheDir, resolverFor } = await setUp("range ignored");
    const target = cachePathOf("hf:acme/tiny-llama/tiny.gguf", server.origin, cacheDir);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(`${target}.part`, Buffer.from("bytes that are not the start of the model"));
    server.behave(() => ({ ignoreRange: true }));
    const resolved = await resolverFor()(llamaModel("hf:acme/tiny-llama/tiny.gguf", { sha256: modelSha }));
    expect((await readFile(resolved)).equals(model)).toBe(true);
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]?.range).toMatch(/^bytes=\d+-$/);
  });

  it("rejects a download whose sha256 differs from the config and caches nothing", async () => {
    const { cacheDir, resolverFor } = await setUp("sha mismatch");
    const wrong = "0".repeat(64);
    const error = await resolverFor()(llamaModel("hf:acme/tiny-llama/tiny.gguf", { sha256: wrong })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toContain(`has sha256 ${modelSha}, but the config expects ${wrong}`);
    expect((await listFiles(cacheDir)).filter((file) => file.endsWith(".gguf") || file.endsWith(".part"))).toEqual([]);
  });

  it("rejects a corrupt (truncated header) file with the inspector's message and caches nothing", async () => {
    const { server, cacheDir, resolverFor } = await setUp("corrupt");
    server.files.set("/acme/broken/resolve/main/broken.gguf", model.subarray(0, 200));
    const error = await resolverFor()(llamaModel("hf:acme/broken/broken.gguf")).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toMatch(/^Model 'tiny': the file downloaded from http:\/\/127\.0\.0\.1:\d+\/acme\/broken\/resolve\/main\/broken\.gguf is not a usable GGUF model: truncated: /);
    expect((await listFiles(cacheDir)).filter((file) => file.endsWith(".gguf") || file.endsWith(".part"))).toEqual([]);
  });

  it("answers a 404 with an error naming the model, the source and the URL", async () => {
    const { server, resolverFor } = await setUp("not found");
    const error = await resolverFor()(llamaModel("hf:acme/tiny-llama/missing.gguf")).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toBe(
      `Model 'tiny': downloading hf:acme/tiny-llama/missing.gguf failed: ${server.origin}/acme/tiny-llama/resolve/main/missing.gguf: ` +
        "the server answered HTTP 404 (no such file: check the owner, repository, revision and file name).",
    );
    expect(server.seen).toHaveLength(1); // a 404 is not retried
  });

  it("names the URL when the server cannot be reached", async () => {
    const { server, resolverFor } = await setUp("unreachable");
    const origin = server.origin;
    await server.close();
    servers.length = 0;
    const error = await resolverFor({ downloadAttempts: 2 })(llamaModel("hf:acme/tiny-llama/tiny.gguf")).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(new RegExp(`^Model 'tiny': downloading hf:acme/tiny-llama/tiny.gguf failed: ${origin}/acme/tiny-llama/resolve/main/tiny.gguf: network error \\(ECONNREFUSED`));
  });

  it("sends HF_TOKEN to the Hugging Face endpoint and follows its redirect to a CDN without the token", async () => {
    const { server, resolverFor } = await setUp("token redirect");
    const cdn = await startFileServer();
    servers.push(cdn);
    cdn.files.set("/blobs/abc", model);
    server.behave(({ n }) => (n === 1 ? { redirectTo: `${cdn.origin}/blobs/abc` } : undefined));
    const resolved = await resolverFor({ env: { HF_TOKEN: "hf_secret" } })(llamaModel("hf:acme/tiny-llama/tiny.gguf"));
    expect((await readFile(resolved)).equals(model)).toBe(true);
    expect(server.seen[0]?.authorization).toBe("Bearer hf_secret");
    expect(cdn.seen).toEqual([{ path: "/blobs/abc", range: null, authorization: null }]);
  });

  it("downloads a plain URL as given and retries a 503", async () => {
    const { server, resolverFor } = await setUp("plain url");
    server.files.set("/files/model-v2.gguf", model);
    server.behave(({ n }) => (n === 1 ? { status: 503 } : undefined));
    const resolved = await resolverFor({ env: { HF_TOKEN: "hf_secret" } })(llamaModel(`${server.origin}/files/model-v2.gguf`));
    expect(path.basename(resolved)).toBe("model-v2.gguf");
    expect((await readFile(resolved)).equals(model)).toBe(true);
    expect(server.seen.map((request) => request.path)).toEqual(["/files/model-v2.gguf", "/files/model-v2.gguf"]);
  });
});
