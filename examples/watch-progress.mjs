// Watch a batch's live progress (counts, requests per second, ETA) through spool's progress extension.
// Run: node examples/watch-progress.mjs [BATCH_ID]   (without an id it starts a small batch to watch)
import OpenAI, { toFile } from "openai";

const baseURL = `${process.env.SPOOL_URL ?? "http://127.0.0.1:8080"}/v1`;
const client = new OpenAI({ baseURL, apiKey: process.env.SPOOL_API_KEY ?? "unused" });

let batchId = process.argv[2];
if (!batchId) {
  const lines = Array.from({ length: 8 }, (_, i) =>
    JSON.stringify({ custom_id: `req-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "spool-demo", messages: [{ role: "user", content: `Question ${i}` }], max_tokens: 16 } }),
  );
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "requests.jsonl"), purpose: "batch" });
  batchId = (await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" })).id;
}
for (;;) {
  // Not part of OpenAI's API, so the SDK has no method for it: client.get reaches any path under /v1.
  const progress = await client.get(`/batches/${batchId}/progress`);
  console.log(JSON.stringify(progress));
  if (["completed", "failed", "expired", "cancelled"].includes(progress.status)) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
