import { describe, expect, it } from "vitest";
import { findExcessiveNesting, MAX_JSON_NESTING, nestingLineError } from "../../src/core/json-nesting.ts";

const nested = (levels: number, open = "[", close = "]"): string => `${open.repeat(levels)}${close.repeat(levels)}`;

describe("findExcessiveNesting", () => {
  it("accepts JSON nested exactly to the limit and rejects one level more", () => {
    expect(findExcessiveNesting(nested(MAX_JSON_NESTING))).toBeNull();
    expect(findExcessiveNesting(nested(MAX_JSON_NESTING + 1))).toEqual({ path: "[0][0][0][0][0][0][0][0]", truncated: true });
  });

  it("ignores brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify({ text: `he said \\"${"[".repeat(500)}` });
    expect(findExcessiveNesting(text)).toBeNull();
  });

  it("passes wide but shallow JSON (many brackets, little depth)", () => {
    const tokens = JSON.stringify({ input: Array.from({ length: 1_000 }, (_v, i) => [i, i + 1]) });
    expect(findExcessiveNesting(tokens)).toBeNull();
  });

  it("names the path to the deep value with keys and array indexes as written", () => {
    const deep = JSON.parse(nested(200, "[", "]")) as unknown;
    const body = { model: "m", messages: [{ role: "user", content: "x" }, { role: "user", content: deep }] };
    expect(findExcessiveNesting(JSON.stringify(body))).toEqual({ path: "messages[1].content[0][0][0][0][0]", truncated: true });
    const schema = `{"a":"}{","b":[1,{"c":${"{\"d\":".repeat(200)}1${"}".repeat(200)}}]}`;
    expect(findExcessiveNesting(schema)?.path).toBe("b[1].c.d.d.d.d.d");
  });

  it("reports a line with its number, a stable code and the field", () => {
    const line = `{"custom_id":"a","body":{"x":${nested(300)}}}`;
    const found = findExcessiveNesting(line);
    expect(found).not.toBeNull();
    const error = nestingLineError(7, found!);
    expect(error).toMatchObject({ line: 7, code: "json_too_deep", param: "body.x[0][0][0][0][0][0]" });
    expect(error.message).toMatch(/^Line 7 nests JSON deeper than 128 levels at body\.x\[0\]/);
  });
});
