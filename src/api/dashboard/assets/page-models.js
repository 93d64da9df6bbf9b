// Models: engine, configured concurrency and current limit, requests in flight and waiting in this
// process, the queue in the store (all processes), and the last minute's throughput, error rate and the share
// of input tokens the engine took from its prefix cache ("–" when the engine does not report it).
import { api } from "./api.js";
import { duration, fill, h, number, rate } from "./dom.js";

export function modelsPage() {
  const rows = h("tbody");
  const columns = ["Model", "Engine", "Concurrency", "Limit now", "In flight", "Waiting", "Queue (pending)", "Running (all processes)", "Oldest pending", "Throughput (1 min)", "Error rate (1 min)", "Prefix cache hits (1 min)"];
  const node = h(
    "div",
    {},
    h("h1", {}, "Models"),
    h("div", { class: "panel" }, h("table", { "data-testid": "models-table" }, h("thead", {}, h("tr", {}, columns.map((name, index) => h("th", { class: index > 1 ? "num" : "" }, name)))), rows)),
    h("p", { class: "muted" }, "In flight, waiting, limit, throughput, error rate and cache hits are this server process's; the queue and running counts come from the store and cover every process."),
  );
  async function refresh() {
    const { models } = await api("/models");
    fill(
      rows,
      models.map((model) =>
        h(
          "tr",
          { "data-model": model.name },
          h("td", { class: "mono" }, model.name),
          h("td", {}, model.engine),
          h("td", { class: "num" }, number(model.concurrency)),
          h("td", { class: "num" }, number(model.limit)),
          h("td", { class: "num" }, number(model.inFlight)),
          h("td", { class: "num" }, number(model.waiting)),
          h("td", { class: "num" }, number(model.pending)),
          h("td", { class: "num" }, number(model.running)),
          h("td", { class: "num" }, model.oldestPendingAgeMs === null ? "–" : duration(model.oldestPendingAgeMs)),
          h("td", { class: "num" }, rate(model.itemsPerSecond)),
          h("td", { class: `num ${model.errorRate > 0.05 ? "bad" : ""}` }, model.errorRate === null ? "–" : `${(model.errorRate * 100).toFixed(1)}%`),
          h("td", { class: "num", title: "Share of input tokens the engine took from its prefix cache" }, model.cachedInputShare === null ? "–" : `${(model.cachedInputShare * 100).toFixed(1)}%`),
        ),
      ),
    );
  }
  return { node, refresh, nav: "models", everyMs: 2000 };
}
