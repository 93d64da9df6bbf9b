/**
 * The hot path's values cross the Store's thread as arrays (src/store/sqlite/thread/wire.ts). Each codec
 * must give back exactly the object it was given: every field, and absent optional fields still absent.
 * The fixtures are typed with every optional field required, so a field added to ItemCompletion, ItemResult,
 * Item or ClaimedItem fails to compile here until it is given a value, and then fails the round trip until
 * the codec carries it.
 */
import { describe, expect, it } from "vitest";
import type { Item, ItemResult } from "../../src/core/types.ts";
import { WIRE } from "../../src/store/sqlite/thread/wire.ts";
import type { ClaimedItem, ItemCompletion, ItemPage } from "../../src/store/store.ts";

const FULL_RESULT: Required<ItemResult> = {
  statusCode: 429,
  body: '{"error":{"message":"slow down","big":12345678901234567890}}',
  errorCode: "rate_limited",
  errorMessage: "upstream said 429",
  requestId: "req-7",
  usage: { inputTokens: 11, outputTokens: 3 },
  finishedAtMs: 1_733_000_000_123,
  charge: { batchNanoUsd: 1_500, listNanoUsd: 3_000 },
};
const BARE_RESULT: ItemResult = { statusCode: null, body: null, errorCode: "batch_expired", errorMessage: "expired", requestId: null, usage: { inputTokens: 0, outputTokens: 0 }, finishedAtMs: 5 };

const FULL_COMPLETION: Required<ItemCompletion> = { batchId: "batch_a", index: 41, owner: "w-1", attempt: 2, status: "failed", result: FULL_RESULT, cacheResult: false };
const BARE_COMPLETION: ItemCompletion = { batchId: "batch_b", index: 0, owner: "w-2", attempt: 1, status: "succeeded", result: BARE_RESULT };

const ITEM: Item = { batchId: "batch_c", index: 7, clientId: "request-7", echo: '{"k":1}', model: "m", kind: "chat", status: "succeeded", attempts: 1, result: FULL_RESULT };
const CLAIMED: Required<ClaimedItem> = {
  batchId: "batch_c",
  index: 8,
  clientId: null,
  echo: null,
  model: "m",
  kind: "embedding",
  status: "running",
  attempts: 3,
  result: null,
  request: '{"custom_id":"x","body":{"input":"\\u0000 and é"}}',
  attempt: 3,
  dialect: "gemini",
  prefixKey: "p-1",
};

/** Through the codec and a structured clone, as postMessage carries it. */
function roundTrip(method: string, kind: "args" | "value", value: unknown): unknown {
  const codec = WIRE[method]?.[kind];
  if (codec === undefined) throw new Error(`no ${kind} codec for ${method}`);
  const send = codec.send as (value: unknown) => unknown;
  const receive = codec.receive as (value: unknown) => unknown;
  return receive(structuredClone(send(value)));
}

describe("the Store thread's wire form", () => {
  it("carries completions with every field, and without the optional ones", () => {
    const args = [[FULL_COMPLETION, BARE_COMPLETION], 99];
    expect(roundTrip("completeItems", "args", args)).toStrictEqual(args);
  });

  it("carries claimed Items, with and without a result", () => {
    const withResult = { ...CLAIMED, index: 9, result: BARE_RESULT };
    expect(roundTrip("claimItems", "value", [CLAIMED, withResult])).toStrictEqual([CLAIMED, withResult]);
    expect(roundTrip("claimItems", "value", [])).toStrictEqual([]);
  });

  it("carries pages of Items, finished or not", () => {
    const page: ItemPage = { items: [ITEM, { ...ITEM, index: 8, status: "pending", result: null }, { ...ITEM, index: 9, result: BARE_RESULT }], nextAfterIndex: 9 };
    expect(roundTrip("readItems", "value", page)).toStrictEqual(page);
    expect(roundTrip("readItems", "value", { items: [], nextAfterIndex: null })).toStrictEqual({ items: [], nextAfterIndex: null });
  });

  it("sends arrays, not objects, for each Item", () => {
    const sent = (WIRE.completeItems!.args!.send([[BARE_COMPLETION], 1]) as unknown[][])[0] as unknown[];
    expect(Array.isArray(sent[0])).toBe(true);
  });
});
