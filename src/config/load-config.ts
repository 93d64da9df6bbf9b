/**
 * Builds the Config: defaults < config file < environment < flags. The file (YAML or JSON) may use
 * `${VAR}` to read the environment (API keys stay out of the file). Any invalid value stops start-up with
 * one line per problem naming where it came from, the key and the fix (config-issues.ts), e.g.
 * `spool.yaml:6: models[1].engine must be one of 'openai', 'gemini', 'anthropic', 'llama-cpp', got 'vllm'.`
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { resolveBackends } from "./backends.ts";
import { definedOnly } from "./defined-only.ts";
import { resolveRetention } from "./retention.ts";
import { configFileSchema, DEFAULTS, DEMO_MODEL, MODEL_DEFAULTS, resolveScheduling, type Config, type ConfigFile, type ModelConfig, type TenantConfig } from "./config.ts";
import { describeIssues, formatPath, type IssueSource } from "./config-issues.ts";
import { ConfigSyntaxError, parseConfigSource, type ConfigPath, type ConfigText } from "./config-text.ts";
import { databaseUrlProblem } from "./database-url.ts";

export interface ConfigOverrides {
  config?: string;
  host?: string;
  port?: string | number;
  dataDir?: string;
  databaseUrl?: string;
  databaseListenUrl?: string;
  logLevel?: string;
  logFormat?: string;
}

/** A configuration that cannot be used: one line per problem, each naming where and the key path. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const FLAG_NAMES = { host: "--host", port: "--port", dataDir: "--data-dir", databaseUrl: "--database-url", databaseListenUrl: "--database-listen-url", logLevel: "--log-level", logFormat: "--log-format" } as const;
const ENV_NAMES = { host: "SPOOL_HOST", port: "SPOOL_PORT", dataDir: "SPOOL_DATA_DIR", databaseUrl: "SPOOL_DATABASE_URL", databaseListenUrl: "SPOOL_DATABASE_LISTEN_URL", logLevel: "SPOOL_LOG_LEVEL", logFormat: "SPOOL_LOG_FORMAT" } as const;
type LayeredKey = keyof typeof FLAG_NAMES;

interface ConfigFileText extends ConfigText {
  name: string;
}

export function loadConfig(flags: ConfigOverrides = {}, rawEnv: NodeJS.ProcessEnv = process.env): Config {
  // An exported-but-empty variable (SPOOL_DATABASE_URL=) means "not set", as in most CLIs.
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, value]) => value !== "")) as NodeJS.ProcessEnv;
  const configPath = flags.config ?? env.SPOOL_CONFIG;
  const file = configPath ? readConfigFile(configPath, flags.config !== undefined ? "--config" : "SPOOL_CONFIG", env) : null;
  const baseDir = configPath ? path.dirname(path.resolve(configPath)) : process.cwd();
  if (file !== null && !isRecord(file.value)) {
    throw new ConfigError(`${file.name}: the file must hold a mapping of settings (host:, port:, models:, ...), not ${Array.isArray(file.value) ? "a list" : "a single value"}.`);
  }

  const fromEnv = definedOnly({ host: env.SPOOL_HOST, port: env.SPOOL_PORT, dataDir: env.SPOOL_DATA_DIR, databaseUrl: env.SPOOL_DATABASE_URL, databaseListenUrl: env.SPOOL_DATABASE_LISTEN_URL, logLevel: env.SPOOL_LOG_LEVEL, logFormat: env.SPOOL_LOG_FORMAT });
  const fromFlags = definedOnly({ host: flags.host, port: flags.port, dataDir: flags.dataDir, databaseUrl: flags.databaseUrl, databaseListenUrl: flags.databaseListenUrl, logLevel: flags.logLevel, logFormat: flags.logFormat });
  const layered: Record<string, unknown> = { ...(file?.value as Record<string, unknown> | undefined), ...fromEnv, ...fromFlags };
  // Env and flags arrive as strings; validate them with the same schema as the file so errors read alike.
  if (layered.port !== undefined) layered.port = toPort(layered.port);
  const source = issueSource(file, (key) => (key in fromFlags ? FLAG_NAMES[key] : key in fromEnv ? ENV_NAMES[key] : null));
  const parsed = configFileSchema.safeParse(layered, { reportInput: true });
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues, configFileSchema, layered, source).join("\n"));
  for (const key of ["databaseUrl", "databaseListenUrl"] as const) {
    const url = parsed.data[key];
    const urlProblem = url === undefined ? null : databaseUrlProblem(url, key);
    if (urlProblem) throw new ConfigError(`${source.label([key])}: ${urlProblem}`);
  }
  if (parsed.data.databaseListenUrl !== undefined && parsed.data.databaseUrl === undefined) {
    throw new ConfigError(
      `${source.label(["databaseListenUrl"])}: databaseListenUrl is only for a PostgreSQL store: set databaseUrl too (the listening connection must reach the same database), or remove databaseListenUrl.`,
    );
  }
  return resolveConfig(parsed.data, baseDir, source);
}

/** Where each value came from: a flag or variable for the top-level settings they set, else the file's line. */
function issueSource(file: ConfigFileText | null, override: (key: LayeredKey) => string | null): IssueSource {
  const overriddenBy = (configPath: ConfigPath): string | null => {
    const top = configPath[0];
    return typeof top === "string" && top in FLAG_NAMES ? override(top as LayeredKey) : null;
  };
  return {
    label: (configPath, key) => {
      const other = overriddenBy(configPath.length > 0 ? configPath : [key ?? ""]);
      if (other) return other;
      if (!file) return "configuration";
      const line = file.lineOf(configPath, key);
      return line === null ? file.name : `${file.name}:${line}`;
    },
    inFile: (configPath) => file !== null && overriddenBy(configPath) === null,
  };
}

function readConfigFile(configPath: string, flag: string, env: NodeJS.ProcessEnv): ConfigFileText {
  let text: string;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "does not exist" : code === "EISDIR" ? "is a directory" : code === "EACCES" || code === "EPERM" ? "cannot be read: permission denied" : "cannot be read";
    throw new ConfigError(`config file ${configPath} ${reason}${code ? ` (${code})` : ""}: check ${flag}.`);
  }
  const name = path.basename(configPath);
  return { name, ...parseConfigText(text, name, env) };
}

/** Parses a config file's text and fills in `${VAR}`s; syntax errors and unset variables name their line. */
export function parseConfigText(text: string, fileName: string, env: NodeJS.ProcessEnv): ConfigText {
  const format = fileName.endsWith(".json") ? "json" : "yaml";
  let parsed: ConfigText;
  try {
    parsed = parseConfigSource(text, format);
  } catch (error) {
    if (!(error instanceof ConfigSyntaxError)) throw error;
    throw new ConfigError(`${fileName}:${error.line}:${error.column}: not valid ${format === "json" ? "JSON" : "YAML"}: ${error.reason.replace(/\.$/, "")}.`);
  }
  const unset: string[] = [];
  const value = interpolateEnv(parsed.value ?? {}, env, [], (name, at) => {
    const line = parsed.lineOf(at);
    unset.push(`${fileName}${line === null ? "" : `:${line}`}: ${formatPath(at) || "the file"} uses \${${name}}, which is not set: export ${name}=..., or write \${${name}:-default}.`);
  });
  if (unset.length > 0) throw new ConfigError(unset.join("\n"));
  return { value, lineOf: parsed.lineOf };
}

function resolveConfig(file: ConfigFile, baseDir: string, source: IssueSource): Config {
  const dataDir = path.resolve(file.dataDir ?? DEFAULTS.dataDir);
  const names = new Map<string, number>();
  const models: ModelConfig[] = (file.models ?? []).map((model, index) => {
    const first = names.get(model.name);
    if (first !== undefined) {
      throw new ConfigError(`${source.label(["models", index, "name"])}: models[${index}].name '${model.name}' is configured twice (also models[${first}]): give each model its own name.`);
    }
    names.set(model.name, index);
    const defaults = MODEL_DEFAULTS[model.engine];
    const { backends, ...own } = model;
    const resolved = { ...defaults, ...definedOnly(own) } as ModelConfig;
    const resolvePath = (source: string): string => (isLocalPath(source) ? path.resolve(baseDir, source) : source);
    if (resolved.engine === "llama-cpp") resolved.path = resolvePath(resolved.path);
    const problems = resolveBackends(resolved, backends, resolvePath);
    if (problems.length > 0) {
      throw new ConfigError(problems.map((problem) => `${source.label(["models", index, ...problem.path])}: ${formatPath(["models", index, ...problem.path])} ${problem.message}.`).join("\n"));
    }
    return resolved;
  });
  // No models configured: serve the built-in demo model (random weights, generated into the data dir on
  // start) so a fresh `npm start` runs a batch end to end. Its answers are gibberish by design.
  const demoModel = models.length === 0;
  if (demoModel) models.push({ ...MODEL_DEFAULTS["llama-cpp"], ...DEMO_MODEL, path: path.join(dataDir, "models", `${DEMO_MODEL.name}.gguf`) });
  return {
    host: file.host ?? DEFAULTS.host,
    port: file.port ?? DEFAULTS.port,
    dataDir,
    databaseUrl: file.databaseUrl ?? null,
    databaseListenUrl: file.databaseListenUrl ?? null,
    logLevel: file.logLevel ?? DEFAULTS.logLevel,
    logFormat: file.logFormat ?? "json",
    apiKeys: file.apiKeys ?? [],
    tenants: resolveTenants(file.tenants ?? []),
    defaultQuotas: file.defaultQuotas ?? {},
    corsOrigins: file.corsOrigins ?? [],
    limits: { ...DEFAULTS.limits, ...definedOnly(file.limits ?? {}) },
    media: { ...DEFAULTS.media, ...definedOnly(file.media ?? {}) },
    server: resolveServer(file.server ?? {}),
    worker: { ...DEFAULTS.worker, ...definedOnly(file.worker ?? {}) },
    models,
    scheduling: resolveScheduling(file.scheduling),
    retention: resolveRetention(file.retention),
    webhooks: file.webhooks ?? [],
    webhookDelivery: { retryDelaysMs: [...DEFAULTS.webhookDelivery.retryDelaysMs], timeoutMs: DEFAULTS.webhookDelivery.timeoutMs, ...definedOnly(file.webhookDelivery ?? {}) },
    demoModel,
  };
}

function resolveTenants(tenants: TenantConfig[]): TenantConfig[] {
  const seen = new Set<string>();
  const keys = new Set<string>();
  tenants.forEach((tenant, index) => {
    if (seen.has(tenant.name)) throw new ConfigError(`tenants[${index}].name '${tenant.name}' is declared twice: give each tenant one entry.`);
    seen.add(tenant.name);
    (tenant.keys ?? []).forEach((key, keyIndex) => {
      // A key in two tenants would make whose data it sees depend on the order of the file.
      if (keys.has(key)) throw new ConfigError(`tenants[${index}].keys[${keyIndex}] is also a key of another tenant: each key belongs to one tenant.`);
      keys.add(key);
    });
  });
  return tenants;
}

function resolveServer(server: NonNullable<ConfigFile["server"]>): Config["server"] {
  const resolved = { ...DEFAULTS.server, ...definedOnly(server) };
  // Node refuses to start a server whose header deadline is later than its whole-request deadline.
  if (resolved.requestTimeoutMs > 0 && resolved.headersTimeoutMs > resolved.requestTimeoutMs) {
    throw new ConfigError(`server.headersTimeoutMs (${resolved.headersTimeoutMs}) must not exceed server.requestTimeoutMs (${resolved.requestTimeoutMs}).`);
  }
  return resolved;
}

function isLocalPath(source: string): boolean {
  return !source.startsWith("hf:") && !/^https?:\/\//.test(source);
}

function toPort(value: unknown): unknown {
  return typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
}

/** `${VAR}` and `${VAR:-default}` in string values; each unset variable without default is reported. */
function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, at: Array<string | number>, unset: (name: string, at: ConfigPath) => void): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (match, name: string, fallback?: string) => {
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      unset(name, at);
      return match;
    });
  }
  if (Array.isArray(value)) return value.map((entry, index) => interpolateEnv(entry, env, [...at, index], unset));
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, interpolateEnv(entry, env, [...at, key], unset)]));
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
