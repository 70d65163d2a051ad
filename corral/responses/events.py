"""A canonical stream -> the Responses API's server-sent events.

The sequence, every event numbered by `sequence_number`:

    response.created, response.in_progress,
    file_search:    response.output_item.added, response.file_search_call.in_progress,
                    response.file_search_call.searching, response.file_search_call.completed,
                    response.output_item.done (the search ran before the model was called,
                    so these come at once, before the first text)
    per text item:  response.output_item.added, response.content_part.added,
                    response.output_text.delta... (a grounded answer: with
                    response.output_text.annotation.added after the text a citation follows),
                    response.output_text.done, response.content_part.done, response.output_item.done
    per tool call:  response.output_item.added, response.function_call_arguments.delta...,
                    response.function_call_arguments.done, response.output_item.done
    then response.completed or response.incomplete; a failure after the stream started
    is an `error` event followed by response.failed.

`OutputBuilder` keeps the output items as they grow, so the final event (and the stored
response) carries exactly what the deltas said.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import orjson

from corral.core.errors import CorralError
from corral.core.stream import ChatStream
from corral.core.types import ChatChunk, FinishReason, ToolCallDelta, Usage
from corral.knowledge.citations import Cited, Citer
from corral.responses.grounding import Grounding
from corral.responses.ids import item_id
from corral.responses.output import error_wire, fail, finish, text_part

log = logging.getLogger("corral.responses")
Final = Callable[[dict[str, Any]], Awaitable[None]]


class EventWriter:
    """Numbers and encodes events (`event:` and `data:` lines, as OpenAI sends them)."""

    __slots__ = ("sequence",)

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        data = orjson.dumps({"type": kind, **fields, "sequence_number": self.sequence})
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


class OutputBuilder:
    """Chunks -> item events; `output` holds the items, final once `close` has run."""

    def __init__(self, write: EventWriter, sources: Sequence[Cited] | None = None) -> None:
        self.write = write
        self.output: list[dict[str, Any]] = []
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.sources = sources  # a grounded answer's numbered sources: its citations are parsed
        self._text: list[str] | None = None  # the open message item's text so far
        self._citer: Citer | None = None  # the open message item's citations
        self._call: int | None = None  # the open function call's canonical index

    def search(self, call: dict[str, Any]) -> list[bytes]:
        """The file_search_call item, from added to done (the search is over by now)."""
        self.output.append(call)
        at = len(self.output) - 1
        events = [self.write("response.output_item.added", output_index=at, item={
            **call, "status": "in_progress", "queries": [], "results": None})]
        for step in ("in_progress", "searching", "completed"):
            events.append(self.write(f"response.file_search_call.{step}", output_index=at,
                                     item_id=call["id"]))
        return [*events, self.write("response.output_item.done", output_index=at, item=call)]

    def add(self, chunk: ChatChunk) -> list[bytes]:
        events: list[bytes] = []
        if chunk.content:
            if self._text is None:
                events += self._close("completed")
                events += self._open_text()
            events += self._text_delta(chunk.content)
        for delta in chunk.tool_calls or ():
            events += self._call_delta(delta)
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage
        return events

    def close(self, status: str) -> list[bytes]:
        """End the open item (the stream is over) with `status`."""
        return self._close(status)

    def _event(self, kind: str, **fields: Any) -> bytes:
        item = self.output[-1]
        return self.write(kind, item_id=item["id"], output_index=len(self.output) - 1, **fields)

    def _text_delta(self, delta: str, *, final: bool = False) -> list[bytes]:
        """Text out as a delta event; a grounded answer's citation markers out as annotations."""
        assert self._text is not None
        notes: list[dict[str, Any]] = []
        if self._citer is not None:
            delta, notes = self._citer.feed(delta, final=final)
        events: list[bytes] = []
        if delta:
            self._text.append(delta)
            events.append(self._event("response.output_text.delta", content_index=0, delta=delta,
                                      logprobs=[]))
        first = len(self._citer.annotations) - len(notes) if self._citer is not None else 0
        for i, note in enumerate(notes, first):
            events.append(self._event("response.output_text.annotation.added", content_index=0,
                                      annotation_index=i, annotation=note))
        return events

    def _open_text(self) -> list[bytes]:
        item = {"id": item_id("msg_"), "type": "message", "role": "assistant", "status": "in_progress",
                "content": []}
        self.output.append(item)
        self._text = []
        self._citer = Citer(self.sources) if self.sources is not None else None
        return [self.write("response.output_item.added", output_index=len(self.output) - 1, item=item),
                self._event("response.content_part.added", content_index=0, part=text_part(""))]

    def _call_delta(self, delta: ToolCallDelta) -> list[bytes]:
        events: list[bytes] = []
        if self._call != delta.index:
            events += self._close("completed")
            item = {"id": item_id("fc_"), "type": "function_call", "status": "in_progress",
                    "call_id": delta.id or item_id("call_"), "name": delta.name or "", "arguments": ""}
            self.output.append(item)
            self._call = delta.index
            events.append(self.write("response.output_item.added", output_index=len(self.output) - 1,
                                     item=item))
        item = self.output[-1]
        if delta.name and not item["name"]:
            item["name"] = delta.name
        if delta.arguments:
            item["arguments"] += delta.arguments
            events.append(self._event("response.function_call_arguments.delta", delta=delta.arguments))
        return events

    def _close(self, status: str) -> list[bytes]:
        if self._text is not None:
            flushed = self._text_delta("", final=True) if self._citer is not None else []
            text = "".join(self._text)
            notes = self._citer.annotations if self._citer is not None else []
            self._text = self._citer = None
            item = self.output[-1]
            item.update(status=status, content=[text_part(text, notes)])
            return [*flushed,
                    self._event("response.output_text.done", content_index=0, text=text, logprobs=[]),
                    self._event("response.content_part.done", content_index=0, part=text_part(text, notes)),
                    self.write("response.output_item.done", output_index=len(self.output) - 1, item=item)]
        if self._call is not None:
            self._call = None
            item = self.output[-1]
            item["status"] = status
            return [self._event("response.function_call_arguments.done", arguments=item["arguments"],
                                name=item["name"]),
                    self.write("response.output_item.done", output_index=len(self.output) - 1, item=item)]
        return []


async def response_events(stream: ChatStream, body: dict[str, Any], model: str,
                          on_final: Final, grounding: Grounding | None = None) -> AsyncGenerator[bytes]:
    """The whole event stream of one response; `on_final` keeps the finished response (store)
    before the last event goes out, so a client that reads it can fetch the response at once."""
    write = EventWriter()
    yield write("response.created", response=body)
    yield write("response.in_progress", response=body)
    out = OutputBuilder(write, grounding.sources if grounding is not None else None)
    chunks = aiter(stream)
    try:
        try:
            for event in out.search(grounding.call) if grounding is not None else ():
                yield event
            async for chunk in chunks:
                for event in out.add(chunk):
                    yield event
            cut = out.finish in ("length", "content_filter")
            for event in out.close("incomplete" if cut else "completed"):
                yield event
            final = finish(body, out.output, out.finish, out.usage, model)
        except Exception as exc:  # every failure becomes the stream's error events
            if not isinstance(exc, CorralError):
                log.exception("response %s failed while streaming", body["id"])
            else:
                log.warning("response %s stream failed after it started: %s", body["id"], exc.message)
            yield write("error", **error_wire(exc), param=getattr(exc, "param", None))
            final = fail(body, exc, out.output)
        try:
            await on_final(final)
        except Exception:  # the answer is complete but could not be kept
            log.exception("response %s could not be stored", body["id"])
            failure = CorralError("The response could not be stored; send it again.")
            yield write("error", **error_wire(failure), param=None)
            final = fail(body, failure, out.output)
        yield write(f"response.{final['status']}", response=final)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # at once, not when collected
