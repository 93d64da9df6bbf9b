/**
 * Scrapes a spool's `/metrics` over HTTP and parses the Prometheus text exposition format (version 0.0.4)
 * strictly: `# HELP` / `# TYPE` lines, samples `name{label="value",...} value [timestamp]` with the
 * format's escapes, every sample belonging to a declared family (histograms through their `_bucket`,
 * `_sum` and `_count` series), values as Go floats (`+Inf`, `NaN` in any case). A histogram's buckets must be
 * cumulative and its `+Inf` bucket must equal its count. Anything else fails the test with the line.
 *
 * (The npm parsers tried, e.g. parse-prometheus-text-format, merge the series of a labelled histogram into
 * one, losing its labels and counts; spool's histograms are labelled by model and outcome.)
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string;
}

export interface Scrape {
  families: Map<string, Family>;
  samples: Sample[];
  /** The first sample `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** A histogram's observation count for these labels (its `_count` series). */
  count(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?[ \\t]+(\\S+)(?:[ \\t]+(-?\\d+))?$`);
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

export function parsePrometheusText(text: string): { families: Map<string, Family>; samples: Sample[] } {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const fail = (lineNumber: number, line: string, why: string): never => {
    throw new Error(`/metrics line ${lineNumber}: ${why}: ${line}`);
  };
  text.split("\n").forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.trim() === "") return;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name = "", rest = ""] = meta;
      const family = families.get(name) ?? { name, type: "untyped", help: "" };
      if (kind === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) fail(lineNumber, line, "unknown metric type");
        family.type = rest;
      } else {
        family.help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
      }
      families.set(name, family);
      return;
    }
    if (line.startsWith("#")) return;
    const match = SAMPLE.exec(line) ?? fail(lineNumber, line, "not a sample line");
    const [, name = "", labelText = "", valueText = ""] = match;
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const label = LABEL.exec(labelText) ?? fail(lineNumber, line, "malformed labels");
      labels[label[1] ?? ""] = (label[2] ?? "").replace(/\\(.)/g, (_all, char: string) => (char === "n" ? "\n" : char));
    }
    const value = parseGoFloat(valueText) ?? fail(lineNumber, line, "the value is not a number");
    const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ""));
    if (!family || (family.name !== name && family.type !== "histogram" && family.type !== "summary")) fail(lineNumber, line, "a sample of no declared family");
    samples.push({ name, labels, value });
  });
  checkHistograms(families, samples);
  return { families, samples };
}

/** Go's strconv.ParseFloat, as Prometheus reads values: decimals, exponents, and Inf / NaN in any case. */
function parseGoFloat(text: string): number | null {
  if (/^[+-]?inf(inity)?$/i.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return Number.NaN;
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : null;
}

function checkHistograms(families: Map<string, Family>, samples: readonly Sample[]): void {
  for (const family of families.values()) {
    if (family.type !== "histogram") continue;
    const series = new Map<string, { buckets: Sample[]; count?: number }>();
    const keyOf = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).filter(([key]) => key !== "le").sort());
    for (const sample of samples) {
      const entry = series.get(keyOf(sample.labels)) ?? { buckets: [] };
      if (sample.name === `${family.name}_bucket`) entry.buckets.push(sample);
      else if (sample.name === `${family.name}_count`) entry.count = sample.value;
      else continue;
      series.set(keyOf(sample.labels), entry);
    }
    for (const [labels, { buckets, count }] of series) {
      const values = buckets.map((bucket) => bucket.value);
      if (values.some((value, index) => index > 0 && value < (values[index - 1] ?? 0))) throw new Error(`${family.name}${labels}: buckets are not cumulative`);
      if (buckets.at(-1)?.labels.le !== "+Inf" || buckets.at(-1)?.value !== count) throw new Error(`${family.name}${labels}: the +Inf bucket does not equal the count`);
    }
  }
}

export async function scrapeMetrics(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`, { headers });
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}: ${await response.text()}`);
  const contentType = response.headers.get("content-type") ?? "";
  if (!contentType.startsWith("text/plain") || !contentType.includes("version=0.0.4")) throw new Error(`unexpected content type ${contentType}`);
  const { families, samples } = parsePrometheusText(await response.text());
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    samples.find((sample) => sample.name === name && Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted))?.value;
  return { families, samples, value, count: (name, labels = {}) => value(`${name}_count`, labels) };
}
