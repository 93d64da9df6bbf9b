/**
 * RequestTraits of both dialects (issue 10): which requests share a prefix key (same model and leading
 * text: tools, system prompt, earlier turns; or the start of a long lone prompt) and which count as
 * deterministic (embeddings; generation at temperature 0).
 */
import { describe, expect, it } from "vitest";
import { LONE_PROMPT_PREFIX_CHARS, PREFIX_KEY_CHARS } from "../../src/core/request-keys.ts";
import { geminiBatchFormat } from "../../src/dialects/gemini/batch-format.ts";
import { openAIBatchFormat } from "../../src/dialects/openai/batch-format.ts";

const SYSTEM = "You are a careful assistant. ".repeat(30);

describe("OpenAI request traits", () => {
  const traits = openAIBatchFormat.requestTraits;
  const chat = (messages: { role: string; content: unknown }[], extra: Record<string, unknown> = {}) => ({ model: "m", messages, ...extra });
  const key = (body: Record<string, unknown>, model = "m") => traits(body, "chat", model).prefixKey;

  it("gives chats with the same system prompt the same key whatever they ask, and different prompts different keys", () => {
    const a = key(chat([{ role: "system", content: SYSTEM }, { role: "user", content: "one" }]));
    expect(a).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(key(chat([{ role: "system", content: SYSTEM }, { role: "user", content: "two" }]))).toBe(a);
    expect(key(chat([{ role: "system", content: `${SYSTEM}!` }, { role: "user", content: "one" }]))).not.toBe(a);
    expect(key(chat([{ role: "system", content: SYSTEM }, { role: "user", content: "one" }]), "other-model")).not.toBe(a);
    expect(key(chat([{ role: "system", content: SYSTEM }, { role: "user", content: "one" }], { tools: [{ type: "function", function: { name: "f" } }] }))).not.toBe(a);
  });

  it("keys earlier turns as leading text, and groups prompts that agree on their first PREFIX_KEY_CHARS", () => {
    const turns = (last: string) => chat([{ role: "user", content: "Summarise this." }, { role: "assistant", content: "Sure." }, { role: "user", content: last }]);
    expect(key(turns("a"))).toBe(key(turns("b")));
    const long = "x".repeat(PREFIX_KEY_CHARS);
    expect(key(chat([{ role: "system", content: `${long}A` }, { role: "user", content: "q" }]))).toBe(key(chat([{ role: "system", content: `${long}B` }, { role: "user", content: "q" }])));
  });

  it("keys a lone prompt by its start only when it is long enough to share", () => {
    expect(key(chat([{ role: "user", content: "short question" }]))).toBeNull();
    const document = "d".repeat(LONE_PROMPT_PREFIX_CHARS);
    const first = key(chat([{ role: "user", content: `${document} question one` }]));
    expect(first).not.toBeNull();
    expect(key(chat([{ role: "user", content: `${document} question two` }]))).toBe(first);
    expect(traits({ model: "m", prompt: `${document} tail` }, "completion", "m").prefixKey).not.toBeNull();
    expect(traits({ model: "m", prompt: "short" }, "completion", "m").prefixKey).toBeNull();
  });

  it("calls generation at temperature 0 and every embedding deterministic, nothing else", () => {
    const messages = [{ role: "user", content: "hi" }];
    expect(traits(chat(messages, { temperature: 0 }), "chat", "m").deterministic).toBe(true);
    expect(traits(chat(messages, { temperature: 0.7 }), "chat", "m").deterministic).toBe(false);
    expect(traits(chat(messages), "chat", "m").deterministic).toBe(false);
    expect(traits({ model: "m", prompt: "p", temperature: 0 }, "completion", "m").deterministic).toBe(true);
    expect(traits({ model: "m", input: "text" }, "embedding", "m")).toEqual({ prefixKey: null, deterministic: true });
  });
});

describe("Gemini request traits", () => {
  const traits = geminiBatchFormat.requestTraits;
  const generate = (system: string | null, text: string, extra: Record<string, unknown> = {}) => ({
    ...(system === null ? {} : { systemInstruction: { parts: [{ text: system }] } }),
    contents: [{ role: "user", parts: [{ text }] }],
    ...extra,
  });

  it("gives requests with the same system instruction the same key, whichever spelling they use", () => {
    const a = traits(generate(SYSTEM, "one"), "chat", "gen").prefixKey;
    expect(a).not.toBeNull();
    expect(traits(generate(SYSTEM, "two"), "chat", "gen").prefixKey).toBe(a);
    expect(traits({ system_instruction: { parts: [{ text: SYSTEM }] }, contents: [{ role: "user", parts: [{ text: "three" }] }] }, "chat", "gen").prefixKey).toBe(a);
    expect(traits(generate(`${SYSTEM}?`, "one"), "chat", "gen").prefixKey).not.toBe(a);
    expect(traits(generate(null, "short"), "chat", "gen").prefixKey).toBeNull();
  });

  it("calls temperature 0 (either spelling) and embeddings deterministic", () => {
    expect(traits(generate(null, "q", { generationConfig: { temperature: 0 } }), "chat", "gen").deterministic).toBe(true);
    expect(traits(generate(null, "q", { generation_config: { temperature: 0 } }), "chat", "gen").deterministic).toBe(true);
    expect(traits(generate(null, "q", { generationConfig: { temperature: 1 } }), "chat", "gen").deterministic).toBe(false);
    expect(traits(generate(null, "q"), "chat", "gen").deterministic).toBe(false);
    expect(traits({ content: { parts: [{ text: "x" }] } }, "embedding", "emb")).toEqual({ prefixKey: null, deterministic: true });
  });
});
