/**
 * CircuitBreaker: whether one backend of a Model gets requests (issue 12, part 5; decision 0022).
 *
 * - `closed`: requests flow. Each backend failure (5xx, network, timeout: `isBackendFault`) adds to a count
 *   of consecutive ones; any answer that shows the backend alive (a success, or a 4xx about the request)
 *   resets it. At `failures` in a row the breaker opens.
 * - `open`: no requests for `cooldownMs`; they go to the Model's other backends (or wait for this one).
 * - `half_open`: after the cooldown, one request (the probe) may go. Its success closes the breaker; its
 *   failure opens it for another cooldown. A probe that ends some other way (aborted, cancelled) gives
 *   the turn to the next request.
 *
 * Only consecutive failures count, not a rate: a backend that answers nine in ten is worth using, and a
 * count needs no window. Overload (429) is not a failure here: it says the backend is busy, not down, and
 * the adaptive limit handles it. Pure state on an injected clock; the Dispatcher wakes its queue when the
 * cooldown ends (`reopensAtMs`).
 */
import { EngineError } from "../core/engine.ts";

export type BreakerState = "closed" | "open" | "half_open";

export const BREAKER_DEFAULTS = { failures: 5, cooldownMs: 10_000 } as const;

export class CircuitBreaker {
  private failuresInRow = 0;
  private openedAtMs: number | null = null;
  private probing = false;
  /** Times it opened, since creation (metrics, tests). */
  opened = 0;

  constructor(
    private readonly settings: { failures: number; cooldownMs: number } = BREAKER_DEFAULTS,
    private readonly now: () => number,
  ) {}

  get state(): BreakerState {
    if (this.openedAtMs === null) return "closed";
    return this.now() - this.openedAtMs >= this.settings.cooldownMs ? "half_open" : "open";
  }

  /** When an open breaker lets a probe through; null when it is not open. */
  get reopensAtMs(): number | null {
    return this.openedAtMs === null ? null : this.openedAtMs + this.settings.cooldownMs;
  }

  /** Whether a request may start on the backend now. */
  admits(): boolean {
    const state = this.state;
    return state === "closed" || (state === "half_open" && !this.probing);
  }

  /** A request started (after `admits`): in half-open it is the probe. */
  started(): void {
    if (this.state === "half_open") this.probing = true;
  }

  /** An attempt ended: a backend fault, proof of life, or neither (aborted: says nothing of the backend). */
  ended(outcome: "fault" | "alive" | "unknown"): void {
    const probe = this.probing;
    this.probing = false;
    if (outcome === "unknown") return;
    if (outcome === "alive") {
      this.failuresInRow = 0;
      this.openedAtMs = null;
      return;
    }
    this.failuresInRow += 1;
    if (probe || (this.openedAtMs === null && this.failuresInRow >= this.settings.failures)) this.open();
  }

  private open(): void {
    this.openedAtMs = this.now();
    this.opened += 1;
  }
}

/**
 * Whether a failed attempt is the backend's fault (down, broken, too slow), so another backend may serve the
 * same request: a 5xx, a connection failure, a timeout. A 4xx is about the request, and every backend
 * would answer it the same; a 429 is a busy backend (the adaptive limit's business); aborts and
 * cancellations are spool's own.
 */
export function isBackendFault(error: unknown): boolean {
  if (!(error instanceof EngineError)) return false;
  if (error.kind === "network" || error.kind === "timeout") return true;
  return error.statusCode !== null && error.statusCode >= 500;
}

/** What an attempt's end says about its backend (see CircuitBreaker.ended). */
export function breakerOutcome(error: unknown): "fault" | "alive" | "unknown" {
  if (error === null) return "alive";
  if (isBackendFault(error)) return "fault";
  if (error instanceof EngineError && (error.kind === "aborted" || error.kind === "cancelled")) return "unknown";
  return error instanceof EngineError && error.statusCode !== null ? "alive" : "unknown";
}
