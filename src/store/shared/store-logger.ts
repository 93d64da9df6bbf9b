/**
 * What the Stores log: failures of the storage itself (a full disk, an unreachable database), once per
 * failure or once per outage, with the file or server they concern. Callers that only get an AppError
 * (the API answers 507/503 at debug level) rely on these lines for the operator.
 */
import { pino, type Logger } from "pino";

export type StoreLogger = Pick<Logger, "error" | "warn" | "info">;

/** For Stores opened without a logger (tests, tools): storage failures still throw, they are just not logged. */
export const silentStoreLogger: StoreLogger = pino({ level: "silent" });
