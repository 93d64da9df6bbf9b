/**
 * Sleeping in the ModelDispatcher: before a retry, through a pause, until a breaker's cooldown ends. Each
 * sleep is abortable, since shutting down must not wait for a 30-second backoff.
 */
import { setMaxListeners } from "node:events";

/** Resolves after `ms`; should reject (or resolve) early when `signal` fires. Injected by tests. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** Sleeps via `sleep`, rejecting as soon as either signal fires even if `sleep` ignores its signal. */
export function abortableSleep(sleep: Sleep, ms: number, first: AbortSignal, second: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const controller = new AbortController();
    const onAbort = (): void => {
      cleanup();
      controller.abort();
      reject(new Error("sleep aborted"));
    };
    const cleanup = (): void => {
      first.removeEventListener("abort", onAbort);
      second?.removeEventListener("abort", onAbort);
    };
    if (first.aborted || second?.aborted) {
      reject(new Error("sleep aborted"));
      return;
    }
    first.addEventListener("abort", onAbort, { once: true });
    second?.addEventListener("abort", onAbort, { once: true });
    sleep(ms, controller.signal).then(
      () => {
        cleanup();
        resolve();
      },
      (error: unknown) => {
        cleanup();
        reject(error instanceof Error ? error : new Error("sleep failed"));
      },
    );
  });
}

export function sleepWithTimer(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

export function unlimitedListeners(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}

/** Runs `then` after `ms` (via `sleep`) unless `signal` fires first. */
export function afterSleep(sleep: Sleep, ms: number, signal: AbortSignal, then: () => void): void {
  void abortableSleep(sleep, ms, signal, undefined).then(then, () => undefined);
}
