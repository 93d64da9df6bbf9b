/**
 * Attempt signals shared by Batch attempts that start close together.
 *
 * Every attempt needs a signal that fires on the Model's timeout or when its caller gives up. One
 * AbortController and one timer per attempt cost a measurable share of the hot path at thousands of Items
 * a second (issue 11), and Batch attempts of one Model all have the same caller (the Worker's stop signal)
 * and the same timeout. So attempts that start within one short window share a controller whose timer
 * fires `timeoutMs` after the window closes: each attempt still gets at least its full timeout, and at most
 * one window more (1% of the timeout, at most 1 s). When the last attempt of a closed window ends, its
 * timer is cleared, so long timeouts leave no timers behind.
 *
 * Sync requests (each with its own caller signal, few of them) keep a controller of their own.
 *
 * Windows are also per group (a Batch): `abortGroup` stops one cancelled Batch's running attempts without
 * touching another's (Dispatcher.cancelBatch). A window of one attempt may be aborted by its owner
 * (`AttemptSignal.abort`: a stream whose reader stopped).
 */
import { setMaxListeners } from "node:events";
import type { ModelConfig } from "../config/config.ts";
import { EngineError } from "../core/engine.ts";
import { AbortWatchers } from "./abort-watchers.ts";

/** setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

export interface AttemptSignal {
  signal: AbortSignal;
  /** The attempt ended: lets its window's timer go once nobody uses it. */
  release(): void;
  /** Aborts this attempt's window (only for an attempt that is not shared: it would stop the others too). */
  abort(reason: unknown): void;
}

/**
 * One window: the attempts that joined it share its controller and timer. It is also the AttemptSignal each
 * of them gets (`active` counts the releases still due): a class rather than an object of closures per
 * attempt (under tsx's keepNames those cost 0.3% of the Batch hot path's CPU here; decisions 0032, 0033).
 */
class Window implements AttemptSignal {
  readonly controller = new AbortController();
  active = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** Stops watching the caller's signal; null without a caller. */
  unwatchCaller: (() => void) | null = null;

  constructor(
    private readonly owner: SharedDeadlines,
    /** Date.now() after which no attempt joins; null for a window of one attempt (not shared). */
    readonly closesAtMs: number | null,
    readonly caller: AbortSignal | undefined,
    readonly group: string | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  release(): void {
    this.owner.released(this);
  }

  abort(reason: unknown): void {
    this.controller.abort(reason);
  }
}

export class SharedDeadlines {
  /** The open window per caller signal and group. */
  private readonly open = new Map<AbortSignal | undefined, Map<string | undefined, Window>>();
  /** Every window with a live timer: abortAll() aborts them all and clears the timers. */
  private readonly live = new Set<Window>();
  /**
   * One listener on each caller signal of shared windows, however many watch it: windows are per Batch, so
   * with hundreds of small Batches running each window's own listener made every open and retire walk the
   * Worker's stop signal's whole listener list (issue 11). A window of one attempt (a sync request's, whose
   * caller signal is its own) listens directly.
   */
  private readonly callers = new AbortWatchers();

  constructor(private readonly callerAborted: (reason: unknown) => EngineError) {}

  /** A signal for one attempt starting now; `shared` false gives it a window of its own. */
  acquire(model: ModelConfig, caller: AbortSignal | undefined, shared: boolean, group?: string): AttemptSignal {
    const widthMs = shared ? Math.min(1_000, Math.floor(model.timeoutMs / 100)) : 0;
    const nowMs = Date.now();
    let window = widthMs > 0 ? this.open.get(caller)?.get(group) : undefined;
    if (window === undefined || nowMs > (window.closesAtMs ?? 0) || window.controller.signal.aborted) {
      if (window !== undefined && window.active === 0) this.retire(window);
      window = this.openWindow(model, caller, group, widthMs > 0 ? nowMs + widthMs : null);
      if (widthMs > 0) {
        let groups = this.open.get(caller);
        if (groups === undefined) this.open.set(caller, (groups = new Map()));
        groups.set(group, window);
      }
    }
    window.active += 1;
    return window;
  }

  /** Aborts the running attempts of `group` with `reason` (its Batch was cancelled). */
  abortGroup(group: string, reason: EngineError): void {
    for (const window of [...this.live]) {
      if (window.group !== group) continue;
      window.controller.abort(reason);
      // Nobody joins an aborted window: one without running attempts keeps no timer until it would fire.
      if (window.active === 0) this.retire(window);
    }
  }

  /** Windows whose timer is set (tests: none may be left once every attempt ended and its window closed). */
  get liveWindows(): number {
    return this.live.size;
  }

  /**
   * Aborts every running attempt with `reason` (the dispatcher is closing), and clears every timer: an open
   * window's would otherwise keep the process alive for up to the Model's timeout after close.
   */
  abortAll(reason: EngineError): void {
    for (const window of [...this.live]) {
      window.controller.abort(reason);
      this.retire(window);
    }
  }

  private openWindow(model: ModelConfig, caller: AbortSignal | undefined, group: string | undefined, closesAtMs: number | null): Window {
    const window = new Window(this, closesAtMs, caller, group);
    const controller = window.controller;
    const shared = closesAtMs !== null;
    // Every attempt of a shared window (and the HTTP client under each) listens to this one signal.
    if (shared) setMaxListeners(0, controller.signal);
    const delayMs = Math.min((shared ? closesAtMs - Date.now() : 0) + model.timeoutMs, MAX_TIMER_MS);
    window.timer = setTimeout(() => {
      abortWithTimeout(controller, model);
      this.retire(window);
    }, delayMs);
    if (caller) {
      const onCaller = (): void => controller.abort(this.callerAborted(caller.reason));
      if (shared) {
        window.unwatchCaller = this.callers.watch(caller, onCaller);
      } else {
        // A window of one attempt has a caller of its own (a sync request's): one listener, no registry.
        caller.addEventListener("abort", onCaller, { once: true });
        window.unwatchCaller = () => caller.removeEventListener("abort", onCaller);
      }
    }
    this.live.add(window);
    return window;
  }

  /** An attempt of `window` ended (Window.release). */
  released(window: Window): void {
    window.active -= 1;
    if (window.active > 0) return;
    // A shared window still open may take more attempts; it is retired when replaced or when it fires.
    if (window.closesAtMs !== null && Date.now() <= window.closesAtMs && !window.controller.signal.aborted) return;
    this.retire(window);
  }

  /** Clears the timer and the caller listener: nobody uses the window any more. */
  private retire(window: Window): void {
    if (!this.live.delete(window)) return;
    clearTimeout(window.timer);
    window.unwatchCaller?.();
    const groups = this.open.get(window.caller);
    if (groups?.get(window.group) === window) {
      groups.delete(window.group);
      if (groups.size === 0) this.open.delete(window.caller);
    }
  }
}

function abortWithTimeout(controller: AbortController, model: ModelConfig): void {
  controller.abort(new EngineError({ kind: "timeout", message: `Request to model '${model.name}' timed out after ${model.timeoutMs} ms.`, retryable: true }));
}
