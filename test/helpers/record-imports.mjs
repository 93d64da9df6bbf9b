// Preloaded into a spool child process (`node --import`): appends the URL of every module the process
// resolves to the file named by SPOOL_TEST_IMPORTS_FILE, one a line, so a test can tell which packages a
// process loaded. The hooks run on the loader thread, hence the file and not a message.
import { register } from "node:module";
import process from "node:process";

const hooks = `
import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(file, resolved.url + "\\n");
  return resolved;
}`;

const file = process.env.SPOOL_TEST_IMPORTS_FILE;
if (file) register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url, { data: { file } });
