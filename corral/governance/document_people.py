"""Governance document sections on people and process: who owns each system prompt and who
approves changes, and how reported answers are reviewed and escalated.

The configuration says which routes send a registry prompt and where escalations go; the
registry and the incidents live in the database, so `DocumentFacts` carries what was read from
it (`gather_facts`). Without a database the sections say what the configuration says and where
to look for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from corral.config import Settings
from corral.core.text_table import markdown_table
from corral.governance.document_figures import OperatingFigures, operating_figures

if TYPE_CHECKING:
    from corral.prompts.models import Prompt
    from corral.store.db import Database

CATEGORY_MEANING = {
    "harmful": "the answer could cause harm (unsafe, abusive, dangerous advice)",
    "wrong": "the answer is factually wrong or misleading",
    "data_leak": "the answer reveals personal or confidential data",
    "content_policy": "a provider refused the request or filtered its answer (recorded automatically)",
}


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the document reports from the database rather than the configuration."""

    figures: OperatingFigures | None = None
    prompts: list[Prompt] = field(default_factory=list)
    pending_changes: dict[str, int] = field(default_factory=dict)  # prompt name -> pending label moves
    key_names: dict[str, str] = field(default_factory=dict)  # key id -> key name, for owners
    incident_stats: dict[str, Any] | None = None


async def gather_facts(db: Database) -> DocumentFacts:
    """Figures, the prompt registry and incident statistics (a handful of queries)."""
    from corral.auth.service import KeyService
    from corral.incidents.store import IncidentStore
    from corral.prompts.registry import PromptRegistry

    registry = PromptRegistry(db)
    pending: dict[str, int] = {}
    for change in await registry.changes(state="pending"):
        pending[change.name] = pending.get(change.name, 0) + 1
    keys = await KeyService(db, touch_interval_s=None).list(include_revoked=True)
    return DocumentFacts(await operating_figures(db), await registry.all(), pending,
                         {k.id: k.name for k in keys}, await IncidentStore(db).stats(None))


def _who(owner: str, names: dict[str, str]) -> str:
    if owner.startswith("cli:"):
        return f"{owner[4:]} (command line)"
    return f"{names[owner]} (key {owner})" if owner in names else owner


def prompts_section(settings: Settings, facts: DocumentFacts | None) -> str:
    routes = [[f"`{name}`", f"`{m.prompt}`", "yes" if m.prompt_override else "no"]
              for name, m in settings.models.items() if m.prompt]
    parts = [
        "## System prompts",
        "",
        "System prompts (the standing instructions sent to a model before the user's words) are "
        "kept in a registry: each prompt has owners, numbered versions that never change once "
        "written, and labels such as `production` that point at one version. A *protected* label "
        "moves only when a second owner approves the change (two-person rule), whether the change "
        "is made through the API, the command line or the dashboard; every proposal, approval and "
        "rejection is in the audit log, and each request's record names the exact version it used.",
        "",
    ]
    if routes:
        parts += ["Routes that send a registry prompt with every request (*client may replace*: "
                  "whether an application may send its own instructions instead):", "",
                  markdown_table(["Route", "Prompt", "Client may replace"], routes), ""]
    else:
        parts += ["No route sends a registry prompt by configuration; applications may name one "
                  "per request.", ""]
    if facts is None:
        parts.append("This copy was generated without the gateway's database, so it does not list "
                     "the prompts and their owners: `corral prompts list` does.")
        return "\n".join(parts)
    if not facts.prompts:
        parts.append("The registry holds no prompts.")
        return "\n".join(parts)
    rows = [[f"`{p.name}`", ", ".join(_who(o, facts.key_names) for o in p.owners),
             ", ".join(f"`{x}`" for x in p.protected_labels) or "none",
             ", ".join(f"{label} → v{v}" for label, v in sorted(p.labels.items())) or "none",
             str(facts.pending_changes.get(p.name, 0))] for p in facts.prompts]
    parts += [markdown_table(["Prompt", "Owners (approvers)", "Protected labels", "Labels",
                              "Changes awaiting approval"], rows)]
    return "\n".join(parts)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def incidents_section(settings: Settings, facts: DocumentFacts | None) -> str:
    escalation = settings.governance.escalation
    url = escalation.webhook_url
    where = (f"a webhook at `{urlsplit(url).scheme}://{urlsplit(url).netloc}` (signed "
             f"{'with a shared secret' if escalation.secret_env else 'without a signature'}), retried "
             f"up to {escalation.max_attempts} times with growing waits; each attempt is logged and "
             "the incident shows whether delivery succeeded") if url else None
    parts = [
        "## Incident review and escalation",
        "",
        "Anyone using an application key can report an answer (`POST /v1/feedback` with a "
        "category). A report opens an *incident*, or joins the open incident for the same answer, "
        "with a severity, a state (open, triaged, resolved, dismissed), an assignee, notes, and the "
        "request as it was stored (personal data replaced where the route's policy redacts). "
        "Provider refusals join the same review queue automatically. Reviewers (the `reviewer` "
        "role) triage incidents and can turn a pattern of rejected prompts into an *input rule* "
        "that flags or blocks such prompts before any provider sees them. Every change of state, "
        "assignee or severity, and every input rule, is in the audit log.",
        "",
        markdown_table(["Category", "Meaning"], [[f"`{k}`", v] for k, v in CATEGORY_MEANING.items()]),
        "",
        (f"Incidents of severity **{escalation.min_severity}** or above are escalated at once to "
         f"{where}." if where else
         "**No escalation path is configured** (`governance.escalation.webhook_url`): serious "
         "incidents wait in the review queue until a reviewer looks."),
    ]
    if facts is None or facts.incident_stats is None:
        parts += ["", "This copy was generated without the gateway's database, so it has no incident "
                  "figures: the dashboard's review queue shows them."]
        return "\n".join(parts)
    s = facts.incident_stats
    wait, high = s["time_to_triage_s"], s["time_to_triage_high_s"]
    parts += ["", markdown_table(["Measure", "Value"], [
        ["Incidents recorded", f"{s['incidents']:,}"],
        ["Waiting for triage now", f"{s['untriaged']:,}"],
        ["Time to triage, median / 90th percentile",
         f"{_duration(wait['median'])} / {_duration(wait['p90'])}"],
        ["Same, high severity and above", f"{_duration(high['median'])} / {_duration(high['p90'])}"],
    ])]
    return "\n".join(parts)
