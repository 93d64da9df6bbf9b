/**
 * What an upload must be to be a batch input at all, checked while its bytes stream past (OpenAI's Files
 * API refuses such a file at upload with a 400, instead of accepting it and failing the batch later):
 * UTF-8 throughout, at least one request, and a first request line that is a JSON object. The lines after
 * the first are checked by batch validation, which lists every bad one with its number; checking them all
 * here too would parse every upload twice.
 *
 * Push-based, so the upload keeps streaming: memory is one chunk plus the first line (up to `maxLineBytes`;
 * a longer first line is left to validation, which reports it as too long).
 */
export class BatchFileCheck {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private problem: string | null = null;
  /** Text of the first non-blank line so far, until its newline; null once it was judged. */
  private firstLine: string | null = "";
  private firstLineNumber = 1;
  private lines = 1;
  private bytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Uint8Array): void {
    if (this.problem !== null) return;
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      const at = firstBadByte(chunk);
      let line = this.lines;
      for (let index = 0; index < at; index += 1) if (chunk[index] === 0x0a) line += 1;
      this.problem = `it is not UTF-8 text (byte ${this.bytes + at}, on line ${line}, is not UTF-8)`;
      return;
    }
    this.bytes += chunk.length;
    this.readFirstLine(text);
    for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) this.lines += 1;
  }

  /** Null when the bytes seen can be a batch input; else what is wrong, for a message. */
  finish(): string | null {
    if (this.problem !== null) return this.problem;
    try {
      this.readFirstLine(this.decoder.decode());
    } catch {
      return "it is not UTF-8 text (it ends inside a character)";
    }
    if (this.firstLine !== null) {
      if (this.firstLine.trim() === "") return "it is empty: a batch input needs at least one request line";
      this.judge(this.firstLine);
    }
    return this.problem;
  }

  private readFirstLine(text: string): void {
    if (this.firstLine === null) return;
    let rest = text;
    for (;;) {
      const newline = rest.indexOf("\n");
      if (newline === -1) {
        this.firstLine += rest;
        if (this.firstLine.length > this.maxLineBytes) this.firstLine = null;
        return;
      }
      const line = this.firstLine + rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      if (line.trim() !== "") {
        this.judge(line);
        return;
      }
      this.firstLine = "";
      this.firstLineNumber += 1;
    }
  }

  private judge(line: string): void {
    this.firstLine = null;
    let value: unknown;
    try {
      value = JSON.parse(line.replace(/^\uFEFF/, ""));
    } catch {
      this.problem = `line ${this.firstLineNumber} is not valid JSON (each line must be one JSON object)`;
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.problem = `line ${this.firstLineNumber} is not a JSON object (each line must be one JSON object)`;
  }
}

/**
 * Offset of the first byte of `bytes` that does not start or continue a UTF-8 sequence (for the message
 * only, so overlong forms and surrogates are not singled out). A chunk that begins inside a sequence
 * started in the previous chunk reports its start.
 */
function firstBadByte(bytes: Uint8Array): number {
  for (let index = 0; index < bytes.length; ) {
    const lead = bytes[index]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
    if (length === 0) return index;
    for (let next = 1; next < length; next += 1) {
      const byte = bytes[index + next];
      if (byte === undefined) return index;
      if ((byte & 0xc0) !== 0x80) return index;
    }
    index += length;
  }
  return 0;
}
