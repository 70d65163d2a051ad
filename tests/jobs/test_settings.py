"""The `jobs:` section of corral.yaml, composed into Settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from corral.config import Settings
from corral.jobs.settings import JobSettings


def test_defaults_and_a_configured_section() -> None:
    assert Settings().jobs == JobSettings()
    jobs = Settings.model_validate({"jobs": {"concurrency": 32, "lease_s": 60}}).jobs
    assert (jobs.concurrency, jobs.lease_s, jobs.heartbeat_s) == (32, 60, 20)


@pytest.mark.parametrize("section", [
    {"concurrency": 0}, {"lease_s": 0}, {"retry_base_s": 10, "retry_max_s": 1}, {"workers": 2},
])
def test_invalid_values_are_refused(section: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"jobs": section})
