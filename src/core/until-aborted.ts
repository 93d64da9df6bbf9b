/**
 * Waiting on work that goes on regardless (an upload other requests share, another sequence's evaluation)
 * while the waiter's own signal may fire: the waiter leaves at once, the work runs on.
 */

/** `promise`, or a rejection with `abortError()` (the signal's reason by default) when `signal` fires first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, abortError: () => unknown = () => signal.reason): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
