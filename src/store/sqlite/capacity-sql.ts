/** The capacity ledger (src/store/capacity-ledger.ts) on SQLite: one process, but the same contract. */
import type { CapacityBeat, CapacityCount } from "../capacity-ledger.ts";
import type { SqliteDatabase } from "./database.ts";

export function beatCapacity(db: SqliteDatabase, beat: CapacityBeat): Record<string, CapacityCount> {
  return db.immediate(() => {
    db.statement("DELETE FROM capacity_shares WHERE seen_at_ms < ?").run(beat.nowMs - beat.staleMs);
    const upsert = db.statement(
      "INSERT INTO capacity_shares (model, owner, wants, seen_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (model, owner) DO UPDATE SET wants = excluded.wants, seen_at_ms = excluded.seen_at_ms",
    );
    for (const demand of beat.demands) upsert.run(demand.model, beat.owner, demand.wants ? 1 : 0, beat.nowMs);
    const rows = db.statement("SELECT model, COUNT(*) AS live, SUM(wants) AS wanting FROM capacity_shares GROUP BY model").all() as { model: string; live: number; wanting: number }[];
    return Object.fromEntries(rows.map((row) => [row.model, { live: Number(row.live), wanting: Number(row.wanting) }]));
  });
}

export function leaveCapacity(db: SqliteDatabase, owner: string): void {
  db.statement("DELETE FROM capacity_shares WHERE owner = ?").run(owner);
}
