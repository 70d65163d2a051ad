"""The Batch object as OpenAI reports it: a cancelled batch is never shown `finalizing`.

Corral moves a cancelled batch through `finalizing` while one worker writes its files; a
client polling (or the CLI printing the cancel's answer) saw `finalizing` there, a status
OpenAI's cancelled batches never have (cancelling -> cancelled)."""

from __future__ import annotations

from datetime import UTC, datetime

from corral.batches.types import Batch, Submitter, batch_wire

T = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _batch(status: str, *stamps: str) -> Batch:
    return Batch(id="batch_x", submitter=Submitter("key_1", "k", "team", ("inference",)),
                 endpoint="/v1/chat/completions", input_file_id="file-x", completion_window="24h",
                 status=status, created_at=T, expires_at=T, stamps=dict.fromkeys(stamps, T))  # type: ignore[arg-type]


def test_a_cancelled_batch_being_finalized_is_shown_cancelling() -> None:
    wire = batch_wire(_batch("finalizing", "in_progress_at", "cancelling_at", "finalizing_at"), {})
    assert wire["status"] == "cancelling" and wire["cancelling_at"] == int(T.timestamp())
    assert wire["finalizing_at"] is None
    stamps = ("in_progress_at", "cancelling_at", "finalizing_at", "cancelled_at")
    done = batch_wire(_batch("cancelled", *stamps), {})
    assert done["status"] == "cancelled" and done["finalizing_at"] is None


def test_a_batch_that_ran_to_the_end_is_shown_finalizing() -> None:
    wire = batch_wire(_batch("finalizing", "in_progress_at", "finalizing_at"), {})
    assert wire["status"] == "finalizing" and wire["finalizing_at"] == int(T.timestamp())
