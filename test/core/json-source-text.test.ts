/**
 * The text a parsed value came from (core/json.ts): written in place of serializing the value again, so it
 * must never reach a value that may differ from it. It lives on the parsed object as a hidden property
 * (decision 0034); these check that no kind of copy carries it.
 */
import { describe, expect, it } from "vitest";
import { jsonTextOf, keepJsonText, parseJsonKeepingText } from "../../src/core/json.ts";

describe("a parsed value's source text", () => {
  it("is written for the parsed value itself, spelling and spacing kept", () => {
    const text = `{"a": 1.50, "b": [1e2]}`;
    expect(jsonTextOf(parseJsonKeepingText(text))).toBe(text);
  });

  it("never follows a copy: spread, Object.assign, structuredClone, JSON round trip", () => {
    const parsed = parseJsonKeepingText(`{"a": 1.50}`) as Record<string, unknown>;
    expect(jsonTextOf({ ...parsed })).toBe(`{"a":1.5}`);
    expect(jsonTextOf({ ...parsed, a: 2 })).toBe(`{"a":2}`);
    expect(jsonTextOf(Object.assign({}, parsed))).toBe(`{"a":1.5}`);
    expect(jsonTextOf(structuredClone(parsed))).toBe(`{"a":1.5}`);
    expect(Object.keys(parsed)).toEqual(["a"]);
    expect(JSON.stringify(parsed)).toBe(`{"a":1.5}`);
    const list = parseJsonKeepingText(`[1.0, 2.0]`) as unknown[];
    expect(jsonTextOf(list)).toBe(`[1.0, 2.0]`);
    expect(jsonTextOf([...list])).toBe(`[1,2]`);
  });

  it("is left off a frozen value instead of throwing", () => {
    const frozen = Object.freeze({ a: 1 });
    expect(() => keepJsonText(frozen, `{"a": 1.0}`)).not.toThrow();
    expect(jsonTextOf(frozen)).toBe(`{"a":1}`);
  });
});
