/**
 * `/ready`'s verdict (src/api/shared/readiness.ts) for the states a running process passes through that the
 * e2e tests cannot hold still: a model still loading, and a store that does not answer at all.
 */
import { describe, expect, it } from "vitest";
import { checkReadiness } from "../../src/api/shared/readiness.ts";

describe("readiness", () => {
  it("is not ready while a model is loading, naming it, and ready once every model is", async () => {
    const loading = await checkReadiness({ pingStore: async () => undefined, models: () => [{ model: "local", state: "loading" }, { model: "hosted", state: "ready" }] });
    expect(loading).toEqual({
      statusCode: 503,
      body: { status: "not_ready", reason: "model 'local' is still loading", store: "ok", models: [{ model: "local", state: "loading" }, { model: "hosted", state: "ready" }] },
    });
    const lazy = await checkReadiness({ pingStore: async () => undefined, models: () => [{ model: "local", state: "lazy" }] });
    expect(lazy.statusCode).toBe(200);
  });

  it("answers within about two seconds when the store never answers, and says so", async () => {
    const started = Date.now();
    const report = await checkReadiness({ pingStore: () => new Promise<void>(() => undefined), models: () => [] });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(report).toEqual({ statusCode: 503, body: { status: "not_ready", reason: "the store is unreachable: no answer within 2000 ms", store: "no answer within 2000 ms", models: [] } });
  });
});
