/**
 * Once per `vitest` run, before any test: PostgreSQL test schemas named more than half an hour ago are
 * dropped. Each test makes a fresh schema and keeps it after the run, so a failed test's rows can be read
 * (postgres.ts); a full run leaves about 450, and run after run they piled up in the test database (every
 * catalog lookup, and so every migration, then had thousands of schemas to search). The age, read from the
 * schema's name, spares a run still going beside this one (a full run takes minutes) and keeps a failed
 * run's rows for a while. SPOOL_TEST_KEEP_SCHEMAS=1 keeps them all.
 */
import { dropTestSchemas, postgresUnavailableReason } from "./postgres.ts";

const KEEP_MS = 30 * 60_000;

export default async function setup(): Promise<void> {
  if (process.env.SPOOL_TEST_KEEP_SCHEMAS === "1") return;
  // No PostgreSQL: the tests that need it say so themselves.
  if ((await postgresUnavailableReason()) !== null) return;
  await dropTestSchemas(Date.now() - KEEP_MS);
}
