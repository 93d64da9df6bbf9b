// Anthropic SDK (@anthropic-ai/sdk): a Message Batch of inline requests, polled until it ends; results keyed by custom_id.
// Run: node examples/anthropic-message-batch.mjs   (SPOOL_URL defaults to http://127.0.0.1:8080)
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ apiKey: process.env.SPOOL_API_KEY ?? "unused", baseURL: process.env.SPOOL_URL ?? "http://127.0.0.1:8080" });

let batch = await client.messages.batches.create({
  requests: [
    { custom_id: "hello", params: { model: "spool-demo", max_tokens: 16, messages: [{ role: "user", content: "Say hello" }] } },
    { custom_id: "terse", params: { model: "spool-demo", max_tokens: 16, system: "Be terse.", messages: [{ role: "user", content: "Name a colour" }] } },
  ],
});
while (batch.processing_status !== "ended") {
  await new Promise((resolve) => setTimeout(resolve, 500));
  batch = await client.messages.batches.retrieve(batch.id); // request_counts are live while it runs
}
console.log(batch.id, batch.processing_status, JSON.stringify(batch.request_counts));
for await (const line of await client.messages.batches.results(batch.id)) {
  console.log(line.custom_id, line.result.type, line.result.type === "succeeded" ? line.result.message.stop_reason : "");
}
