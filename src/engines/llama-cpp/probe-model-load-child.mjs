// Child process of probe-model-load.ts: loads a model, creates a small context and decodes one token, then
// prints "probe-ok". Plain JavaScript so it runs without the tsx loader; node-llama-cpp's module URL comes
// from the parent so resolution does not depend on this process's working directory.
// (Not `node -e`: node-llama-cpp re-runs process.execArgv to test its binary, which would re-run the -e code.)
import process from "node:process";

const [moduleUrl, modelPath] = process.argv.slice(2);
try {
  const { getLlama, LlamaLogLevel } = await import(moduleUrl);
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, progressLogs: false, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  const sequence = context.getSequence();
  const first = model.tokens.bos ?? model.tokenize("a")[0] ?? 0;
  for await (const _token of sequence.evaluate([first])) break;
  process.stdout.write("probe-ok");
  process.exit(0);
} catch (error) {
  process.stderr.write(`\nprobe-error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}
