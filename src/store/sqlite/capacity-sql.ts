/** The capacity ledger (src/store/capacity-ledger.ts) on SQLite: one process, but the same contract. */
import type { CapacityBeat, CapacityClaim, CapacityRow } from "../capacity-ledger.ts";
import type { SqliteDatabase } from "./database.ts";

export function beatCapacity(db: SqliteDatabase, beat: CapacityBeat): readonly CapacityClaim[] {
  // IMMEDIATE: the write lock is taken before the read, so two beats cannot both read the same free slots.
  return db.immediate(() => {
    db.statement("DELETE FROM capacity_shares WHERE seen_at_ms < ?").run(beat.nowMs - beat.staleMs);
    const rows = db.statement("SELECT model, owner, demand, held FROM capacity_shares").all() as CapacityRow[];
    const claims = beat.decide(rows);
    const upsert = db.statement(
      "INSERT INTO capacity_shares (model, owner, demand, held, seen_at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, owner) DO UPDATE SET demand = excluded.demand, held = excluded.held, seen_at_ms = excluded.seen_at_ms",
    );
    for (const claim of claims) upsert.run(claim.model, beat.owner, claim.demand, claim.held, beat.nowMs);
    return claims;
  });
}

export function leaveCapacity(db: SqliteDatabase, owner: string): void {
  db.statement("DELETE FROM capacity_shares WHERE owner = ?").run(owner);
}
