// Corral dashboard: user feedback on answers (GET /admin/feedback, records.read; docs/observability.md).
// Newest first, filtered by rating; a request id opens the request's record, as in Recent requests.
// Comments and corrections are shown as stored: redacted where the request's route redacts.
"use strict";
(() => {
  const { api, el, rows, view, $ } = window.Corral;
  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "–");

  async function loadFeedback() {
    const rating = $("feedback-rating").value;
    const list = await api(`/admin/feedback?limit=50${rating ? `&rating=${rating}` : ""}`);
    rows($("feedback-list"), list.data.map((f) => [when(f.created_at), f.request_id || "–", f.rating || "–",
      f.score == null ? "–" : String(f.score), f.comment || "", f.correction || "", f.team || "–"]));
  }

  $("feedback-rating").addEventListener("change", () => loadFeedback().catch(() => {}));
  view("records.read", loadFeedback);
})();
