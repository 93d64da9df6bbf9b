/** `spool batches [--url URL] [--status S] [--limit N]`: recent Batches of a running server as a table, newest first. */
import type { BatchView } from "../api/dashboard/views.ts";
import { serverClient, type ServerFlags } from "./server-client.ts";

export interface BatchesFlags extends ServerFlags {
  status?: string;
  limit?: string;
}

export async function batchesCommand(flags: BatchesFlags): Promise<void> {
  const client = serverClient(flags);
  const query = new URLSearchParams({ limit: flags.limit ?? "20", ...(flags.status ? { status: flags.status } : {}) });
  const { batches } = await client.get<{ batches: BatchView[] }>(`/batches?${query}`);
  if (batches.length === 0) {
    console.log("No batches.");
    return;
  }
  console.log(batchTable(batches, Date.now()));
}

export function batchTable(batches: readonly BatchView[], nowMs: number): string {
  const header = ["ID", "DIALECT", "MODEL", "STATUS", "DONE", "FAILED", "CREATED"];
  const rows = batches.map((batch) => {
    const { counts } = batch;
    const done = counts.succeeded + counts.failed + counts.cancelled + counts.expired;
    return [batch.publicId, batch.dialect, batch.model ?? "-", batch.status, `${done}/${counts.total}`, String(counts.failed), age(nowMs - batch.createdAtMs)];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}
