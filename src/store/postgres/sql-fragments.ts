/**
 * SQL pieces shared by the PostgreSQL *-sql.ts modules. Row shapes and their mapping to domain objects are
 * shared with the SQLite Store (same column names and meanings, see migrations/001-initial.sql), so both
 * Stores turn rows into Batches and Items with the same code.
 */
import type { ItemResult } from "../../core/types.ts";
import { ITEM_COLUMNS } from "../shared/row-mappers.ts";
import type { Queryable } from "./database.ts";

export { ITEM_COLUMNS };

/** A column list (ITEM_COLUMNS by default) qualified by `alias`, for statements that join items with something else. */
export function itemColumns(alias: string, columns: string = ITEM_COLUMNS): string {
  return columns
    .split(", ")
    .map((column) => `${alias}.${column}`)
    .join(", ");
}

/** `status_code = $n, body = $n+1, ...` binding resultValues(result) from parameter `first` on. */
export function resultAssignments(first: number): string {
  return ["status_code", "body", "error_code", "error_message", "request_id", "input_tokens", "output_tokens", "finished_at_ms"]
    .map((column, offset) => `${column} = $${first + offset}`)
    .join(", ");
}

export function resultValues(result: ItemResult): (string | number | null)[] {
  return [
    result.statusCode,
    result.body,
    result.errorCode,
    result.errorMessage,
    result.requestId,
    result.usage.inputTokens,
    result.usage.outputTokens,
    result.finishedAtMs,
  ];
}

export const CLEAR_LEASE = "lease_owner = NULL, lease_expires_at_ms = NULL";

/** `reused` counts Items given a copy of a leader's result; they are also counted under their status. */
export type CountField = "total" | "succeeded" | "failed" | "cancelled" | "expired" | "reused";

/**
 * Batch counters change in the same transaction as the Items they count. Statements that change Items
 * report what they changed (RETURNING batch_id, ...); the deltas are summed per Batch here and applied with
 * one statement for all Batches, in id order (so two transactions lock Batch rows in the same order).
 */
export class CountDeltas {
  private readonly deltas = new Map<string, Record<CountField | "inputTokens" | "outputTokens", number>>();

  add(batchId: string, field: CountField, count = 1, usage?: ItemResult["usage"]): void {
    let delta = this.deltas.get(batchId);
    if (!delta) {
      delta = { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0, reused: 0, inputTokens: 0, outputTokens: 0 };
      this.deltas.set(batchId, delta);
    }
    delta[field] += count;
    if (usage) {
      delta.inputTokens += usage.inputTokens;
      delta.outputTokens += usage.outputTokens;
    }
  }

  /** Applies every delta (and sets updated_at_ms). Call inside the transaction that changed the Items. */
  async apply(client: Queryable, nowMs: number): Promise<void> {
    if (this.deltas.size === 0) return;
    const ids = [...this.deltas.keys()].sort();
    const column = (field: CountField | "inputTokens" | "outputTokens"): number[] => ids.map((id) => this.deltas.get(id)?.[field] ?? 0);
    await client.query(
      `UPDATE batches b SET
         total_items = b.total_items + d.total, succeeded_items = b.succeeded_items + d.succeeded,
         failed_items = b.failed_items + d.failed, cancelled_items = b.cancelled_items + d.cancelled,
         expired_items = b.expired_items + d.expired, reused_items = b.reused_items + d.reused,
         input_tokens = b.input_tokens + d.input_tokens, output_tokens = b.output_tokens + d.output_tokens,
         updated_at_ms = $10
       FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
         AS d (batch_id, total, succeeded, failed, cancelled, expired, reused, input_tokens, output_tokens)
       WHERE b.id = d.batch_id`,
      [ids, column("total"), column("succeeded"), column("failed"), column("cancelled"), column("expired"), column("reused"), column("inputTokens"), column("outputTokens"), nowMs],
    );
    this.deltas.clear();
  }
}

/** Locks Batch rows (in id order, the order every transaction here uses) and returns their status. */
export async function lockBatches(client: Queryable, batchIds: readonly string[]): Promise<Map<string, string>> {
  if (batchIds.length === 0) return new Map();
  const { rows } = await client.query<{ id: string; status: string }>(
    "SELECT id, status FROM batches WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE",
    [[...new Set(batchIds)]],
  );
  return new Map(rows.map((row) => [row.id, row.status]));
}

/**
 * Turns bitmap scans off for the rest of the transaction `client` is in (decision 0037). Two reasons, both
 * from statements that read many Items' rows by index:
 * - A plain index scan marks the entries of dead rows as it passes them, so later scans skip them without
 *   visiting the table; a bitmap scan never does. The partial indexes on running Items keep an entry for
 *   every Item that ran, until vacuum, so bitmap scans of them pay for the whole history.
 * - A plain index scan returns rows in key order and stops at a LIMIT; with statistics that know nothing of
 *   a Batch just validated, the planner otherwise prefers a bitmap scan of everything plus a sort.
 * PostgreSQL has no per-statement hints; SET LOCAL is the supported way to steer one transaction.
 */
export async function withoutBitmapScans(client: Queryable): Promise<void> {
  await client.query("SET LOCAL enable_bitmapscan = off");
}
