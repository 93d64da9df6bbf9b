/**
 * What the composition root (app.ts) hands to the API layers and the Worker. Passed explicitly; no
 * module-level singletons.
 */
import type { Logger } from "pino";
import type { Config } from "./config/config.ts";
import type { Clock } from "./core/clock.ts";
import type { Dispatcher } from "./core/dispatcher.ts";
import type { ModelCatalog } from "./core/model-catalog.ts";
import type { BlobStore } from "./store/blob-store.ts";
import type { Store } from "./store/store.ts";
import type { BatchService } from "./batches/batch-service.ts";
import type { TenantService } from "./batches/tenant-service.ts";
import type { BatchFormats } from "./core/batch-format.ts";
import type { Observability } from "./observability/observability.ts";

export interface AppContext {
  config: Config;
  store: Store;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  catalog: ModelCatalog;
  dispatcher: Dispatcher;
  /** The one writer of the Batch lifecycle: every route and command creates, cancels and reads through it. */
  batches: BatchService;
  /** Who a key is, tenants' keys, quotas and usage (issue 13). */
  tenants: TenantService;
  formats: BatchFormats;
  /** Metrics for `/metrics` and the dashboard's models page. */
  observability: Observability;
}
