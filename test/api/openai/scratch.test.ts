import { toFile } from "openai";
import { expect, it } from "vitest";
import { startOpenAITestServer } from "./openai-test-server.ts";
it("closes", { repeats: 20 }, async () => {
  const spool = await startOpenAITestServer({ label: "scratch" });
  const file = await spool.client.files.create({ file: await toFile(Buffer.from("compat"), "c.jsonl"), purpose: "batch" });
  expect(await (await fetch(`${spool.url}/v1/files/${file.id}/content`)).text()).toBe("compat");
  const t = Date.now();
  await spool.close();
  expect(Date.now() - t).toBeLessThan(3000);
});
