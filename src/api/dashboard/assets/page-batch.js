// One batch: id, status, progress bar with clickable counts, rate, ETA and window, tokens, actions
// (cancel, retry failed, downloads), throughput and token plots, errors grouped by code, the finished
// results (paged, searchable by client id) and the webhook deliveries. Refreshed live.
import { api, download, query } from "./api.js";
import { lineChart } from "./charts.js";
import { badge, done, duration, fill, h, number, progressBar, rate, time, toast } from "./dom.js";
import { deliveriesTable } from "./page-webhooks.js";

export function batchPage(id) {
  const path = `/batches/${encodeURIComponent(id)}`;
  const results = { after: [-1], q: "", status: "" };
  const header = h("div", { class: "panel" });
  const actions = h("div", { class: "row" });
  const throughput = h("div", { class: "chart" });
  const tokens = h("div", { class: "chart" });
  const errors = h("div", { "data-testid": "errors" });
  const resultRows = h("tbody");
  const resultPager = h("div", { class: "pager" });
  const deliveries = h("div");
  const search = h("input", { type: "search", placeholder: "Search by id (prefix)", "aria-label": "Search results by id", oninput: () => { results.q = search.value.trim(); results.after = [-1]; void refreshResults(); } });
  const statusFilter = h(
    "select",
    { "aria-label": "Result status", onchange: () => { results.status = statusFilter.value; results.after = [-1]; void refreshResults(); } },
    ["", "succeeded", "failed", "cancelled", "expired"].map((value) => h("option", { value }, value || "All results")),
  );
  const node = h(
    "div",
    {},
    h("p", {}, h("a", { href: "#/" }, "← Batches")),
    header,
    h("div", { class: "panel" }, actions),
    h("div", { class: "grid2" }, h("div", { class: "panel" }, h("h2", {}, "Throughput"), throughput), h("div", { class: "panel" }, h("h2", {}, "Tokens"), tokens)),
    h("div", { class: "panel", id: "errors" }, h("h2", {}, "Errors"), errors),
    h(
      "div",
      { class: "panel", id: "results" },
      h("div", { class: "row", style: { justifyContent: "space-between", marginBottom: "8px" } }, h("h2", {}, "Results"), h("div", { class: "row" }, statusFilter, search)),
      h("table", { "data-testid": "results-table" }, h("thead", {}, h("tr", {}, ["Line", "Id", "Status", "Code", "Tokens in/out", "Finished", "Reply"].map((name) => h("th", {}, name)))), resultRows),
      resultPager,
    ),
    h("div", { class: "panel" }, h("h2", {}, "Webhook deliveries"), deliveries),
  );
  let tick = 0;
  /** When the batch's results were archived (retention), or null: the results table says so instead of "none yet". */
  let archivedAtMs = null;

  async function refresh() {
    const detail = await api(path);
    archivedAtMs = detail.batch.archivedAtMs;
    renderHeader(detail);
    renderActions(detail.batch);
    const slow = tick++ % 3 === 0 || detail.batch.terminal === false;
    if (slow) await Promise.all([refreshCharts(), refreshErrors(detail), refreshResults(), refreshDeliveries()]);
  }

  function renderHeader({ batch }) {
    const c = batch.counts;
    const jump = (status) => () => {
      statusFilter.value = status;
      results.status = status;
      results.after = [-1];
      void refreshResults();
      document.getElementById(status === "failed" ? "errors" : "results")?.scrollIntoView({ behavior: "smooth" });
    };
    const count = (name, value, status) => h("button", { type: "button", class: "linklike", "data-count": name, title: `Show the ${name} results`, onclick: jump(status) }, h("i", { style: { background: `var(--${colorOf(name)})` } }), `${name} ${number(value)}`);
    const windowNote =
      batch.heldUntilMs !== null
        ? h("span", { class: "muted", "data-testid": "held" }, `waiting for the model's batch hours until ${time(batch.heldUntilMs)}`)
        : batch.meetsWindow === null
          ? null
          : batch.meetsWindow
            ? h("span", { class: "good" }, "will finish within its window")
            : h("span", { class: "bad" }, "will not finish within its window at this rate");
    fill(
      header,
      h("div", { class: "idline" }, h("code", { "data-testid": "batch-id" }, batch.publicId), h("button", { type: "button", class: "secondary", onclick: () => navigator.clipboard?.writeText(batch.publicId).then(() => toast("Copied")) }, "Copy"), badge(batch.status)),
      h("div", { class: "muted", style: { margin: "4px 0 12px" } }, `${batch.dialect} · ${batch.endpoint} · model ${batch.model ?? "(per line)"}${batch.displayName ? ` · ${batch.displayName}` : ""}`),
      progressBar(c, true),
      h(
        "div",
        { class: "legend" },
        count("succeeded", c.succeeded, "succeeded"),
        count("failed", c.failed, "failed"),
        h("span", {}, h("i", { style: { background: "var(--run)" } }), `running ${number(c.running)}`),
        h("span", {}, h("i", { style: { background: "var(--wait)" } }), `pending ${number(c.pending)}`),
        c.cancelled + c.expired > 0 ? count("cancelled/expired", c.cancelled + c.expired, c.cancelled > 0 ? "cancelled" : "expired") : null,
        c.reused > 0 ? h("span", { class: "muted" }, `(${number(c.reused)} answered by an identical request)`) : null,
      ),
      h(
        "div",
        { class: "stats" },
        stat("Done", `${number(done(c))} / ${number(c.total)}`, "data-done"),
        stat("Rate", rate(batch.itemsPerSecond)),
        stat("ETA", batch.terminal ? "ended" : duration(batch.etaMs), null, windowNote),
        stat("Window ends", time(batch.expiresAtMs)),
        stat("Priority", String(batch.priority), "data-priority", batch.share === null || batch.terminal ? null : h("span", { class: "muted", "data-share": "" }, shareNote(batch.share))),
        stat("Tokens in", number(batch.usage.inputTokens)),
        stat("Tokens out", number(batch.usage.outputTokens)),
        stat("Created", time(batch.createdAtMs)),
        stat(batch.terminal ? "Ended" : "Running for", batch.terminal ? time(batch.endedAtMs) : duration(batch.inProgressAtMs === null ? null : Date.now() - batch.inProgressAtMs)),
        batch.archivedAtMs === null ? null : stat("Results archived", time(batch.archivedAtMs), "data-archived"),
      ),
    );
  }

  function renderActions(batch) {
    const act = (label, action, klass = "secondary") =>
      h("button", {
        type: "button",
        class: klass,
        "data-action": label.toLowerCase().replace(/\s+/g, "-"),
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            await action();
            toast(`${label}: done`);
            await refresh();
          } catch (error) {
            toast(`${label}: ${error.message}`, true);
          } finally {
            event.target.disabled = false;
          }
        },
      }, label);
    const cancellable = batch.status === "validating" || batch.status === "in_progress";
    const retryable = batch.terminal && batch.status !== "failed" && batch.counts.failed > 0 && batch.archivedAtMs === null;
    fill(
      actions,
      cancellable ? act("Cancel", () => api(`${path}/cancel`, { method: "POST" }), "danger") : null,
      retryable ? act("Retry failed", () => api(`${path}/retry`, { method: "POST" })) : null,
      batch.files.input ? act("Download input", () => download(batch.files.input)) : null,
      batch.files.output ? act("Download output", () => download(batch.files.output)) : null,
      batch.files.error ? act("Download errors", () => download(batch.files.error)) : null,
      !cancellable && !retryable && !batch.files.output && !batch.files.error ? h("span", { class: "muted" }, "Result files appear here when the batch ends.") : null,
    );
  }

  async function refreshCharts() {
    const timeline = await api(`${path}/timeline`);
    const seconds = (timeline.bucketMs ?? 1000) / 1000;
    const buckets = fillGaps(timeline);
    lineChart(throughput, [
      { name: "succeeded/s", color: "#2e9e5b", points: buckets.map((b) => [b.startMs, b.succeeded / seconds]) },
      { name: "failed/s", color: "#d64545", points: buckets.map((b) => [b.startMs, b.failed / seconds]) },
    ], (value) => value.toFixed(value >= 10 ? 0 : 1));
    let input = 0;
    let output = 0;
    lineChart(tokens, [
      { name: "input tokens", color: "#3b82f6", points: buckets.map((b) => [b.startMs, (input += b.inputTokens)]) },
      { name: "output tokens", color: "#c98a12", points: buckets.map((b) => [b.startMs, (output += b.outputTokens)]) },
    ], (value) => number(Math.round(value)));
  }

  async function refreshErrors(detail) {
    const failures = await api(`${path}/failures`);
    const lineErrors = detail.lineErrors;
    fill(
      errors,
      lineErrors.length > 0
        ? h("div", { class: "error-group" }, h("b", {}, `Input problems: ${number(detail.lineErrorCount)}`), h("table", {}, h("tbody", {}, lineErrors.map((e) => h("tr", {}, h("td", { class: "num" }, e.line === null ? "–" : `line ${e.line}`), h("td", {}, h("code", {}, e.code)), h("td", {}, e.param ?? ""), h("td", {}, e.message))))))
        : null,
      failures.groups.map((group) =>
        h("div", { class: "error-group", "data-code": group.code }, h("b", {}, h("code", {}, group.code), ` × ${number(group.count)}`), h("ul", {}, group.samples.map((item) => h("li", {}, `line ${item.line}`, item.clientId ? ` (${item.clientId})` : "", item.message ? `: ${item.message}` : "")))),
      ),
      lineErrors.length === 0 && failures.groups.length === 0 ? h("div", { class: "empty" }, "No errors.") : null,
    );
  }

  async function refreshResults() {
    const after = results.after.at(-1);
    const page = await api(`${path}/results${query({ after, q: results.q, status: results.status, limit: 25 })}`);
    const none = archivedAtMs !== null
      ? `Archived ${time(archivedAtMs)}: spool no longer keeps this batch's requests and results (retention.batchResults). Its result files hold them until they expire.`
      : results.q ? "No finished result with such an id." : "No finished results yet.";
    if (page.items.length === 0) fill(resultRows, h("tr", {}, h("td", { colspan: 7, class: "empty", "data-testid": archivedAtMs !== null ? "archived" : null }, none)));
    else fill(resultRows, page.items.map(resultRow));
    fill(
      resultPager,
      results.after.length > 1 ? h("button", { type: "button", class: "secondary", onclick: () => { results.after.pop(); void refreshResults(); } }, "← Previous") : null,
      page.next !== null ? h("button", { type: "button", class: "secondary", onclick: () => { results.after.push(page.next); void refreshResults(); } }, "Next →") : null,
    );
  }

  async function refreshDeliveries() {
    const log = await api(`${path}/webhooks`);
    fill(deliveries, log.deliveries.length > 0 ? deliveriesTable(log.deliveries) : h("div", { class: "empty" }, "No webhook deliveries for this batch."));
  }

  return { node, refresh, nav: "batches", everyMs: 1500 };
}

/** A Batch given nothing now is waiting behind others (decision 0038: a tenant's few Batches move at a time), not stuck. */
function shareNote(share) {
  return share > 0 ? `${Math.round(share * 100)}% of the model now` : "waiting its turn (0% of the model now)";
}

function stat(label, value, testid, extra) {
  return h("div", { class: "stat" }, h("small", {}, label), h("b", testid ? { [testid]: "" } : {}, value), extra ?? null);
}

function colorOf(name) {
  return name === "succeeded" ? "ok" : name === "failed" ? "bad" : "gone";
}

function resultRow(item) {
  return h(
    "tr",
    { "data-line": item.line },
    h("td", { class: "num" }, item.line),
    h("td", { class: "mono" }, item.clientId ?? "–"),
    h("td", {}, badge(item.status)),
    h("td", {}, item.errorCode ? h("code", {}, item.errorCode) : item.statusCode ?? "–"),
    h("td", { class: "num" }, `${number(item.inputTokens)} / ${number(item.outputTokens)}`),
    h("td", {}, time(item.finishedAtMs)),
    h("td", {}, item.message ? h("span", { class: "bad" }, item.message) : null, item.body ? h("details", {}, h("summary", {}, "reply"), h("pre", {}, item.body + (item.bodyTruncated ? " …" : ""))) : null),
  );
}

/** Buckets with nothing finished are missing from the API's answer: they are zeros on the plot. */
function fillGaps(timeline) {
  if (timeline.buckets.length === 0) return [];
  const byStart = new Map(timeline.buckets.map((bucket) => [bucket.startMs, bucket]));
  const last = timeline.buckets.at(-1).startMs;
  const filled = [];
  for (let start = timeline.startMs; start <= last; start += timeline.bucketMs) filled.push(byStart.get(start) ?? { startMs: start, succeeded: 0, failed: 0, inputTokens: 0, outputTokens: 0 });
  return filled;
}
