#!/usr/bin/env node
// Entry for the `spool` command. Sources are TypeScript, compiled as they load by ./typescript-hooks.js
// (cached on disk), so a fresh clone needs no build step (`npm install && npm start`).
import { registerTypeScript } from "./typescript.js";

registerTypeScript();
const { main } = await import("../src/main.ts");
await main(process.argv);
