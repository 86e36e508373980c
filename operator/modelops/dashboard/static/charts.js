// Small SVG line charts drawn by the dashboard itself (no library, nothing from a CDN).
// lineChart(title, series, opts) -> an element; series: [{name, color, points: [[t, v], ...]}]
// with t in epoch seconds; null values break the line.
// opts: {format(v), yMax, yMin, step (hold each value until the next), t0, t1 (time range)}.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2b6cb0", "#d69e2e", "#1f8a4c", "#c53030", "#6b46c1", "#319795", "#dd6b20"];

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 4, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function clock(t) {
  const d = new Date(t * 1000);
  return d.toTimeString().slice(0, 8);
}

function lineChart(title, series, opts) {
  opts = opts || {};
  const fmt = opts.format || ((v) => String(Math.round(v * 100) / 100));
  const box = document.createElement("div");
  box.className = "chart";
  box.dataset.chart = title;
  const h = document.createElement("h3");
  h.textContent = title;
  box.appendChild(h);
  const W = 420, H = 180, L = 46, R = 10, T = 8, B = 22;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  svg.appendChild(svgEl("title", {}, title));
  const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined));
  if (!pts.length) {
    svg.appendChild(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#6b7385", "font-size": 12 },
      "no data yet"));
    box.appendChild(svg);
    return box;
  }
  const t0 = opts.t0 ?? Math.min(...pts.map((p) => p[0]));
  const t1 = opts.t1 ?? Math.max(...pts.map((p) => p[0]));
  const span = Math.max(t1 - t0, 1);
  const yMin = opts.yMin ?? 0;
  const yMax = opts.yMax ?? niceMax(Math.max(...pts.map((p) => p[1])));
  const x = (t) => L + ((t - t0) / span) * (W - L - R);
  const y = (v) => T + (1 - (v - yMin) / ((yMax - yMin) || 1)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e5e8ee" }));
    svg.appendChild(svgEl("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7385" }, fmt(v)));
  }
  svg.appendChild(svgEl("text", { x: L, y: H - 6, "font-size": 10, fill: "#6b7385" }, clock(t0)));
  svg.appendChild(svgEl("text", { x: W - R, y: H - 6, "font-size": 10, fill: "#6b7385", "text-anchor": "end" }, clock(t1)));
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    let d = "", pen = false, last = null;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) { pen = false; continue; }
      if (opts.step && pen && last !== null) d += `L${x(t).toFixed(1)},${y(last).toFixed(1)}`;
      d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true; last = v;
    }
    if (d) svg.appendChild(svgEl("path", { d, fill: "none", stroke: color, "stroke-width": 2,
      "vector-effect": "non-scaling-stroke", "data-series": s.name }));
    // A value with no neighbour draws no line: mark it with a dot.
    const has = (i) => i >= 0 && i < s.points.length && s.points[i][1] !== null && s.points[i][1] !== undefined;
    s.points.forEach(([t, v], i) => {
      if (has(i) && !has(i - 1) && !has(i + 1)) svg.appendChild(svgEl("circle", { cx: x(t), cy: y(v), r: 3, fill: color }));
    });
  });
  box.appendChild(svg);
  const legend = document.createElement("div");
  legend.className = "legend";
  series.forEach((s, i) => {
    const sw = document.createElement("i");
    sw.style.background = s.color || PALETTE[i % PALETTE.length];
    legend.appendChild(sw);
    const last = [...s.points].reverse().find((p) => p[1] !== null && p[1] !== undefined);
    legend.appendChild(document.createTextNode(`${s.name}${last ? " " + fmt(last[1]) : ""}`));
  });
  box.appendChild(legend);
  return box;
}

// A horizontal stacked bar: parts [{value, color, title}] out of total.
function stackedBar(parts, total) {
  const bar = document.createElement("div");
  bar.className = "bar";
  for (const p of parts) {
    if (!(p.value > 0) || !(total > 0)) continue;
    const s = document.createElement("span");
    s.style.width = `${(100 * p.value) / total}%`;
    s.style.background = p.color;
    s.title = p.title || "";
    bar.appendChild(s);
  }
  return bar;
}
