"""The governance document's measured figures: the detector's match the report, and the
operating figures come from the deployment's own records."""

from __future__ import annotations

import re
from pathlib import Path

from corral.config import Settings, default_settings_data
from corral.governance.document import governance_document
from corral.governance.document_figures import DETECTOR, operating_figures
from corral.governance.document_people import DocumentFacts
from corral.store.db import Database
from tests.observe.test_queries import store

REPORT = Path(__file__).resolve().parents[2] / "docs" / "privacy-detection.md"


def test_the_detector_figures_are_the_reported_ones() -> None:
    """If the detector is re-measured, docs/privacy-detection.md and the document move together."""
    text = REPORT.read_text()
    row = re.search(r"\| \*\*held-out\*\* \| ([\d.]+) \| ([\d.]+) \| \*\*([\d.]+)\*\* \|", text)
    assert row is not None, "the held-out results row moved: update this test's pattern"
    assert tuple(map(float, row.groups())) == (DETECTOR["precision"], DETECTOR["recall"], DETECTOR["f2"])
    assert f"**{DETECTOR['flags_per_1000_chars']}** held-out" in text
    assert f"**{DETECTOR['median_ms']} ms** median" in text


async def test_operating_figures_come_from_the_records(migrated_db: Database, tmp_path: Path) -> None:
    await store(migrated_db, tmp_path)  # 100 requests: every 10th an error, every 25th degraded
    figures = await operating_figures(migrated_db)
    assert figures.requests == 100
    assert figures.error_rate == 0.10 and figures.degraded_rate == 0.02  # 25 and 75; 50 and 100 are errors
    assert figures.policy_events == 0 and figures.latency_p50_ms is not None
    text = governance_document(Settings.model_validate(default_settings_data()),
                               facts=DocumentFacts(figures=figures))
    assert "| Requests | 100 |" in text and "| Failed (an error reached the client) | 10.00% |" in text
    without = governance_document(Settings.model_validate(default_settings_data()))
    assert "has no operating figures" in without and "| Requests |" not in without
    assert f"| Recall | {DETECTOR['recall']:.3f} |" in without


def test_the_cli_adds_the_figures_of_the_configured_database(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from corral.governance.cli import governance
    from corral.store import default_database_url, migrate
    from corral.store.testing import run_sync

    config = tmp_path / "corral.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n")
    fresh = CliRunner().invoke(governance, ["doc", "--config", str(config)])
    assert fresh.exit_code == 0 and "has no operating figures" in fresh.output
    assert not (tmp_path / "home" / "corral.db").exists()  # describing a gateway creates nothing

    async def seed() -> None:
        (tmp_path / "home").mkdir()
        db = await Database.connect(default_database_url(tmp_path / "home"))
        try:
            await migrate(db)
            await store(db, tmp_path)
        finally:
            await db.close()

    run_sync(seed())
    seeded = CliRunner().invoke(governance, ["doc", "--config", str(config)])
    assert seeded.exit_code == 0 and "| Requests | 100 |" in seeded.output
    without = CliRunner().invoke(governance, ["doc", "--config", str(config), "--no-records"])
    assert "| Requests |" not in without.output and "has no operating figures" in without.output
