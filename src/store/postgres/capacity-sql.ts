/** The capacity ledger (src/store/capacity-ledger.ts) on PostgreSQL, where several processes share it. */
import type { CapacityBeat, CapacityCount } from "../capacity-ledger.ts";
import type { PostgresDatabase } from "./database.ts";

export async function beatCapacity(db: PostgresDatabase, beat: CapacityBeat): Promise<Record<string, CapacityCount>> {
  return db.transaction(async (client) => {
    await client.query("DELETE FROM capacity_shares WHERE seen_at_ms < $1", [beat.nowMs - beat.staleMs]);
    // Sorted, so two processes beating at once lock rows in the same order.
    const demands = [...beat.demands].sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
    await client.query(
      `INSERT INTO capacity_shares (model, owner, wants, seen_at_ms)
       SELECT model, $2, wants, $4 FROM unnest($1::text[], $3::int[]) AS demand(model, wants)
       ON CONFLICT (model, owner) DO UPDATE SET wants = excluded.wants, seen_at_ms = excluded.seen_at_ms`,
      [demands.map((demand) => demand.model), beat.owner, demands.map((demand) => (demand.wants ? 1 : 0)), beat.nowMs],
    );
    const { rows } = await client.query<{ model: string; live: string; wanting: string }>("SELECT model, COUNT(*) AS live, SUM(wants) AS wanting FROM capacity_shares GROUP BY model");
    return Object.fromEntries(rows.map((row) => [row.model, { live: Number(row.live), wanting: Number(row.wanting) }]));
  });
}

export async function leaveCapacity(db: PostgresDatabase, owner: string): Promise<void> {
  await db.query("DELETE FROM capacity_shares WHERE owner = $1", [owner]);
}
