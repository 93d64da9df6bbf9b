/**
 * Replies carry the client's Model name (issue 17) without giving up the hot path's raw bytes (decision
 * 0011): a reply whose model already matches is written from the upstream's own text; one that does not is
 * a new object, serialized with the client's name.
 */
import { describe, expect, it } from "vitest";
import { jsonTextOf, parseJsonKeepingText } from "../../../src/core/json.ts";
import { withClientModelName } from "../../../src/engines/http/client-model-name.ts";

// Spacing JSON.stringify would not write, so "written from the upstream's text" is visible.
const upstreamText = (model: string) => `{ "id": "x",  "model": "${model}", "usage": { "prompt_tokens": 3 } }`;

describe("withClientModelName", () => {
  it("keeps the upstream's bytes when the names agree", () => {
    const parsed = parseJsonKeepingText(upstreamText("gpt-test")) as Record<string, unknown>;
    const body = withClientModelName(parsed, "model", "gpt-test");
    expect(body).toBe(parsed);
    expect(jsonTextOf(body)).toBe(upstreamText("gpt-test"));
  });

  it("writes the client's name when the upstream answered with its own, leaving the parsed reply untouched", () => {
    const parsed = parseJsonKeepingText(upstreamText("Qwen/Qwen2.5-7B")) as Record<string, unknown>;
    const body = withClientModelName(parsed, "model", "gpt-test");
    expect(JSON.parse(jsonTextOf(body))).toEqual({ id: "x", model: "gpt-test", usage: { prompt_tokens: 3 } });
    expect(jsonTextOf(parsed)).toBe(upstreamText("Qwen/Qwen2.5-7B"));
  });

  it("rewrites Gemini's modelVersion the same way and leaves a reply without the field alone", () => {
    expect(withClientModelName({ modelVersion: "gemini-2.5-flash" }, "modelVersion", "flash")).toEqual({ modelVersion: "flash" });
    const none = { embedding: { values: [1] } };
    expect(withClientModelName(none, "modelVersion", "flash")).toBe(none);
  });
});
