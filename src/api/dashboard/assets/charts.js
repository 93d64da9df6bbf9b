// Line charts in plain SVG (no chart library): one or more series over time, with a y axis scale.
import { fill, h, svg } from "./dom.js";

const WIDTH = 600;
const HEIGHT = 170;
const PAD = { left: 44, right: 10, top: 10, bottom: 20 };

/** series: [{ name, color, points: [[xMs, y], ...] }]; format(y) labels the axis. */
export function lineChart(container, series, format = String) {
  const points = series.flatMap((line) => line.points);
  if (points.length === 0) {
    fill(container, h("div", { class: "empty" }, "Nothing finished yet."));
    return;
  }
  const xs = points.map(([x]) => x);
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs, minX + 1);
  const maxY = Math.max(...points.map(([, y]) => y), 1e-9);
  const x = (value) => PAD.left + ((value - minX) / (maxX - minX)) * (WIDTH - PAD.left - PAD.right);
  const y = (value) => HEIGHT - PAD.bottom - (value / maxY) * (HEIGHT - PAD.top - PAD.bottom);
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", role: "img" });
  for (const fraction of [0, 0.5, 1]) {
    const level = maxY * fraction;
    root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(level), y2: y(level), class: "axis" }));
    const label = svg("text", { x: PAD.left - 4, y: y(level) + 3, "text-anchor": "end" });
    label.textContent = format(level);
    root.append(label);
  }
  const span = svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 4, "text-anchor": "end" });
  span.textContent = `${((maxX - minX) / 1000).toFixed(maxX - minX < 10_000 ? 1 : 0)} s`;
  root.append(span);
  for (const line of series) {
    if (line.points.length === 0) continue;
    if (line.points.length === 1) {
      const [[px, py]] = line.points;
      root.append(svg("circle", { cx: x(px), cy: y(py), r: 3, fill: line.color }));
      continue;
    }
    const path = line.points.map(([px, py], index) => `${index === 0 ? "M" : "L"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(" ");
    root.append(svg("path", { d: path, fill: "none", stroke: line.color, "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
  }
  const legend = h("div", { class: "legend" }, series.map((line) => h("span", {}, h("i", { style: { background: line.color } }), line.name)));
  fill(container, root, legend);
}
