/**
 * Server-Sent Events from a byte stream (the WHATWG event-stream rules): `data:` lines of one event are
 * joined with "\n", `event:` names it, a blank line ends it, `:` lines are comments, and lines may end in
 * "\n", "\r\n" or "\r". Decoding is incremental (a UTF-8 character or a line split across network chunks is
 * kept for the next one), so an upstream's events are passed on as they arrive, never after the reply.
 */
export interface SseEvent {
  /** The `event:` field, null when the event had none (the default "message" type). */
  event: string | null;
  data: string;
}

export async function* readSseEvents(source: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let pending = "";
  let event: string | null = null;
  let data: string[] = [];
  for await (const chunk of source) {
    pending += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const end = lineEnd(pending, start);
      if (end === -1) break;
      const line = pending.slice(start, end);
      // "\r\n" is one line end; a "\r" at the very end of the text waits for the next chunk to tell.
      start = pending[end] === "\r" && pending[end + 1] === "\n" ? end + 2 : end + 1;
      if (line === "") {
        if (data.length > 0) yield { event, data: data.join("\n") };
        event = null;
        data = [];
        continue;
      }
      const field = parseField(line);
      if (field === null) continue;
      if (field.name === "data") data.push(field.value);
      else if (field.name === "event") event = field.value;
    }
    pending = pending.slice(start);
  }
  pending += decoder.decode();
  // A stream that ends without the final blank line still delivers its last event.
  for (const line of pending.split(/\r\n|\r|\n/)) {
    const field = parseField(line);
    if (field?.name === "data") data.push(field.value);
    else if (field?.name === "event") event = field.value;
  }
  if (data.length > 0) yield { event, data: data.join("\n") };
}

/** Index of the next "\n" or "\r" at or after `from`; -1 if none, or if a final "\r" may start "\r\n". */
function lineEnd(text: string, from: number): number {
  for (let index = from; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === 10) return index;
    if (code === 13) return index + 1 < text.length ? index : -1;
  }
  return -1;
}

function parseField(line: string): { name: string; value: string } | null {
  if (line === "" || line.startsWith(":")) return null;
  const colon = line.indexOf(":");
  if (colon === -1) return { name: line, value: "" };
  const value = line.slice(colon + 1);
  return { name: line.slice(0, colon), value: value.startsWith(" ") ? value.slice(1) : value };
}
