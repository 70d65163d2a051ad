// Corral dashboard: vanilla JS, no dependencies. Data comes from the admin JSON endpoints
// with the key from sessionStorage; all text is inserted with textContent. The page shows
// only the views the key's roles allow (GET /admin/whoami; docs/roles.md): each view is
// registered with the permission it needs, and other scripts (prompts.js, incidents.js)
// add theirs through window.Corral.view.
"use strict";
const KEY = "corral.adminKey";
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#3467d6", "#d6344e", "#1b9e5a", "#c98a12", "#7b3fc4", "#0f8a9c"];
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function api(path, method = "GET", body = undefined) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (resp.status === 401) { showLogin("That key was refused (401)."); throw new Error("auth"); }
  if (!resp.ok) {
    let message = "HTTP " + resp.status;
    try { message = (await resp.json()).error.message; } catch (e) { /* not an OpenAI-shaped error */ }
    throw new Error(path + ": " + message);
  }
  return resp.json();
}

// Views: [permission, loader]. A section with data-permission="x" is shown only to keys whose
// roles grant x; its loader runs only then.
const VIEWS = [];
let PERMS = new Set();
const view = (permission, load) => VIEWS.push([permission, load]);

const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const usd = (v) => (v === null || v === undefined ? "unpriced" : "$" + Number(v).toFixed(4));

function lineChart(host, points, series) {
  host.replaceChildren();
  const W = 600, H = 180, L = 46, B = 20, T = 8;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  let max = 0;
  for (const p of points) for (const s of series) if (p[s.key] !== null) max = Math.max(max, p[s.key]);
  max = max || 1;
  const x = (i) => L + (points.length > 1 ? (i * (W - L - 6)) / (points.length - 1) : (W - L) / 2);
  const y = (v) => H - B - ((H - B - T) * v) / max;
  svg.append(el("svg:line", { x1: L, y1: H - B, x2: W, y2: H - B, stroke: "#999" }));
  for (const f of [0, 0.5, 1]) svg.append(el("svg:text", { x: 2, y: y(max * f) + 4, "font-size": 10 }, fmt(max * f, max < 10 ? 2 : 0)));
  if (points.length) {
    svg.append(el("svg:text", { x: L, y: H - 4, "font-size": 10 }, points[0].t.slice(11, 16)));
    svg.append(el("svg:text", { x: W - 40, y: H - 4, "font-size": 10 }, points[points.length - 1].t.slice(11, 16)));
  }
  series.forEach((s) => {
    const path = [];
    points.forEach((p, i) => {
      const v = p[s.key];
      if (v === null || v === undefined || (s.skipZero && v === 0)) return;
      path.push(`${x(i)},${y(v)}`);
      const dot = el("svg:circle", { cx: x(i), cy: y(v), r: 2.5, fill: s.color, class: "pt", "data-series": s.key });
      dot.append(el("svg:title", {}, `${p.t} ${s.label}: ${fmt(v, 2)}`));
      svg.append(dot);
    });
    if (path.length > 1) svg.prepend(el("svg:polyline", { points: path.join(" "), fill: "none", stroke: s.color, "stroke-width": 1.5 }));
  });
  host.append(svg, legend(series.map((s) => [s.label, s.color])));
}

function legend(items) {
  const div = el("div", { class: "legend" });
  for (const [label, color] of items) { const s = el("span", {}, "■ " + label); s.style.color = color; div.append(s); }
  return div;
}

function costChart(host, days) {
  host.replaceChildren();
  const W = 600, H = 180, L = 46, B = 20;
  const models = [...new Set(days.flatMap((d) => Object.keys(d.by_model)))];
  const max = Math.max(1e-9, ...days.map((d) => d.cost_usd || 0));
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const bw = (W - L) / Math.max(days.length, 1);
  svg.append(el("svg:text", { x: 2, y: 12, "font-size": 10 }, "$" + max.toFixed(4)));
  days.forEach((d, i) => {
    let top = H - B;
    models.forEach((m, j) => {
      const v = d.by_model[m] || 0;
      const h = ((H - B - 10) * v) / max;
      top -= h;
      const r = el("svg:rect", { x: L + i * bw + 2, y: top, width: bw - 4, height: h, fill: COLORS[j % COLORS.length], class: "pt" });
      r.append(el("svg:title", {}, `${d.day} ${m}: ${usd(v)}`));
      svg.append(r);
    });
    svg.append(el("svg:text", { x: L + i * bw + 2, y: H - 4, "font-size": 10 }, d.day.slice(5)));
  });
  host.append(svg, legend(models.map((m, j) => [m, COLORS[j % COLORS.length]])));
}

function rows(table, data) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const cells of data) {
    const tr = el("tr");
    for (const c of cells) tr.append(typeof c === "object" && c !== null ? c : el("td", {}, c));
    body.append(tr);
  }
  if (!data.length) { const tr = el("tr"); tr.append(el("td", {}, "none")); body.append(tr); }
}

async function loadOverview() {
  const since = $("since").value;
  const bucket = { "15m": 30, "1h": 60, "6h": 600, "24h": 1800 }[since];
  const [s, ts, cost, alerts] = await Promise.all([
    api(`/admin/dashboard/summary?since=${since}`), api(`/admin/dashboard/timeseries?since=${since}&bucket=${bucket}`),
    api("/admin/dashboard/cost?days=7"), api("/admin/alerts"),
  ]);
  const cards = [["requests", s.count], ["req/s", fmt(s.throughput_rps, 3)], ["error rate", fmt(s.error_rate * 100, 1) + "%"],
    ["p50 ms", fmt(s.latency_ms.p50)], ["p95 ms", fmt(s.latency_ms.p95)], ["p99 ms", fmt(s.latency_ms.p99)],
    ["TTFT p50 ms", fmt(s.ttft_client_ms.p50)], ["TTFT p99 ms", fmt(s.ttft_client_ms.p99)], ["cost", usd(s.cost_usd) + (s.unpriced ? ` + ${s.unpriced} unpriced` : "")]];
  $("cards").replaceChildren(...cards.map(([k, v]) => { const c = el("div", { class: "card", "data-card": k }, k); c.append(el("b", {}, v)); return c; }));
  lineChart($("chart-latency"), ts.points, [{ key: "latency_p50", label: "p50", color: COLORS[0] }, { key: "latency_p99", label: "p99", color: COLORS[1] }]);
  lineChart($("chart-ttft"), ts.points, [{ key: "ttft_p50", label: "p50", color: COLORS[0] }, { key: "ttft_p99", label: "p99", color: COLORS[1] }]);
  lineChart($("chart-throughput"), ts.points, [{ key: "count", label: "requests", color: COLORS[2], skipZero: true }, { key: "errors", label: "errors", color: COLORS[1], skipZero: true }]);
  costChart($("chart-cost"), cost.data);
  rows($("errors"), Object.entries(s.errors_by_type));
  const teams = {};
  for (const d of cost.data) for (const [t, v] of Object.entries(d.by_team)) teams[t] = (teams[t] || 0) + (v || 0);
  rows($("teams"), Object.entries(teams).map(([t, v]) => [t, usd(v)]));
  rows($("cache-savings"), cost.cache_savings.map((c) => [c.route, `${c.cache_hits} (${c.semantic_hits})`,
    usd(c.saved_usd), c.saved_s === null ? "-" : fmt(c.saved_s, 1) + " s"]));
  rows($("alerts"), alerts.rules.map((a) => [a.name, el("td", { class: a.state }, a.state), fmt(a.value, 3) + " / " + a.threshold]));
}

async function loadRequests() {
  const params = new URLSearchParams({ limit: "100" });
  if ($("q").value.trim()) params.set("q", $("q").value.trim());
  if ($("status-filter").value) params.set("status", $("status-filter").value);
  const list = await api("/admin/requests?" + params);
  const body = $("requests").tBodies[0];
  body.replaceChildren();
  for (const r of list.data) {
    const tr = el("tr", { "data-request-id": r.request_id });
    for (const c of [r.created_at.slice(11, 19), r.request_id, r.route, r.status + (r.error_type ? " (" + r.error_type + ")" : ""),
      fmt(r.latency_ms), fmt(r.ttft_client_ms), `${r.input_tokens}/${r.output_tokens}`, usd(r.cost_usd)]) tr.append(el("td", {}, c));
    if (r.status === "error") tr.classList.add("error");
    tr.addEventListener("click", () => showDetail(r.request_id));
    body.append(tr);
  }
}

// Every team's batches (newest 50): lines answered and failed of the total, why lines or
// the whole batch failed, and the cost of the records the batch's lines left.
function batchErrors(b) {
  const bits = [];
  if (b.progress.failed) bits.push(b.progress.failed + " lines failed");
  for (const e of b.validation_errors) bits.push(`line ${e.line}: ${e.code}`);
  if (b.validation_error_count > b.validation_errors.length) bits.push(`+${b.validation_error_count - b.validation_errors.length} more`);
  const td = el("td", bits.length ? { class: "error" } : {}, bits.join("; ") || "–");
  if (b.validation_errors.length) td.title = b.validation_errors.map((e) => `line ${e.line}: ${e.message}`).join("\n");
  return td;
}

function batchCells(b) {
  const p = b.progress, c = b.cost;
  const progress = el("td", { class: "progress" });
  progress.append(el("progress", { max: Math.max(p.total, 1), value: p.completed + p.failed + p.cancelled }),
    document.createTextNode(` ${p.completed} ok, ${p.failed} failed / ${p.total}`));
  const unpriced = c && c.unpriced_requests && c.cost_usd !== null ? ` + ${c.unpriced_requests} unpriced` : "";
  return [b.created_at.slice(0, 19).replace("T", " "), b.id, b.team,
    el("td", ["failed", "expired"].includes(b.status) ? { class: "error" } : {}, b.status), progress, batchErrors(b),
    c ? `${c.input_tokens}/${c.output_tokens}` : "–", c ? usd(c.cost_usd) + unpriced : "–"];
}

async function loadBatches() {
  const list = await api("/admin/dashboard/batches?limit=50");
  rows($("batches"), list.data.map(batchCells));
  list.data.forEach((b, i) => { $("batches").tBodies[0].rows[i].dataset.batchId = b.id; });
}

// The cost plan the last 30 days imply (docs/cost.md, "Planning"). The server draws the
// charts as SVG; they are shown as images (data: URLs), so no server markup enters the page.
// Two queries over 30 days of records: reloaded every 5 minutes, not every 15 s.
let planLoadedAt = 0;
const svgImage = (img, svg) => { img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg); };

async function loadPlan() {
  const report = await api("/admin/dashboard/cost-plan?since=30d");
  planLoadedAt = Date.now();
  $("plan-reason").hidden = report.plan !== null;
  $("plan-reason").textContent = report.reason || "";
  for (const id of ["plan-bars", "plan-curve", "plan-text"]) $(id).hidden = report.plan === null;
  if (report.plan === null) return;
  svgImage($("plan-bars"), report.charts.cost_per_month);
  svgImage($("plan-curve"), report.charts.cost_by_volume);
  $("plan-text").textContent = report.text;
  $("plan-yaml").textContent = report.yaml;
}

// Configured limits against the records (docs/limits.md): a bar of spent with the soft and
// hard levels and the period-end forecast marked, coloured by state.
const amount = (b, v) => (v === null ? "–" : b.metric.startsWith("usd") ? "$" + Number(v).toFixed(2) : fmt(v, 0));

function budgetBar(b) {
  const bar = el("div", { class: "bar" });
  const top = Math.max(b.hard || 0, b.soft || 0, b.spent, b.forecast || 0) || 1;
  const at = (v) => ((100 * v) / top).toFixed(1) + "%";
  const fill = el("span", { class: "fill " + b.state, title: "spent " + amount(b, b.spent) });
  fill.style.width = at(b.spent);
  bar.append(fill);
  for (const [k, v] of [["soft", b.soft], ["hard", b.hard], ["forecast", b.forecast]]) {
    if (v === null) continue;
    const mark = el("span", { class: "mark " + k, title: k + " " + amount(b, v) });
    mark.style.left = at(v);
    bar.append(mark);
  }
  const td = el("td");
  td.append(bar);
  return td;
}

function budgetCells(b) {
  const scope = `${b.scope} ${b.value}` + (b.key_name && b.key_name !== b.value ? ` (${b.key_name})` : "")
    + (b.rule.startsWith("every_") ? ` via ${b.rule}` : "");
  return [scope, b.metric, budgetBar(b), amount(b, b.spent), `${amount(b, b.soft)} / ${amount(b, b.hard)}`,
    amount(b, b.forecast), el("td", { class: "budget-" + b.state }, b.state)];
}

async function loadBudgets() {
  const report = await api("/admin/dashboard/budgets");
  $("budgets-reason").hidden = report.data.length > 0;
  $("budgets-reason").textContent = report.configured ? "No scope has records in the current periods."
    : "No limits configured: add a limits: section to corral.yaml (docs/limits.md).";
  rows($("budget-lines"), report.data.map(budgetCells));
}

async function showDetail(id) {
  const r = await api("/admin/requests/" + encodeURIComponent(id));
  $("detail-id").textContent = id;
  $("detail-body").textContent = JSON.stringify(r, null, 2);
  $("detail").hidden = false;
  $("detail").scrollIntoView();
}

view("records.read", loadOverview);
view("records.read", loadRequests);
view("records.read", loadBatches);
view("records.read", loadBudgets);
view("records.read", () => (Date.now() - planLoadedAt > 300000 ? loadPlan() : null));

async function whoami() {
  const me = await api("/admin/whoami");
  PERMS = new Set(me.permissions);
  $("whoami").textContent = `${me.name} (${me.roles.join(", ")})`;
  for (const node of document.querySelectorAll("[data-permission]")) node.hidden = !PERMS.has(node.dataset.permission);
  $("no-views").hidden = VIEWS.some(([p]) => PERMS.has(p));
}

async function refresh() {
  $("status").textContent = "loading…";
  try {
    if (!PERMS.size) await whoami();
    await Promise.all(VIEWS.filter(([p]) => PERMS.has(p)).map(([, load]) => load()));
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.dataset.loaded = "true";
  } catch (e) {
    if (e.message !== "auth") $("status").textContent = "error: " + e.message;
  }
}

function showLogin(msg) {
  PERMS = new Set();
  $("main").hidden = true;
  $("login").hidden = false;
  if (msg) $("status").textContent = msg;
}

// A link may carry the key in the fragment (/dashboard#key=...): browsers never send the
// fragment, so the key stays out of server and proxy logs. It seeds sessionStorage once and
// leaves the address bar and history. A key in the query string (?key=) has already been
// sent to the server: it is not used, only dropped from the address bar.
function takeKeyFromUrl() {
  const url = new URL(location.href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  const leaked = url.searchParams.has("key");
  if (!fragment.has("key") && !leaked) return "";
  if (fragment.get("key")) sessionStorage.setItem(KEY, fragment.get("key"));
  url.searchParams.delete("key");
  history.replaceState(null, "", url.pathname + url.search);
  return leaked ? "A key in the URL query is not used (it is sent to the server and logged); open /dashboard#key=... or paste it here." : "";
}

function start() {
  const warning = takeKeyFromUrl();
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("key-input").value.trim());
    $("key-input").value = "";
    PERMS = new Set();
    start2();
  });
  $("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); PERMS = new Set(); showLogin("Key forgotten."); });
  $("refresh").addEventListener("click", () => { planLoadedAt = 0; refresh(); });
  $("since").addEventListener("change", refresh);
  $("search").addEventListener("submit", (e) => { e.preventDefault(); loadRequests(); });
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
  window.addEventListener("hashchange", () => { PERMS = new Set(); start2(takeKeyFromUrl()); });  // a #key= link opened in this tab
  start2(warning);
  setInterval(() => { if (!$("main").hidden) refresh(); }, 15000);
}

function start2(warning) {
  if (!sessionStorage.getItem(KEY)) return showLogin(warning);
  $("login").hidden = true;
  $("main").hidden = false;
  refresh();
}

window.Corral = { api, el, rows, fmt, usd, view, $ };
// After every deferred script has run, so views registered by prompts.js and others count.
document.addEventListener("DOMContentLoaded", start);
