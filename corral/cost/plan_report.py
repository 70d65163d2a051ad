"""The dashboard's cost plan: the plan the recent records imply, its figures and its charts.

Why the charts are made here, as SVG text, rather than drawn by the page's script: the
terminal's `--html` and the dashboard then show the same picture from one piece of code,
and the page shows them as images (`data:` URLs, which its policy allows), so no markup
from the server is ever parsed into the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from corral.cost.catalog import PriceCatalog
from corral.cost.plan_math import compute_plan
from corral.cost.plan_model import PlanError, plan_yaml
from corral.cost.plan_records import observe, plan_from_observed
from corral.cost.plan_render import render_text, result_json
from corral.cost.plan_svg import cost_curve_svg, month_bars_svg
from corral.store.db import Database


async def records_report(db: Database, catalog: PriceCatalog, since: datetime, *, route: str | None = None,
                         now: datetime | None = None) -> dict[str, Any]:
    """`{"plan", "result", "yaml", "text", "charts"}`, or `{"plan": None, "reason"}` when the
    window has no traffic the catalog can price."""
    end = now or datetime.now(UTC)
    observed = await observe(db, since, end, route=route)
    try:
        plan = plan_from_observed(observed, catalog, name=f"{route or 'all routes'}, from records")
        result = compute_plan(plan, catalog, end.date())
    except PlanError as exc:
        return {"plan": None, "reason": str(exc), "since": since.isoformat(timespec="seconds")}
    return {
        "since": since.isoformat(timespec="seconds"),
        "plan": plan.model_dump(mode="json"),
        "result": result_json(result),
        "yaml": plan_yaml(plan),  # what `corral cost plan --from-records --save` would write
        "text": render_text(result),
        "charts": {"cost_per_month": month_bars_svg(result), "cost_by_volume": cost_curve_svg(result)},
    }
