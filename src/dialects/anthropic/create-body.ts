/**
 * The body of `POST /v1/messages/batches`: `{"requests": [{"custom_id", "params"}, ...]}`. Its shape is
 * checked at once, every problem named by path (`requests.3.custom_id: duplicate value 'a'`): the list, each
 * entry's fields, the custom_id rule and uniqueness. What each `params` asks for is checked later, per request,
 * by validation (batch-format.ts), and a bad one ends `errored` without failing the others.
 */
import { checkCustomId } from "./batch-format.ts";
import { describe, isObject } from "./wire.ts";

export interface CreateProblem {
  param: string;
  message: string;
}

export type CheckedCreateBody = { ok: true; lines: string[] } | { ok: false; problems: CreateProblem[] };

const ENTRY_FIELDS = new Set(["custom_id", "params"]);
/** Problems reported at most; a body with 100,000 bad entries says so in a readable message. */
const MAX_PROBLEMS = 100;

/** The body as internal JSONL lines (one `{"custom_id","params"}` per request), or every problem found. */
export function checkCreateBody(body: unknown, maxRequests: number): CheckedCreateBody {
  const problems: CreateProblem[] = [];
  const add = (param: string, message: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push({ param, message: `${param}: ${message}` });
  };
  if (!isObject(body)) return { ok: false, problems: [{ param: "requests", message: `The request body must be a JSON object like {"requests": [...]}, found ${describe(body)}.` }] };
  for (const name of Object.keys(body)) if (name !== "requests") add(name, "Extra inputs are not permitted.");
  const requests = body.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    add("requests", requests === undefined ? 'Field required: a list of {"custom_id", "params"} requests.' : `must be a non-empty list of requests, found ${Array.isArray(requests) ? "an empty list" : describe(requests)}.`);
    return { ok: false, problems };
  }
  if (requests.length > maxRequests) {
    add("requests", `the batch has ${requests.length} requests; the limit is ${maxRequests}.`);
    return { ok: false, problems };
  }
  const firstIndex = new Map<string, number>();
  const lines: string[] = [];
  requests.forEach((entry, index) => {
    const path = `requests.${index}`;
    if (!isObject(entry)) {
      add(path, `must be an object like {"custom_id": "...", "params": {...}}, found ${describe(entry)}.`);
      return;
    }
    for (const name of Object.keys(entry)) if (!ENTRY_FIELDS.has(name)) add(`${path}.${name}`, "Extra inputs are not permitted.");
    const idProblem = checkCustomId(entry.custom_id);
    if (idProblem !== null) add(`${path}.custom_id`, idProblem);
    else {
      const id = entry.custom_id as string;
      const first = firstIndex.get(id);
      if (first !== undefined) add(`${path}.custom_id`, `duplicate value '${id}' (also used by requests.${first}); each custom_id must be unique within the batch.`);
      else firstIndex.set(id, index);
    }
    if (!isObject(entry.params)) add(`${path}.params`, entry.params === undefined ? "Field required: the Messages API request to run." : `must be an object, found ${describe(entry.params)}.`);
    lines.push(JSON.stringify({ custom_id: entry.custom_id, params: entry.params }));
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, lines };
}
