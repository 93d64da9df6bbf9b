import { startOpenAITestServer } from "./test/api/openai/openai-test-server.ts";
const spool = await startOpenAITestServer({ label: "scratch-dl" });
const open = (globalThis as Record<string, unknown>).__open as Set<string>;
let stuck = 0;
for (let i = 0; i < 200; i++) {
  const form = new FormData(); form.append("purpose", "batch"); form.append("file", new Blob(["compat"]), "c.jsonl");
  const file = (await (await fetch(`${spool.url}/v1/files`, { method: "POST", body: form })).json()) as { id: string };
  const text = await (await fetch(`${spool.url}/v1/files/${file.id}/content`)).text();
  if (text !== "compat") console.log("bad", text);
  await new Promise((r) => setTimeout(r, 20));
  if (open.size > 0) { stuck++; console.log("stuck", [...open]); open.clear(); }
}
console.log("stuck total", stuck);
process.exit(0);
