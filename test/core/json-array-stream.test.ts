import { describe, expect, it } from "vitest";
import { readArrayField, type ArrayFieldEvent } from "../../src/core/json-array-stream.ts";

/** Events for `text` fed in chunks of `size` bytes (every boundary is a chunk boundary for size 1). */
async function events(text: string, size: number, maxElementBytes = 1_000): Promise<ArrayFieldEvent[]> {
  const bytes = Buffer.from(text);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  }
  const out: ArrayFieldEvent[] = [];
  for await (const event of readArrayField(chunks(), "requests", { maxElementBytes })) out.push(event);
  return out;
}

const texts = (list: ArrayFieldEvent[]): (string | null)[] => list.filter((event) => event.kind === "element").map((event) => (event.kind === "element" ? event.text : null));

describe("readArrayField", () => {
  const body = ` { "before": {"requests": [1, "]"]}, "requests" : [ {"a": "x\\\\\\"]}", "b": [1, {"c": null}]} , "str ] , }", 12.5e3 ,true,null, [[]] ], "after": "}" } `;

  it("hands over each element's exact text and names the other fields, whatever the chunk size", async () => {
    const expected = [`{"a": "x\\\\\\"]}", "b": [1, {"c": null}]}`, `"str ] , }"`, "12.5e3", "true", "null", "[[]]"];
    for (const size of [1, 2, 3, 7, 64, 10_000]) {
      const found = await events(body, size);
      expect(texts(found)).toEqual(expected);
      expect(found.filter((event) => event.kind === "field")).toEqual([{ kind: "field", name: "before" }, { kind: "field", name: "after" }]);
      expect(found.filter((event) => event.kind === "element").map((event) => (event.kind === "element" ? event.index : -1))).toEqual([0, 1, 2, 3, 4, 5]);
      for (const text of expected) expect(() => JSON.parse(text)).not.toThrow();
    }
  });

  it("keeps multi-byte characters whole across chunk boundaries", async () => {
    const found = await events(JSON.stringify({ requests: [{ text: "héllo 😀 日本" }] }), 1);
    expect(texts(found)).toEqual([JSON.stringify({ text: "héllo 😀 日本" })]);
  });

  it("reports an element past the size limit without its text, and a requests value that is not a list", async () => {
    expect(await events(JSON.stringify({ requests: ["x".repeat(50), "ok"] }), 5, 20)).toEqual([
      { kind: "array" },
      { kind: "element", index: 0, text: null, bytes: 52 },
      { kind: "element", index: 1, text: '"ok"', bytes: 4 },
    ]);
    expect(await events('{"requests": {"a": [1]}}', 3)).toEqual([{ kind: "not-array" }]);
    expect(await events('{"requests": []}', 1)).toEqual([{ kind: "array" }]);
    expect(await events('{"a\\"b": 1}', 1)).toEqual([{ kind: "field", name: 'a"b' }]);
  });

  it("refuses bodies that are not one JSON object, naming the byte", async () => {
    await expect(events("", 1)).rejects.toThrow("The request body is empty; expected a JSON object.");
    await expect(events("[1]", 1)).rejects.toThrow("expected a JSON object at byte 0");
    await expect(events('{"requests": [1,]}', 1)).rejects.toThrow("expected a value at byte 16");
    await expect(events('{"requests" [1]}', 4)).rejects.toThrow("expected ':' after a field name at byte 12");
    await expect(events('{"requests": [1] 2}', 4)).rejects.toThrow("expected ',' or '}' after a value at byte 17");
    await expect(events('{"a": 1,}', 2)).rejects.toThrow("expected a field name at byte 8");
    await expect(events('{"requests": [{"a": 1}', 2)).rejects.toThrow("it ends early, at byte 22");
    await expect(events('{} x', 2)).rejects.toThrow("unexpected text after the JSON object at byte 3");
  });
});
