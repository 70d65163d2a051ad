// Corral dashboard: the prompt registry (docs/prompts.md). Lists prompts with their labels and
// versions, and pending moves of protected labels with their diff. Approve/reject buttons show
// only where the server says this key may decide (you_may_approve: an owner who is not the
// proposer); the server checks again, so a button is a convenience, never the rule.
"use strict";
(() => {
  const { api, el, rows, view, $ } = window.Corral;
  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");
  const say = (text) => { $("prompt-message").textContent = text; };

  function labels(p) {
    const names = Object.keys(p.labels).sort();
    return names.length ? names.map((l) => `${l}=${p.labels[l]}`).join(", ") : "–";
  }

  async function showVersions(name) {
    const p = await api(`/admin/prompts/${encodeURIComponent(name)}`);
    $("prompt-detail-name").textContent = `${p.name} (owners: ${p.owners.join(", ")})`;
    rows($("prompt-versions"), p.versions.map((v) => [String(v.version), v.sha256.slice(0, 12), v.author,
      when(v.created_at), v.note || ""]));
    $("prompt-detail").hidden = false;
  }

  async function showDiff(id) {
    const change = await api(`/admin/prompt-changes/${id}`);
    $("prompt-diff").textContent = `change ${change.id}: ${change.name}@${change.label} ` +
      `${change.from_version ?? "(none)"} -> ${change.to_version}\n\n${change.diff || "(no difference)"}`;
    $("prompt-diff").hidden = false;
  }

  async function decide(id, verb) {
    const body = verb === "reject" ? { reason: "rejected in the dashboard" } : {};
    try {
      await api(`/admin/prompt-changes/${id}/${verb}`, "POST", body);
      say(`Change ${id}: ${verb === "approve" ? "approved, the label moved" : "rejected"}.`);
    } catch (e) {
      say(e.message);
    }
    await loadPrompts();
  }

  function button(text, onClick) {
    const b = el("button", { type: "button" }, text);
    b.addEventListener("click", () => onClick().catch((e) => say(e.message)));
    return b;
  }

  function changeRow(c) {
    const decision = el("td");
    if (c.you_may_approve) {
      decision.append(button("approve", () => decide(c.id, "approve")), button("reject", () => decide(c.id, "reject")));
    } else {
      decision.textContent = "another owner decides";
    }
    const diff = el("td");
    diff.append(button("diff", () => showDiff(c.id)));
    return [String(c.id), `${c.name}@${c.label}`, `${c.from_version ?? "–"} -> ${c.to_version}`,
      c.proposed_by_name ? `${c.proposed_by_name} (${c.proposed_by})` : c.proposed_by, when(c.proposed_at),
      c.note || "", diff, decision];
  }

  async function loadPrompts() {
    const [list, pending] = await Promise.all([api("/admin/prompts"), api("/admin/prompt-changes?state=pending")]);
    rows($("prompt-list"), list.data.map((p) => {
      const name = el("td");
      name.append(button(p.name, () => showVersions(p.name)));
      return [name, labels(p), String(p.latest_version), p.protected_labels.join(", ") || "–", p.owners.join(", ")];
    }));
    rows($("prompt-changes"), pending.data.map(changeRow));
  }

  view("prompts.read", loadPrompts);
})();
