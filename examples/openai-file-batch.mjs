// OpenAI SDK: upload a JSONL file of chat requests, run it as a batch, print the results.
// Run: node examples/openai-file-batch.mjs   (SPOOL_URL defaults to http://127.0.0.1:8080)
import OpenAI, { toFile } from "openai";

const baseURL = `${process.env.SPOOL_URL ?? "http://127.0.0.1:8080"}/v1`;
const client = new OpenAI({ baseURL, apiKey: process.env.SPOOL_API_KEY ?? "unused" });

const lines = ["Say hello", "Name a colour", "Count to three"].map((text, i) =>
  JSON.stringify({ custom_id: `req-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "spool-demo", messages: [{ role: "user", content: text }], max_tokens: 16 } }),
);
const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "requests.jsonl"), purpose: "batch" });
let batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
while (!["completed", "failed", "expired", "cancelled"].includes(batch.status)) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  batch = await client.batches.retrieve(batch.id);
}
console.log(batch.id, batch.status, batch.request_counts);
if (batch.output_file_id) {
  const output = await (await client.files.content(batch.output_file_id)).text();
  for (const line of output.trim().split("\n")) {
    const result = JSON.parse(line);
    console.log(result.custom_id, result.response.status_code, JSON.stringify(result.response.body.choices[0].message.content));
  }
}
if (batch.error_file_id) console.log(await (await client.files.content(batch.error_file_id)).text());
