/**
 * The body of `POST /v1/messages/batches`: `{"requests": [{"custom_id", "params"}, ...]}`. Its shape is
 * checked at once, every problem named by path (`requests.3.custom_id: duplicate value 'a'`): the list, each
 * entry's fields, the custom_id rule and uniqueness. What each `params` asks for is checked later, per request,
 * by validation (batch-format.ts), and a bad one ends `errored` without failing the others.
 *
 * The body is read as it streams in (src/core/json-array-stream.ts): each request is checked and turned into
 * its internal JSONL line on its own, so memory holds one request and the set of custom_ids, never the body.
 */
import { findExcessiveNesting, describeNesting } from "../../core/json-nesting.ts";
import type { ArrayFieldEvent } from "../../core/json-array-stream.ts";
import { checkCustomId } from "./batch-format.ts";
import { describe, isObject } from "./wire.ts";

export interface CreateProblem {
  param: string;
  message: string;
}

const ENTRY_FIELDS = new Set(["custom_id", "params"]);
/** Problems reported at most; a body with 100,000 bad entries says so in a readable message. */
const MAX_PROBLEMS = 100;

/** Checks the create body event by event (readArrayField over "requests"), yielding each request's line. */
export class CreateBodyChecker {
  readonly problems: CreateProblem[] = [];
  private problemCount = 0;
  private requests = 0;
  /** Whether `requests` was in the body: "list" when it was one (its emptiness then checked at the end). */
  private sawRequests: "no" | "list" | "not-list" = "no";
  private readonly firstIndex = new Map<string, number>();

  constructor(private readonly limits: { maxRequests: number; maxRequestBytes: number }) {}

  /** The internal JSONL line of a good request, or null (its problems recorded). */
  take(event: ArrayFieldEvent): string | null {
    if (event.kind === "field") {
      this.add(event.name, "Extra inputs are not permitted.");
      return null;
    }
    if (event.kind === "array") {
      this.sawRequests = "list";
      return null;
    }
    if (event.kind === "not-array") {
      this.sawRequests = "not-list";
      this.add("requests", "must be a non-empty list of requests.");
      return null;
    }
    this.requests += 1;
    if (this.requests > this.limits.maxRequests) return null;
    return this.entry(event.index, event.text, event.bytes);
  }

  /** Problems with the body as a whole, once it has been read: none means every line may be stored. */
  finish(): CreateProblem[] {
    if (this.sawRequests === "no") this.add("requests", 'Field required: a list of {"custom_id", "params"} requests.');
    else if (this.sawRequests === "list" && this.requests === 0) this.add("requests", "must be a non-empty list of requests, found an empty list.");
    else if (this.requests > this.limits.maxRequests) {
      // Listed first: it is the problem to fix before any other.
      this.problemCount += 1;
      this.problems.unshift({ param: "requests", message: `requests: the batch has ${this.requests} requests; the limit is ${this.limits.maxRequests}.` });
      if (this.problems.length > MAX_PROBLEMS) this.problems.pop();
    }
    return this.problems;
  }

  /** Problems found in all (the list keeps the first MAX_PROBLEMS). */
  get problemTotal(): number {
    return this.problemCount;
  }

  private entry(index: number, text: string | null, bytes: number): string | null {
    const path = `requests.${index}`;
    if (text === null) {
      this.add(path, `is ${bytes} bytes long; the limit for one request is ${this.limits.maxRequestBytes} bytes.`);
      return null;
    }
    const tooDeep = findExcessiveNesting(text);
    if (tooDeep) {
      this.add(path, `nests JSON too deeply${describeNesting(tooDeep)}.`);
      return null;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch (error) {
      this.add(path, `is not valid JSON (${(error as Error).message}).`);
      return null;
    }
    if (!isObject(entry)) {
      this.add(path, `must be an object like {"custom_id": "...", "params": {...}}, found ${describe(entry)}.`);
      return null;
    }
    const before = this.problemCount;
    for (const name of Object.keys(entry)) if (!ENTRY_FIELDS.has(name)) this.add(`${path}.${name}`, "Extra inputs are not permitted.");
    const idProblem = checkCustomId(entry.custom_id);
    if (idProblem !== null) this.add(`${path}.custom_id`, idProblem);
    else {
      const id = entry.custom_id as string;
      const first = this.firstIndex.get(id);
      if (first !== undefined) this.add(`${path}.custom_id`, `duplicate value '${id}' (also used by requests.${first}); each custom_id must be unique within the batch.`);
      else this.firstIndex.set(id, index);
    }
    if (!isObject(entry.params)) this.add(`${path}.params`, entry.params === undefined ? "Field required: the Messages API request to run." : `must be an object, found ${describe(entry.params)}.`);
    if (this.problemCount > before) return null;
    return JSON.stringify({ custom_id: entry.custom_id, params: entry.params });
  }

  private add(param: string, message: string): void {
    this.problemCount += 1;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ param, message: `${param}: ${message}` });
  }
}
