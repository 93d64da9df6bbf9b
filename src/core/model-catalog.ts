import type { ModelConfig } from "../config/config.ts";
import type { RequestKind } from "./types.ts";

/** The configured Models by client-facing name. */
export class ModelCatalog {
  private readonly byName: Map<string, ModelConfig>;

  constructor(readonly models: readonly ModelConfig[]) {
    this.byName = new Map(models.map((model) => [model.name, model]));
  }

  get(name: string): ModelConfig | undefined {
    return this.byName.get(name) ?? this.byName.get(stripModelsPrefix(name));
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
