/**
 * parseJsonDeferringNumbers (src/core/deferred-json.ts): long number arrays stay text until read, and what
 * is read is what JSON.parse gives. Every case is compared against JSON.parse of the same text.
 */
import { describe, expect, it } from "vitest";
import { DEFER_FROM_CHARS, deferMember, deferredMemberText, parseJsonDeferringNumbers, stringifyKeepingDeferred } from "../../src/core/deferred-json.ts";
import { openAIEmbeddingVectors } from "../../src/dialects/translate/openai-to-gemini-response.ts";

/** A vector written the way servers write them: exponents, trailing zeros, negatives, spacing. */
function vectorText(seed: number, length = 300, separator = ", "): string {
  const numbers = Array.from({ length }, (_, i) => {
    const n = (seed * 31 + i * 17) % 1000;
    if (i % 7 === 0) return `${n % 2 === 0 ? "-" : ""}${n}.5e-${(i % 9) + 1}`;
    if (i % 5 === 0) return `-0.${String(n).padStart(3, "0")}0000`;
    if (i % 11 === 0) return `${n}E+2`;
    return `0.${String(n).padStart(3, "0")}`;
  });
  return `[${numbers.join(separator)}]`;
}

function embeddingReply(count: number, vector: (index: number) => string = (index) => vectorText(index)): string {
  const data = Array.from({ length: count }, (_, index) => `{"object": "embedding", "index": ${index}, "embedding": ${vector(index)}}`);
  return `{"object": "list", "data": [${data.join(", ")}], "model": "embed-[model]", "usage": {"prompt_tokens": 7, "total_tokens": 7}}`;
}

interface Entry {
  index: number;
  embedding: number[];
}
const entriesOf = (value: unknown): Entry[] => (value as { data: Entry[] }).data;

describe("parseJsonDeferringNumbers", () => {
  it("gives what JSON.parse gives, leaving each long vector as its own text until it is read", () => {
    const text = embeddingReply(4);
    const parsed = parseJsonDeferringNumbers(text);
    const entries = entriesOf(parsed);
    entries.forEach((entry, index) => expect(deferredMemberText(entry, "embedding")).toBe(vectorText(index)));
    expect(parsed).toEqual(JSON.parse(text));
    // Read (by toEqual above): now plain data, no longer deferred, and the same numbers.
    entries.forEach((entry, index) => {
      expect(deferredMemberText(entry, "embedding")).toBeNull();
      expect(Object.getOwnPropertyDescriptor(entry, "embedding")).toMatchObject({ writable: true, enumerable: true });
      expect(entry.embedding).toEqual(JSON.parse(vectorText(index)));
    });
  });

  it("serializes, clones and copies as JSON.parse's value does, with the keys in their order", () => {
    const text = embeddingReply(3);
    const expected = JSON.parse(text) as unknown;
    expect(JSON.stringify(parseJsonDeferringNumbers(text))).toBe(JSON.stringify(expected));
    expect(structuredClone(parseJsonDeferringNumbers(text))).toEqual(expected);
    const entry = entriesOf(parseJsonDeferringNumbers(text))[1]!;
    expect(Object.keys(entry)).toEqual(["object", "index", "embedding"]);
    expect({ ...entry }).toEqual(entriesOf(expected)[1]);
  });

  it("takes an assignment to a deferred member (strict mode code assigns to it without a setter error)", () => {
    const entry = entriesOf(parseJsonDeferringNumbers(embeddingReply(1)))[0]!;
    entry.embedding = [1, 2, 3];
    expect(entry.embedding).toEqual([1, 2, 3]);
    expect(deferredMemberText(entry, "embedding")).toBeNull();
  });

  it("leaves short arrays, arrays of other values and texts under the threshold to JSON.parse", () => {
    const short = `{"data": [{"embedding": [0.1, 0.2, 0.3]}], "pad": "${"x".repeat(DEFER_FROM_CHARS)}"}`;
    const shortEntry = entriesOf(parseJsonDeferringNumbers(short))[0]!;
    expect(deferredMemberText(shortEntry, "embedding")).toBeNull();
    const mixed = `{"values": [${Array.from({ length: 300 }, (_, i) => (i === 150 ? '"x"' : String(i))).join(",")}]}`;
    const mixedValue = parseJsonDeferringNumbers(mixed) as Record<string, unknown>;
    expect(deferredMemberText(mixedValue, "values")).toBeNull();
    expect(mixedValue).toEqual(JSON.parse(mixed));
    const literals = `{"flags": [${Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? "true" : "null")).join(",")}]}`;
    expect(parseJsonDeferringNumbers(literals)).toEqual(JSON.parse(literals));
  });

  it("is not fooled by brackets, quotes and numbers inside strings", () => {
    const inString = `"not a vector: ${vectorText(1).replace(/,/g, ",\\\"")} \\\\"`;
    const text = `{"note": ${inString}, "quoted": "${vectorText(3)}", "tricky": "a [ b ] c { d } \\" [1,2]", "embedding": ${vectorText(2, 200, ",\n  ")}}`;
    const parsed = parseJsonDeferringNumbers(text) as Record<string, unknown>;
    expect(deferredMemberText(parsed, "note")).toBeNull();
    expect(parsed.quoted).toBe(vectorText(3));
    expect(deferredMemberText(parsed, "embedding")).toBe(vectorText(2, 200, ",\n  "));
    expect(parsed).toEqual(JSON.parse(text));
  });

  it("parses vectors held directly by an array, or as the whole text, at once (no accessor on an index)", () => {
    const nested = `{"embeddings": [${vectorText(1)}, ${vectorText(2)}]}`;
    const parsed = parseJsonDeferringNumbers(nested) as { embeddings: number[][] };
    expect(Object.getOwnPropertyDescriptor(parsed.embeddings, 0)).toMatchObject({ writable: true });
    expect(parsed).toEqual(JSON.parse(nested));
    expect(parseJsonDeferringNumbers(vectorText(3))).toEqual(JSON.parse(vectorText(3)));
  });

  it("rejects what JSON.parse rejects inside a long number list, at the parse", () => {
    const good = vectorText(5);
    const broken = [
      good.replace("0.", "01."), // leading zero
      good.replace(", ", ", ,"), // empty element
      good.replace(/\]$/, ",]"), // trailing comma
      good.replace("0.", "--0."), // double sign
      good.replace(/\d+\.5e/, "1.e"), // no digits after the point
      good.replace("0.", "NaN,0."), // not a JSON number
    ];
    for (const vector of broken) {
      const text = `{"embedding": ${vector}}`;
      expect(() => JSON.parse(text)).toThrow(SyntaxError);
      expect(() => parseJsonDeferringNumbers(text)).toThrow(SyntaxError);
    }
    expect(() => parseJsonDeferringNumbers(`{"embedding": ${good}`)).toThrow(SyntaxError);
    expect(() => parseJsonDeferringNumbers(`{"embedding": ${good}, "open": "never closed}`)).toThrow(SyntaxError);
  });

  it("hands translation the numbers when it reads a deferred reply (an OpenAI reply given to a Gemini client)", () => {
    const text = embeddingReply(3);
    expect(openAIEmbeddingVectors(parseJsonDeferringNumbers(text))).toEqual(openAIEmbeddingVectors(JSON.parse(text)));
  });

  it("deferMember gives a built object the same on-demand member", () => {
    const entry: Record<string, unknown> = { object: "embedding", index: 0, embedding: null };
    deferMember(entry, "embedding", vectorText(9));
    expect(deferredMemberText(entry, "embedding")).toBe(vectorText(9));
    expect(JSON.stringify(entry)).toBe(JSON.stringify({ object: "embedding", index: 0, embedding: JSON.parse(vectorText(9)) }));
  });

  it("stringifyKeepingDeferred writes deferred members as their text, unparsed, and the rest as JSON.stringify does", () => {
    const text = embeddingReply(2);
    const parsed = parseJsonDeferringNumbers(text) as { data: Record<string, unknown>[]; model: string };
    const member = { model: parsed.model, embedding: parsed.data[1], note: 'a "quoted" \\ value', skipped: undefined };
    const written = stringifyKeepingDeferred(member);
    expect(written).toContain(`"embedding":${vectorText(1)}`);
    expect(deferredMemberText(parsed.data[1]!, "embedding")).toBe(vectorText(1));
    expect(JSON.parse(written)).toEqual(JSON.parse(JSON.stringify(member)));
    expect(stringifyKeepingDeferred({ plain: [1, 2] })).toBe('{"plain":[1,2]}');
  });
});
