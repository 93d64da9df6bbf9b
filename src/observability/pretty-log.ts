/**
 * `--log-format pretty`: pino's JSON lines turned into short lines for people at a terminal, without a
 * pretty-printing dependency:
 *
 *   14:03:07.412 INFO  batch status changed batchId=batch_abc from=finalizing status=completed reqId=req_x
 *   14:03:07.415 INFO  GET /v1/batches/batch_abc 200 2.4ms reqId=req_y          (the access line)
 *
 * Time (local), level, message, then every other field as key=value (strings with spaces quoted, objects
 * as JSON, an error's message and stack). `pid`, `hostname`, `time`, `level` and `msg` are not repeated.
 */
import type { DestinationStream } from "pino";

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const HIDDEN = new Set(["level", "time", "msg", "pid", "hostname", "err"]);

export function formatLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.trimEnd();
  }
  const time = typeof entry.time === "number" ? clockTime(entry.time) : "";
  const level = typeof entry.level === "number" ? (LEVELS[entry.level] ?? String(entry.level)) : "LOG  ";
  const access = isAccessLine(entry);
  if (access) entry.msg = `${String(entry.method)} ${String(entry.path)} ${String(entry.status)} ${String(entry.ms)}ms`;
  const fields = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key) && !(access && ACCESS_FIELDS.has(key)))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const err = entry.err as { message?: unknown; stack?: unknown } | undefined;
  const errorText = err ? ` error=${formatValue(err.message ?? "")}${typeof err.stack === "string" && (entry.level as number) >= 50 ? `\n${err.stack}` : ""}` : "";
  return `${time} ${level} ${String(entry.msg ?? "")}${fields.length > 0 ? ` ${fields.join(" ")}` : ""}${errorText}`;
}

const ACCESS_FIELDS = new Set(["method", "path", "status", "ms"]);

/** The HTTP server's access line (one per request), shown as `GET /v1/batches 200 3.1ms reqId=req_…`. */
function isAccessLine(entry: Record<string, unknown>): boolean {
  return entry.msg === "request" && typeof entry.method === "string" && typeof entry.path === "string" && typeof entry.status === "number";
}

/** A pino destination writing pretty lines to `out` (stdout by default). */
export function prettyLogDestination(out: NodeJS.WritableStream = process.stdout): DestinationStream {
  return {
    write(chunk: string) {
      for (const line of chunk.split("\n")) if (line.trim() !== "") out.write(`${formatLogLine(line)}\n`);
    },
  };
}

function clockTime(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number, width = 2): string => String(value).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return JSON.stringify(value);
}
