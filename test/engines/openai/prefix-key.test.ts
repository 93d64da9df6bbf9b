/** prefixKeyOf: requests sharing their first 256 prompt characters share a key; others do not. */
import { describe, expect, it } from "vitest";
import { PREFIX_KEY_CHARS, prefixKeyOf } from "../../../src/engines/openai/prefix-key.ts";

const longSystem = "You are a support agent for a parcel company. ".repeat(10);
const chat = (system: string, user: string) => ({ messages: [{ role: "system", content: system }, { role: "user", content: user }] });

describe("prefixKeyOf", () => {
  it("gives chats with the same long system prompt one key, whatever follows", () => {
    expect(longSystem.length).toBeGreaterThan(PREFIX_KEY_CHARS);
    expect(prefixKeyOf("chat", chat(longSystem, "where is my parcel?"), "m")).toBe(prefixKeyOf("chat", chat(longSystem, "refund please"), "m"));
  });

  it("tells apart chats whose short shared system prompt is followed by different questions", () => {
    const system = "You are a helpful assistant.";
    expect(prefixKeyOf("chat", chat(system, "What is a batch API?"), "m")).not.toBe(prefixKeyOf("chat", chat(system, "Translate 'cat' to French."), "m"));
  });

  it("reads content parts, completion prompts and embedding inputs, and keys by upstream model", () => {
    const parts = { messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }] };
    expect(prefixKeyOf("chat", parts, "m")).toContain('"text":"hello"');
    expect(prefixKeyOf("completion", { prompt: [`${longSystem}a`, "b"] }, "m")).toBe(prefixKeyOf("completion", { prompt: `${longSystem}z` }, "m"));
    expect(prefixKeyOf("embedding", { input: [[1, 2, 3]] }, "m")).toBe("m\u0000[1,2,3]");
    expect(prefixKeyOf("chat", chat(longSystem, "x"), "a")).not.toBe(prefixKeyOf("chat", chat(longSystem, "x"), "b"));
  });
});
