// Read the results of a batch while it still runs, through spool's results extension (JSONL, input order),
// downloading only the lines not received yet.
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
// Each call returns the next lines in input order after `after` (the custom_id of the last line received),
// up to the first request still running: nothing is downloaded twice and nothing is skipped.
let after;
for (;;) {
  const batch = await client.batches.retrieve(batchId);
  const ended = ["completed", "failed", "expired", "cancelled"].includes(batch.status);
  const query = after === undefined ? { limit: 1000 } : { limit: 1000, after };
  const text = await (await client.get(`/batches/${batchId}/results`, { query, __binaryResponse: true })).text();
  const lines = text.split("\n").filter(Boolean);
  for (const line of lines) {
    const result = JSON.parse(line);
    after = result.custom_id;
    console.log("result", result.custom_id, result.response?.status_code ?? result.error?.code);
  }
  if (ended && lines.length < 1000) break;
  if (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 500));
}
