/**
 * `--log-format pretty`: pino's JSON lines turned into short lines for people at a terminal, without a
 * pretty-printing dependency:
 *
 *   14:03:07.412 INFO  batch status changed batchId=batch_abc from=finalizing status=completed reqId=req_x
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
  const fields = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const err = entry.err as { message?: unknown; stack?: unknown } | undefined;
  const errorText = err ? ` error=${formatValue(err.message ?? "")}${typeof err.stack === "string" && (entry.level as number) >= 50 ? `\n${err.stack}` : ""}` : "";
  return `${time} ${level} ${String(entry.msg ?? "")}${fields.length > 0 ? ` ${fields.join(" ")}` : ""}${errorText}`;
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
