/** Checks on JSON request bodies shared by every dialect's body parser, run on the raw text before parsing. */
import { AppError } from "../../core/errors.ts";
import { describeNesting, findExcessiveNesting, MAX_JSON_NESTING } from "../../core/json-nesting.ts";

/** The error for a body nested past MAX_JSON_NESTING (src/core/json-nesting.ts says why), or null. */
export function jsonBodyNestingError(text: string): AppError | null {
  const found = findExcessiveNesting(text);
  if (!found) return null;
  return new AppError(
    "invalid_request",
    `The request body nests JSON deeper than ${MAX_JSON_NESTING} levels${describeNesting(found)}; spool accepts at most ${MAX_JSON_NESTING} levels of objects and arrays.`,
    { param: found.path === "" ? null : found.path },
  );
}
