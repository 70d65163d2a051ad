"""`file_search`: Corral searches the caller's vector stores and grounds the answer in what it finds.

    query     the latest user text of the conversation, searched as written (the model
              neither chooses nor rewrites it: every response with the tool searches once)
    search    each named store of the caller's team through `Knowledge.search` (hybrid
              retrieval); its query embedding is an ordinary recorded request, `req_X:fsN`
              beside response `resp_X`, and its job_id is the store (what a store costs)
    sources   the best `max_num_results` chunks of all stores, numbered [1]..[n]
    prompt    a system message with the rules, and the sources in one delimited user message
              just before the latest user message

The prompt (rules, delimited sources, their tag) and the search across stores are the
knowledge base's (corral.knowledge.grounding), shared with grounded chat completions. Both
messages are in the request before the lifecycle runs, so the route's privacy policy treats
retrieved text like any prompt (a `redact` route sends the provider placeholders), and the
cache's key covers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corral.core.context import Caller, GroundingNote
from corral.core.errors import InvalidRequest
from corral.core.ownership import Owner
from corral.core.types import Message
from corral.knowledge.errors import StoreNotFound
from corral.knowledge.grounding import MAX_QUERY_CHARS, Source, context_tokens, prompt_messages, search_stores
from corral.knowledge.objects import VectorStore
from corral.knowledge.service import Knowledge
from corral.responses.ids import item_id
from corral.store.schema import utcnow

__all__ = ["Grounding", "Source", "latest_query", "open_stores", "retrieve"]


@dataclass(slots=True)
class Grounding:
    """A search done for one response: its output item, its sources and what they cost."""

    call: dict[str, Any]  # the file_search_call output item, final
    sources: list[Source]
    search_ids: list[str] = field(default_factory=list)  # the recorded query-embedding requests

    def messages(self) -> list[Message]:
        """The rules, then the delimited sources (corral.knowledge.grounding)."""
        return prompt_messages(self.sources)

    def note(self) -> GroundingNote:
        """For the record: the prompt tokens the retrieved context adds (o200k_base count)."""
        return GroundingNote(context_tokens=context_tokens(self.sources), sources=len(self.sources),
                             search_request_ids=tuple(self.search_ids),
                             source_texts=tuple(s.text for s in self.sources))


def latest_query(conversation: list[dict[str, Any]]) -> str:
    """The text of the conversation's latest user message ('' when there is none)."""
    for item in reversed(conversation):
        if item["type"] == "message" and item["role"] == "user":
            text = " ".join(p["text"] for p in item["content"] if p["type"] == "input_text").strip()
            if text:
                return text[:MAX_QUERY_CHARS]
    return ""


async def open_stores(kb: Knowledge, tool: dict[str, Any], where: str, owner: Owner) -> list[VectorStore]:
    """The tool's stores, each the caller's team's (another team's is a 404 like a missing one)."""
    stores: list[VectorStore] = []
    for i, store_id in enumerate(tool["vector_store_ids"]):
        try:
            store = await kb.stores.get(store_id, owner)
        except StoreNotFound as exc:
            exc.param = f"{where}.vector_store_ids[{i}]"
            raise
        if store.expired(utcnow()):
            raise InvalidRequest(f"Vector store {store.id} has expired (expires_after); create a new one.",
                                 param=f"{where}.vector_store_ids[{i}]")
        stores.append(store)
    return stores


async def retrieve(kb: Knowledge, tool: dict[str, Any], where: str, caller: Caller, query: str,
                   request_id: str, *, include_results: bool) -> Grounding:
    """Search the tool's stores for `query`; the query embeddings are `request_id:fs1`, `:fs2`..."""
    stores = await open_stores(kb, tool, where, caller.scope)
    ids: list[str] = []

    def next_id() -> str:
        ids.append(f"{request_id}:fs{len(ids) + 1}")
        return ids[-1]

    k, ranking = tool["max_num_results"], tool["ranking_options"]
    found = await search_stores(kb, stores, caller, query, k, tool["filters"], ranking["score_threshold"],
                                next_id)
    call = {"id": item_id("fs_"), "type": "file_search_call", "status": "completed",
            "queries": [query] if query else [],
            "results": [s.result() for s in found] if include_results else None}
    return Grounding(call, found, ids)

