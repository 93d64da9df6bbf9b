// Small DOM and formatting helpers. Text always goes in as text nodes (never innerHTML), so ids and
// messages from batch files cannot inject markup.

/** h("a", { href: "#/" , class: "x", onclick }, "text", child...) */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export const number = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US"));

export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return "–";
  return `${perSecond >= 100 ? perSecond.toFixed(0) : perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)}/s`;
}

export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function time(ms) {
  if (ms === null || ms === undefined) return "–";
  const date = new Date(ms);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}

export function ago(ms, nowMs = Date.now()) {
  return ms === null || ms === undefined ? "–" : `${duration(Math.max(0, nowMs - ms))} ago`;
}

export const badge = (status) => h("span", { class: `badge ${status}` }, status.replace("_", " "));

/** A stacked progress bar: succeeded, failed, running, pending, and cancelled + expired. */
export function progressBar(counts, big = false) {
  const total = Math.max(counts.total, 1);
  const part = (name, value) => (value > 0 ? h("span", { class: name, style: { width: `${(value / total) * 100}%` }, title: `${name}: ${number(value)}` }) : null);
  return h(
    "div",
    { class: `bar${big ? " big" : ""}`, role: "progressbar", "aria-valuemin": 0, "aria-valuemax": counts.total, "aria-valuenow": done(counts), "data-testid": "progress" },
    part("succeeded", counts.succeeded),
    part("failed", counts.failed),
    part("ended", counts.cancelled + counts.expired),
    part("running", counts.running),
    part("pending", counts.pending),
  );
}

export const done = (counts) => counts.succeeded + counts.failed + counts.cancelled + counts.expired;

export function toast(message, bad = false) {
  const node = h("div", { class: `toast${bad ? " bad" : ""}`, role: "status" }, message);
  document.body.append(node);
  setTimeout(() => node.remove(), 4000);
}
