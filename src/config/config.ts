/**
 * The one Config type. Loading order: defaults < config file < environment < flags (see load-config.ts).
 * Every field is validated by the zod schemas below; an error names the bad key (e.g. `models[1].engine`).
 */
import { z } from "zod";
import { llamaCppEngineFields } from "./llama-cpp-fields.ts";
import { BatchHours } from "../core/batch-hours.ts";
import { parseDuration, windowProblem } from "../core/durations.ts";
import { TENANT_NAME_PATTERN, type Quotas } from "../core/tenancy.ts";
import { retentionSchema, type Retention } from "./retention.ts";
import { webhookSchema } from "./webhook-schema.ts";

const positiveInt = z.number().int().positive();

/** A completion window as the OpenAI extension takes it: `24h`, `90m`, `7d`, `1h30m` (1 s to 30 days). */
const windowText = z.string().superRefine((text, ctx) => {
  const problem = windowProblem(text);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const modelBase = {
  /** The model name clients put in requests. */
  name: z.string().min(1),
  /**
   * Requests of this Model running at once: in one process, or across the processes of one PostgreSQL
   * deployment, which split it among those with work for the Model (src/worker/capacity-shares.ts).
   */
  concurrency: positiveInt.optional(),
  /** At most this many of them in any one process (other backends in proportion; decision 0031). Default: all. */
  processConcurrency: positiveInt.optional(),
  /** Per-request timeout (one Attempt), milliseconds. */
  timeoutMs: positiveInt.optional(),
  /**
   * Adaptive concurrency (AIMD): `concurrency` becomes a ceiling and the limit in use is learned from the
   * upstream, lowered on 429/503/529 and on latency rising well above its floor, raised while healthy.
   * Default true for HTTP engines, false for llama-cpp (its concurrency is its sequences). An object tunes
   * it: `initial` (slow start begins here, default 8), `decrease` (multiplier on overload, default 0.9),
   * `latencyFactor` (smoothed latency above this many times its floor counts as overload, default 4).
   */
  adaptive: z
    .union([
      z.boolean(),
      z.strictObject({
        initial: positiveInt.optional(),
        decrease: z.number().gt(0).lt(1).optional(),
        latencyFactor: z.number().gt(1).optional(),
      }),
    ])
    .optional(),
  /**
   * USD per 1M tokens at sync (list) price; Batch work costs (1 - batchDiscount) of it. Reported per Batch as
   * `cost` in the progress extension (src/core/batch-cost.ts). `cachedInput` is accepted but not yet applied.
   */
  price: z
    .strictObject({
      input: z.number().min(0),
      output: z.number().min(0),
      cachedInput: z.number().min(0).optional(),
      batchDiscount: z.number().min(0).max(1).optional(),
    })
    .optional(),
  /** Retries after the first try for retryable failures (429, 5xx, network). */
  maxRetries: z.number().int().min(0).optional(),
  /** Name sent to the backend, when it differs from `name`. */
  upstreamModel: z.string().min(1).optional(),
  /** What the model serves; lets validation reject an embeddings request to a chat-only model early. */
  kinds: z.array(z.enum(["chat", "completion", "embedding"])).optional(),
  /**
   * Embedding packing: single-input embedding Items of a Batch share one engine call (OpenAI `input: [...]`,
   * Gemini `batchEmbedContents`, one llama-cpp call), at most `maxItems` inputs and about `maxTokens`
   * estimated tokens (characters / 4) per call. `maxItems: 1` turns packing off. Gemini's hosted
   * batchEmbedContents takes at most 100 requests.
   */
  embeddingPack: z
    .strictObject({
      maxItems: positiveInt.optional(),
      maxTokens: positiveInt.optional(),
    })
    .optional(),
  /**
   * Identical requests inside one Batch run once and every duplicate gets the result under its own id:
   * `deterministic` (default) for embeddings and generation at temperature 0, where a second call would
   * answer the same; `always` also at other temperatures (one sample serves every duplicate); `never`.
   */
  reuseResults: z.enum(["deterministic", "always", "never"]).optional(),
  /**
   * Reuse results across Batches too (off by default): an Item that `reuseResults` would reuse, identical to
   * one that succeeded in an earlier Batch of the same tenant no more than `maxAgeHours` ago (default 168, a
   * week; `true` takes the default), gets a copy of that result instead of running. Re-submitting a file
   * with three lines changed then runs three requests.
   */
  resultCache: z.union([z.boolean(), z.strictObject({ maxAgeHours: z.number().positive() })]).optional(),
  /**
   * Sync requests first (issue 11): while sync requests of this Model run, or arrived within `quietMs`
   * (default 1000), its Batch requests hold at most `batchShare` (default 0.25, at least one request) of its
   * concurrency, so a sync request does not queue behind a full load of Batch requests at the upstream.
   * `batchShare: 1` turns it off. Decision 0025.
   */
  syncFirst: z
    .strictObject({
      batchShare: z.number().gt(0).max(1).optional(),
      quietMs: z.number().int().min(0).optional(),
    })
    .optional(),
  /**
   * When Batch traffic may run (issue 12): outside `batchHours` Batch Items wait, unless waiting would make
   * their Batch miss its deadline. Sync requests are never held. E.g. `16:30-00:30 UTC`.
   */
  schedule: z
    .strictObject({
      batchHours: z.string().superRefine((text, ctx) => {
        try {
          BatchHours.parse(text);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message });
        }
      }),
    })
    .optional(),
};

/** What an openai Model or backend says about reaching its upstream. */
const openaiEngineFields = {
  engine: z.literal("openai"),
  baseUrl: z.url().optional(),
  /**
   * Several URLs serving the same model (replicas); with `baseUrl`, that one comes first. Requests sharing
   * a prompt prefix go to the same URL, so each replica's prefix cache stays warm.
   */
  baseUrls: z.array(z.url()).min(1).optional(),
  /** How a request picks one of several URLs: by prompt prefix (default), or in turn. */
  baseUrlRouting: z.enum(["prefix", "round-robin"]).optional(),
  apiKey: z.string().optional(),
  /** Extra headers sent upstream (e.g. an org id). */
  headers: z.record(z.string(), z.string()).optional(),
};

const geminiEngineFields = {
  engine: z.literal("gemini"),
  baseUrl: z.url().optional(),
  apiKey: z.string().optional(),
};

const anthropicEngineFields = {
  engine: z.literal("anthropic"),
  /** Default: Anthropic's API (https://api.anthropic.com); anything speaking its Messages wire works. */
  baseUrl: z.url().optional(),
  /** Sent as `x-api-key`. */
  apiKey: z.string().optional(),
  /** The `anthropic-version` header sent upstream (default 2023-06-01). */
  anthropicVersion: z.string().min(1).optional(),
  /** Extra headers sent upstream (e.g. `anthropic-beta`). */
  headers: z.record(z.string(), z.string()).optional(),
};

const needsBaseUrl = { message: "is required (or several URLs in baseUrls)", path: ["baseUrl"] };

/**
 * One more backend of a Model (issue 12, part 5; docs/decisions/0022-backends-by-price-and-deadline.md):
 * its own engine and upstream, `concurrency` and `price`. Unset, `timeoutMs`, `maxRetries` and
 * `upstreamModel` are the Model's.
 */
const backendBase = {
  /** Its name in metrics, logs and the dashboard. Default: the engine and the upstream's host. */
  name: z.string().min(1).optional(),
  concurrency: modelBase.concurrency,
  timeoutMs: modelBase.timeoutMs,
  adaptive: modelBase.adaptive,
  price: modelBase.price,
  upstreamModel: modelBase.upstreamModel,
};

export const backendSchema = z.discriminatedUnion("engine", [
  z.strictObject({ ...backendBase, ...openaiEngineFields }).refine((backend) => backend.baseUrl !== undefined || backend.baseUrls !== undefined, needsBaseUrl),
  z.strictObject({ ...backendBase, ...geminiEngineFields }),
  z.strictObject({ ...backendBase, ...anthropicEngineFields }),
  z.strictObject({ ...backendBase, ...llamaCppEngineFields }),
]);

/** A Model's own engine is its first backend; `backends` adds more, and `breaker` guards each of them. */
const backendsFields = {
  /**
   * More backends serving this Model (other engines or upstream URLs, each with its own concurrency and
   * price). spool fills the cheapest first and spills Batch Items onto dearer ones only as much as queued
   * deadlines need; sync requests take the cheapest with a free slot; a backend failing (5xx, network,
   * timeout) sends the Item to another. The Model's own engine settings are its first backend.
   */
  backends: z.array(backendSchema).min(1).optional(),
  /**
   * Circuit breaker per backend (only with `backends`): after `failures` consecutive backend failures
   * (5xx, network, timeout) the backend gets no requests for `cooldownMs`, then one probe request: its
   * success closes the breaker, its failure opens it again. Defaults 5 and 10000.
   */
  breaker: z.strictObject({ failures: positiveInt.optional(), cooldownMs: positiveInt.optional() }).optional(),
  /** This backend's name when the Model has `backends` (default: engine and upstream host). */
  backendName: z.string().min(1).optional(),
};

export const openaiModelSchema = z
  .strictObject({ ...modelBase, ...backendsFields, ...openaiEngineFields })
  .refine((model) => model.baseUrl !== undefined || model.baseUrls !== undefined, needsBaseUrl);

export const geminiModelSchema = z.strictObject({ ...modelBase, ...backendsFields, ...geminiEngineFields });

export const anthropicModelSchema = z.strictObject({ ...modelBase, ...backendsFields, ...anthropicEngineFields });

export const llamaCppModelSchema = z.strictObject({ ...modelBase, ...backendsFields, ...llamaCppEngineFields });

export const modelSchema = z.discriminatedUnion("engine", [openaiModelSchema, geminiModelSchema, anthropicModelSchema, llamaCppModelSchema]);

/** Per-tenant limits (src/core/tenancy.ts `Quotas`); a field left out is no limit. */
export const quotasSchema = z.strictObject({
  maxQueuedItems: positiveInt.optional(),
  maxStoredBytes: positiveInt.optional(),
  maxFileBytes: positiveInt.optional(),
  maxBatchesInProgress: positiveInt.optional(),
  syncRequestsPerMinute: positiveInt.optional(),
});

/** A tenant declared in the config file: its keys (plain, usually `${VAR}`), their role, its quotas. */
const tenantSchema = z.strictObject({
  name: z.string().regex(TENANT_NAME_PATTERN, "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
  keys: z.array(z.string().min(1)).optional(),
  role: z.enum(["admin", "member"]).optional(),
  quotas: quotasSchema.optional(),
});

export const configFileSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  dataDir: z.string().min(1).optional(),
  databaseUrl: z.string().min(1).optional(),
  /**
   * Where each process's listening connection for wake-ups (LISTEN, decision 0046) goes, when not to
   * `databaseUrl`: a direct connection to PostgreSQL when `databaseUrl` goes through PgBouncer in transaction
   * mode, which does not carry LISTEN. Same database as `databaseUrl` (its `schema` is the one used).
   */
  databaseListenUrl: z.string().min(1).optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
  /** `json` (default): one JSON object per line, for log collectors; `pretty`: short lines for people. */
  logFormat: z.enum(["json", "pretty"]).optional(),
  /**
   * Admin keys of the default tenant: what a key of this list could do before tenants (see and manage
   * everything) it still can, so existing deployments keep working. Keys for tenants' users go in `tenants`
   * or the Store (`spool keys create`). With any key configured (here, in `tenants`, or in the Store), clients must send one
   * (Bearer, x-api-key, x-goog-api-key or ?key=).
   */
  apiKeys: z.array(z.string().min(1)).optional(),
  /** Tenants declared here (issue 13); keys made with `spool keys create` live in the Store instead. */
  tenants: z.array(tenantSchema).optional(),
  /** Quotas of every tenant that has none of its own (in `tenants` or set through the admin API). */
  defaultQuotas: quotasSchema.optional(),
  /**
   * Origins allowed to call the API from a browser (CORS). Empty by default: no CORS headers are sent, so
   * a web page elsewhere cannot use a key a browser holds.
   */
  corsOrigins: z.array(z.string().min(1)).optional(),
  limits: z
    .strictObject({
      /** Largest upload through the OpenAI Files API. */
      maxUploadBytes: positiveInt.optional(),
      /** Largest upload through the Gemini Files API (any MIME type; a batch line may refer to it). */
      maxGeminiUploadBytes: positiveInt.optional(),
      /** Largest OpenAI upload with purpose `vision` (images batch lines refer to). */
      maxVisionUploadBytes: positiveInt.optional(),
      /** Largest OpenAI upload with purpose `user_data` (documents, audio, any media batch lines refer to). */
      maxUserDataUploadBytes: positiveInt.optional(),
      /** Longest single input line. */
      maxLineBytes: positiveInt.optional(),
      /** Most Items in one Batch. */
      maxBatchItems: positiveInt.optional(),
    })
    .optional(),
  server: z
    .strictObject({
      /** A client must send all request headers within this long (slow-loris defence); 408 otherwise. */
      headersTimeoutMs: positiveInt.optional(),
      /** A client must send the whole request (headers and body) within this long; 0 = no limit. */
      requestTimeoutMs: z.number().int().min(0).optional(),
      /** An idle keep-alive connection is closed after this long. */
      keepAliveTimeoutMs: positiveInt.optional(),
      /** A request body that stops arriving for this long is answered 408 and its connection closed. */
      bodyIdleTimeoutMs: positiveInt.optional(),
    })
    .optional(),
  worker: z
    .strictObject({
      /** Lease length for claimed Items; renewed by heartbeat at a third of it. */
      leaseMs: positiveInt.optional(),
      /** Longest sleep between claims when idle. */
      pollMs: positiveInt.optional(),
      /** Claims of one Item before it is failed as crashing its workers. */
      maxAttempts: positiveInt.optional(),
      /** How long SIGTERM waits for running requests before returning them. */
      shutdownGraceMs: z.number().int().min(0).optional(),
      /** Sweeper period. */
      sweepMs: positiveInt.optional(),
      /**
       * Claim order inside a Batch: `prefix` (default) runs Items that share a prompt start back to back,
       * largest group first, so engines' prefix caches hit; `input` runs them in file order. Decided when
       * a Batch is validated.
       */
      dispatchOrder: z.enum(["prefix", "input"]).optional(),
      /**
       * What cancelling a Batch does to its requests already running: `abort` (default) stops them, and
       * their Items end `batch_cancelled` like the ones that never started; `finish` lets them finish and
       * keeps their results. Requests that had not started never start, either way.
       */
      cancelRunning: z.enum(["abort", "finish"]).optional(),
    })
    .optional(),
  models: z.array(modelSchema).optional(),
  /** Files that requests refer to instead of carrying their bytes (issue 18, decision 0024). */
  media: z
    .strictObject({
      /**
       * Referenced Files kept in memory (as the base64 text inline engines send), least recently used out:
       * a Batch whose Items name one image reads it once while it fits.
       */
      cacheBytes: positiveInt.optional(),
      /** Largest File sent inline (base64) in one request; larger ones fail that Item (the gemini engine uploads instead). */
      maxInlineBytes: positiveInt.optional(),
    })
    .optional(),
  scheduling: z
    .strictObject({
      /** The completion window of Batches whose wire format has none (Gemini Batch Mode; 48h by default). */
      defaultWindow: z.strictObject({ gemini: windowText.optional() }).optional(),
    })
    .optional(),
  retention: retentionSchema,
  /** Endpoints called when a Batch ends (batch.completed, .failed, .expired, .cancelled), signed per Standard Webhooks. */
  webhooks: z.array(webhookSchema).optional(),
  webhookDelivery: z
    .strictObject({
      /**
       * Waits before each retry of a delivery that failed (non-2xx, timeout, connection error): the n-th
       * retry waits the n-th entry; after the last one the delivery is given up (and shown as failed).
       */
      retryDelaysMs: z.array(z.number().int().min(0)).optional(),
      /** One delivery attempt may take this long. */
      timeoutMs: positiveInt.optional(),
    })
    .optional(),
});

export type ConfigFile = z.infer<typeof configFileSchema>;
export type WebhookConfig = z.infer<typeof webhookSchema>;
export type TenantConfig = z.infer<typeof tenantSchema>;
/** How long a cached result may be reused by default (`resultCache: true`): a week. */
export const RESULT_CACHE_DEFAULT_MAX_AGE_HOURS = 168;

/** How old a cached result of `model` may be to be reused, or null when its result cache is off. */
export function resultCacheMaxAgeMs(model: Pick<ModelConfig, "resultCache">): number | null {
  const setting = model.resultCache;
  if (setting === undefined || setting === false) return null;
  return (setting === true ? RESULT_CACHE_DEFAULT_MAX_AGE_HOURS : setting.maxAgeHours) * 3_600_000;
}

export type ReuseResults = NonNullable<z.infer<typeof modelSchema>["reuseResults"]>;
export type ModelConfigInput = z.infer<typeof modelSchema>;

interface ModelDefaults {
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
}

/**
 * A Model as resolved: defaults applied, and each of its extra `backends` resolved to a full ModelConfig of
 * its own (the Model's `name`, so replies carry it, and a `backendName`). The Model's own engine settings
 * are its first backend; `backends` never holds it (a config is plain data, without cycles).
 */
type Resolved<T> = Omit<T, "backends"> & ModelDefaults & WithBackends;
interface WithBackends {
  backends?: ModelConfig[];
}
export type BackendConfigInput = z.infer<typeof backendSchema>;
export type OpenAIModelConfig = Resolved<z.infer<typeof openaiModelSchema>>;
export type GeminiModelConfig = Resolved<z.infer<typeof geminiModelSchema>>;
export type AnthropicModelConfig = Resolved<z.infer<typeof anthropicModelSchema>>;
export type LlamaCppModelConfig = Resolved<z.infer<typeof llamaCppModelSchema>>;
export type ModelConfig = OpenAIModelConfig | GeminiModelConfig | AnthropicModelConfig | LlamaCppModelConfig;

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** null: SQLite in the data dir. */
  databaseUrl: string | null;
  /** null: the listening connection goes to `databaseUrl` too. */
  databaseListenUrl: string | null;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  logFormat: "json" | "pretty";
  apiKeys: string[];
  tenants: TenantConfig[];
  defaultQuotas: Quotas;
  corsOrigins: string[];
  limits: {
    maxUploadBytes: number;
    maxGeminiUploadBytes: number;
    maxVisionUploadBytes: number;
    maxUserDataUploadBytes: number;
    maxLineBytes: number;
    maxBatchItems: number;
  };
  server: {
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    bodyIdleTimeoutMs: number;
  };
  worker: {
    leaseMs: number;
    pollMs: number;
    maxAttempts: number;
    shutdownGraceMs: number;
    sweepMs: number;
    dispatchOrder: "prefix" | "input";
    cancelRunning: "abort" | "finish";
  };
  models: ModelConfig[];
  media: { cacheBytes: number; maxInlineBytes: number };
  scheduling: {
    /** Completion windows by dialect for Batches created without one; a dialect left out uses its own default. */
    defaultWindowMs: { gemini?: number };
  };
  retention: Retention;
  webhooks: WebhookConfig[];
  webhookDelivery: { retryDelaysMs: number[]; timeoutMs: number };
  /** True when no models were configured and the built-in demo model is served. */
  demoModel: boolean;
}

export const DEFAULTS = {
  host: "127.0.0.1",
  port: 8080,
  dataDir: "./data",
  logLevel: "info",
  limits: {
    maxUploadBytes: 512 * 1024 * 1024,
    maxGeminiUploadBytes: 2 * 1024 * 1024 * 1024,
    maxVisionUploadBytes: 20 * 1024 * 1024,
    maxUserDataUploadBytes: 512 * 1024 * 1024,
    maxLineBytes: 32 * 1024 * 1024,
    maxBatchItems: 1_000_000,
  },
  // Uploads of up to 2 GiB must fit in requestTimeoutMs over a slow link (0.6 MB/s); a stalled body is
  // caught much sooner by bodyIdleTimeoutMs. keepAliveTimeoutMs outlasts the 60 s idle timeout of common
  // load balancers, so they never reuse a connection spool is closing.
  server: { headersTimeoutMs: 30_000, requestTimeoutMs: 3_600_000, keepAliveTimeoutMs: 72_000, bodyIdleTimeoutMs: 30_000 },
  media: { cacheBytes: 256 * 1024 * 1024, maxInlineBytes: 20 * 1024 * 1024 },
  worker: { leaseMs: 30_000, pollMs: 500, maxAttempts: 5, shutdownGraceMs: 10_000, sweepMs: 1_000, dispatchOrder: "prefix", cancelRunning: "abort" },
  // First retries within seconds (a receiver restarting), then backing off to hours; about 17 h in all,
  // the spirit of the Standard Webhooks schedule.
  webhookDelivery: { retryDelaysMs: [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 18_000_000, 28_800_000], timeoutMs: 15_000 },
} as const;

export const MODEL_DEFAULTS: Record<ModelConfig["engine"], ModelDefaults> = {
  openai: { concurrency: 64, timeoutMs: 600_000, maxRetries: 5 },
  gemini: { concurrency: 16, timeoutMs: 600_000, maxRetries: 5 },
  anthropic: { concurrency: 16, timeoutMs: 600_000, maxRetries: 5 },
  "llama-cpp": { concurrency: 4, timeoutMs: 600_000, maxRetries: 0 },
};

/** `scheduling` as the file gave it, resolved (durations in milliseconds). */
export function resolveScheduling(scheduling: ConfigFile["scheduling"]): Config["scheduling"] {
  const gemini = scheduling?.defaultWindow?.gemini;
  return { defaultWindowMs: gemini === undefined ? {} : { gemini: parseDuration(gemini) ?? undefined } };
}

/** Bounds of one packed embedding call (see `embeddingPack`); a Model's own values override them. */
export const EMBEDDING_PACK_DEFAULTS = { maxItems: 64, maxTokens: 8192 } as const;

/** The built-in demo model served when no models are configured (see README: random weights). */
export const DEMO_MODEL = { name: "spool-demo", engine: "llama-cpp", sequences: 4, embeddings: true } as const;
