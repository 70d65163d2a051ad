"""Quality signals: user feedback, golden question/answer sets and sampled answer scores.

* :mod:`.feedback` — ``POST /v1/feedback`` payloads and the ``feedback`` table.
* :mod:`.golden` — golden examples per route (``/admin/golden``, ``corral golden``).
* :mod:`.scorer` — :class:`QualityScorer`: off-request-path similarity to golden answers
  and factual-consistency scores, rolling per (route, model), persisted behind.
"""

from corral.observe.quality.feedback import Feedback, FeedbackStore, feedback_from_payload
from corral.observe.quality.golden import GoldenExample, GoldenStore

__all__ = ["Feedback", "FeedbackStore", "GoldenExample", "GoldenStore", "feedback_from_payload"]
