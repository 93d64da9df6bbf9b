/**
 * How the hot path's values cross to and from the Store's thread: each Item as one array of its fields
 * instead of an object. Structured clone writes every property name of every object it sends, and reading
 * a nested object back (a completion's result and its usage) is the slowest part of the trip: for 500
 * completions with 330-byte bodies, 0.7 + 1.8 µs per completion (send + receive) as objects against
 * 0.3 + 0.6 as arrays, and for claimed Items with 520-byte requests 0.9 + 1.4 against 0.5 + 0.6 (node 20).
 * Every Item of a Batch passes here three times (claim, completion, finalization's read). Validation's
 * inserts stay objects: flat ones, which structured clone already reads back about as fast.
 *
 * Only the methods listed in WIRE change form; every other call sends its arguments and value as they are.
 * Each codec builds the very object it was given (absent optional fields stay absent), which
 * test/store/threaded-store-wire.test.ts checks with every field set.
 */
import type { Dialect, Item, ItemResult } from "../../../core/types.ts";
import { ITEM_FIELDS, itemFields } from "../raw-rows.ts";
import type { ClaimedItem, ItemCompletion, ItemPage } from "../../store.ts";

interface Codec {
  /** Caller -> thread: the call's arguments. */
  args?: { send(args: unknown[]): unknown[]; receive(sent: unknown[]): unknown[] };
  /** Thread -> caller: the call's value. */
  value?: { send(value: unknown): unknown; receive(sent: unknown): unknown };
}

type Sent = unknown[];

function sendResult(result: ItemResult, into: Sent): void {
  into.push(result.statusCode, result.body, result.errorCode, result.errorMessage, result.requestId, result.usage.inputTokens, result.usage.outputTokens, result.finishedAtMs);
  if (result.charge !== undefined) into.push(result.charge.batchNanoUsd, result.charge.listNanoUsd);
}

/** The result sent from position `at` on (its charge, when sent, is the last two fields). */
function receiveResult(sent: Sent, at: number): ItemResult {
  const result: ItemResult = {
    statusCode: sent[at] as number | null,
    body: sent[at + 1] as string | null,
    errorCode: sent[at + 2] as string | null,
    errorMessage: sent[at + 3] as string | null,
    requestId: sent[at + 4] as string | null,
    usage: { inputTokens: sent[at + 5] as number, outputTokens: sent[at + 6] as number },
    finishedAtMs: sent[at + 7] as number,
  };
  if (sent.length > at + 8) result.charge = { batchNanoUsd: sent[at + 8] as number, listNanoUsd: sent[at + 9] as number };
  return result;
}

function sendCompletion(completion: ItemCompletion): Sent {
  const sent: Sent = [completion.batchId, completion.index, completion.owner, completion.attempt, completion.status, completion.cacheResult];
  sendResult(completion.result, sent);
  return sent;
}

function receiveCompletion(sent: Sent): ItemCompletion {
  const completion: ItemCompletion = {
    batchId: sent[0] as string,
    index: sent[1] as number,
    owner: sent[2] as string,
    attempt: sent[3] as number,
    status: sent[4] as ItemCompletion["status"],
    result: receiveResult(sent, 6),
  };
  if (sent[5] !== undefined) completion.cacheResult = sent[5] as boolean;
  return completion;
}

/**
 * An Item's own fields, laid out as raw-rows.ts reads them from the database (ITEM_FIELDS: its Batch's seq
 * third, which an Item does not carry: sent as null), so one function builds Items from both.
 */
function sendItemFields(item: Item): Sent {
  return [item.batchId, item.index, null, item.clientId, item.echo, item.model, item.kind, item.status, item.attempts];
}

const RESULT_AT = ITEM_FIELDS.length;

function sendItem(item: Item): Sent {
  const sent = sendItemFields(item);
  if (item.result !== null) sendResult(item.result, sent);
  return sent;
}

function receiveItem(sent: Sent, resultAt = RESULT_AT): Item {
  return itemFields(sent, sent.length > resultAt ? receiveResult(sent, resultAt) : null);
}

/** A claimed Item: its own fields, then request, attempt, dialect and prefix key, then its result if any. */
const CLAIMED_RESULT_AT = RESULT_AT + 4;

function sendClaimed(item: ClaimedItem): Sent {
  const sent = sendItemFields(item);
  sent.push(item.request, item.attempt, item.dialect, item.prefixKey);
  // A claimed Item has no result (pending Items carry none); sent anyway should a Store ever give one.
  if (item.result !== null) sendResult(item.result, sent);
  return sent;
}

function receiveClaimed(sent: Sent): ClaimedItem {
  // Fields added to the Item, not spread into a new object: a spread costs three times the rest.
  const item = receiveItem(sent, CLAIMED_RESULT_AT) as ClaimedItem;
  item.request = sent[RESULT_AT] as string;
  item.attempt = sent[RESULT_AT + 1] as number;
  item.dialect = sent[RESULT_AT + 2] as Dialect;
  item.prefixKey = sent[RESULT_AT + 3] as string | null;
  return item;
}

export const WIRE: Readonly<Record<string, Codec>> = {
  completeItems: {
    args: {
      send: ([completions, nowMs]) => [(completions as ItemCompletion[]).map(sendCompletion), nowMs],
      receive: ([sent, nowMs]) => [(sent as Sent[]).map(receiveCompletion), nowMs],
    },
  },
  claimItems: {
    value: {
      send: (items) => (items as ClaimedItem[]).map(sendClaimed),
      receive: (sent) => (sent as Sent[]).map(receiveClaimed),
    },
  },
  readItems: {
    value: {
      send: (page) => ({ items: (page as ItemPage).items.map(sendItem), nextAfterIndex: (page as ItemPage).nextAfterIndex }),
      receive: (sent) => {
        const { items, nextAfterIndex } = sent as { items: Sent[]; nextAfterIndex: number | null };
        return { items: items.map((item) => receiveItem(item)), nextAfterIndex } satisfies ItemPage;
      },
    },
  },
};
