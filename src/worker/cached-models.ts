/**
 * Which Models reuse results across Batches (`resultCache`, issue 10 part 5) and how old a result each may
 * reuse, in the form the Store takes (CachedModel): for startBatch, the Models of one Batch's reusable Items;
 * for the Sweeper's purge, every configured Model whose cache is on.
 */
import { resultCacheMaxAgeMs } from "../config/config.ts";
import type { ModelCatalog } from "../core/model-catalog.ts";
import type { CachedModel, NewItem } from "../store/store.ts";

/** Collects, while validation inserts Items, the cached Models its reusable Items name. */
export class BatchCachedModels {
  private readonly maxAgeByModel = new Map<string, number | null>();

  constructor(private readonly catalog: ModelCatalog) {}

  /** Only Items with a request hash can match a cached result; the rest are not looked up. */
  note(item: NewItem): void {
    if (item.requestHash === null || item.requestHash === undefined || this.maxAgeByModel.has(item.model)) return;
    const model = this.catalog.get(item.model);
    this.maxAgeByModel.set(item.model, model === undefined ? null : resultCacheMaxAgeMs(model));
  }

  at(nowMs: number): CachedModel[] {
    const models: CachedModel[] = [];
    for (const [model, maxAgeMs] of this.maxAgeByModel) if (maxAgeMs !== null) models.push({ model, notBeforeMs: nowMs - maxAgeMs });
    return models;
  }
}

/** Every configured Model with its cache on: what the Sweeper keeps when it purges the result cache. */
export function configuredCachedModels(catalog: ModelCatalog, nowMs: number): CachedModel[] {
  const models: CachedModel[] = [];
  for (const model of catalog.models) {
    const maxAgeMs = resultCacheMaxAgeMs(model);
    if (maxAgeMs !== null) models.push({ model: model.name, notBeforeMs: nowMs - maxAgeMs });
  }
  return models;
}
