#!/usr/bin/env node
// Entry for the `spool` command. Sources are TypeScript run through tsx's loader, so a fresh clone needs
// no build step (`npm install && npm start`).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
await main(process.argv);
