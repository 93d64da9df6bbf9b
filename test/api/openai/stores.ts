export { openSqliteStore } from "../../../src/store/sqlite/index.ts";
export { LocalBlobStore } from "../../../src/store/blob/local-blob-store.ts";
