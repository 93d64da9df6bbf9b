/**
 * The architecture as a test (docs/architecture.md): folders are layers and imports point downward only,
 * there are no import cycles, dialect folders are free of Fastify, and wire names stay in the dialect folders.
 * It reads the real import graph of src/, so a change that breaks a rule fails here, naming the import.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SRC = path.join(process.cwd(), "src");

/** What each layer may import (besides itself). Files directly in src/ are the composition root: anything. */
const ALLOWED: Record<string, readonly string[]> = {
  config: ["core"],
  core: ["config"],
  store: ["core", "config"],
  engines: ["core", "config"],
  dispatch: ["core", "config"],
  dialects: ["core", "config"],
  scheduling: ["core", "config"],
  worker: ["core", "config", "store", "scheduling"],
  batches: ["core", "config", "store", "scheduling"],
  "demo-model": ["core", "config", "engines"],
  observability: ["core", "config", "store"],
  webhooks: ["core", "config", "store"],
  api: ["core", "config", "store", "dialects", "batches", "dispatch", "engines", "scheduling"],
  cli: ["core", "config", "store", "dialects", "batches", "worker", "demo-model", "api", "dispatch", "engines", "scheduling"],
};

/** Wire names of the client dialects: allowed only in src/dialects/<name>/ and src/api/<name>/. */
const WIRE_NAMES = ["custom_id", "JOB_STATE_", "BATCH_STATE_", "inlinedResponses", "inlinedEmbedContentResponses", "metadata.key", "processing_status", "request_counts"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.(ts|mts|mjs)$/.test(entry.name) ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/g), ...text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)];
  return specifiers.map((match) => match[1] ?? "");
}

function layerOf(file: string): string {
  const relative = path.relative(SRC, file).split(path.sep);
  return relative.length === 1 ? "(root)" : (relative[0] ?? "(root)");
}

const files = sourceFiles(SRC);
const graph = new Map<string, string[]>(
  files.map((file) => [
    file,
    importsOf(file)
      .filter((specifier) => specifier.startsWith("."))
      .map((specifier) => path.resolve(path.dirname(file), specifier)),
  ]),
);

describe("architecture", () => {
  it("imports point downward only: no layer imports a layer above it", () => {
    const violations: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file);
      for (const target of targets) {
        const to = layerOf(target);
        if (from === "(root)" || to === from) continue;
        // The composition root sits above the layers: api sees its AppContext type, cli starts the app.
        if (to === "(root)" && ((from === "api" && target.endsWith("app-context.ts")) || from === "cli")) continue;
        if (!(ALLOWED[from] ?? []).includes(to)) violations.push(`${path.relative(SRC, file)} imports ${path.relative(SRC, target)} (${from} -> ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("has no import cycles between files", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, "visiting");
      stack.push(file);
      for (const target of graph.get(file) ?? []) {
        if (!graph.has(target)) continue;
        if (state.get(target) === "visiting") cycles.push(stack.slice(stack.indexOf(target)).concat(target).map((f) => path.relative(SRC, f)).join(" -> "));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it("keeps the dialect folders free of HTTP frameworks", () => {
    const offenders = files.filter((file) => layerOf(file) === "dialects" && importsOf(file).some((specifier) => /^(fastify|@fastify\/|undici|node:http)/.test(specifier)));
    expect(offenders.map((file) => path.relative(SRC, file))).toEqual([]);
  });

  it("keeps wire names inside the dialect folders", () => {
    const leaks: string[] = [];
    for (const file of files) {
      const relative = path.relative(SRC, file).split(path.sep).join("/");
      if (/^(dialects|api)\/(openai|gemini|anthropic|translate)\//.test(relative)) continue;
      const text = readFileSync(file, "utf8");
      for (const name of WIRE_NAMES) if (text.includes(name)) leaks.push(`${relative}: ${name}`);
    }
    expect(leaks).toEqual([]);
  });

  it("keeps every source file under 500 lines", () => {
    const long = files.map((file) => ({ file: path.relative(SRC, file), lines: readFileSync(file, "utf8").split("\n").length })).filter((entry) => entry.lines > 500);
    expect(long).toEqual([]);
  });
});
