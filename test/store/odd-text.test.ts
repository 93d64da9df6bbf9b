/**
 * Both Stores keep any JavaScript string as it was given (issue 9, item 2). PostgreSQL text cannot hold
 * U+0000, so its Store escapes on the way in and out (src/store/postgres/text-escaping.ts); SQLite keeps it
 * as is. These values are the ones that broke it: a NUL, the escape character itself, and the sequences an
 * escape produces, so a value that merely looks escaped is not mistaken for one.
 */
import { describe, expect, it } from "vitest";
import { escapeText, unescapeText } from "../../src/store/postgres/text-escaping.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, LEASE_MS, MODEL, newBatch, newFile, T0 } from "./store-fixtures.ts";

/** A request as raw text, not JSON-escaped, so the NUL itself reaches the Store; with characters of 2 to 4 bytes. */
const requestOf = (text: string): string => `{"text":"${text}","more":"ünïcödé 😀"}`;
const ODD = ["a\u0000b", "\u0000", "\uffff", "\uffff0", "\uffff\uffff", "x\uffff\u0000y", "\u0000\uffff0\u0000", "plain"];

describe("postgres text escaping", () => {
  it("round-trips every odd string and leaves ordinary text untouched", () => {
    for (const text of ODD) expect(unescapeText(escapeText(text))).toBe(text);
    expect(escapeText("plain ascii and ünïcödé")).toBe("plain ascii and ünïcödé");
    expect(escapeText("a\u0000b")).not.toContain("\u0000");
    // Injective: distinct strings stay distinct once escaped, so equality lookups keep their meaning.
    expect(new Set(ODD.map(escapeText)).size).toBe(ODD.length);
  });
});

describe.each(storeBackends)("$name store: odd text", (backend) => {
  const stores = useStores(backend);

  it("round-trips NUL and U+FFFF in file names, batch fields and item fields", async () => {
    const store = await stores.open();
    const file = await store.createFile(newFile({ id: "file-odd\u0000one", filename: "in\u0000put\uffff0.jsonl", displayName: "\uffff\u0000" }));
    expect(await store.getFile("file-odd\u0000one")).toEqual(file);
    expect(file).toMatchObject({ filename: "in\u0000put\uffff0.jsonl", displayName: "\uffff\u0000" });

    const batch = await store.createBatch(newBatch({ displayName: "name\u0000", metadata: { note: "a\u0000b" }, inputFileId: file.id }));
    expect(await store.getBatch(batch.id)).toMatchObject({ displayName: "name\u0000", metadata: { note: "a\u0000b" }, inputFileId: "file-odd\u0000one" });

    await store.claimValidation({ owner: "v", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(batch.id, ODD.map((text, index) => ({ index, clientId: text, echo: text, model: MODEL, kind: "chat", request: requestOf(text) })));
    await store.startBatch(batch.id, { owner: "v", total: ODD.length, model: MODEL, errors: [{ line: 1, code: "x", message: "bad \u0000 line", param: "custom_id" }], nowMs: T0 + 1 });
    expect((await store.getBatch(batch.id))?.errors?.[0]?.message).toBe("bad \u0000 line");

    const claimed = await store.claimItems({ owner: "w\u0000", model: MODEL, limit: ODD.length, nowMs: T0 + 2, leaseMs: LEASE_MS });
    expect(claimed.map((item) => item.clientId)).toEqual(ODD);
    // Requests and bodies go to PostgreSQL packed into one bytea by byte offsets (text-pack.ts): multi-byte
    // characters before a text must not shift the next one, and a null body stays null.
    expect(claimed.map((item) => item.request)).toEqual(ODD.map(requestOf));
    const applied = await store.completeItems(
      claimed.map((item) => ({
        batchId: item.batchId,
        index: item.index,
        owner: "w\u0000",
        attempt: item.attempt,
        status: "failed" as const,
        result: { statusCode: 502, body: item.index === 1 ? null : `raw \u0000 body ü😀 ${item.clientId}`, errorCode: "upstream_error", errorMessage: `\uffff${item.clientId}`, requestId: "r\u0000", usage: { inputTokens: 0, outputTokens: 0 }, finishedAtMs: T0 + 3 },
      })),
      T0 + 3,
    );
    expect(applied).toBe(ODD.length);
    const items = await allItems(store, batch.id);
    expect(items.map((item) => [item.clientId, item.echo, item.result?.body, item.result?.errorMessage, item.result?.requestId])).toEqual(
      ODD.map((text, index) => [text, text, index === 1 ? null : `raw \u0000 body ü😀 ${text}`, `\uffff${text}`, "r\u0000"]),
    );
  });

  it("keeps array-literal syntax in a value as text: quotes, backslashes, commas, braces, blanks, the word NULL", async () => {
    // The PostgreSQL Store writes arrays of strings as literals itself (text-escaping.ts arrayLiteral).
    const texts = ['say "hi"', "back\\slash\\", "a,b", "{x}", " padded ", "NULL", "", '\\"', "plain"];
    const store = await stores.open();
    const batch = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(batch.id, texts.map((text, index) => ({ index, clientId: text, echo: null, model: MODEL, kind: "chat", request: text })));
    await store.startBatch(batch.id, { owner: "v", total: texts.length, model: MODEL, errors: null, nowMs: T0 + 1 });
    const claimed = await store.claimItems({ owner: "w", model: MODEL, limit: texts.length, nowMs: T0 + 2, leaseMs: LEASE_MS });
    expect(claimed.map((item) => [item.clientId, item.request])).toEqual(texts.map((text) => [text, text]));
  });

  it("answers 'not found' for ids containing NUL instead of failing", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch());
    expect(await store.getBatch(`${batch.id}\u0000`)).toBeNull();
    expect(await store.getFile("file-\u0000")).toBeNull();
    expect(await store.deleteFile("file-\u0000")).toBe(false);
    expect(await store.deleteBatch("batch_\u0000", T0)).toBe(false);
    await expect(store.cancelBatch("batch_\u0000", T0)).rejects.toMatchObject({ code: "not_found" });
    expect((await store.listFiles({ afterId: "file-\u0000", limit: 10, order: "asc" })).files).toEqual([]);
  });
});
