/**
 * log-destination.test.ts runs this in a process of its own: it logs two lines in the turn it ends in,
 * then throws (argument `throw`) or calls process.exit (`exit`) before the turn could end.
 */
import { pino } from "pino";
import { turnBatchedDestination } from "../../src/observability/log-destination.ts";

const logger = pino({ level: "info", base: null, timestamp: false }, turnBatchedDestination(1));
logger.info("first");
logger.info("last words");
if (process.argv[2] === "exit") process.exit(3);
throw new Error("the process dies with two lines held");
