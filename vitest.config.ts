import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Drops the PostgreSQL test schemas earlier runs left (test/helpers/global-setup.ts).
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites spawn spool processes and share a 2-core machine: keep parallelism modest.
    maxWorkers: 2,
    pool: "forks",
  },
});
