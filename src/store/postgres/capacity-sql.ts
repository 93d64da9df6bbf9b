/** The capacity ledger (src/store/capacity-ledger.ts) on PostgreSQL, where several processes share it. */
import type { CapacityBeat, CapacityClaim, CapacityRow } from "../capacity-ledger.ts";
import type { PostgresDatabase } from "./database.ts";

/** Beats of all processes run one at a time (a transaction-scoped advisory lock), so `held` never oversells. */
const CAPACITY_LOCK = "spool.capacity_shares";

export async function beatCapacity(db: PostgresDatabase, beat: CapacityBeat): Promise<readonly CapacityClaim[]> {
  return db.transaction(async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || $1))", [CAPACITY_LOCK]);
    await client.query("DELETE FROM capacity_shares WHERE seen_at_ms < $1", [beat.nowMs - beat.staleMs]);
    const { rows } = await client.query<CapacityRow>("SELECT model, owner, demand, held FROM capacity_shares");
    const claims = beat.decide(rows);
    await client.query(
      `INSERT INTO capacity_shares (model, owner, demand, held, seen_at_ms)
       SELECT model, $2, demand, held, $5 FROM unnest($1::text[], $3::int[], $4::int[]) AS claim(model, demand, held)
       ON CONFLICT (model, owner) DO UPDATE SET demand = excluded.demand, held = excluded.held, seen_at_ms = excluded.seen_at_ms`,
      [claims.map((claim) => claim.model), beat.owner, claims.map((claim) => claim.demand), claims.map((claim) => claim.held), beat.nowMs],
    );
    return claims;
  });
}

export async function leaveCapacity(db: PostgresDatabase, owner: string): Promise<void> {
  await db.query("DELETE FROM capacity_shares WHERE owner = $1", [owner]);
}
