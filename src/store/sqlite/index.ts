export { openSqliteStore, SqliteStore } from "./sqlite-store.ts";
