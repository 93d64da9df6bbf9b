/**
 * The hot reads (the claim's RETURNING, finalization's pages of Items) read rows as arrays and build the
 * result objects here. better-sqlite3 builds a row object property by property through the V8 API, with
 * each column name internalized again per row: for finalization's 17 columns that was ~40% of the read
 * (3.9 µs per row as objects, 2.1-2.6 µs as arrays plus one object literal; bench/store-hot-path.ts).
 * The column lists are the shared ones (row-mappers.ts); positions are derived from them, and both must
 * start with the Item's own columns (checked as this module loads), so a column added there cannot be
 * read from the wrong place here.
 */
import type { Dialect, Item, ItemResult, ItemStatus, RequestKind } from "../../core/types.ts";
import { CLAIMED_ITEM_COLUMNS, ITEM_COLUMNS } from "../shared/row-mappers.ts";
import type { ClaimedItem } from "../store.ts";

type Row = readonly unknown[];

/** The columns both lists start with, in this order: an Item's own fields. */
export const ITEM_FIELDS = ["batch_id", "idx", "batch_seq", "client_id", "echo", "model", "kind", "status", "attempts"];

function positions(columns: string, extra: readonly string[] = []): (name: string) => number {
  const names = [...columns.split(",").map((name) => name.trim()), ...extra];
  if (ITEM_FIELDS.some((name, index) => names[index] !== name)) throw new Error(`raw-rows: ${columns} must start with ${ITEM_FIELDS.join(", ")}`);
  return (name) => {
    const at = names.indexOf(name);
    if (at < 0) throw new Error(`raw-rows: no column ${name} in ${columns}`);
    return at;
  };
}

/** The claim statements' RETURNING: CLAIMED_ITEM_COLUMNS, then the Batch's dialect, then the request. */
const claimedAt = positions(CLAIMED_ITEM_COLUMNS, ["dialect", "request"]);
const C = { batchSeq: claimedAt("batch_seq"), claimPos: claimedAt("claim_pos"), prefixKey: claimedAt("prefix_key"), dialect: claimedAt("dialect"), request: claimedAt("request") };
const itemAt = positions(ITEM_COLUMNS);
const R = {
  statusCode: itemAt("status_code"),
  body: itemAt("body"),
  errorCode: itemAt("error_code"),
  errorMessage: itemAt("error_message"),
  requestId: itemAt("request_id"),
  inputTokens: itemAt("input_tokens"),
  outputTokens: itemAt("output_tokens"),
  finishedAtMs: itemAt("finished_at_ms"),
};

/** An Item from a row laid out as ITEM_FIELDS (also the layout of Items sent to and from the Store's thread, thread/wire.ts). */
export function itemFields(row: Row, result: ItemResult | null): Item {
  return {
    batchId: row[0] as string,
    index: row[1] as number,
    clientId: row[3] as string | null,
    echo: row[4] as string | null,
    model: row[5] as string,
    kind: row[6] as RequestKind,
    status: row[7] as ItemStatus,
    attempts: row[8] as number,
    result,
  };
}

/** Claimed rows in claim order: oldest Batch first, then claim_pos (RETURNING's order is unspecified). */
export function claimedItemsOf(rows: Row[]): ClaimedItem[] {
  rows.sort((a, b) => (a[C.batchSeq] as number) - (b[C.batchSeq] as number) || (a[C.claimPos] as number) - (b[C.claimPos] as number));
  return rows.map((row) => {
    // A claimed Item never has a result (pending Items carry none); its Attempt is the one just counted.
    const item = itemFields(row, null) as ClaimedItem;
    item.request = row[C.request] as string;
    item.attempt = item.attempts;
    item.dialect = row[C.dialect] as Dialect;
    item.prefixKey = row[C.prefixKey] as string | null;
    return item;
  });
}

export function itemOf(row: Row): Item {
  const finishedAtMs = row[R.finishedAtMs] as number | null;
  if (finishedAtMs === null) return itemFields(row, null);
  return itemFields(row, {
    statusCode: row[R.statusCode] as number | null,
    body: row[R.body] as string | null,
    errorCode: row[R.errorCode] as string | null,
    errorMessage: row[R.errorMessage] as string | null,
    requestId: row[R.requestId] as string | null,
    usage: { inputTokens: row[R.inputTokens] as number, outputTokens: row[R.outputTokens] as number },
    finishedAtMs,
  });
}
