/**
 * How `spool watch` and `spool batches` talk to a running spool: its dashboard JSON API (dialect-neutral,
 * so a Batch of any dialect looks the same), with the API key from `--api-key` or SPOOL_API_KEY. A failure
 * a person can fix (no server at the URL, a missing key, an unknown batch) becomes an OperatorError.
 */
import { ExitCode, OperatorError } from "./operator-error.ts";

export interface ServerFlags {
  url?: string;
  apiKey?: string;
}

export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface ServerClient {
  url: string;
  get<T>(path: string): Promise<T>;
}

export function serverClient(flags: ServerFlags, env: NodeJS.ProcessEnv = process.env): ServerClient {
  const raw = flags.url ?? env.SPOOL_URL ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OperatorError(`--url ${raw} is not a URL: give the server's root, e.g. ${DEFAULT_URL}.`, ExitCode.usage);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new OperatorError(`--url ${raw} must start with http:// or https://.`, ExitCode.usage);
  const root = url.toString().replace(/\/+$/, "");
  const key = flags.apiKey ?? env.SPOOL_API_KEY;
  return {
    url: root,
    async get<T>(path: string): Promise<T> {
      let response: Response;
      try {
        response = await fetch(`${root}/dashboard/api${path}`, { headers: { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) } });
      } catch (error) {
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        throw new OperatorError(`cannot reach spool at ${root}${typeof code === "string" ? ` (${code})` : ""}: is it running? Pass its address with --url or SPOOL_URL.`, ExitCode.environment, { cause: error });
      }
      const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
      if (response.status === 401) throw new OperatorError(`spool at ${root} needs an API key: pass --api-key or set SPOOL_API_KEY (${body?.error?.message ?? "unauthorized"}).`, ExitCode.usage);
      if (response.status === 404 && path.startsWith("/batches/")) throw new OperatorError(`${body?.error?.message ?? "No such batch."} (server ${root})`, ExitCode.usage);
      if (!response.ok) throw new ServerAnswerError(response.status, body?.error?.message ?? `HTTP ${response.status}`);
      return body as T;
    },
  };
}

/** The server answered with an error that may pass (a restart, an outage): watchers retry it. */
export class ServerAnswerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`the server answered ${status}: ${message}`);
    this.name = "ServerAnswerError";
  }
}
