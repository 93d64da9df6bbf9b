/**
 * Progress display for `spool run`. On a terminal: one progress bar line redrawn in place (done/total,
 * percent, rate, ETA). Otherwise (a log file, CI, a pipe): a plain line every few seconds, so logs stay
 * readable and small.
 *
 * The rate is measured over a sliding window of recent samples (not since start), so the ETA follows the
 * current speed after a slow model load or a resume; Items finished by an earlier run are not counted as
 * this run's speed.
 */

export interface ProgressSnapshot {
  phase: "validating" | "running" | "finalizing";
  /** Items with a result (succeeded + failed + cancelled + expired). */
  done: number;
  total: number;
  failed: number;
}

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Redraw a bar (true) or print plain lines (false). Default: whether the stream is a TTY. */
  tty?: boolean;
  /** Least time between two plain lines. Default 5000. */
  plainIntervalMs?: number;
  now?: () => number;
}

const TTY_REDRAW_MS = 100;
const RATE_WINDOW_MS = 10_000;

export class ProgressDisplay {
  private readonly tty: boolean;
  private readonly plainIntervalMs: number;
  private readonly now: () => number;
  private readonly samples: { atMs: number; done: number }[] = [];
  private lastDrawMs = Number.NEGATIVE_INFINITY;
  private lastLineLength = 0;
  private last: ProgressSnapshot | null = null;
  private lastDrawn = false;
  /** Items done when this run started running (finished by an earlier run). */
  private baseline: number | null = null;

  constructor(private readonly options: ProgressOptions) {
    this.tty = options.tty ?? options.stream.isTTY === true;
    this.plainIntervalMs = options.plainIntervalMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  update(snapshot: ProgressSnapshot): void {
    const nowMs = this.now();
    this.record(nowMs, snapshot);
    const phaseChanged = this.last?.phase !== snapshot.phase;
    this.last = snapshot;
    const interval = this.tty ? TTY_REDRAW_MS : this.plainIntervalMs;
    this.lastDrawn = phaseChanged || nowMs - this.lastDrawMs >= interval;
    if (!this.lastDrawn) return;
    this.lastDrawMs = nowMs;
    this.draw(snapshot);
  }

  /** Shows the last state if it was not shown yet, and ends the bar's line. */
  finish(): void {
    if (!this.last) return;
    if (this.tty) {
      this.draw(this.last);
      this.options.stream.write("\n");
      this.lastLineLength = 0;
    } else if (!this.lastDrawn) {
      this.draw(this.last);
    }
    this.lastDrawn = true;
  }

  /** Prints a line (a log message) above the bar: clears the bar, prints, redraws it. */
  print(line: string): void {
    if (!this.tty || this.lastLineLength === 0) {
      this.options.stream.write(`${line}\n`);
      return;
    }
    this.options.stream.write(`\r${" ".repeat(this.lastLineLength)}\r${line}\n`);
    this.lastLineLength = 0;
    if (this.last) this.draw(this.last);
  }

  /** Requests per second over the recent window; null until there is something to measure. */
  rate(): number | null {
    const first = this.samples[0];
    const latest = this.samples[this.samples.length - 1];
    if (!first || !latest || latest.atMs - first.atMs < 500) return null;
    return (latest.done - first.done) / ((latest.atMs - first.atMs) / 1000);
  }

  private record(nowMs: number, snapshot: ProgressSnapshot): void {
    if (snapshot.phase !== "running") {
      this.samples.length = 0;
      this.baseline = null;
      return;
    }
    this.baseline ??= snapshot.done;
    this.samples.push({ atMs: nowMs, done: snapshot.done });
    // Until this run finishes its first request (model loading, warm-up) there is no rate; after that the
    // window starts at the last sample before the first finish, so the warm-up does not drag the rate down.
    while (this.samples.length > 1 && this.samples[1]!.done === this.samples[0]!.done && this.samples[0]!.done === this.baseline) this.samples.shift();
    while (this.samples.length > 2 && nowMs - this.samples[1]!.atMs >= RATE_WINDOW_MS) this.samples.shift();
  }

  private draw(snapshot: ProgressSnapshot): void {
    if (this.tty) {
      const line = this.barLine(snapshot);
      const padding = " ".repeat(Math.max(0, this.lastLineLength - line.length));
      this.options.stream.write(`\r${line}${padding}`);
      this.lastLineLength = line.length;
    } else {
      this.options.stream.write(`${this.plainLine(snapshot)}\n`);
    }
  }

  private stats(snapshot: ProgressSnapshot): { percent: number; rate: string; eta: string } {
    const percent = snapshot.total > 0 ? (snapshot.done / snapshot.total) * 100 : 0;
    const rate = this.rate();
    const remaining = snapshot.total - snapshot.done;
    const eta = remaining <= 0 ? "0 s" : rate !== null && rate > 0 ? formatDuration((remaining / rate) * 1000) : "?";
    return { percent, rate: rate === null ? "? req/s" : `${formatRate(rate)} req/s`, eta };
  }

  plainLine(snapshot: ProgressSnapshot): string {
    if (snapshot.phase === "validating") return "progress: validating the input file";
    if (snapshot.phase === "finalizing") return `progress: ${snapshot.done}/${snapshot.total} done, writing results`;
    const { percent, rate, eta } = this.stats(snapshot);
    const failed = snapshot.failed > 0 ? `, ${snapshot.failed} failed` : "";
    return `progress: ${snapshot.done}/${snapshot.total} (${percent.toFixed(1)}%), ${rate}, ETA ${eta}${failed}`;
  }

  private barLine(snapshot: ProgressSnapshot): string {
    if (snapshot.phase === "validating") return "validating the input file...";
    const { percent, rate, eta } = this.stats(snapshot);
    const failed = snapshot.failed > 0 ? ` | ${snapshot.failed} failed` : "";
    const suffix = ` ${percent.toFixed(1).padStart(5)}% ${snapshot.done}/${snapshot.total} | ${rate} | ETA ${snapshot.phase === "finalizing" ? "writing results" : eta}${failed}`;
    const columns = this.options.stream.columns || 80;
    const width = Math.max(10, Math.min(40, columns - suffix.length - 3));
    const filled = snapshot.total > 0 ? Math.min(width, Math.floor((snapshot.done / snapshot.total) * width)) : 0;
    return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]${suffix}`;
  }
}

/** 950 -> "950 ms"; 75_000 -> "1m15s"; 4_000_000 -> "1h06m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${(ms / 1000).toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

export function formatRate(perSecond: number): string {
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2);
}

const LEVEL_NAMES: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

/**
 * A pino destination for people at a terminal: warnings and errors, plus model download progress (info
 * from the model cache), as short `level: message` lines. Everything else is dropped.
 */
export function cliLogStream(print: (line: string) => void): { write(chunk: string): void } {
  return {
    write(chunk: string) {
      let entry: { level?: number; msg?: string; component?: string; err?: { message?: string } };
      try {
        entry = JSON.parse(chunk) as typeof entry;
      } catch {
        print(chunk.trimEnd());
        return;
      }
      const level = entry.level ?? 30;
      if (level < 40 && !(level >= 30 && entry.component === "model-cache")) return;
      const detail = entry.err?.message ? `: ${entry.err.message}` : "";
      print(`${LEVEL_NAMES[level] ?? "log"}: ${entry.msg ?? ""}${detail}`);
    },
  };
}
