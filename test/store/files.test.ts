import { describe, expect, it } from "vitest";
import { isAppError } from "../../src/core/errors.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { newFile, T0 } from "./store-fixtures.ts";

describe.each(storeBackends)("$name store: files", (backend) => {
  const stores = useStores(backend);

  it("creates a file and reads it back with every field", async () => {
    const store = await stores.open();
    const file = newFile({ displayName: "My input", expiresAtMs: T0 + 1000, source: "generated", purpose: "batch_output" });
    const created = await store.createFile(file);
    expect(created).toEqual(file);
    expect(await store.getFile(file.id)).toEqual(file);
    expect(await store.getFile("file-missing")).toBeNull();
  });

  it("rejects a second file with the same id as already_exists", async () => {
    const store = await stores.open();
    const file = newFile();
    await store.createFile(file);
    const error = await store.createFile(file).catch((caught: unknown) => caught);
    expect(isAppError(error) && error.code).toBe("already_exists");
  });

  it("deletes a file once and reports whether it existed", async () => {
    const store = await stores.open();
    const file = await store.createFile(newFile());
    expect(await store.deleteFile(file.id)).toBe(true);
    expect(await store.getFile(file.id)).toBeNull();
    expect(await store.deleteFile(file.id)).toBe(false);
  });

  it("deletes only files whose expiry has passed, each once, oldest expiry first", async () => {
    const store = await stores.open();
    const expiredLater = await store.createFile(newFile({ expiresAtMs: T0 + 500 }));
    const expiredFirst = await store.createFile(newFile({ expiresAtMs: T0 + 100 }));
    const future = await store.createFile(newFile({ expiresAtMs: T0 + 10_000 }));
    const forever = await store.createFile(newFile({ expiresAtMs: null }));
    expect(await store.deleteExpiredFiles(T0 + 1_000, 1)).toEqual([expiredFirst.id]);
    expect(await store.deleteExpiredFiles(T0 + 1_000, 10)).toEqual([expiredLater.id]);
    expect(await store.deleteExpiredFiles(T0 + 1_000, 10)).toEqual([]);
    expect(await store.getFile(expiredFirst.id)).toBeNull();
    expect(await store.getFile(future.id)).not.toBeNull();
    expect(await store.getFile(forever.id)).not.toBeNull();
  });

  it("lists files in creation order both ways, pages with a cursor and says whether more follow", async () => {
    const store = await stores.open();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await store.createFile(newFile({ createdAtMs: T0 + i }))).id);

    const first = await store.listFiles({ limit: 2, order: "asc" });
    expect(first.files.map((f) => f.id)).toEqual(ids.slice(0, 2));
    expect(first.hasMore).toBe(true);
    const second = await store.listFiles({ limit: 2, order: "asc", afterId: ids[1] });
    expect(second.files.map((f) => f.id)).toEqual(ids.slice(2, 4));
    const last = await store.listFiles({ limit: 2, order: "asc", afterId: ids[3] });
    expect(last.files.map((f) => f.id)).toEqual(ids.slice(4));
    expect(last.hasMore).toBe(false);

    const newest = await store.listFiles({ limit: 3, order: "desc" });
    expect(newest.files.map((f) => f.id)).toEqual([...ids].reverse().slice(0, 3));
    expect(newest.hasMore).toBe(true);
    const older = await store.listFiles({ limit: 3, order: "desc", afterId: ids[2] });
    expect(older.files.map((f) => f.id)).toEqual([ids[1], ids[0]]);
    expect(older.hasMore).toBe(false);
  });

  it("lists only files of the asked purpose", async () => {
    const store = await stores.open();
    const input = await store.createFile(newFile({ purpose: "batch" }));
    await store.createFile(newFile({ purpose: "batch_output" }));
    const other = await store.createFile(newFile({ purpose: "batch" }));
    const page = await store.listFiles({ limit: 10, order: "asc", purpose: "batch" });
    expect(page.files.map((f) => f.id)).toEqual([input.id, other.id]);
    expect(page.hasMore).toBe(false);
  });

  it("says hasMore is false when the page is exactly full", async () => {
    const store = await stores.open();
    await store.createFile(newFile());
    await store.createFile(newFile());
    const page = await store.listFiles({ limit: 2, order: "asc" });
    expect(page.files).toHaveLength(2);
    expect(page.hasMore).toBe(false);
  });
});
