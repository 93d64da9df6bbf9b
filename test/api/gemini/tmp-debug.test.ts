import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, it } from "vitest";
import { startGeminiTestApp, type GeminiTestApp } from "./gemini-test-app.ts";
let spool: GeminiTestApp;
const scratch = mkdtempSync(path.join(tmpdir(), "dbg-"));
beforeAll(async () => { spool = await startGeminiTestApp({ models: [] }, { label: "dbg", workers: false }); });
afterAll(async () => { const t = Date.now(); await spool.stop(); console.log("stop ms", Date.now() - t); });
it("x", async () => {
  const p = path.join(scratch, "a.jsonl"); writeFileSync(p, "line\n");
  const file = await spool.ai.files.upload({ file: p, config: { mimeType: "jsonl" } });
  const mode = process.env.DBG_MODE;
  const modes = (mode ?? "").split(",");
  for (const m of modes) {
  if (m === "name") await spool.ai.files.download({ file: file.name ?? "", downloadPath: path.join(scratch, "o1") });
  if (m === "object") await spool.ai.files.download({ file, downloadPath: path.join(scratch, "o2") });
  if (m === "v1rest") { const r = await fetch(`${spool.url}/v1beta/${file.name}:download?alt=media`); console.log(r.status, await r.text()); }
  if (m === "get") { const r = await fetch(`${spool.url}/v1beta/${file.name}`); console.log(r.status, (await r.text()).length); }
  if (m === "rest") { const r = await fetch(`${spool.url}/download/v1beta/${file.name}:download?alt=media`); console.log(r.status, await r.text()); }
  }
});
