// The webhook delivery log: every event queued for every endpoint, newest first, with its attempts.
import { api, query } from "./api.js";
import { fill, h, time } from "./dom.js";

/** A delivery's status drawn like the batch status it resembles. */
const DELIVERY_LOOK = { delivered: "completed", failed: "failed", pending: "in_progress" };

export function webhooksPage() {
  const state = { before: [undefined] };
  const body = h("div");
  const pager = h("div", { class: "pager" });
  const node = h("div", {}, h("h1", {}, "Webhook deliveries"), h("div", { class: "panel" }, body, pager));
  async function refresh() {
    const log = await api(`/webhooks${query({ before: state.before.at(-1), limit: 50 })}`);
    fill(body, log.deliveries.length > 0 ? deliveriesTable(log.deliveries, true) : h("div", { class: "empty" }, "No deliveries yet. Configure endpoints under `webhooks:` in the config file."));
    fill(
      pager,
      state.before.length > 1 ? h("button", { type: "button", class: "secondary", onclick: () => { state.before.pop(); void refresh(); } }, "← Newer") : null,
      log.hasMore ? h("button", { type: "button", class: "secondary", onclick: () => { state.before.push(log.deliveries.at(-1).seq); void refresh(); } }, "Older →") : null,
    );
  }
  return { node, refresh, nav: "webhooks", everyMs: 3000 };
}

export function deliveriesTable(deliveries, withBatch = false) {
  const columns = ["Event", ...(withBatch ? ["Batch"] : []), "Endpoint", "Status", "Attempts", "Last answer", "Next attempt", "Event time"];
  return h(
    "table",
    { "data-testid": "deliveries-table" },
    h("thead", {}, h("tr", {}, columns.map((name) => h("th", {}, name)))),
    h(
      "tbody",
      {},
      deliveries.map((d) =>
        h(
          "tr",
          { "data-delivery": d.id },
          h("td", {}, h("code", {}, `batch.${d.event}`), h("div", { class: "muted mono" }, d.id)),
          withBatch ? h("td", {}, h("a", { href: `#/batches/${encodeURIComponent(d.batchId)}`, class: "mono" }, d.batchId)) : null,
          h("td", { class: "mono" }, d.endpointUrl),
          h("td", {}, h("span", { class: `badge ${DELIVERY_LOOK[d.status]}` }, d.status === "pending" ? (d.attempts > 0 ? "retrying" : "pending") : d.status)),
          h("td", { class: "num" }, d.attempts),
          h("td", {}, d.lastStatusCode ?? "", d.lastError ? h("div", { class: "bad" }, d.lastError) : null),
          h("td", {}, d.status === "pending" ? time(d.nextAttemptAtMs) : "–"),
          h("td", {}, time(d.createdAtMs)),
        ),
      ),
    ),
  );
}
