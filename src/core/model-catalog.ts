import type { ModelConfig } from "../config/config.ts";
import type { RequestKind } from "./types.ts";

/** The configured Models by client-facing name. */
export class ModelCatalog {
  private readonly byName: Map<string, ModelConfig>;

  constructor(
    readonly models: readonly ModelConfig[],
    /** Accept any model name (`spool validate` without a config checks everything but the model list). */
    private readonly acceptAny = false,
  ) {
    this.byName = new Map(models.map((model) => [model.name, model]));
  }

  static acceptingAnyModel(): ModelCatalog {
    return new ModelCatalog([], true);
  }

  get(name: string): ModelConfig | undefined {
    const found = this.byName.get(name) ?? this.byName.get(stripModelsPrefix(name));
    if (found || !this.acceptAny) return found;
    return { name, engine: "openai", baseUrl: "http://127.0.0.1/", concurrency: 1, timeoutMs: 1, maxRetries: 0 };
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Whether `model` declares it serves `kind` (models without a `kinds` list accept everything). */
  serves(model: ModelConfig, kind: RequestKind): boolean {
    return !model.kinds || model.kinds.includes(kind);
  }

  /** "Model 'x' is not configured. Configured models: a, b." */
  unknownModelMessage(name: string): string {
    const names = this.names();
    return `Model '${name}' is not configured. Configured models: ${names.length > 0 ? names.join(", ") : "(none)"}.`;
  }
}

/** Gemini names models `models/<name>`; the catalog accepts both forms. */
export function stripModelsPrefix(name: string): string {
  return name.startsWith("models/") ? name.slice("models/".length) : name;
}
