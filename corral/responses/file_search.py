"""The `file_search` tool's wire shape: checked and echoed as OpenAI documents it.

    {"type": "file_search", "vector_store_ids": ["vs_..."], "max_num_results": 1..50,
     "filters": <attribute filter>, "ranking_options": {"ranker", "score_threshold"}}

Every field is checked here and refused with a 400 naming it (`tools[0].max_num_results`);
what Corral cannot honour (`ranking_options.hybrid_search`: Corral's own fusion weights
apply) is refused rather than dropped. The search itself is corral.responses.grounding's.
"""

from __future__ import annotations

from typing import Any

import orjson

from corral.core.errors import InvalidRequest
from corral.knowledge.filters import InvalidFilter, validate

KIND = "file_search"
MAX_STORES = 2  # vector stores one file_search tool searches, as OpenAI's file_search accepts
MAX_RESULTS = 50
DEFAULT_RESULTS = 10  # Corral's vector-store search default: ~2,000 prompt tokens of 200-token chunks
MAX_ID_CHARS = 64
MAX_FILTER_BYTES = 16 * 1024  # as the vector-store search: a filter is compiled into a query
RANKERS = ("auto", "none", "default-2024-11-15")
FIELDS = frozenset({"type", "vector_store_ids", "max_num_results", "filters", "ranking_options"})
INCLUDE_RESULTS = "file_search_call.results"


def parse_tool(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """A `file_search` tool as the Response object echoes it (defaults filled in)."""
    extra = sorted(set(raw) - FIELDS)
    if extra:
        raise InvalidRequest(f"Unrecognized field(s) in a file_search tool: {', '.join(extra)[:200]}.",
                             param=f"{where}.{extra[0][:64]}")
    return {"type": KIND, "vector_store_ids": _store_ids(raw.get("vector_store_ids"), where),
            "filters": _filters(raw.get("filters"), where),
            "max_num_results": _max_results(raw.get("max_num_results"), where),
            "ranking_options": _ranking(raw.get("ranking_options"), where)}


def _store_ids(raw: Any, where: str) -> list[str]:
    param = f"{where}.vector_store_ids"
    if raw is None:
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param,
                             code="missing_required_parameter")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest(f"'{param}' must be a non-empty list of vector store ids.", param=param)
    if len(raw) > MAX_STORES:
        raise InvalidRequest(f"Invalid '{param}': array too long. Expected an array with maximum length "
                             f"{MAX_STORES}, but got an array with length {len(raw)} instead.", param=param,
                             code="array_above_max_length")
    for i, store_id in enumerate(raw):
        if not isinstance(store_id, str) or not 0 < len(store_id) <= MAX_ID_CHARS or "\x00" in store_id:
            raise InvalidRequest(f"'{param}[{i}]' must be a vector store id (vs_...).", param=f"{param}[{i}]")
    return list(dict.fromkeys(raw))


def _max_results(raw: Any, where: str) -> int:
    if raw is None:
        return DEFAULT_RESULTS
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_RESULTS:
        raise InvalidRequest(f"'{where}.max_num_results' must be a whole number from 1 to {MAX_RESULTS}.",
                             param=f"{where}.max_num_results")
    return raw


def _filters(raw: Any, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        validate(raw, f"{where}.filters")
    except InvalidFilter as exc:
        at, _, why = str(exc).partition(": ")
        raise InvalidRequest(f"Invalid filter at '{at}': {why}.", param=at) from None
    text = orjson.dumps(raw)
    if len(text) > MAX_FILTER_BYTES or b"\\u0000" in text:
        raise InvalidRequest(f"'{where}.filters' must be at most {MAX_FILTER_BYTES} bytes of JSON, without "
                             "NUL characters.", param=f"{where}.filters")
    return dict(raw)


def _ranking(raw: Any, where: str) -> dict[str, Any]:
    param = f"{where}.ranking_options"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    if raw.get("hybrid_search") is not None:
        raise InvalidRequest("'hybrid_search' weights are not supported by Corral: its own hybrid ranking "
                             "(lexical and dense fusion with a rerank step) applies. Leave it out.",
                             param=f"{param}.hybrid_search")
    extra = sorted(set(raw) - {"ranker", "score_threshold", "hybrid_search"})
    if extra:
        raise InvalidRequest(f"Unrecognized field(s) in '{param}': {', '.join(extra)[:200]}.",
                             param=f"{param}.{extra[0][:64]}")
    ranker = raw.get("ranker") or "auto"
    if ranker not in RANKERS:
        raise InvalidRequest(f"'{param}.ranker' must be one of: {', '.join(RANKERS)}.",
                             param=f"{param}.ranker")
    threshold = raw.get("score_threshold", 0.0)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        raise InvalidRequest(f"'{param}.score_threshold' must be a number from 0 to 1.",
                             param=f"{param}.score_threshold")
    return {"ranker": ranker, "score_threshold": float(threshold)}


def parse_include(raw: Any) -> bool:
    """`include`: only `file_search_call.results` is produced by Corral; True when it is asked."""
    if raw is None or raw == []:
        return False
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise InvalidRequest("'include' must be a list of strings.", param="include")
    other = [v for v in raw if v != INCLUDE_RESULTS]
    if other:
        shown = ", ".join(v[:60] for v in other[:5])
        raise InvalidRequest(f"'include' may only hold '{INCLUDE_RESULTS}' on Corral (asked for: {shown}): "
                             "the other values add data of built-in tools, logprobs and encrypted reasoning, "
                             "which Corral does not produce.", param="include")
    return True


def search_tool(tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The request's file_search tool, if it has one (there is at most one)."""
    return next((t for t in tools if t["type"] == KIND), None)
