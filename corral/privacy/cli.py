"""``corral pii scan FILE|-`` — see what the detector finds before turning a policy on.

Values are masked (first and last character) unless ``--show-values``: the output of a
scan of real data ends up in terminals, tickets and chat, which are records too.
Attach with ``cli.add_command(pii)``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import IO

import click

from corral.core.errors import CorralError
from corral.core.text_table import text_table
from corral.privacy.redact import span_report
from corral.privacy.settings import DETECTION_LANGUAGES
from corral.privacy.stage import load_default_detector
from corral.privacy.types import Span


def _summary(spans: Sequence[Span]) -> str:
    counts = Counter(s.entity for s in spans)
    kinds = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
    return f"{len(spans)} span{'s' if len(spans) != 1 else ''} found: {kinds}"


@click.group()
def pii() -> None:
    """Inspect personal-data detection (what the privacy policies act on)."""


@pii.command("scan")
@click.argument("source", type=click.File("r", encoding="utf-8"), metavar="FILE|-")
@click.option("--show-values", is_flag=True, help="Print values in full (default: masked).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Leave out spans scored below this.")
@click.option("--language", "languages", multiple=True, type=click.Choice(DETECTION_LANGUAGES),
              help="Also run this language's rules; repeatable.")
def scan_cmd(
    source: IO[str], show_values: bool, as_json: bool, min_score: float, languages: tuple[str, ...]
) -> None:
    """Print the personal data found in FILE (or stdin with -): offsets, type, score, source."""
    text = source.read()
    try:
        detector = load_default_detector(languages=languages)
        spans = sorted((s for s in detector.detect(text) if s.score >= min_score),
                       key=lambda s: (s.start, s.end))
    except CorralError as exc:
        raise click.ClickException(exc.message) from None
    reports = [span_report(s, text, "raw" if show_values else "masked") for s in spans]
    if as_json:
        click.echo(json.dumps(reports, indent=2, ensure_ascii=False))
        return
    if not spans:
        click.echo("No personal data found.")
        return
    rows = [[f"{r['start']}-{r['end']}", r["entity"], f"{r['score']:.2f}", r["source"], r["value"]]
            for r in reports]
    click.echo(text_table(["OFFSET", "TYPE", "SCORE", "SOURCE", "VALUE"], rows))
    click.echo("")
    click.echo(_summary(spans))
