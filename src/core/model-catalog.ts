import type { ModelConfig } from "../config/config.ts";
import type { RequestKind } from "./types.ts";

/** The configured Models by client-facing name. */
export class ModelCatalog {
  private readonly byName: Map<string, ModelConfig>;

  constructor(
    readonly models: readonly ModelConfig[],
    options: {
      /** Accept any model name (`spool validate` without a config checks everything but the model list). */
      acceptAny?: boolean;
      /**
       * Other spellings clients use for a configured name, as the composition root learns them from the
       * dialects (Gemini's `models/<name>`); tried when the name itself is not configured.
       */
      nameForms?: readonly ((name: string) => string)[];
    } = {},
  ) {
    this.byName = new Map(models.map((model) => [model.name, model]));
    this.acceptAny = options.acceptAny ?? false;
    this.nameForms = options.nameForms ?? [];
  }

  private readonly acceptAny: boolean;
  private readonly nameForms: readonly ((name: string) => string)[];

  static acceptingAnyModel(): ModelCatalog {
    return new ModelCatalog([], { acceptAny: true });
  }

  get(name: string): ModelConfig | undefined {
    let found = this.byName.get(name);
    for (const form of this.nameForms) found ??= this.byName.get(form(name));
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
