"""Issue 8: a seeded fuzzer over every endpoint finds no 500, no hang and no malformed error.

Runs about a minute (``CORRAL_FUZZ_SECONDS``, default 40, plus ~5 s of startup) against a
real gateway on 127.0.0.1. Knobs: ``CORRAL_FUZZ_SEED`` (default 8), ``CORRAL_FUZZ_SECONDS``,
``CORRAL_FUZZ_REQUEST_TIMEOUT`` (a request slower than this is a hang, default 8),
``CORRAL_FUZZ_MAX_REQUESTS`` and ``CORRAL_FUZZ_ONLY=i,j`` (replay those request indices).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from corral.api import chat
from corral.api.app import ROUTES
from tests.fuzz.campaign import Knobs, route_keys, run
from tests.fuzz.gateway import running_target
from tests.fuzz.report import render
from tests.fuzz.runner import LogTap
from tests.fuzz.shapes import SHAPES

KEYS = route_keys(ROUTES)


def test_every_route_has_a_shape() -> None:
    """A new endpoint must get a request builder, or it would silently go unfuzzed."""
    assert f"POST {chat.PATH}" in KEYS  # the fast path is served outside routing, fuzz it too
    missing = [k for k in KEYS if k not in SHAPES]
    assert not missing, f"add a builder to tests/fuzz/shapes.py SHAPES for: {missing}"
    stale = [k for k in SHAPES if k not in KEYS]
    assert not stale, f"SHAPES names routes the app no longer has: {stale}"


@pytest.mark.timeout(600)
def test_fuzz_every_endpoint_finds_no_500_no_hang_no_bad_error(tmp_path: Path) -> None:
    knobs = Knobs.from_env()
    print(f"fuzz seed {knobs.seed} for {knobs.seconds}s (CORRAL_FUZZ_SEED / CORRAL_FUZZ_SECONDS)")
    tap = LogTap()
    root = logging.getLogger()
    root.addHandler(tap)
    try:
        with running_target(tmp_path, knobs.seed) as target:
            result = run(target, KEYS, knobs, tap)
            report = render(result, target)
    finally:
        root.removeHandler(tap)
    print(report)
    if path := os.environ.get("CORRAL_FUZZ_REPORT"):
        Path(path).write_text(report + "\n")
    assert result.requests > 0
    if result.failures:
        pytest.fail(report, pytrace=False)
