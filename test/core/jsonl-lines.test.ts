import { describe, expect, it } from "vitest";
import { readJsonlLines, type LineEvent } from "../../src/core/jsonl-lines.ts";

async function collect(chunks: (string | Buffer)[], maxLineBytes = 1024): Promise<LineEvent[]> {
  async function* source(): AsyncGenerator<Uint8Array> {
    for (const chunk of chunks) yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
  }
  const out: LineEvent[] = [];
  for await (const events of readJsonlLines(source(), { maxLineBytes })) out.push(...events);
  return out;
}

const texts = (events: LineEvent[]): (string | null)[] => events.map((event) => ("text" in event ? event.text : null));

describe("readJsonlLines", () => {
  it("joins lines split across chunks and numbers them from 1", async () => {
    const events = await collect(['{"a":', '1}\n{"b"', ":2}\n"]);
    expect(texts(events)).toEqual(['{"a":1}', '{"b":2}']);
    expect(events.map((event) => event.lineNumber)).toEqual([1, 2]);
  });

  it("strips CRLF endings and keeps a last line without newline", async () => {
    expect(texts(await collect(["a\r\nb\r\nc"]))).toEqual(["a", "b", "c"]);
  });

  it("does not invent a line after a trailing newline", async () => {
    expect(texts(await collect(["a\n"]))).toEqual(["a"]);
  });

  it("reports an over-long line without buffering it and goes on with the next", async () => {
    const long = "x".repeat(300);
    const events = await collect(["ok\n", long, long, long, "\nafter\n"], 512);
    expect(events[0]).toMatchObject({ lineNumber: 1, text: "ok" });
    expect(events[1]).toMatchObject({ lineNumber: 2, problem: "line_too_long", byteLength: 900 });
    expect(events[2]).toMatchObject({ lineNumber: 3, text: "after" });
  });

  it("reports invalid UTF-8 but accepts a genuine replacement character", async () => {
    const bad = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    const events = await collect([bad, '{"a":"\uFFFD"}\n']);
    expect(events[0]).toMatchObject({ lineNumber: 1, problem: "invalid_utf8" });
    expect(events[1]).toMatchObject({ lineNumber: 2, text: '{"a":"\uFFFD"}' });
  });

  it("keeps multi-byte characters split across chunk boundaries intact", async () => {
    const bytes = Buffer.from('{"t":"héllo ✓"}\n');
    const cut = bytes.indexOf(0xa9); // inside "é"
    expect(texts(await collect([bytes.subarray(0, cut), bytes.subarray(cut)]))).toEqual(['{"t":"héllo ✓"}']);
  });

  it("drops a UTF-8 byte order mark before the first line, even split across chunks, and only there", async () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(texts(await collect([Buffer.concat([bom, Buffer.from('{"a":1}\r\n{"b":2}\n')])]))).toEqual(['{"a":1}', '{"b":2}']);
    expect(texts(await collect([bom.subarray(0, 2), Buffer.concat([bom.subarray(2), Buffer.from('{"a":1}\n')])]))).toEqual(['{"a":1}']);
    // A mark inside the file is content, not an encoding signature: it stays and fails that line's JSON.
    expect(texts(await collect([Buffer.concat([Buffer.from('{"a":1}\n'), bom, Buffer.from('{"b":2}\n')])]))).toEqual(['{"a":1}', '\uFEFF{"b":2}']);
  });
});
