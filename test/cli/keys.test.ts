/**
 * `spool keys` as an operator runs it (a real process on the data dir a server uses) and the start-up guard:
 * a key made by the CLI works against a running spool through the SDK, never appears again in plain text,
 * and once revoked stops working; `spool serve` on a non-loopback host without any key refuses to start.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { makeDataDir, startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { runSpoolCli } from "../helpers/spool-cli.ts";

const spool = runSpoolCli;

const running: TestApp[] = [];
afterAll(async () => {
  await Promise.all(running.splice(0).map((app) => app.stop()));
});

describe("spool keys", () => {
  it("creates a key shown once, lists it without the key, and revokes it so the server refuses it", async () => {
    const dataDir = makeDataDir("cli-keys");
    const created = await spool(["keys", "create", "--tenant", "team-a", "--data-dir", dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.split("\n")[0] ?? "";
    expect(key).toMatch(/^spool_[a-z0-9]{40}$/);
    const id = /Key (key_[a-z0-9]+) \(member of tenant 'team-a'\)/.exec(created.stdout)?.[1] ?? "";
    expect(id).not.toBe("");

    const listed = await spool(["keys", "list", "--data-dir", dataDir, "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id, tenant: "team-a", role: "member", revokedAt: null })]);
    expect(listed.stdout).not.toContain(key);
    expect(readFileSync(path.join(dataDir, "spool.sqlite")).includes(Buffer.from(key))).toBe(false);

    const app = await startTestApp({ models: [{ name: "m", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }] }, { dataDir, workers: false });
    running.push(app);
    const client = new OpenAI({ apiKey: key, baseURL: app.openaiBaseUrl, maxRetries: 0 });
    expect((await client.batches.list()).data).toEqual([]);
    // Keys in the Store turn authentication on: no key is no longer enough.
    expect((await fetch(`${app.openaiBaseUrl}/batches`)).status).toBe(401);

    const revoked = await spool(["keys", "revoke", id, "--data-dir", dataDir]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`Revoked ${id}`);
    // Another process revoked it: this server notices within its few seconds of caching, and stays closed
    // although no usable key is left.
    await waitFor(async () => ((await client.batches.list().catch((error: unknown) => error)) instanceof OpenAI.AuthenticationError ? true : undefined), { timeoutMs: 15_000, what: "the revoked key to be refused" });

    expect((await fetch(`${app.openaiBaseUrl}/batches`)).status).toBe(401);

    const unknown = await spool(["keys", "revoke", "key_nope", "--data-dir", dataDir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("No API key has the id 'key_nope'");
    const badRole = await spool(["keys", "create", "--tenant", "x", "--role", "root", "--data-dir", dataDir]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain("--role must be admin or member");
  });

  it("refuses to serve on a non-loopback host without keys, naming the ways out", async () => {
    const outcome = await spool(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", makeDataDir("open-host")]);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr.trim().split("\n")).toHaveLength(1);
    expect(outcome.stderr).toContain("Refusing to serve on 0.0.0.0 without API keys");
    expect(outcome.stderr).toContain("--insecure-no-auth");
  });
});
