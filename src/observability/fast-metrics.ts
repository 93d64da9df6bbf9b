/**
 * Counters and histograms for the hot path. prom-client's own `inc()` / `observe()` turn the label object
 * into a key on every call (about 1 µs each: several per Item at tens of thousands of Items a second); here a
 * caller takes the series of its label values once and then only adds to numbers. The Registry renders them
 * at scrape time through the metric interface it renders its own metrics with (`name`, `type`, `get()`).
 */
import type { Registry } from "prom-client";

interface SeriesValue {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

interface RenderedMetric {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: SeriesValue[];
}

/** One label set's count: add to `value`. */
export interface CounterSeries {
  value: number;
}

abstract class Labelled<S> {
  readonly aggregator = "sum";
  private readonly all = new Map<string, { labels: Record<string, string>; series: S }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
  }

  /** The series for these label values (in `labelNames` order), created on first use; keep it. */
  series(...values: string[]): S {
    const key = values.join("\u0000");
    let entry = this.all.get(key);
    if (entry === undefined) {
      entry = { labels: Object.fromEntries(this.labelNames.map((name, index) => [name, values[index] ?? ""])), series: this.create() };
      this.all.set(key, entry);
    }
    return entry.series;
  }

  protected entries(): { labels: Record<string, string>; series: S }[] {
    return [...this.all.values()];
  }

  protected abstract create(): S;
}

export class FastCounter extends Labelled<CounterSeries> {
  readonly type = "counter";

  protected create(): CounterSeries {
    return { value: 0 };
  }

  async get(): Promise<RenderedMetric> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.entries().map(({ labels, series }) => ({ labels, value: series.value })) };
  }
}

/** One label set's observations, bucketed as they come (no sample is kept). */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    const bounds = this.bounds;
    for (let index = 0; index < bounds.length; index += 1) {
      if (value <= (bounds[index] ?? Infinity)) {
        this.counts[index] = (this.counts[index] ?? 0) + 1;
        return;
      }
    }
  }
}

export class FastHistogram extends Labelled<HistogramSeries> {
  readonly type = "histogram";

  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[]) {
    super(registry, name, help, labelNames);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.bounds);
  }

  async get(): Promise<RenderedMetric> {
    const values: SeriesValue[] = [];
    for (const { labels, series } of this.entries()) {
      let cumulative = 0;
      series.bounds.forEach((bound, index) => {
        cumulative += series.counts[index] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: String(bound) }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
