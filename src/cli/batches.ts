/** `spool batches [--url URL] [--status S] [--limit N]`: recent Batches of a running server as a table, newest first. */
import type { BatchView } from "../api/dashboard/views.ts";
import { textTable } from "./text-table.ts";
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
    // Archived (retention): its results are gone from spool, which is what someone listing batches needs to know.
    const status = batch.archivedAtMs === null ? batch.status : `${batch.status} (archived)`;
    return [batch.publicId, batch.dialect, batch.model ?? "-", status, `${done}/${counts.total}`, String(counts.failed), age(nowMs - batch.createdAtMs)];
  });
  return textTable(header, rows);
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}
