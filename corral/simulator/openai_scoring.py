"""OpenAI's moderations and the rerank endpoint (vLLM, Jina and Cohere's shape), simulated (a test
and benchmark tool, not a model): deterministic scores from the text, key checks and faults as
chat has them (they go through ``engine.handle``)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiohttp import web

from .engine import BadRequest, Call, make_handler, new_id
from .generate import Generation, estimate_tokens
from .openai_dialect import DIALECT
from .openai_extras import int_param, require_model

# --- POST /v1/moderations -------------------------------------------------------------------

#: category: trigger words (lower-case, whole words or prefixes); deterministic, for tests.
MOD_WORDS: dict[str, tuple[str, ...]] = {
    "violence": ("kill", "attack", "murder", "shoot", "stab"), "violence/graphic": ("gore", "dismember"),
    "harassment": ("idiot", "loser"), "harassment/threatening": ("i will hurt you",),
    "hate": ("hateful",), "hate/threatening": ("exterminate",),
    "illicit": ("shoplift", "counterfeit"), "illicit/violent": ("build a bomb",),
    "self-harm": ("suicide", "self-harm"), "self-harm/intent": ("i want to die",),
    "self-harm/instructions": ("how to self-harm",), "sexual": ("explicit sex",), "sexual/minors": ("csam",),
}
#: categories that omni-moderation also scores for images.
IMAGE_CATEGORIES = frozenset({"violence", "violence/graphic", "self-harm", "self-harm/intent",
                              "self-harm/instructions", "sexual"})


def _moderation_inputs(raw: Any) -> list[tuple[str, bool]]:
    """(text, has_image) per result: one per string, one for a whole multi-modal array."""
    if isinstance(raw, str):
        return [(raw, False)]
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return [(x, False) for x in raw]
    if isinstance(raw, list) and raw and all(isinstance(x, dict) for x in raw):
        texts, image = [], False
        for part in raw:
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image_url" and isinstance((part.get("image_url") or {}).get("url"),
                                                                 str):
                image = True
            else:
                raise BadRequest("Invalid 'input': each part is {type: text, text} or "
                                 "{type: image_url, image_url: {url}}.", "input")
        return [(" ".join(texts), image)]
    raise BadRequest("Invalid 'input': expected a string, an array of strings or of input parts.", "input")


def _moderation(text: str, image: bool) -> dict[str, Any]:
    lowered = text.lower()
    categories, scores, applied = {}, {}, {}
    for name, words in MOD_WORDS.items():
        hit = any(re.search(r"\b" + re.escape(w), lowered) for w in words)
        low = int.from_bytes(hashlib.blake2b(f"{name}\0{text}".encode(), digest_size=2).digest()) / 6.6e6
        categories[name] = hit
        scores[name] = 0.97 if hit else round(low, 6)  # low < 0.01
        applied[name] = ["text", "image"] if image and name in IMAGE_CATEGORIES else ["text"]
    return {"flagged": any(categories.values()), "categories": categories, "category_scores": scores,
            "category_applied_input_types": applied}


def parse_moderation(request: web.Request, body: dict[str, Any]) -> Call:
    model = require_model(body.get("model"))
    inputs = _moderation_inputs(body.get("input"))
    return Call(endpoint="moderations", model=model, stream=False,
                prompt_tokens=estimate_tokens([t for t, _ in inputs]), render=render_moderation,
                headers={"x-request-id": new_id("req_")}, extra={"inputs": inputs})


def render_moderation(call: Call, gen: Generation | None) -> dict[str, Any]:
    return {"id": new_id("modr-"), "model": call.model,
            "results": [_moderation(text, image) for text, image in call.extra["inputs"]]}


# --- POST /v1/rerank, /rerank, /v2/rerank ---------------------------------------------------

_WORDS = re.compile(r"\w+")


def relevance(query: str, document: str) -> float:
    """Word-overlap (Jaccard) similarity of the lower-cased word sets, 0..1."""
    q, d = set(_WORDS.findall(query.lower())), set(_WORDS.findall(document.lower()))
    return round(len(q & d) / len(q | d), 6) if q | d else 0.0


def parse_rerank(request: web.Request, body: dict[str, Any]) -> Call:
    model = require_model(body.get("model"))
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise BadRequest("'query' must be a non-empty string", "query")
    raw = body.get("documents")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'documents' must be a non-empty array", "documents")
    docs = []
    for item in raw:
        text = item.get("text") if isinstance(item, dict) else item
        if not isinstance(text, str):
            raise BadRequest("each document is a string or an object with 'text'", "documents")
        docs.append(text)
    top_n = int_param(body, "top_n", len(docs), 1, 10**6)
    returning = body.get("return_documents", True)
    if not isinstance(returning, bool):
        raise BadRequest("'return_documents' must be a boolean", "return_documents")
    return Call(endpoint="rerank", model=model, stream=False,
                prompt_tokens=estimate_tokens(query) * len(docs) + estimate_tokens(docs),
                render=render_rerank,
                extra={"query": query, "docs": docs, "top_n": top_n, "return": returning})


def render_rerank(call: Call, gen: Generation | None) -> dict[str, Any]:
    docs: list[str] = call.extra["docs"]
    scored = sorted(((relevance(call.extra["query"], d), i) for i, d in enumerate(docs)),
                    key=lambda pair: (-pair[0], pair[1]))[: call.extra["top_n"]]
    results = []
    for score, i in scored:
        result: dict[str, Any] = {"index": i, "relevance_score": score}
        if call.extra["return"]:
            result["document"] = {"text": docs[i]}
        results.append(result)
    return {"id": new_id("rerank-"), "model": call.model, "usage": {"total_tokens": call.prompt_tokens},
            "results": results}


def routes() -> list[web.RouteDef]:
    """aiohttp routes: moderations and rerank (also `/rerank` and `/v2/rerank`)."""
    rerank = make_handler(DIALECT, parse_rerank)
    return [web.post("/v1/moderations", make_handler(DIALECT, parse_moderation)),
            web.post("/v1/rerank", rerank), web.post("/rerank", rerank), web.post("/v2/rerank", rerank)]
