// Gemini SDK (@google/genai): an embeddings batch from a JSONL file of EmbedContent requests.
// Run: node examples/gemini-embeddings-batch.mjs   (SPOOL_URL defaults to http://127.0.0.1:8080)
import { GoogleGenAI } from "@google/genai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ai = new GoogleGenAI({ apiKey: process.env.SPOOL_API_KEY ?? "unused", httpOptions: { baseUrl: process.env.SPOOL_URL ?? "http://127.0.0.1:8080" } });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spool-example-"));
const requests = ["the cat sat", "on the mat", "a dog barked"].map((text, i) =>
  JSON.stringify({ key: `doc-${i}`, request: { content: { parts: [{ text }] }, outputDimensionality: 8 } }),
);
fs.writeFileSync(path.join(dir, "embed.jsonl"), requests.join("\n"));

const file = await ai.files.upload({ file: path.join(dir, "embed.jsonl"), config: { mimeType: "jsonl" } });
let job = await ai.batches.createEmbeddings({ model: "spool-demo", src: { fileName: file.name } });
while (!["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"].includes(job.state)) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  job = await ai.batches.get({ name: job.name });
}
console.log(job.name, job.state);
await ai.files.download({ file: job.dest.fileName, downloadPath: path.join(dir, "embeddings.jsonl") });
for (const line of fs.readFileSync(path.join(dir, "embeddings.jsonl"), "utf8").trim().split("\n")) {
  const result = JSON.parse(line);
  console.log(result.key, `${result.response.embedding.values.length} dimensions`);
}
