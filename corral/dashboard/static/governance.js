// Governance view: the governance document of the running configuration, from
// GET /admin/governance/document (permission config.read; docs/compliance.md). The Markdown is
// shown as text (textContent: no server markup enters the page). HTML and PDF are downloads:
// fetched with the key in the Authorization header like every admin call, then saved from a
// Blob through an <a download>, so the key never goes into a URL.
// The document changes only when the configuration does: it is reloaded every 5 minutes (or
// on Refresh), not on every 15 s refresh.
"use strict";
(() => {
  const { view, $ } = window.Corral;
  const PATH = "/admin/governance/document";
  const EVERY_MS = 300000;
  let loadedAt = 0;

  async function fetchDocument(format) {
    const headers = { Authorization: "Bearer " + sessionStorage.getItem("corral.adminKey") };
    const resp = await fetch(`${PATH}?format=${format}`, { headers });
    if (!resp.ok) {
      let message = "HTTP " + resp.status;
      try { message = (await resp.json()).error.message; } catch (e) { /* not an OpenAI-shaped error */ }
      throw new Error(PATH + ": " + message);
    }
    return resp;
  }

  async function load() {
    if (Date.now() - loadedAt < EVERY_MS) return;
    const text = await (await fetchDocument("md")).text();
    loadedAt = Date.now();
    $("governance-text").textContent = text;
    $("governance-status").textContent = "as of " + new Date().toLocaleTimeString();
  }

  async function download(format) {
    const status = $("governance-status");
    status.textContent = "preparing " + format.toUpperCase() + "…";
    try {
      const blob = await (await fetchDocument(format)).blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = "corral-governance." + format;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent = "downloaded corral-governance." + format;
    } catch (e) {
      status.textContent = "error: " + e.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("governance-text").style.whiteSpace = "pre-wrap";  // long Markdown lines wrap instead of scrolling
    $("governance-html").addEventListener("click", () => download("html"));
    $("governance-pdf").addEventListener("click", () => download("pdf"));
  });
  // Capture phase: runs before app.js's own Refresh handler reloads the views.
  document.addEventListener("click", (e) => { if (e.target.id === "refresh") loadedAt = 0; }, true);
  view("config.read", load);
})();
