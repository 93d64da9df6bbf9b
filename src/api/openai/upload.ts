/**
 * Receives a `multipart/form-data` upload, streaming the `file` part into an uncommitted BlobWriter.
 *
 * The SDK sends the file part before `purpose`, so the contents arrive before we know whether the request
 * is valid; they go to the writer as they arrive (memory stays at one chunk), and the caller commits the
 * blob only after checking the fields — an invalid request, an oversized file or a client that disconnects
 * mid-upload leaves nothing behind. Chunked uploads (no Content-Length, from `fs.createReadStream`) are the
 * same case: the size limit is enforced on bytes seen, never on a declared length.
 */
import type { Readable } from "node:stream";
import busboy from "busboy";
import type { FastifyRequest } from "fastify";
import { AppError } from "../../core/errors.ts";
import { BlobTooLargeError, type BlobStore, type BlobWriter } from "../../store/blob-store.ts";
import { onBodyIdle } from "../shared/request-body.ts";

export interface ReceivedFile {
  filename: string;
  /** The part's Content-Type as sent; not trusted for anything. */
  mimeType: string;
  /** Holds the contents, not yet committed: the caller commits or aborts it. */
  writer: BlobWriter;
}

export interface ReceivedUpload {
  fields: Map<string, string>;
  file: ReceivedFile | null;
}

const FIELD_LIMITS = { fields: 32, fieldSize: 64 * 1024, parts: 64, headerPairs: 200 };

/** Why an upload ended early, for the log; the client has gone and gets no answer. */
export class UploadAbortedError extends Error {
  constructor() {
    super("The client closed the connection during the upload.");
    this.name = "UploadAbortedError";
  }
}

/** `onChunk` sees each chunk of the file part as it is written (a check that must not buffer the file). */
export function receiveUpload(request: FastifyRequest, blobs: BlobStore, key: string, maxBytes: number, onChunk?: (chunk: Buffer) => void): Promise<ReceivedUpload> {
  const raw = request.raw;
  const contentType = request.headers["content-type"] ?? "";
  if (!/^multipart\/form-data/i.test(contentType)) {
    return Promise.reject(new AppError("invalid_request", "Uploads must be multipart/form-data with a 'file' part and a 'purpose' field."));
  }
  return new Promise<ReceivedUpload>((resolve, reject) => {
    const fields = new Map<string, string>();
    let file: { filename: string; mimeType: string } | null = null;
    let writerPromise: Promise<BlobWriter> | null = null;
    let fileDone: Promise<void> = Promise.resolve();
    let settled = false;

    let parser: busboy.Busboy;
    try {
      // utf8: browsers and the SDKs send non-ASCII file names as raw UTF-8 in `filename="..."`, which
      // busboy's latin1 default turned into mojibake (`ð…-donnÃ©es.jsonl`).
      parser = busboy({ headers: request.headers, limits: FIELD_LIMITS, defParamCharset: "utf8" });
    } catch (error) {
      reject(new AppError("invalid_request", `The multipart request is malformed: ${(error as Error).message}.`));
      return;
    }

    let stopWatching = (): void => undefined;
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      stopWatching();
      raw.unpipe(parser);
      // Keep reading (and discarding) the rest of the body so the client, still sending, gets our answer
      // instead of a reset connection.
      raw.resume();
      void (async () => {
        const writer = await writerPromise?.catch(() => null);
        await writer?.abort().catch(() => undefined);
        reject(error);
      })();
    };

    parser.on("file", (name: string, stream: Readable, info: busboy.FileInfo) => {
      if (name !== "file" || writerPromise !== null) {
        stream.resume();
        fail(new AppError("invalid_request", name === "file" ? "Send exactly one 'file' part." : `Unexpected file part '${name}': the file goes in the part named 'file'.`, { param: name }));
        return;
      }
      file = { filename: info.filename || "upload", mimeType: info.mimeType };
      // busboy destroys the part with "Unexpected end of form" when the body is cut short, possibly before
      // the writer is open and the loop below listens; the parser reports the same error, so this one is
      // only kept from becoming an uncaught exception.
      stream.on("error", () => undefined);
      const opened = blobs.createWriter(key);
      writerPromise = opened;
      fileDone = (async () => {
        const writer = await opened;
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          if (settled) return;
          if (writer.bytesWritten + chunk.length > maxBytes) throw new BlobTooLargeError(maxBytes);
          onChunk?.(chunk);
          await writer.write(chunk);
        }
      })();
      fileDone.catch(fail);
    });
    parser.on("field", (name: string, value: string, info: busboy.FieldInfo) => {
      if (info.valueTruncated) {
        fail(new AppError("invalid_request", `The field '${name}' is too long.`, { param: name }));
        return;
      }
      fields.set(name, value);
    });
    parser.on("partsLimit", () => fail(new AppError("invalid_request", "The upload has too many parts.")));
    parser.on("fieldsLimit", () => fail(new AppError("invalid_request", "The upload has too many fields.")));
    parser.on("error", (error: Error) => fail(new AppError("invalid_request", `The multipart request is malformed: ${error.message}.`)));
    parser.on("close", () => {
      void fileDone.then(async () => {
        if (settled) return;
        settled = true;
        stopWatching();
        const writer = writerPromise ? await writerPromise : null;
        resolve({ fields, file: file && writer ? { ...file, writer } : null });
      }, fail);
    });

    raw.on("close", () => {
      if (!raw.complete) fail(new UploadAbortedError());
    });
    raw.on("error", () => fail(new UploadAbortedError()));
    // A body that stops arriving fails the upload with a 408 the client can still read; a pipe paused
    // because the blob store is slow to take the bytes is not the client stalling.
    stopWatching = onBodyIdle(request, fail, () => raw.readableFlowing === false);
    raw.pipe(parser);
  });
}
