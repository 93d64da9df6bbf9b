// Gemini SDK (@google/genai): a small batch sent inline (no file); results come back in the job itself.
// Run: node examples/gemini-inline-batch.mjs   (SPOOL_URL defaults to http://127.0.0.1:8080)
import { GoogleGenAI } from "@google/genai";

const ai = new GoogleGenAI({ apiKey: process.env.SPOOL_API_KEY ?? "unused", httpOptions: { baseUrl: process.env.SPOOL_URL ?? "http://127.0.0.1:8080" } });

let job = await ai.batches.create({
  model: "spool-demo",
  src: [
    { contents: "Say hello", config: { maxOutputTokens: 16 }, metadata: { key: "hello" } },
    { contents: [{ role: "user", parts: [{ text: "Name a colour" }] }], config: { maxOutputTokens: 16 }, metadata: { key: "colour" } },
  ],
});
while (!["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"].includes(job.state)) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  job = await ai.batches.get({ name: job.name });
}
console.log(job.name, job.state);
for (const each of job.dest.inlinedResponses) {
  // A candidate that produced no text (e.g. cut off by maxOutputTokens) has no parts, as on Gemini.
  const text = each.response?.candidates?.[0]?.content?.parts?.map((part) => part.text ?? "").join("");
  console.log(each.metadata.key, each.response ? JSON.stringify(text ?? "") : JSON.stringify(each.error));
}
