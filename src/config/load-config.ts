/**
 * Builds the Config: defaults < config file < environment < flags. The file (YAML or JSON) may use
 * `${VAR}` to read the environment (API keys stay out of the file). Any invalid value stops start-up with
 * a message that names the key, e.g. `spool.yaml: models[1].engine: expected "openai" | "gemini" | "llama-cpp"`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configFileSchema, DEFAULTS, DEMO_MODEL, MODEL_DEFAULTS, type Config, type ConfigFile, type ModelConfig } from "./config.ts";

export interface ConfigOverrides {
  config?: string;
  host?: string;
  port?: string | number;
  dataDir?: string;
  databaseUrl?: string;
  logLevel?: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export function loadConfig(flags: ConfigOverrides = {}, rawEnv: NodeJS.ProcessEnv = process.env): Config {
  // An exported-but-empty variable (SPOOL_DATABASE_URL=) means "not set", as in most CLIs.
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, value]) => value !== "")) as NodeJS.ProcessEnv;
  const configPath = flags.config ?? env.SPOOL_CONFIG;
  const file: ConfigFile = configPath ? readConfigFile(configPath, env) : {};
  const baseDir = configPath ? path.dirname(path.resolve(configPath)) : process.cwd();

  const layered = {
    ...file,
    ...definedOnly({
      host: env.SPOOL_HOST,
      port: env.SPOOL_PORT,
      dataDir: env.SPOOL_DATA_DIR,
      databaseUrl: env.SPOOL_DATABASE_URL,
      logLevel: env.SPOOL_LOG_LEVEL,
    }),
    ...definedOnly({
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      databaseUrl: flags.databaseUrl,
      logLevel: flags.logLevel,
    }),
  };
  // Env and flags arrive as strings; validate them with the same schema as the file so errors read alike.
  const parsed = configFileSchema.safeParse({
    ...layered,
    port: layered.port === undefined ? undefined : toPort(layered.port),
  });
  if (!parsed.success) throw new ConfigError(describeIssues(configPath ? path.basename(configPath) : "configuration", parsed.error));
  return resolveConfig(parsed.data, baseDir);
}

/** Parses a config file's text (exported for tests and `spool validate-config` style checks). */
export function parseConfigText(text: string, fileName: string, env: NodeJS.ProcessEnv): ConfigFile {
  let raw: unknown;
  try {
    raw = fileName.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${fileName}: not valid ${fileName.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message}`);
  }
  const interpolated = interpolateEnv(raw ?? {}, env, fileName, "");
  const parsed = configFileSchema.safeParse(interpolated);
  if (!parsed.success) throw new ConfigError(describeIssues(fileName, parsed.error));
  return parsed.data;
}

function readConfigFile(configPath: string, env: NodeJS.ProcessEnv): ConfigFile {
  let text: string;
  try {
    text = readFileSync(configPath, "utf8");
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${configPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseConfigText(text, path.basename(configPath), env);
}

function resolveConfig(file: ConfigFile, baseDir: string): Config {
  const dataDir = path.resolve(file.dataDir ?? DEFAULTS.dataDir);
  const names = new Set<string>();
  const models: ModelConfig[] = (file.models ?? []).map((model, index) => {
    if (names.has(model.name)) throw new ConfigError(`models[${index}].name: '${model.name}' is configured twice.`);
    names.add(model.name);
    const defaults = MODEL_DEFAULTS[model.engine];
    const resolved = { ...defaults, ...definedOnly(model) } as ModelConfig;
    if (resolved.engine === "llama-cpp" && isLocalPath(resolved.path)) {
      resolved.path = path.resolve(baseDir, resolved.path);
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
    logLevel: file.logLevel ?? DEFAULTS.logLevel,
    apiKeys: file.apiKeys ?? [],
    limits: { ...DEFAULTS.limits, ...definedOnly(file.limits ?? {}) },
    server: resolveServer(file.server ?? {}),
    worker: { ...DEFAULTS.worker, ...definedOnly(file.worker ?? {}) },
    models,
    demoModel,
  };
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

function toPort(value: string | number): number | string {
  if (typeof value === "number") return value;
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** `${VAR}` and `${VAR:-default}` in string values; a missing variable without default is an error. */
function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, fileName: string, at: string): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback?: string) => {
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${fileName}: ${at || "(root)"}: environment variable ${name} is not set.`);
    });
  }
  if (Array.isArray(value)) return value.map((entry, index) => interpolateEnv(entry, env, fileName, `${at}[${index}]`));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, entry]) => [key, interpolateEnv(entry, env, fileName, at ? `${at}.${key}` : key)]),
    );
  }
  return value;
}

function describeIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.reduce<string>(
      (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
      "",
    );
    const unknownKeys = issue.code === "unrecognized_keys" ? `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}` : null;
    return `${source}: ${key || "(root)"}: ${unknownKeys ?? issue.message}`;
  });
  return `Invalid configuration:\n  ${lines.join("\n  ")}`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
