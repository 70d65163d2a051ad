// Corral dashboard: the review queue (docs/incidents.md). Lists incidents (reports and grouped
// content-policy events) with their severity, state and escalation, and time to triage; a row
// opens the incident with its notes, history and the request as stored (redacted). State
// buttons and the note box sit in a data-permission="incidents.manage" block, shown only to keys
// that may change incidents; the server checks again, so a button is a convenience, never the
// rule. Input rules are listed with a retire button.
"use strict";
(() => {
  const { api, el, rows, view, $ } = window.Corral;
  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");
  const say = (text) => { $("incident-message").textContent = text; };
  const MOVES = { open: ["triaged", "resolved", "dismissed"], triaged: ["open", "resolved", "dismissed"],
    resolved: ["open"], dismissed: ["open"] };
  const canManage = () => !$("incident-manage").hidden;  // app.js shows it per the key's permissions
  let current = null;

  function button(text, onClick) {
    const b = el("button", { type: "button" }, text);
    b.addEventListener("click", () => onClick().catch((e) => say(e.message)));
    return b;
  }

  const seconds = (s) => (s === null || s === undefined ? "–" : s < 120 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`);

  async function change(id, body) {
    await api(`/admin/incidents/${encodeURIComponent(id)}`, "PATCH", body);
    say(`Incident ${id} updated.`);
    await Promise.all([loadIncidents(), showIncident(id)]);
  }

  async function showIncident(id) {
    const inc = await api(`/admin/incidents/${encodeURIComponent(id)}`);
    current = inc.id;
    $("incident-detail-id").textContent = `${inc.id}: ${inc.category} (${inc.severity}, ${inc.state})`;
    const actions = $("incident-actions");
    actions.replaceChildren();
    if (canManage()) {
      for (const to of MOVES[inc.state] || []) actions.append(button(to, () => change(inc.id, { state: to })));
      if (inc.severity !== "critical") actions.append(button("raise to critical", () => change(inc.id, { severity: "critical" })));
    }
    const lines = [
      `source: ${inc.source}${inc.detail ? " (" + inc.detail + ")" : ""}; reports: ${inc.reports}`,
      `route: ${inc.route || "–"}; team: ${inc.team || "–"}; request: ${inc.request_id || "–"}`,
      `assignee: ${inc.assignee || "–"}; time to triage: ${seconds(inc.time_to_triage_s)}`,
      `escalation: ${inc.escalation} (${inc.escalation_attempts} attempts)${inc.escalation_error ? ": " + inc.escalation_error : ""}`,
      "", "notes:", ...inc.notes.map((n) => `  ${when(n.created_at)} ${n.author} [${n.kind}] ${n.text}`),
      "", "history:", ...inc.history.map((h) => `  ${when(h.at)} ${h.actor_name || h.actor} ${h.action} ${h.after || ""}`),
      "", "request (as stored, redacted):", inc.request ? JSON.stringify(inc.request, null, 2) : "  not stored (yet)",
    ];
    $("incident-detail-body").textContent = lines.join("\n");
    $("incident-detail").hidden = false;
  }

  function row(inc) {
    const open = el("td");
    open.append(button(inc.id.slice(0, 12) + "…", () => showIncident(inc.id)));
    return [when(inc.created_at), open, inc.category + (inc.detail ? ` (${inc.detail})` : ""), inc.severity,
      inc.state, String(inc.reports), inc.assignee || "–", inc.escalation, seconds(inc.time_to_triage_s)];
  }

  async function loadIncidents() {
    const state = $("incident-state").value;
    const [list, stats] = await Promise.all([
      api("/admin/incidents?limit=100" + (state ? `&state=${state}` : "")), api("/admin/incidents/stats?since=30d")]);
    rows($("incident-list"), list.data.map(row));
    const t = stats.time_to_triage_s;
    $("incident-stats").textContent = `30 days: ${stats.incidents} incidents, ${stats.untriaged} open; ` +
      `time to triage median ${seconds(t.median)}, p90 ${seconds(t.p90)} (high and critical: median ` +
      `${seconds(stats.time_to_triage_high_s.median)})`;
  }

  async function loadRules() {
    const list = await api("/admin/input-rules");
    rows($("rule-list"), list.data.map((r) => {
      const retire = el("td");
      retire.append(button("retire", async () => {
        await api(`/admin/input-rules/${encodeURIComponent(r.id)}`, "DELETE");
        say(`Rule ${r.id} retired.`);
        await loadRules();
      }));
      return [r.id.slice(0, 13) + "…", r.kind, r.pattern, r.action, r.route || "all", r.team || "all",
        String(r.hits), r.created_by, retire];
    }));
  }

  function wire() {
    $("incident-state").addEventListener("change", () => loadIncidents().catch((e) => say(e.message)));
    $("incident-close").addEventListener("click", () => { $("incident-detail").hidden = true; current = null; });
    $("incident-note-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("incident-note").value.trim();
      if (!current || !text) return;
      change(current, { note: text }).then(() => { $("incident-note").value = ""; }).catch((err) => say(err.message));
    });
  }

  view("incidents.read", loadIncidents);
  view("input_rules.manage", loadRules);
  document.addEventListener("DOMContentLoaded", wire);
})();
