/**
 * topLevelMemberText: the exact text of a top-level member, which the Batch hot path sends upstream in place
 * of serializing the parsed body again. Checked against JSON.parse on awkward text and on many generated
 * objects: a wrong span would send a different request than the user wrote.
 */
import { describe, expect, it } from "vitest";
import { arrayElementTexts, topLevelMemberText } from "../../src/core/json-member.ts";
import { copyWithMembers, memberSourceText, parseJsonKeepingText } from "../../src/core/json.ts";

describe("topLevelMemberText", () => {
  it("returns the member's own bytes: spacing, key order and number spelling kept", () => {
    const line = `{ "custom_id" : "a", "body" :  {"model":"m",  "seed": 12345678901234567890, "x": 1.50e3 } , "url":"/v1/chat/completions"}`;
    expect(topLevelMemberText(line, "body")).toBe(`{"model":"m",  "seed": 12345678901234567890, "x": 1.50e3 }`);
    expect(topLevelMemberText(line, "url")).toBe(`"/v1/chat/completions"`);
    expect(topLevelMemberText(line, "custom_id")).toBe(`"a"`);
  });

  it("is not misled by braces, brackets, quotes and keys inside strings or nested values", () => {
    const line = String.raw`{"custom_id":"}{\"body\":1","meta":{"body":"nested"},"body":{"messages":[{"role":"user","content":"a \"quoted\" } ] { [ \\"}]},"tail":[1,[2,{"body":3}]]}`;
    const text = topLevelMemberText(line, "body");
    expect(text).not.toBeNull();
    expect(JSON.parse(text!)).toEqual((JSON.parse(line) as { body: unknown }).body);
    expect(topLevelMemberText(line, "tail")).toBe(`[1,[2,{"body":3}]]`);
  });

  it("takes the last of a repeated key, as JSON.parse does", () => {
    expect(topLevelMemberText(`{"body":{"a":1},"body":{"b":2}}`, "body")).toBe(`{"b":2}`);
  });

  it("answers null when it cannot be sure: no such member, an escaped key, not an object", () => {
    expect(topLevelMemberText(`{"custom_id":"a"}`, "body")).toBeNull();
    // JSON.parse reads "bo\u0064y" as "body": this one would be missed, so the whole answer is "don't know".
    expect(topLevelMemberText(String.raw`{"body":{"a":1},"bo\u0064y":{"b":2}}`, "body")).toBeNull();
    expect(topLevelMemberText(`[{"body":1}]`, "body")).toBeNull();
    expect(topLevelMemberText(`"body"`, "body")).toBeNull();
    expect(topLevelMemberText(`{"body":{"a":1}`, "body")).toBeNull();
  });

  it("matches JSON.parse on generated objects of every value type and spacing", () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const strings = ["", "plain", 'q"uote', "back\\slash", "br}ace{", "[arr]", "uni\u00e9\u2028", "tab\tnl\n", ":,"];
    const value = (depth: number): unknown => {
      const pick = Math.floor(random() * (depth > 2 ? 5 : 7));
      if (pick === 0) return strings[Math.floor(random() * strings.length)];
      if (pick === 1) return Math.round(random() * 1e6) / 100 - 5000;
      if (pick === 2) return random() < 0.5;
      if (pick === 3) return null;
      if (pick === 4) return Math.floor(random() * 1000);
      if (pick === 5) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, (_, i) => [strings[i % strings.length]! + i, value(depth + 1)]));
    };
    for (let round = 0; round < 300; round += 1) {
      const object = { custom_id: `req-${round}`, ...(random() < 0.5 ? { before: value(0) } : {}), body: value(0), after: value(0) };
      const text = random() < 0.5 ? JSON.stringify(object) : JSON.stringify(object, null, round % 4);
      const span = topLevelMemberText(text, "body");
      expect(span).not.toBeNull();
      expect(text.includes(span!)).toBe(true);
      expect(JSON.parse(span!)).toEqual(object.body);
    }
  });
});

describe("arrayElementTexts", () => {
  it("returns each element's own bytes, nested structure and strings included", () => {
    const text = String.raw` [ {"a":"]}[{\""} , [1, [2]],"x\\", 1.50e3 ,null, {"embedding": [0.1000, -2e-3]} ] `;
    expect(arrayElementTexts(text)).toEqual([String.raw`{"a":"]}[{\""}`, "[1, [2]]", String.raw`"x\\"`, "1.50e3", "null", `{"embedding": [0.1000, -2e-3]}`]);
    expect(JSON.parse(text)).toHaveLength(6);
    expect(arrayElementTexts("[]")).toEqual([]);
  });

  it("answers null for what is not a whole array", () => {
    expect(arrayElementTexts(`{"a":[1]}`)).toBeNull();
    expect(arrayElementTexts(`[1, [2, 3]`)).toBeNull();
    expect(arrayElementTexts(`[{"a":1}`)).toBeNull();
  });

  it("matches JSON.parse on generated arrays of long number lists (embedding vectors) and objects", () => {
    let seed = 11;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 100; round += 1) {
      const elements = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, index) => ({
        object: "embedding",
        index,
        note: random() < 0.3 ? 'q"]}[{' : "n",
        embedding: Array.from({ length: Math.floor(random() * 300) }, () => random() * 2 - 1),
      }));
      const text = JSON.stringify(elements, null, round % 3);
      const texts = arrayElementTexts(text);
      expect(texts?.map((each) => JSON.parse(each) as unknown)).toEqual(elements);
      texts!.forEach((each, index) => expect(JSON.parse(topLevelMemberText(each, "embedding")!)).toEqual(elements[index]!.embedding));
    }
  });
});

describe("memberSourceText", () => {
  it("finds a member's text in what the value, or the original of its copy, was parsed from", () => {
    const parsed = parseJsonKeepingText(`{"model": "up", "data": [1.50, 2e0]}`) as Record<string, unknown>;
    expect(memberSourceText(parsed, "data")).toBe("[1.50, 2e0]");
    const renamed = copyWithMembers(parsed, { model: "client" });
    expect(renamed).toEqual({ model: "client", data: [1.5, 2] });
    expect(memberSourceText(renamed, "data")).toBe("[1.50, 2e0]");
    // A replaced member's text is not the original's, also through a copy of the copy.
    expect(memberSourceText(renamed, "model")).toBeNull();
    const again = copyWithMembers(renamed, { data: [3] });
    expect(memberSourceText(again, "data")).toBeNull();
    expect(memberSourceText(again, "model")).toBeNull();
    expect(memberSourceText({ data: [1] }, "data")).toBeNull();
  });
});
