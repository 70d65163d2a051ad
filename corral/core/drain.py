"""Streams still open when a graceful stop runs out of time end with an error event, not a cut.

uvicorn gives in-flight requests ``timeout_graceful_shutdown`` seconds after SIGTERM, then
cancels them: a stream then stops mid-answer with no error event, the SDK reports a broken
connection (or waits), and uvicorn logs a traceback per stream. Instead, ``CUT_MARGIN_S``
before that deadline the server calls :func:`cut_open_streams`: each open stream's task is
cancelled *and marked*, and :class:`~corral.core.stream.ChatStream` turns that cancellation into
:class:`ShuttingDown`, which every API dialect already sends as its own error event after the
200 and the lifecycle records as the stream's error. The client learns to send it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from corral.core.errors import CorralError

CUT_MARGIN_S = 1.0

_open: set[asyncio.Task[object]] = set()
_cut: set[asyncio.Task[object]] = set()


class ShuttingDown(CorralError):
    status_code = 503
    openai_type = "service_unavailable"
    code = "server_shutting_down"

    def __init__(self) -> None:
        super().__init__("This Corral process is shutting down and ended the stream before it finished; "
                         "send the request again (another process will answer it).")


@contextlib.contextmanager
def open_stream() -> Iterator[None]:
    """Mark the running task as a stream :func:`cut_open_streams` may end."""
    task = asyncio.current_task()
    if task is None:
        yield
        return
    _open.add(task)
    try:
        yield
    finally:
        _open.discard(task)
        _cut.discard(task)


def cut_open_streams() -> int:
    """Cancel every open stream's task, marked as cut (the stop's deadline is near)."""
    tasks = [task for task in _open if not task.done() and task not in _cut]
    for task in tasks:
        _cut.add(task)
        task.cancel()
    return len(tasks)


def cut_here() -> bool:
    """Whether the cancellation being handled is :func:`cut_open_streams`'s; if so it is taken
    back (``uncancel``), so the handler may still write the end of the stream."""
    task = asyncio.current_task()
    if task is None or task not in _cut:
        return False
    _cut.discard(task)
    task.uncancel()
    return True
