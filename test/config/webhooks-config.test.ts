/** The `webhooks` and `webhookDelivery` settings: defaults, and errors that name the key without echoing the secret. */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { DEFAULTS } from "../../src/config/config.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const dir = testWorkDir("config", "webhooks-config");
const SECRET = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;

function load(name: string, text: string) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return loadConfig({ config: file }, {});
}

describe("webhooks configuration", () => {
  it("reads endpoints and fills the retry schedule's defaults; none configured means none", () => {
    const config = load("hooks.yaml", `webhooks:\n  - url: https://example.test/hooks\n    secret: ${SECRET}\nwebhookDelivery:\n  timeoutMs: 2000\n`);
    expect(config.webhooks).toEqual([{ url: "https://example.test/hooks", secret: SECRET }]);
    expect(config.webhookDelivery).toEqual({ retryDelaysMs: [...DEFAULTS.webhookDelivery.retryDelaysMs], timeoutMs: 2000 });
    expect(DEFAULTS.webhookDelivery.retryDelaysMs[0]).toBeLessThanOrEqual(10_000);
    expect(load("none.yaml", "port: 8080\n").webhooks).toEqual([]);
    expect(load("schedule.yaml", "webhookDelivery:\n  retryDelaysMs: [1000, 60000]\n").webhookDelivery.retryDelaysMs).toEqual([1000, 60000]);
  });

  it("rejects a secret that is not a Standard Webhooks secret, naming the key and not the value", () => {
    for (const secret of ["hunter2-not-whsec", "whsec_c2hvcnQ=", "whsec_!!!notbase64!!!"]) {
      let message = "";
      try {
        load("bad-secret.yaml", `webhooks:\n  - url: https://example.test/hooks\n    secret: ${secret}\n`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        message = (error as ConfigError).message;
      }
      expect(message).toMatch(/^bad-secret\.yaml:3: webhooks\[0\]\.secret: must be a Standard Webhooks secret: 'whsec_' followed by the base64 of 24 to 64 random bytes/);
      expect(message).not.toContain(secret);
    }
  });

  it("rejects an endpoint that is not a URL", () => {
    expect(() => load("bad-url.yaml", `webhooks:\n  - url: not a url\n    secret: ${SECRET}\n`)).toThrow(/bad-url\.yaml:2: webhooks\[0\]\.url must be a URL/);
  });
});
