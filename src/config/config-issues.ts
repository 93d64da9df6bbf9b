/**
 * Validation issues of a configuration in plain words, one line each, naming where (`spool.yaml:7`,
 * `--port`, `SPOOL_PORT`), the key path (`models[0].baseUrl`) and what to write instead:
 *
 *   spool.yaml:4: models[0].baseUrl is required for engine 'openai'.
 *   spool.yaml:6: unknown key 'models[0].concurency': did you mean 'concurrency'?
 *
 * rather than the validation library's "Invalid input: expected string, received undefined". The allowed
 * keys for did-you-mean come from the schema itself, at the level of the unknown key.
 */
import { z } from "zod";
import type { ConfigPath } from "./config-text.ts";
import { closestName } from "./did-you-mean.ts";

export interface IssueSource {
  /** `spool.yaml:7`, `--port` or `SPOOL_PORT`: where the value at `path` (or the key `key` in it) came from. */
  label(path: ConfigPath, key?: string): string;
  /** True when the value was written in a file (where quoting a number is a likely slip). */
  inFile(path: ConfigPath): boolean;
}

type Issue = z.core.$ZodIssue;

/** Values of keys with these names are never echoed (an API key in a message would end up in logs). */
const SECRET_KEY = /key|secret|password|token/i;

export function describeIssues(issues: readonly Issue[], schema: z.ZodType, input: unknown, source: IssueSource): string[] {
  return issues.flatMap((issue): string[] => {
    const path = issue.path.filter((part): part is string | number => typeof part !== "symbol");
    if (issue.code === "unrecognized_keys") {
      const allowed = allowedKeys(schema, input, path);
      return issue.keys.map((key) => {
        const suggestion = closestName(key, allowed);
        const hint = suggestion ? `did you mean '${suggestion}'?` : `the keys allowed here are ${allowed.join(", ")}.`;
        return `${source.label(path, key)}: unknown key '${formatPath([...path, key])}': ${hint}`;
      });
    }
    return [`${source.label(path)}: ${describeIssue(issue, path, input, source)}`];
  });
}

function describeIssue(issue: Issue, path: ConfigPath, input: unknown, source: IssueSource): string {
  const key = formatPath(path) || "the configuration";
  const got = "input" in issue ? describeValue(issue.input, path) : "nothing";
  switch (issue.code) {
    case "invalid_type": {
      if (!("input" in issue) || issue.input === undefined) return `${key} is required${engineOf(input, path)}.`;
      const quoted = typeof issue.input === "string" && issue.expected === "number" && source.inFile(path) && Number.isFinite(Number(issue.input));
      return `${key} must be ${expectedWords(issue.expected)}, got ${got}${quoted ? " (write the number without quotes)" : ""}.`;
    }
    case "invalid_union": {
      // A discriminated union (models[].engine) reports the discriminator's own path and allowed values.
      const choices = ((issue as { options?: readonly unknown[] }).options ?? []).map(String);
      if (choices.length === 0) return `${key}: ${issue.message}`;
      const value = valueAt(input, path);
      if (value === undefined) return `${key} is required: one of ${quoteAll(choices)}.`;
      return `${key} must be one of ${quoteAll(choices)}, got ${describeValue(value, path)}${didYouMean(value, choices)}.`;
    }
    case "invalid_value": {
      const choices = issue.values.map(String);
      return `${key} must be ${choices.length === 1 ? quoteAll(choices) : `one of ${quoteAll(choices)}`}, got ${got}${didYouMean(issue.input, choices)}.`;
    }
    case "too_small":
      return `${key} ${boundWords("at least", "greater than", issue.minimum, issue.inclusive, issue.origin)}, got ${got}.`;
    case "too_big":
      return `${key} ${boundWords("at most", "less than", issue.maximum, issue.inclusive, issue.origin)}, got ${got}.`;
    case "invalid_format":
      if (issue.format === "url") return `${key} must be a URL such as http://127.0.0.1:8000/v1, got ${got}.`;
      if (issue.format === "regex" && "pattern" in issue) return `${key} must match ${String(issue.pattern)}, got ${got}.`;
      return `${key} must be a valid ${issue.format}, got ${got}.`;
    default:
      return `${key}: ${issue.message}`;
  }
}

function engineOf(input: unknown, path: ConfigPath): string {
  if (path[0] !== "models" || path.length < 3) return "";
  const engine = valueAt(input, path.slice(0, 2).concat("engine"));
  return typeof engine === "string" ? ` for engine '${engine}'` : "";
}

function expectedWords(expected: string): string {
  const words: Record<string, string> = {
    string: "text",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    array: "a list",
    object: "a mapping of keys to values",
    record: "a mapping of keys to values",
  };
  return words[expected] ?? expected;
}

function boundWords(inclusiveWord: string, exclusiveWord: string, bound: number | bigint, inclusive: boolean | undefined, origin: string): string {
  if (origin === "string" && Number(bound) === 1 && inclusive !== false) return "must not be empty";
  const unit = origin === "string" ? " characters" : origin === "array" ? " entries" : "";
  return `must be ${inclusive === false ? exclusiveWord : inclusiveWord} ${String(bound)}${unit}`;
}

function describeValue(value: unknown, path: ConfigPath): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const last = path[path.length - 1];
  if (typeof last === "string" && SECRET_KEY.test(last)) return `a ${typeof value} (not shown)`;
  if (typeof value === "string") return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  return String(value);
}

function didYouMean(value: unknown, choices: readonly string[]): string {
  const suggestion = typeof value === "string" ? closestName(value, choices) : null;
  return suggestion && suggestion !== value ? ` (did you mean '${suggestion}'?)` : "";
}

function quoteAll(values: readonly string[]): string {
  return values.map((value) => `'${value}'`).join(", ");
}

/** `models[1].engine` */
export function formatPath(path: ConfigPath): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${part}` : part), "");
}

function valueAt(input: unknown, path: ConfigPath): unknown {
  let current = input;
  for (const part of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

/** The keys the schema allows for the object at `path`; a union picks the option the input selects. */
function allowedKeys(root: z.ZodType, input: unknown, path: ConfigPath): string[] {
  let current: unknown = root;
  for (let depth = 0; depth <= path.length; depth += 1) {
    current = unwrap(current, valueAt(input, path.slice(0, depth)));
    if (depth === path.length) break;
    const part = path[depth];
    if (current instanceof z.ZodArray && typeof part === "number") current = current.element;
    else if (current instanceof z.ZodObject && typeof part === "string") current = current.shape[part];
    else return [];
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unwrap(schemaNode: unknown, value: unknown): unknown {
  let current = schemaNode;
  for (;;) {
    if (current instanceof z.ZodOptional) current = current.unwrap();
    else if (current instanceof z.ZodDiscriminatedUnion) {
      const discriminator = current.def.discriminator;
      const selected = (value as Record<string, unknown> | null)?.[discriminator];
      const options = current.options as unknown[];
      current = options.find((option) => option instanceof z.ZodObject && literalOf(option.shape[discriminator]) === selected) ?? options[0];
    } else return current;
  }
}

function literalOf(schemaNode: unknown): unknown {
  return schemaNode instanceof z.ZodLiteral ? schemaNode.value : undefined;
}
