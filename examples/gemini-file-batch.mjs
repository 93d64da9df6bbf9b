// Gemini SDK (@google/genai): upload a JSONL file of GenerateContent requests, run it, download the results.
// Run: node examples/gemini-file-batch.mjs   (SPOOL_URL defaults to http://127.0.0.1:8080)
import { GoogleGenAI } from "@google/genai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ai = new GoogleGenAI({ apiKey: process.env.SPOOL_API_KEY ?? "unused", httpOptions: { baseUrl: process.env.SPOOL_URL ?? "http://127.0.0.1:8080" } });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spool-example-"));
const requests = ["Say hello", "Name a colour"].map((text, i) =>
  JSON.stringify({ key: `req-${i}`, request: { contents: [{ role: "user", parts: [{ text }] }], generationConfig: { maxOutputTokens: 16 } } }),
);
fs.writeFileSync(path.join(dir, "requests.jsonl"), requests.join("\n"));

const file = await ai.files.upload({ file: path.join(dir, "requests.jsonl"), config: { mimeType: "jsonl", displayName: "my-batch" } });
let job = await ai.batches.create({ model: "spool-demo", src: file.name, config: { displayName: "job-1" } });
while (!["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"].includes(job.state)) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  job = await ai.batches.get({ name: job.name });
}
console.log(job.name, job.state);
await ai.files.download({ file: job.dest.fileName, downloadPath: path.join(dir, "results.jsonl") });
for (const line of fs.readFileSync(path.join(dir, "results.jsonl"), "utf8").trim().split("\n")) {
  const result = JSON.parse(line);
  // A candidate that produced no text (e.g. cut off by maxOutputTokens) has no parts, as on Gemini.
  const text = result.response?.candidates?.[0]?.content?.parts?.map((part) => part.text ?? "").join("");
  console.log(result.key, result.response ? JSON.stringify(text ?? "") : JSON.stringify(result.error));
}
