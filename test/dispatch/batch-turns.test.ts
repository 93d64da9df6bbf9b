import { describe, expect, it } from "vitest";
import { BatchTurns } from "../../src/dispatch/batch-turns.ts";

const request = (batchId: string | undefined, n: number) => ({ batchId, n });

describe("BatchTurns", () => {
  it("takes one request of each Batch in turn, each Batch's in the order they came", () => {
    const turns = new BatchTurns<ReturnType<typeof request>>();
    for (const item of [request("a", 1), request("a", 2), request("a", 3), request("b", 1), request(undefined, 1), request("b", 2)]) turns.push(item);
    const taken: string[] = [];
    for (let item = turns.shift(); item !== undefined; item = turns.shift()) taken.push(`${item.batchId ?? "-"}${item.n}`);
    expect(taken).toEqual(["a1", "b1", "-1", "a2", "b2", "a3"]);
    expect(turns.peek()).toBeUndefined();
  });

  it("gives a Batch that comes back after its queue emptied a turn at the back, and peeks what shift takes", () => {
    const turns = new BatchTurns<ReturnType<typeof request>>();
    turns.push(request("a", 1));
    turns.push(request("b", 1));
    turns.push(request("b", 2));
    expect(turns.shift()).toEqual(request("a", 1));
    turns.push(request("a", 2));
    expect(turns.peek()).toEqual(request("b", 1));
    expect(turns.shift()).toEqual(request("b", 1));
    expect(turns.shift()).toEqual(request("a", 2));
    expect(turns.shift()).toEqual(request("b", 2));
  });

  it("lists and drains every queued request", () => {
    const turns = new BatchTurns<ReturnType<typeof request>>();
    for (const item of [request("a", 1), request("b", 1), request("a", 2)]) turns.push(item);
    expect(turns.peekAll()).toEqual([request("a", 1), request("a", 2), request("b", 1)]);
    expect(turns.drain()).toHaveLength(3);
    expect(turns.peekAll()).toEqual([]);
    expect(turns.shift()).toBeUndefined();
  });
});
