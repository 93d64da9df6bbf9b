/**
 * Resumable upload sessions (Google's `X-Goog-Upload-Protocol: resumable`): a start request declares the
 * file, each later request appends bytes at an offset, the last one finalizes.
 *
 * Sessions live in this process's memory, each holding an uncommitted BlobWriter: nothing is visible until
 * finalize commits the blob and registers the File, so a truncated or abandoned upload never becomes a
 * File. Consequences, accepted for a single-process server and documented for users:
 * - a restart loses every session in flight (clients get 404 for the upload URL and must start again);
 * - with several spool processes behind one address, the chunks of one upload must reach the process that
 *   answered its start (sticky routing), since the session is not in the shared Store.
 * A durable alternative (sessions as Store rows plus appendable blobs) was left out: the BlobStore contract
 * has no append-to-committed-blob operation, and uploads restart cheaply.
 */
import type { BlobWriter } from "../../store/blob-store.ts";

export type SessionState = "active" | "final" | "failed" | "cancelled";

export interface UploadMetadata {
  fileId: string;
  /** The uploading tenant: only its keys may continue the session, and the File will be its. */
  tenant: string;
  /** The largest upload accepted: the server's limit, or the tenant's `maxFileBytes` when lower. */
  maxBytes: number;
  /** True when `maxBytes` is the tenant's quota (the error then names it). */
  maxBytesIsQuota: boolean;
  displayName: string | null;
  mimeType: string;
  filename: string;
}

export interface UploadSession {
  readonly id: string;
  readonly metadata: UploadMetadata;
  /** From `X-Goog-Upload-Header-Content-Length` (or `file.sizeBytes`); null when the client gave none. */
  readonly declaredBytes: number | null;
  writer: BlobWriter | null;
  state: SessionState;
  /** Why the session became unusable, repeated to every later request. */
  failure: string | null;
  /** A chunk is being received; a second concurrent chunk would interleave bytes. */
  busy: boolean;
  /** The finalize response, replayed to a client that retries the last request. */
  finalBody: unknown;
  touchedAtMs: number;
}

/** Sessions idle longer than this are dropped (their bytes discarded). Google keeps them about a week. */
const IDLE_MS = 24 * 3600 * 1000;
/** Finished sessions are remembered briefly, so a retried finalize gets the same answer, not a 404. */
const TOMBSTONE_MS = 3600 * 1000;

export class UploadSessions {
  private readonly sessions = new Map<string, UploadSession>();

  add(session: Omit<UploadSession, "state" | "failure" | "busy" | "finalBody">): UploadSession {
    const full: UploadSession = { ...session, state: "active", failure: null, busy: false, finalBody: null };
    this.sessions.set(session.id, full);
    return full;
  }

  get(id: string): UploadSession | undefined {
    return this.sessions.get(id);
  }

  /** A file id reserved by a session still receiving bytes (client-chosen names must stay unique). */
  reserves(fileId: string): boolean {
    for (const session of this.sessions.values()) {
      if (session.state === "active" && session.metadata.fileId === fileId) return true;
    }
    return false;
  }

  /** Ends a session for good, discarding its bytes. */
  async fail(session: UploadSession, state: "failed" | "cancelled", reason: string, nowMs: number): Promise<void> {
    session.state = state;
    session.failure = reason;
    session.touchedAtMs = nowMs;
    const writer = session.writer;
    session.writer = null;
    await writer?.abort().catch(() => undefined);
  }

  /** Drops idle sessions and old tombstones. Called on every start, so no timer is needed. */
  async sweep(nowMs: number): Promise<void> {
    for (const [id, session] of this.sessions) {
      const limit = session.state === "active" ? IDLE_MS : TOMBSTONE_MS;
      if (session.busy || nowMs - session.touchedAtMs < limit) continue;
      this.sessions.delete(id);
      await session.writer?.abort().catch(() => undefined);
    }
  }

  /** Server shutdown: discard every unfinished upload. */
  async closeAll(): Promise<void> {
    const writers = [...this.sessions.values()].map((session) => session.writer);
    this.sessions.clear();
    await Promise.all(writers.map((writer) => writer?.abort().catch(() => undefined)));
  }
}
