/**
 * Defence in depth behind gguf-inspect: before a model is loaded into the server process, a short-lived child
 * Node process loads it, creates a small context and decodes one token. If llama.cpp aborts (a native assert
 * kills the process with SIGABRT / exit 134, which no JS try/catch can stop) or hangs, only the child dies and
 * the server gets an EngineError instead.
 *
 * The inspector catches every malformation measured so far; the probe covers the ones nobody has measured
 * yet (a tensor whose shape passes the header checks but trips an assert at first decode, a future llama.cpp
 * assert). It costs one extra load (~1-2 s, mostly starting the native backend), once per model file and
 * process: a successful probe is remembered by path, size and modification time.
 *
 * Rejected alternative: loading every model only in a child and talking to it over IPC would also contain
 * crashes during inference, but doubles the code paths and adds a copy per token; crashes seen so far all
 * happen at load time.
 */
import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

export class ModelProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelProbeError";
  }
}

const CHILD_SCRIPT = fileURLToPath(new URL("./probe-model-load-child.mjs", import.meta.url));

const passed = new Map<string, string>();

/** Resolves when a child process loaded `modelPath` and decoded a token within `timeoutMs`. */
export async function probeModelLoad(modelPath: string, options: { timeoutMs: number }): Promise<void> {
  const info = await stat(modelPath);
  const identity = `${info.size}:${info.mtimeMs}`;
  if (passed.get(modelPath) === identity) return;

  const moduleUrl = pathToFileURL(createRequire(import.meta.url).resolve("node-llama-cpp")).href;
  const child = spawn(process.execPath, [CHILD_SCRIPT, moduleUrl, modelPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
  }).finally(() => clearTimeout(timer));

  if (code === 0 && stdout.includes("probe-ok")) {
    passed.set(modelPath, identity);
    return;
  }
  if (timedOut) throw new ModelProbeError(`loading ${modelPath} did not finish within ${options.timeoutMs} ms (llama.cpp hangs on some malformed files)`);
  const thrown = /probe-error: (.*)/.exec(stderr)?.[1];
  if (code === 2 && thrown) throw new ModelProbeError(`llama.cpp could not load ${modelPath}: ${thrown}`);
  const detail = lastLines(stderr);
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  throw new ModelProbeError(`loading ${modelPath} in a probe process failed: the process ${how}${detail ? `: ${detail}` : ""}`);
}

function lastLines(text: string): string {
  return text.trim().split("\n").filter((line) => line.trim().length > 0).slice(-3).join(" | ").slice(0, 600);
}
