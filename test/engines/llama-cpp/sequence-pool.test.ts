/**
 * SequencePool on plain objects standing for sequences: which free sequence a request gets, which waiting
 * request a released sequence goes to, and the bound on how long a waiter can be overtaken.
 */
import { describe, expect, it } from "vitest";
import { SequencePool } from "../../../src/engines/llama-cpp/sequence-pool.ts";

interface FakeSequence {
  name: string;
  /** What the sequence "holds": requests with the same prefix value it. */
  prefix: string;
}

const live = (): AbortSignal => new AbortController().signal;
const wants = (prefix: string) => (sequence: FakeSequence) => (sequence.prefix === prefix ? 10 : 0);

function pool(...prefixes: string[]): { pool: SequencePool<FakeSequence>; sequences: FakeSequence[] } {
  const sequences = prefixes.map((prefix, index) => ({ name: `s${index}`, prefix }));
  return { pool: new SequencePool(sequences), sequences };
}

/** Records the order in which pending acquisitions are granted. */
function track(granted: string[], label: string, promise: Promise<FakeSequence>): Promise<FakeSequence> {
  return promise.then((sequence) => {
    granted.push(`${label}:${sequence.name}`);
    return sequence;
  });
}

describe("SequencePool", () => {
  it("lends the free sequence with the highest affinity", async () => {
    const { pool: sequences } = pool("a", "b", "c");
    expect((await sequences.acquire(live(), wants("b"))).name).toBe("s1");
    expect((await sequences.acquire(live(), wants("c"))).name).toBe("s2");
    expect(sequences.busy).toBe(2);
  });

  it("breaks ties by the sequence released longest ago", async () => {
    const { pool: sequences } = pool("", "");
    const first = await sequences.acquire(live());
    const second = await sequences.acquire(live());
    sequences.release(second);
    sequences.release(first);
    expect(await sequences.acquire(live())).toBe(second);
  });

  it("gives a released sequence to the waiter that values it most, then to the oldest", async () => {
    const { pool: sequences, sequences: [only] } = pool("a");
    const held = await sequences.acquire(live());
    const granted: string[] = [];
    const waitB1 = track(granted, "b1", sequences.acquire(live(), wants("b")));
    const waitA = track(granted, "a", sequences.acquire(live(), wants("a")));
    const waitB2 = track(granted, "b2", sequences.acquire(live(), wants("b")));
    expect(sequences.waiting).toBe(3);

    sequences.release(held);
    await waitA;
    sequences.release(only!);
    await waitB1;
    sequences.release(only!);
    await waitB2;
    expect(granted).toEqual(["a:s0", "b1:s0", "b2:s0"]);
  });

  it("serves a waiter that was passed over eight times next, whatever the affinities", async () => {
    const { pool: sequences, sequences: [only] } = pool("a");
    let held = await sequences.acquire(live());
    const granted: string[] = [];
    const starving = track(granted, "b", sequences.acquire(live(), wants("b")));
    for (let round = 0; round < 9; round++) {
      const next = track(granted, `a${round}`, sequences.acquire(live(), wants("a")));
      sequences.release(held);
      held = await Promise.race([next, starving]);
      if (granted.at(-1)!.startsWith("b")) break;
    }
    expect(granted.map((entry) => entry.split(":")[0])).toEqual(["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "b"]);
    expect(held).toBe(only);
  });

  it("removes a waiter whose signal fires and never grants it", async () => {
    const { pool: sequences } = pool("a");
    const held = await sequences.acquire(live());
    const controller = new AbortController();
    const cancelled = sequences.acquire(controller.signal, wants("a"));
    const other = sequences.acquire(live(), wants("b"));
    controller.abort(new Error("gone"));
    await expect(cancelled).rejects.toThrow("gone");
    expect(sequences.waiting).toBe(1);
    sequences.release(held);
    expect(await other).toBe(held);
    expect(sequences.busy).toBe(1);
  });
});
