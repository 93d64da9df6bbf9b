/** A real pino Logger whose lines are kept in memory, so a test can check what an operator would read. */
import { pino, type Logger } from "pino";

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLog {
  logger: Logger;
  lines: LogLine[];
  /** Lines at error level (50) or above, optionally only those whose message matches. */
  errors(message?: RegExp): LogLine[];
}

export function captureLog(level: pino.LevelWithSilent = "info"): CapturedLog {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return {
    logger,
    lines,
    errors: (message) => lines.filter((line) => line.level >= 50 && (message === undefined || message.test(line.msg))),
  };
}
