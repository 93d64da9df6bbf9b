/**
 * Once per `vitest` run, before any test: the PostgreSQL test schemas of earlier runs are dropped. Each test
 * makes a fresh schema and keeps it after the run, so a failed test's rows can be read (postgres.ts); a full
 * run leaves about 450, and run after run they piled up in the test database (every catalog lookup, and so
 * every migration, then had thousands of schemas to search). This run's schemas stay until the next run.
 * SPOOL_TEST_KEEP_SCHEMAS=1 keeps them all (two runs on one database at once: set it in the later one).
 */
import { dropTestSchemas, postgresUnavailableReason } from "./postgres.ts";

export default async function setup(): Promise<void> {
  if (process.env.SPOOL_TEST_KEEP_SCHEMAS === "1") return;
  // No PostgreSQL: the tests that need it say so themselves.
  if ((await postgresUnavailableReason()) !== null) return;
  await dropTestSchemas();
}
