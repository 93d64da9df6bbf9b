/**
 * Batch counters change in the same transaction as the Items they count. Item updates report what they
 * changed (RETURNING batch_id / changes()); the deltas are summed per Batch here and applied with one
 * UPDATE per Batch before the transaction commits.
 */
import type { ItemResult } from "../../core/types.ts";
import type { SqliteDatabase } from "./database.ts";

interface CountDelta {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
  /** Items given a copy of a leader's result; they are also counted under their status. */
  reused: number;
  inputTokens: number;
  outputTokens: number;
  chargedNanoUsd: number;
  chargedListNanoUsd: number;
}

export type CountField = "total" | "succeeded" | "failed" | "cancelled" | "expired" | "reused";

const APPLY_SQL = `
  UPDATE batches SET
    total_items = total_items + ?, succeeded_items = succeeded_items + ?, failed_items = failed_items + ?,
    cancelled_items = cancelled_items + ?, expired_items = expired_items + ?, reused_items = reused_items + ?,
    input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, updated_at_ms = ?
  WHERE id = ?`;

/** Only for Items of a Model with several backends (migration 012): others never touch these columns. */
const APPLY_CHARGES_SQL = "UPDATE batches SET charged_nano_usd = charged_nano_usd + ?, charged_list_nano_usd = charged_list_nano_usd + ? WHERE id = ?";

export class CountDeltas {
  private readonly deltas = new Map<string, CountDelta>();

  add(batchId: string, field: CountField, count = 1, usage?: ItemResult["usage"], charge?: ItemResult["charge"]): void {
    let delta = this.deltas.get(batchId);
    if (!delta) {
      delta = { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0, reused: 0, inputTokens: 0, outputTokens: 0, chargedNanoUsd: 0, chargedListNanoUsd: 0 };
      this.deltas.set(batchId, delta);
    }
    delta[field] += count;
    if (usage) {
      delta.inputTokens += usage.inputTokens;
      delta.outputTokens += usage.outputTokens;
    }
    if (charge) {
      delta.chargedNanoUsd += charge.batchNanoUsd;
      delta.chargedListNanoUsd += charge.listNanoUsd;
    }
  }

  get batchIds(): string[] {
    return [...this.deltas.keys()];
  }

  /** Applies every delta (and bumps updated_at_ms). Call inside the transaction that changed the Items. */
  apply(db: SqliteDatabase, nowMs: number): void {
    const statement = db.statement(APPLY_SQL);
    for (const [batchId, d] of this.deltas) {
      statement.run(d.total, d.succeeded, d.failed, d.cancelled, d.expired, d.reused, d.inputTokens, d.outputTokens, nowMs, batchId);
      if (d.chargedNanoUsd !== 0 || d.chargedListNanoUsd !== 0) db.statement(APPLY_CHARGES_SQL).run(d.chargedNanoUsd, d.chargedListNanoUsd, batchId);
    }
    this.deltas.clear();
  }
}
