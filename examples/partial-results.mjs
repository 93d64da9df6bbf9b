// Read the results of a batch while it still runs, through spool's results extension (JSONL, input order).
// Run: node examples/partial-results.mjs [BATCH_ID]   (without an id it starts a small batch to read)
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
const seen = new Set();
for (;;) {
  const batch = await client.batches.retrieve(batchId);
  // The lines finished so far (output and error lines together); print only the ones not seen before.
  const text = await (await client.get(`/batches/${batchId}/results`, { __binaryResponse: true })).text();
  for (const line of text.split("\n").filter(Boolean)) {
    const result = JSON.parse(line);
    if (seen.has(result.custom_id)) continue;
    seen.add(result.custom_id);
    console.log("result", result.custom_id, result.response?.status_code ?? result.error?.code);
  }
  if (["completed", "failed", "expired", "cancelled"].includes(batch.status)) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
