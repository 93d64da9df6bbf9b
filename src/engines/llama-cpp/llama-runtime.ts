/**
 * The one node-llama-cpp `Llama` instance of the process, shared by every llama-cpp Engine (loading the native
 * backend twice wastes memory and threads).
 *
 * Threads: on this project's 2-core machines node-llama-cpp's default (4 threads) made token-by-token decoding
 * 10-500x slower than 1 thread (ENGINE-NOTES.md), so the default is 1 thread on machines with 2 cores or
 * fewer, and half the cores (at most 8) above that. `maxThreads` of the shared instance grows to the largest
 * thread count any Engine asks for; each context is then given its own count.
 */
import os from "node:os";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";

export interface NativeLogSink {
  warn(message: string): void;
  debug(message: string): void;
}

let shared: Promise<Llama> | null = null;
let logSink: NativeLogSink | null = null;

export function defaultThreadCount(): number {
  const cores = os.availableParallelism();
  return cores <= 2 ? 1 : Math.min(8, Math.floor(cores / 2));
}

/** Where llama.cpp's own log lines go (the first Engine with a logger wins); stderr warnings otherwise. */
export function setNativeLogSink(sink: NativeLogSink): void {
  logSink ??= sink;
}

export async function getSharedLlama(threads: number): Promise<Llama> {
  shared ??= getLlama({
    gpu: false,
    build: "never",
    maxThreads: threads,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trimEnd();
      if (text.length === 0) return;
      const important = level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || level === LlamaLogLevel.warn;
      if (logSink) {
        if (important) logSink.warn(`llama.cpp: ${text}`);
        else logSink.debug(`llama.cpp: ${text}`);
      } else if (important) {
        process.stderr.write(`llama.cpp: ${text}\n`);
      }
    },
  }).catch((error: unknown) => {
    shared = null;
    throw error;
  });
  const llama = await shared;
  if (llama.maxThreads !== 0 && llama.maxThreads < threads) llama.maxThreads = threads;
  return llama;
}
