// modelops dashboard: one small script, no framework. Each page fetches its JSON API
// (/api/v1/...) and redraws in place every 15 s (?refresh=N to change it).
"use strict";
const REFRESH_SECONDS = Number(new URLSearchParams(location.search).get("refresh")) || 15;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("data-")) el.setAttribute(k, String(v));
    else if (k === "href" || k === "title" || k === "colspan") el.setAttribute(k, String(v));
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const badge = (text, kind) => h("span", { class: `badge ${kind || text}` }, text);
const num = (v, digits) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits ?? 0));
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const secs = (v) => (v === null || v === undefined ? "–" : v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`);
const modelHref = (m) => `/models/${encodeURIComponent(m.namespace)}/${encodeURIComponent(m.name)}`;

function table(headers, rows, opts) {
  const head = h("tr", {}, headers.map((x) => h("th", { class: /^(GPUs|Ready|Load|Capacity|Allocatable|Used|Free|Nodes|Weight|Requests|In flight|Count|req\/s)/.test(x) ? "num" : "" }, x)));
  const body = rows.length ? rows : [h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, (opts && opts.empty) || "none"))];
  return h("table", { "data-table": opts && opts.name }, h("thead", {}, head), h("tbody", {}, body));
}

function weightBar(weight) {
  return h("span", { class: "weight", "data-weight": weight },
    stackedBar([{ value: 100 - weight, color: "#2b6cb0", title: "stable" }, { value: weight, color: "#d69e2e", title: "canary" }], 100),
    `${weight}% canary`);
}

function banner(sources) {
  const box = document.getElementById("banner");
  box.replaceChildren();
  if (!sources) return;
  if (!sources.api.ok) {
    const when = sources.api.readAt ? `showing what was read at ${new Date(sources.api.readAt * 1000).toLocaleTimeString()}` : "nothing read yet";
    box.appendChild(h("div", { class: "msg bad", "data-source": "api" },
      `Kubernetes API unreachable: ${sources.api.error || "not read yet"} (${when}).`));
  }
  for (const r of sources.routers || []) {
    if (!r.ok) box.appendChild(h("div", { class: "msg warn", "data-source": "router" }, `Router ${r.name} unreachable: ${r.error}`));
  }
  if (!(sources.routers || []).length) box.appendChild(h("div", { class: "msg warn", "data-source": "router" }, "No router configured or found: traffic figures are missing."));
}

// ------------------------------------------------------------------ pages

function overviewPage(data) {
  const s = data.summary;
  const rows = data.models.map((m) => h("tr", { class: m.problems.length ? "problem" : "", "data-model": `${m.namespace}/${m.name}`, "data-phase": m.phase },
    h("td", {}, h("a", { href: modelHref(m) }, m.name), h("div", { class: "muted" }, m.namespace)),
    h("td", {}, m.engine),
    h("td", {}, badge(m.phase)),
    h("td", { class: "num" }, `${num(m.readyReplicas)}/${num(m.desiredReplicas)}`),
    h("td", { class: "num" }, m.load === null ? "–" : num(m.load)),
    h("td", {}, h("code", {}, m.servedName)),
    h("td", {}, m.tasks.join(", ") || "–"),
    h("td", {}, m.fallback.join(" → ") || "–"),
    h("td", {}, m.rollout ? [weightBar(m.rollout.weight), h("div", { class: "muted" }, `${m.rollout.phase} · step ${m.rollout.step}`)] : "–"),
    h("td", {}, m.problems.length ? h("ul", { class: "problems" }, m.problems.map((p) => h("li", {}, p))) : h("span", { class: "muted" }, "none"))));
  return [
    h("h1", {}, "Models"),
    h("div", { class: "cards" },
      stat("models", s.models), stat("Ready", s.ready), stat("with problems", s.withProblems), stat("rollouts running", s.rollouts)),
    table(["Model", "Engine", "Phase", "Ready", "Load", "Served name", "Tasks", "Fallback", "Rollout", "Problems"], rows, { name: "models", empty: "no ModelDeployments" }),
  ];
}

// Whether a condition's status is good news: Ready=True is, Degraded=True or Stalled=True is
// not, Progressing and Reconciling are neither (a rollout or a reconcile under way).
const BAD_WHEN_TRUE = ["Degraded", "Stalled", "ScalingLimited", "InsufficientGPU"];
const NEUTRAL = ["Progressing", "Reconciling"];
function conditionKind(c) {
  if (c.status === "Unknown") return "warn";
  if (NEUTRAL.includes(c.type)) return c.status === "True" ? "warn" : "neutral";
  const good = BAD_WHEN_TRUE.includes(c.type) ? c.status === "False" : c.status === "True";
  return good ? "ok" : "bad";
}

function stat(k, v) { return h("div", { class: "stat", "data-stat": k }, h("div", { class: "v" }, v), h("div", { class: "k" }, k)); }

function series(history, pick, name, color) {
  return { name, color, points: history.map((p) => [p.t, pick(p)]) };
}

function modelPage(data) {
  const m = data.model, hist = data.history, c = data.canary;
  const tracks = [...new Set(hist.flatMap((p) => Object.keys(p.traffic || {})))].sort();
  const trackColor = (t) => (t === "canary" ? "#d69e2e" : "#2b6cb0");
  // Every chart spans the whole history, so charts line up and a lone point sits where it was.
  const span = hist.length ? { t0: hist[0].t, t1: hist[hist.length - 1].t } : {};
  const perTrack = (field) => tracks.map((t) => series(hist, (p) => (p.traffic && p.traffic[t] ? p.traffic[t][field] : null), t, trackColor(t)));
  // The rollout charts only while the history holds a rollout.
  const rolling = hist.some((p) => p.canaryWeight !== null && p.canaryWeight !== undefined);
  const charts = h("div", { class: "charts" },
    lineChart("Replicas against load", [
      series(hist, (p) => p.desiredReplicas, "desired", "#6b7385"),
      series(hist, (p) => p.readyReplicas, "ready", "#1f8a4c"),
      series(hist, (p) => p.load, "load (in flight + held)", "#c53030")], { ...span, step: true }),
    rolling && lineChart("Canary weight (%)", [series(hist, (p) => p.canaryWeight, "canary weight", "#d69e2e")], { ...span, yMax: 100, step: true }),
    rolling && lineChart("Analysis: error rate", [
      series(hist, (p) => p.analysis && p.analysis.stable && p.analysis.stable.errorRate, "stable", "#2b6cb0"),
      series(hist, (p) => p.analysis && p.analysis.canary && p.analysis.canary.errorRate, "canary", "#d69e2e")], { ...span, format: pct }),
    rolling && lineChart("Analysis: p95 latency", [
      series(hist, (p) => p.analysis && p.analysis.stable && p.analysis.stable.p95Seconds, "stable", "#2b6cb0"),
      series(hist, (p) => p.analysis && p.analysis.canary && p.analysis.canary.p95Seconds, "canary", "#d69e2e")], { ...span, format: secs }),
    lineChart("Requests/s per track", perTrack("requestsPerSecond"), span),
    lineChart("Error rate per track", perTrack("errorRate"), { ...span, format: pct }),
    lineChart("p95 latency per track", perTrack("p95Seconds"), { ...span, format: secs }),
    lineChart("p95 time to first token per track", perTrack("p95TTFTSeconds"), { ...span, format: secs }));
  const conditions = data.conditions.map((x) => h("tr", { "data-condition": x.type },
    h("td", {}, x.type), h("td", {}, badge(x.status, conditionKind(x))), h("td", {}, x.reason), h("td", {}, x.message || ""), h("td", { class: "muted" }, x.lastTransitionTime || "")));
  const slots = data.slots.map((sl) => h("tr", { "data-slot": sl.slot },
    h("td", {}, sl.slot), h("td", {}, badge(sl.role, sl.role === "canary" ? "canary" : sl.role === "stable" ? "ok" : "")),
    h("td", {}, h("code", {}, sl.revision || "–")), h("td", { class: "num" }, sl.replicas),
    h("td", {}, sl.pods.map((p) => h("div", {}, `${p.name} `, badge(p.deleting ? "Terminating" : p.ready ? "Ready" : p.phase || "Pending"), h("span", { class: "muted" }, ` ${p.node || "unscheduled"} · ${p.gpus} GPU`))))));
  const traffic = Object.entries(data.traffic).map(([t, f]) => h("tr", { "data-track": t },
    h("td", {}, t), h("td", { class: "num" }, num(f.requestsPerSecond, 2)), h("td", {}, pct(f.errorRate)), h("td", {}, secs(f.p95Seconds)), h("td", {}, secs(f.p95TTFTSeconds))));
  const events = data.events.map((e) => h("tr", {},
    h("td", {}, badge(e.type || "Normal", e.type === "Warning" ? "bad" : "ok")), h("td", {}, e.reason), h("td", {}, e.message), h("td", { class: "num" }, e.count), h("td", { class: "muted" }, e.lastTimestamp || "")));
  const canaryCard = c ? h("div", { class: "card", "data-canary": "" },
    h("h2", {}, "Rollout in progress"),
    h("p", {}, weightBar(c.weight || 0), `  phase `, badge(c.phase || "Starting", "canary"), `  step ${c.step ?? 0}, revision `, h("code", {}, c.revision || "–"), c.stepStartedAt ? ` since ${c.stepStartedAt}` : ""),
    c.analysis ? table(["Track", "Requests", "Errors", "Error rate", "p95 latency", "p95 TTFT"], ["stable", "canary"].map((t) => {
      const f = c.analysis[t] || {};
      return h("tr", {}, h("td", {}, t), h("td", { class: "num" }, num(f.requests)), h("td", { class: "num" }, num(f.errors)), h("td", {}, pct(f.errorRate)), h("td", {}, secs(f.p95Seconds)), h("td", {}, secs(f.p95TTFTSeconds)));
    }), { name: "analysis" }) : null,
    c.analysis && c.analysis.message ? h("p", { class: "muted" }, c.analysis.message) : null) : null;
  return [
    h("h1", { "data-model": `${m.namespace}/${m.name}`, "data-phase": m.phase }, `${m.name} `, badge(m.phase), h("span", { class: "muted" }, `  ${m.namespace} · ${m.engine} · ${m.model}`)),
    h("div", { class: "cards" }, stat("ready / desired", `${num(m.readyReplicas)}/${num(m.desiredReplicas)}`), stat("load", m.load === null ? "–" : num(m.load)),
      stat("GPUs per replica", `${m.gpus}${m.gpuProduct ? " × " + m.gpuProduct : ""}`), stat("served as", m.servedName)),
    data.autoscaler ? h("div", { class: "card", "data-autoscaler": "" }, h("b", {}, "Autoscaler: "),
      `load ${num(data.autoscaler.load, 1)}, held ${num(data.autoscaler.holding)}, recommends ${num(data.autoscaler.recommendation)} replicas`,
      data.autoscaler.lastScaleTime ? h("span", { class: "muted" }, `  · last scaled ${data.autoscaler.lastScaleTime}`) : "") : null,
    m.problems.length ? h("div", { class: "card" }, h("h2", {}, "Problems"), h("ul", { class: "problems", "data-problems": "" }, m.problems.map((p) => h("li", {}, p)))) : null,
    canaryCard,
    h("h2", {}, "Over time"), charts,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Conditions"), table(["Type", "Status", "Reason", "Message", "Since"], conditions, { name: "conditions" })),
      h("div", {}, h("h2", {}, "Traffic now"), table(["Track", "req/s", "Error rate", "p95 latency", "p95 TTFT"], traffic, { name: "traffic", empty: "no traffic through the router for this model in the last interval" }))),
    h("h2", {}, "Slots and revisions"), table(["Slot", "Role", "Revision", "Replicas", "Pods"], slots, { name: "slots" }),
    h("h2", {}, "Events"), table(["Type", "Reason", "Message", "Count", "Last seen"], events, { name: "events", empty: "no Events" }),
  ];
}

function gpusPage(data) {
  const colors = ["#2b6cb0", "#1f8a4c", "#6b46c1", "#319795", "#dd6b20", "#d69e2e", "#c53030"];
  const modelColor = {};
  const colorOf = (model) => (modelColor[model] = modelColor[model] || colors[Object.keys(modelColor).length % colors.length]);
  const t = data.totals;
  const nodes = data.nodes.map((n) => h("tr", { "data-node": n.name, "data-capacity": n.capacity, "data-used": n.used, "data-free": n.free },
    h("td", {}, n.name, n.ready ? "" : [" ", badge("NotReady", "bad")], n.unschedulable ? [" ", badge("cordoned", "warn")] : ""),
    h("td", {}, n.product),
    h("td", { class: "num" }, n.capacity), h("td", { class: "num" }, n.allocatable), h("td", { class: "num" }, n.used), h("td", { class: "num" }, n.free),
    h("td", {}, stackedBar(n.pods.map((p) => ({ value: p.gpus, color: colorOf(p.model || p.name), title: `${p.namespace}/${p.name}: ${p.gpus}` })), Math.max(n.allocatable, n.used))),
    h("td", {}, n.pods.map((p) => h("div", { "data-holder": `${p.namespace}/${p.name}`, "data-gpus": p.gpus }, h("i", { class: "badge", style: "" }, p.gpus), ` ${p.model || "(not a model)"} `, h("span", { class: "muted" }, `${p.namespace}/${p.name}`))))));
  // colour the count badges like the bar segments
  const products = data.products.map((p) => h("tr", { "data-product": p.product },
    h("td", {}, p.product), h("td", { class: "num" }, p.nodes), h("td", { class: "num" }, p.capacity), h("td", { class: "num" }, p.allocatable), h("td", { class: "num" }, p.used), h("td", { class: "num" }, p.free)));
  const waiting = data.waiting.map((w) => h("tr", { "data-waiting": `${w.namespace}/${w.name}` },
    h("td", {}, w.model || "–"), h("td", {}, `${w.namespace}/${w.name}`), h("td", { class: "num" }, w.gpus), h("td", {}, w.gpuProduct || "any"), h("td", {}, w.message)));
  const page = [
    h("h1", {}, "GPUs"),
    h("div", { class: "cards" }, stat("GPUs (capacity)", t.capacity), stat("allocatable", t.allocatable), stat("held by pods", t.used), stat("free", t.free), stat("pods waiting", data.waiting.length)),
    h("h2", {}, "Per product"), table(["Product", "Nodes", "Capacity", "Allocatable", "Used", "Free"], products, { name: "products" }),
    h("h2", {}, "Per node"), table(["Node", "Product", "Capacity", "Allocatable", "Used", "Free", "Allocation", "Held by"], nodes, { name: "nodes", empty: "no GPU nodes" }),
    h("h2", {}, "Pods waiting for GPUs"), table(["Model", "Pod", "GPUs", "Product", "Scheduler says"], waiting, { name: "waiting", empty: "no pod is waiting" }),
  ];
  for (const row of nodes) for (const holder of row.querySelectorAll("[data-holder] .badge")) {
    const model = holder.parentElement.childNodes[1].textContent.trim();
    holder.style.background = modelColor[model] || colorOf(model);
  }
  return page;
}

function routerPage(data) {
  const out = [h("h1", {}, "Router")];
  if (!data.routers.length) out.push(h("p", { class: "muted" }, "No router found."));
  for (const r of data.routers) {
    out.push(h("h2", { "data-router": r.name }, `${r.name} `, badge(r.reachable ? (r.ready ? "ready" : "no config") : "unreachable", r.reachable && r.ready ? "ok" : "bad")));
    if (!r.reachable) { out.push(h("p", { class: "problems" }, r.error)); continue; }
    if (r.lastConfigError) out.push(h("div", { class: "card" }, h("b", {}, "Config rejected (the last good one is in use): "), r.lastConfigError));
    out.push(h("div", { class: "card", "data-config-problems": "" }, h("b", {}, "Config problems: "),
      r.problems.length ? h("ul", { class: "problems" }, r.problems.map((p) => h("li", {}, p))) : h("span", { class: "muted" }, "none"),
      h("div", { class: "muted" }, `config loaded ${r.configLoadedAt ? new Date(r.configLoadedAt * 1000).toLocaleTimeString() : "never"} · demotion window ${r.demotionWindowSeconds ?? "–"} s`)));
    const models = r.models.map((m) => h("tr", { class: m.available && !m.demoted ? "" : "problem", "data-router-model": m.name, "data-available": m.available, "data-demoted": m.demoted },
      h("td", {}, m.name), h("td", {}, m.engine),
      h("td", {}, m.demoted ? badge("demoted", "bad") : m.available ? badge("available", "ok") : badge("no usable endpoint", "bad"),
        m.unhealthyForSeconds !== null && m.unhealthyForSeconds !== undefined ? h("span", { class: "muted" }, ` unhealthy for ${num(m.unhealthyForSeconds, 0)} s`) : ""),
      h("td", { class: "num" }, `${m.usableEndpoints}/${m.endpoints}`),
      h("td", {}, m.fallback.join(" → ") || "–"),
      h("td", {}, m.tracks.map((t) => h("div", {}, h("b", {}, `${t.name} ${t.weight}%`), t.endpoints.map((e) => h("div", { "data-endpoint": e.address },
        h("code", {}, e.address), " ", badge(e.ready && e.healthy ? "healthy" : !e.ready ? "not ready" : "unhealthy", e.ready && e.healthy ? "ok" : "bad"),
        h("span", { class: "muted" }, ` in flight ${e.outstanding} · failures ${e.consecutiveFailures}${e.lastError ? " · " + e.lastError : ""}`))))))));
    out.push(table(["Model", "Engine", "Health", "Usable endpoints", "Fallback", "Tracks and endpoints"], models, { name: "router-models" }));
    const tasks = Object.entries(r.tasks).map(([task, t]) => h("tr", { "data-task": task }, h("td", {}, task), h("td", {}, t.chain.join(" → ")), h("td", {}, t.serving ? t.serving : t.fallbackServing ? [t.fallbackServing, h("span", { class: "muted" }, " (by fallback)")] : badge("nothing usable", "bad"))));
    out.push(h("h2", {}, "Tasks"), table(["Task", "Chain", "Served by"], tasks, { name: "tasks", empty: "no tasks" }));
  }
  return out;
}

// ------------------------------------------------------------------ routing + refresh

function route() {
  const path = location.pathname;
  const m = path.match(/^\/models\/([^/]+)\/([^/]+)$/);
  if (m) return { nav: "overview", api: `/api/v1/models/${m[1]}/${m[2]}`, render: modelPage };
  if (path === "/gpus") return { nav: "gpus", api: "/api/v1/gpus", render: gpusPage };
  if (path === "/router") return { nav: "router", api: "/api/v1/router", render: routerPage };
  return { nav: "overview", api: "/api/v1/overview", render: overviewPage };
}

async function refresh() {
  const page = route();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === page.nav);
  const main = document.getElementById("main");
  const updated = document.getElementById("updated");
  try {
    const response = await fetch(page.api, { cache: "no-store" });
    const data = await response.json();
    if (!response.ok) {
      main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, data.error ? data.error.message : response.statusText));
      return;
    }
    banner(data.sources);
    main.replaceChildren(...page.render(data).filter(Boolean));
    updated.textContent = `updated ${new Date().toLocaleTimeString()} · every ${REFRESH_SECONDS} s`;
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (error) {
    // The dashboard process itself is unreachable: keep the last page, say so.
    const box = document.getElementById("banner");
    box.replaceChildren(h("div", { class: "msg bad", "data-source": "dashboard" }, `The dashboard server cannot be reached (${error}); showing the last data.`));
  }
}

refresh();
setInterval(refresh, REFRESH_SECONDS * 1000);
