/**
 * A config file's text parsed into a value, keeping where each key sits so every error can say
 * `spool.yaml:7`. YAML files are parsed by `yaml`; JSON files by JSON.parse (strict: a trailing comma is an
 * error, as users of a `.json` file expect) and then once more by `yaml` (JSON is YAML) only to find lines.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";

export type ConfigPath = ReadonlyArray<string | number>;

export interface ConfigText {
  value: unknown;
  /** 1-based line of the value at `path` (or of its closest existing parent); of the key itself with `key`. */
  lineOf(path: ConfigPath, key?: string): number | null;
}

export class ConfigSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = "ConfigSyntaxError";
  }
}

export function parseConfigSource(text: string, format: "json" | "yaml"): ConfigText {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  let value: unknown;
  if (format === "json") {
    try {
      value = JSON.parse(text);
    } catch {
      const { offset, reason } = findJsonSyntaxError(text);
      const at = lines.linePos(offset);
      throw new ConfigSyntaxError(at.line, at.col, reason);
    }
  } else {
    const first = document.errors[0];
    if (first) {
      const at = lines.linePos(first.pos[0]);
      throw new ConfigSyntaxError(at.line, at.col, first.message);
    }
    value = document.toJS();
  }
  return { value, lineOf: (path, key) => lineOf(document, lines, path, key) };
}

function lineOf(document: Document, lines: LineCounter, path: ConfigPath, key: string | undefined): number | null {
  if (document.errors.length > 0) return null;
  for (let depth = path.length; depth >= 0; depth -= 1) {
    const node = document.getIn(path.slice(0, depth), true);
    if (depth === path.length && key !== undefined && isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === key);
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) return lines.linePos(range[0]).line;
    }
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return lines.linePos(range[0]).line;
  }
  return null;
}

/**
 * Where a text JSON.parse rejected goes wrong, for a message with a line number (V8's messages carry a
 * position only for some errors, and quote the whole text for others).
 */
export function findJsonSyntaxError(text: string): { offset: number; reason: string } {
  let at = 0;
  const fail = (reason: string): never => {
    throw Object.assign(new Error(reason), { offset: at });
  };
  const skipSpace = (): void => {
    while (at < text.length && " \t\r\n".includes(text[at] ?? "")) at += 1;
  };
  const describe = (): string => (at >= text.length ? "unexpected end of the file" : `unexpected '${text[at] ?? ""}'`);
  const expect = (char: string, what: string): void => {
    skipSpace();
    if (text[at] !== char) fail(`${describe()}, expected ${what}`);
    at += 1;
  };
  const readString = (): void => {
    at += 1;
    while (at < text.length) {
      const char = text[at] ?? "";
      if (char === '"') {
        at += 1;
        return;
      }
      if (char === "\\") {
        const escaped = text[at + 1] ?? "";
        const valid = escaped === "u" ? /^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6)) : escaped !== "" && '"\\/bfnrt'.includes(escaped);
        if (!valid) fail("invalid escape in a string");
        at += escaped === "u" ? 6 : 2;
      } else if (char < " ") {
        fail("a line break or control character inside a string (strings end on the same line with \")");
      } else at += 1;
    }
    fail('unterminated string: missing closing "');
  };
  const readList = (close: "}" | "]"): void => {
    at += 1;
    skipSpace();
    if (text[at] === close) {
      at += 1;
      return;
    }
    for (;;) {
      skipSpace();
      if (close === "}") {
        if (text[at] !== '"') fail(`${describe()}, expected a key in double quotes`);
        readString();
        expect(":", "':' after the key");
      }
      readValue();
      skipSpace();
      if (text[at] === close) {
        at += 1;
        return;
      }
      if (text[at] !== ",") fail(`${describe()}, expected ',' or '${close}'`);
      const comma = at;
      at += 1;
      skipSpace();
      if (text[at] === close) {
        at = comma;
        fail(`a trailing comma before '${close}' (JSON allows none)`);
      }
    }
  };
  const readValue = (): void => {
    skipSpace();
    const char = text[at];
    if (char === "{" || char === "[") return readList(char === "{" ? "}" : "]");
    if (char === '"') return readString();
    const literal = /^(true|false|null)/.exec(text.slice(at, at + 5));
    if (literal) {
      at += literal[0].length;
      return;
    }
    const number = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    number.lastIndex = at;
    if ((char === "-" || (char !== undefined && char >= "0" && char <= "9")) && number.exec(text)) {
      at = number.lastIndex;
      return;
    }
    fail(`${describe()}, expected a value`);
  };
  try {
    readValue();
    skipSpace();
    if (at < text.length) fail(`${describe()} after the end of the JSON value`);
  } catch (error) {
    const offset = (error as { offset?: unknown }).offset;
    if (typeof offset === "number") return { offset, reason: (error as Error).message };
    throw error;
  }
  return { offset: 0, reason: "not valid JSON" };
}
