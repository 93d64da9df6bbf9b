/**
 * Streaming reader for Google's simple multipart upload (`X-Goog-Upload-Protocol: multipart`): a
 * `multipart/related` (or `multipart/form-data`, as curl -F sends) body whose first part is the JSON
 * metadata `{"file": {...}}` and whose next part is the media. The media streams to `onMedia` as it
 * arrives; only the metadata part (≤ 1 MiB) and a delimiter-sized tail are ever held in memory.
 */
import { invalidArgument } from "./errors.ts";

const MAX_METADATA_BYTES = 1024 * 1024;

export interface MultipartHandlers {
  onMetadata(text: string): void | Promise<void>;
  onMedia(chunk: Buffer): Promise<void>;
}

export function boundaryOf(contentType: string): string | null {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2] ?? null) : null;
}

type Phase = "preamble" | "headers" | "body" | "done";

/** Parses the body; resolves with whether a media part was seen. Throws AppError on malformed input. */
export async function readMultipart(source: AsyncIterable<Buffer>, boundary: string, handlers: MultipartHandlers): Promise<boolean> {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // A leading CRLF lets the first boundary (which has none before it) match the same delimiter.
  let buffer: Buffer = Buffer.from("\r\n");
  let phase = "preamble" as Phase;
  let partIndex = -1;
  let kind: "metadata" | "media" | "skip" = "skip";
  let metadata: Buffer[] = [];
  let metadataBytes = 0;
  let sawMedia = false;

  const emit = async (data: Buffer): Promise<void> => {
    if (data.length === 0) return;
    if (kind === "media") await handlers.onMedia(data);
    else if (kind === "metadata") {
      metadataBytes += data.length;
      if (metadataBytes > MAX_METADATA_BYTES) throw invalidArgument("The metadata part of the multipart upload is larger than 1 MiB.", "file");
      metadata.push(data);
    }
  };
  const endPart = async (): Promise<void> => {
    if (kind === "metadata") await handlers.onMetadata(Buffer.concat(metadata).toString("utf8"));
    metadata = [];
  };

  const step = async (): Promise<boolean> => {
    if (phase === "preamble" || phase === "body") {
      const at = buffer.indexOf(delimiter);
      if (at === -1) {
        const keep = delimiter.length - 1;
        if (phase === "body") await emit(buffer.subarray(0, Math.max(0, buffer.length - keep)));
        buffer = buffer.subarray(Math.max(0, buffer.length - keep));
        return false;
      }
      if (buffer.length < at + delimiter.length + 2) return false;
      if (phase === "body") {
        await emit(buffer.subarray(0, at));
        await endPart();
      }
      const after = buffer.subarray(at + delimiter.length, at + delimiter.length + 2).toString("latin1");
      buffer = buffer.subarray(at + delimiter.length + 2);
      if (after === "--") {
        phase = "done";
        return false;
      }
      phase = "headers";
      return true;
    }
    if (phase === "headers") {
      let headers = "";
      if (buffer.length >= 2 && buffer[0] === 0x0d && buffer[1] === 0x0a) {
        buffer = buffer.subarray(2); // a part without headers
      } else {
        const end = buffer.indexOf("\r\n\r\n");
        if (end === -1) {
          if (buffer.length > 64 * 1024) throw invalidArgument("A part of the multipart upload has headers longer than 64 KiB.", null);
          return false;
        }
        headers = buffer.subarray(0, end).toString("latin1").toLowerCase();
        buffer = buffer.subarray(end + 4);
      }
      partIndex += 1;
      const isJson = /content-type:\s*application\/json/.test(headers) || /name="metadata"/.test(headers);
      if (partIndex === 0 && isJson) kind = "metadata";
      else if (!sawMedia) {
        kind = "media";
        sawMedia = true;
      } else throw invalidArgument("The multipart upload has more than one media part; send one file per upload.", null);
      phase = "body";
      return true;
    }
    return false;
  };

  for await (const chunk of source) {
    if (phase === "done") continue;
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    while (await step());
  }
  if (phase !== "done") throw invalidArgument("The multipart upload ended before its closing boundary (truncated upload?).", null);
  return sawMedia;
}
