// The batch list: status chips with counts, filters, one server-side page at a time (keyset cursor),
// refreshed live.
import { api, query } from "./api.js";
import { ago, badge, done, duration, fill, h, number, progressBar } from "./dom.js";

const ACTIVE = "validating,in_progress,finalizing,cancelling";
const STATUSES = ["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"];

export function batchesPage() {
  const state = { status: "", dialect: "", model: "", cursors: [undefined] };
  const chips = h("div", { class: "chips" });
  const dialect = h("select", { "aria-label": "Dialect", onchange: () => refilter({ dialect: dialect.value }) }, h("option", { value: "" }, "All dialects"));
  const model = h("select", { "aria-label": "Model", onchange: () => refilter({ model: model.value }) }, h("option", { value: "" }, "All models"));
  const rows = h("tbody");
  const pager = h("div", { class: "pager" });
  const node = h(
    "div",
    {},
    h("h1", {}, "Batches"),
    chips,
    h("div", { class: "filters" }, dialect, model),
    h("div", { class: "panel" }, h("table", { "data-testid": "batch-table" }, h("thead", {}, h("tr", {}, ["Batch", "Dialect", "Model", "Status", "Progress", "Done", "Created", "ETA"].map((name) => h("th", {}, name)))), rows), pager),
  );
  let optionsFilled = false;
  const refilter = (change) => {
    Object.assign(state, change, { cursors: [undefined] });
    void refresh();
  };

  async function refresh() {
    const overview = await api("/overview");
    if (!optionsFilled) {
      dialect.append(...overview.dialects.map((name) => h("option", { value: name }, name)));
      model.append(...overview.models.map((name) => h("option", { value: name }, name)));
      optionsFilled = true;
    }
    const total = Object.values(overview.counts).reduce((a, b) => a + b, 0);
    const active = ACTIVE.split(",").reduce((sum, status) => sum + overview.counts[status], 0);
    const chip = (label, value, count) => h("button", { type: "button", class: `chip${state.status === value ? " on" : ""}`, "data-status": value || "all", onclick: () => refilter({ status: value }) }, `${label} ${number(count)}`);
    fill(chips, chip("All", "", total), chip("Active", ACTIVE, active), STATUSES.filter((status) => overview.counts[status] > 0 || status === state.status).map((status) => chip(status.replace("_", " "), status, overview.counts[status])));

    const after = state.cursors.at(-1);
    const page = await api(`/batches${query({ status: state.status, dialect: state.dialect, model: state.model, after, limit: 50 })}`);
    if (page.batches.length === 0) fill(rows, h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No batches here yet.")));
    else fill(rows, page.batches.map((batch) => row(batch, overview.nowMs)));
    fill(
      pager,
      state.cursors.length > 1 ? h("button", { type: "button", class: "secondary", onclick: () => { state.cursors.pop(); void refresh(); } }, "← Newer") : null,
      page.hasMore ? h("button", { type: "button", class: "secondary", onclick: () => { state.cursors.push(page.next); void refresh(); } }, "Older →") : null,
    );
  }

  return { node, refresh, nav: "batches", everyMs: 2000 };
}

function row(batch, nowMs) {
  const link = `#/batches/${encodeURIComponent(batch.id)}`;
  return h(
    "tr",
    { "data-batch": batch.id },
    h("td", {}, h("a", { href: link, class: "mono" }, batch.publicId), batch.displayName ? h("div", { class: "muted" }, batch.displayName) : null),
    h("td", {}, batch.dialect),
    h("td", {}, batch.model ?? "–"),
    h("td", {}, badge(batch.status)),
    h("td", {}, progressBar(batch.counts)),
    h("td", { class: "num" }, `${number(done(batch.counts))}/${number(batch.counts.total)}`),
    h("td", { title: new Date(batch.createdAtMs).toLocaleString() }, ago(batch.createdAtMs, nowMs)),
    h("td", {}, batch.terminal ? "–" : duration(batch.etaMs)),
  );
}
