"""``governance:`` configuration: how long each kind of kept data lives (docs/retention.md).

``governance.retention`` gives a maximum age in days per data class, and per table where a
class is too coarse (the data classes are those of corral.governance.datamap). ``null`` means
keep. The hourly purge (corral.governance.retention, run once across replicas by
corral.maintenance) enforces them.

Why these defaults, the choice of a cautious team (docs/retention.md says more):

* ``captured_content_days: 30``: prompts and answers are the most sensitive data Corral keeps
  (only with capture on); 30 days covers a month of debugging and incident review, and matches
  how long OpenAI keeps API inputs and stored responses (``responses.retention_s``).
* ``request_records_days: 90``: telemetry (tokens, latency, cost, the end user id) for a
  quarter of cost reports and trends; identity in it makes keeping it longer a decision.
* ``policy_events_days: 365``, ``feedback_days: 365``: the review and quality record, needed
  across a year to see patterns (and an incident raised late); they hold free text, so not
  forever.
* ``quality_scores_days: 90``: numbers only, read as recent trends, like the records.
* ``closed_incidents_days: 730``: the record of how a reported answer was handled, counted from
  when it was resolved or dismissed (open incidents stay); two years covers an audit cycle and a
  complaint raised late, and the notes hold redacted text only.
* ``audit_log_days: null``, and only null: the audit log is the compliance record, the proof of
  who changed what (retention runs included); its entries are hash-chained, so deleting the oldest
  would break verification. Archive it with ``corral audit export`` instead.

This module imports nothing but pydantic: ``Settings`` composes it as the ``governance:`` key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from corral.incidents.settings import EscalationSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _days(default: int | None) -> int | None:
    return Field(default, ge=1, strict=True)


class RetentionSettings(_Strict):
    """Maximum age in days of each kind of data (null: keep until erased)."""

    request_records_days: int | None = _days(90)  # the requests table: telemetry, identity, content
    captured_content_days: int | None = _days(30)  # requests.prompt and .response: nulled, row kept
    policy_events_days: int | None = _days(365)  # provider refusals, with the prompt excerpt
    feedback_days: int | None = _days(365)  # ratings, comments and corrections
    quality_scores_days: int | None = _days(90)  # sampled answer scores
    closed_incidents_days: int | None = _days(730)  # incidents (and notes), counted from closing
    audit_log_days: int | None = _days(None)  # must stay null: the compliance record

    @model_validator(mode="after")
    def _consistent(self) -> RetentionSettings:
        if self.audit_log_days is not None:
            raise ValueError(
                f"audit_log_days must be null (got {self.audit_log_days}): the audit log is the "
                "compliance record and is hash-chained, so deleting its oldest entries would break "
                "`corral audit verify`; archive it with `corral audit export` instead")
        content, records = self.captured_content_days, self.request_records_days
        if content is not None and records is not None and content > records:
            raise ValueError(
                f"captured_content_days ({content}) must not be longer than request_records_days "
                f"({records}): content lives inside the request records, which are deleted after "
                f"{records} days; lower captured_content_days or raise request_records_days")
        return self


class GovernanceSettings(_Strict):
    # A compliance preset fills defaults across sections before validation (corral.governance.
    # profiles, docs/compliance.md); the file's own values win.
    profile: Literal["none", "gdpr", "ccpa", "hipaa"] = "none"
    # How many days an erasure request may take from receipt to done: the governance document
    # states it; null when no preset or file sets one.
    erasure_deadline_days: int | None = Field(None, ge=1, le=365, strict=True)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)  # docs/incidents.md
