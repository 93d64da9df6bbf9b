/**
 * Sums an allocation profile (alloc-profile.mjs, or any `.heapprofile`) by function: bytes allocated in
 * each function itself and under it (inclusive), largest first. Divide by the Items a run processed for
 * bytes per Item. Usage: `node --import tsx bench/alloc-summary.ts FILE [TOP]`.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: ProfileNode[];
}

function nameOf(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.split("/").pop() ?? "";
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
}

function summarize(head: ProfileNode): { total: number; self: Map<string, number>; inclusive: Map<string, number> } {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, bytes: number): void => void map.set(key, (map.get(key) ?? 0) + bytes);
  let total = 0;
  // Iterative (a deep async stack would overflow a recursive walk); a function counted once per stack.
  const pending: { node: ProfileNode; stack: string[] }[] = [{ node: head, stack: [] }];
  while (pending.length > 0) {
    const { node, stack } = pending.pop()!;
    const name = nameOf(node);
    const here = [...stack, name];
    total += node.selfSize;
    add(self, name, node.selfSize);
    for (const each of new Set(here)) add(inclusive, each, node.selfSize);
    for (const child of node.children ?? []) pending.push({ node: child, stack: here });
  }
  return { total, self, inclusive };
}

const [file, topText] = process.argv.slice(2);
if (!file) throw new Error("usage: node --import tsx bench/alloc-summary.ts FILE [TOP]");
const top = Number(topText ?? 30);
const { total, self, inclusive } = summarize((JSON.parse(readFileSync(file, "utf8")) as { head: ProfileNode }).head);
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1).padStart(9)} MB ${((100 * bytes) / Math.max(1, total)).toFixed(1).padStart(5)}%`;
console.log(`${(total / 1e6).toFixed(1)} MB sampled`);
for (const [title, map] of [["self", self], ["inclusive", inclusive]] as const) {
  console.log(`-- ${title}`);
  for (const [name, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${mb(bytes)}  ${name}`);
}
