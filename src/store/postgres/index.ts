export { openPostgresStore, PostgresStore } from "./postgres-store.ts";
export type { PostgresDatabaseOptions } from "./database.ts";
