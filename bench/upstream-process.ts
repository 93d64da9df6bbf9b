/** Runs the fake OpenAI upstream in its own process for benchmarks; prints its URL, serves until killed. */
import { startFakeOpenAIUpstream } from "../test/helpers/fake-openai-upstream.ts";

const latencyMs = Number(process.argv[2] ?? "0");
const streamIntervalMs = Number(process.argv[3] ?? "0");
const upstream = await startFakeOpenAIUpstream({ latencyMs, streamIntervalMs });
console.log(JSON.stringify({ url: upstream.url }));
process.on("SIGTERM", () => void upstream.close().then(() => process.exit(0)));
