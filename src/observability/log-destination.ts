/**
 * Where `spool serve`'s JSON log lines go: the lines logged during one turn of the event loop are written
 * together, by one synchronous write(2) when the turn ends (a `setImmediate`), instead of one write each
 * (decision 0060, amending 0036).
 *
 * Why: the access log writes a line per HTTP request. At 64 concurrent sync requests a turn of the loop
 * finishes about ten of them, and a write(2) per line was 12 µs of the ~150 µs of CPU spool spends on one
 * (CPU profile, `sync` bench: `writeString` 4.4% of the process, pino's serialising another 2.5%).
 *
 * What decision 0036 wanted still holds where it matters: nothing waits on a thread, a line is on its way
 * to the file before the loop looks for new work, an `error` or `fatal` line is written at once (with what
 * came before it, in order), and what is held when the process exits (`process.exit`, an uncaught
 * exception, the loop running dry) is written by the 'exit' handler. Only a SIGKILL (or the OOM killer)
 * landing inside a turn loses that turn's lines, a few milliseconds of them. A write that fails (other
 * than a closed pipe, which pino's destination already ignores) drops its lines rather than throwing into
 * the event loop.
 */
import { writeSync } from "node:fs";
import { pino, type DestinationStream } from "pino";

/** Held text past which a turn's lines are written without waiting for its end (a debug-level storm). */
const HOLD_LIMIT = 64 * 1024;

export interface TurnDestination extends DestinationStream {
  /** Writes what is held now (the 'exit' handler's call; tests). */
  flushSync(): void;
  /** pino's `logger.flush(callback)` calls this: written at once, then `callback`. */
  flush(callback?: (error?: Error) => void): void;
}

/**
 * `write` is any synchronous writer of whole strings; by default a synchronous sonic-boom on `fd`, which
 * retries a pipe's EAGAIN and partial writes rather than dropping text.
 */
export function turnBatchedDestination(fd = 1, write: (text: string) => void = sonicWriter(fd)): TurnDestination {
  let held = "";
  let scheduled = false;
  let failing = false;
  const flushSync = (): void => {
    scheduled = false;
    if (held === "") return;
    const text = held;
    held = "";
    try {
      write(text);
      failing = false;
    } catch (error) {
      // A log that cannot be written (stdout's file on a full disk) must not bring the server down: the
      // lines are dropped, and stderr told once per run of failures.
      if (!failing) tellStderr(`spool: log lines could not be written and were dropped (${(error as Error).message})\n`);
      failing = true;
    }
  };
  const destination: TurnDestination = {
    write(line: string) {
      held += line;
      if (held.length >= HOLD_LIMIT || isUrgent(line)) {
        flushSync();
      } else if (!scheduled) {
        scheduled = true;
        // Through the destination, so a destination with lines held stays reachable for the exit handler.
        setImmediate(() => destination.flushSync());
      }
    },
    flushSync,
    // flushSync never throws: a failed write is dropped and told on stderr.
    flush(callback) {
      flushSync();
      callback?.();
    },
  };
  for (const ref of live) if (ref.deref() === undefined) live.delete(ref);
  live.add(new WeakRef(destination));
  watchExit();
  return destination;
}

/** pino's JSON lines begin with the level: 50 (error) and 60 (fatal) are not held. */
function isUrgent(line: string): boolean {
  return line.startsWith('{"level":5') || line.startsWith('{"level":6');
}

function tellStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // Nowhere left to tell.
  }
}

function sonicWriter(fd: number): (text: string) => void {
  const boom = pino.destination({ fd, sync: true });
  return (text) => void boom.write(text);
}

// One 'exit' listener for every destination (tests create many loggers), holding none of them alive.
const live = new Set<WeakRef<TurnDestination>>();
let watching = false;
function watchExit(): void {
  if (watching) return;
  watching = true;
  process.on("exit", () => {
    for (const ref of live) ref.deref()?.flushSync();
  });
}
