"""A whole (non-streamed) answer leaves in one transport write; a stream's headers at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from corral.api.server import OneWriteAnswers
from tests.api.edge import serve_edge
from tests.conftest import RunningServer

HEAD = b"HTTP/1.1 200 OK\r\nserver: corral\r\ncontent-length: 5\r\ncontent-type: application/json\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


class Transport:
    """Records each call that would be a system call on a real socket."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, data: Any) -> None:
        self.calls.append(("writelines", b"".join(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))

    def is_closing(self) -> bool:
        return False


def wrapped() -> tuple[OneWriteAnswers, Transport]:
    real = Transport()
    return OneWriteAnswers(cast(asyncio.Transport, real)), real


def test_headers_with_a_length_wait_for_the_body_and_leave_with_it() -> None:
    corked, real = wrapped()
    corked.write(HEAD)
    assert real.calls == []
    corked.write(b'{"a"}')
    assert real.calls == [("writelines", HEAD + b'{"a"}')]
    assert corked.is_closing() is False  # everything else is the real transport's


def test_a_stream_gets_its_headers_at_once() -> None:
    corked, real = wrapped()
    corked.write(CHUNKED)
    corked.write(b"5\r\nhello\r\n")
    assert real.calls == [("write", CHUNKED), ("write", b"5\r\nhello\r\n")]


def test_only_the_first_write_is_held() -> None:
    """A body that happens to contain a content-length line is sent as written."""
    corked, real = wrapped()
    corked.write(CHUNKED)
    corked.write(b"x\r\ncontent-length: 3\r\n")
    assert [kind for kind, _ in real.calls] == ["write", "write"]


def test_headers_held_when_the_app_fails_go_out_before_the_close() -> None:
    corked, real = wrapped()
    corked.write(HEAD)
    corked.close()
    assert real.calls == [("write", HEAD), ("close", b"")]



@pytest.fixture
def edge(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_edge(tmp_path)


def test_head_and_get_answers_arrive_whole_over_http(edge: RunningServer) -> None:
    """Through the real edge: a HEAD answer has headers and no body (uvicorn writes none, so
    nothing may wait for one), and GET answers arrive whole on a kept-alive connection."""
    with httpx.Client(base_url=edge.url, timeout=3) as client:
        for _ in range(3):
            head = client.head("/healthz")
            assert head.status_code in (200, 405) and head.content == b""
            got = client.get("/healthz")
            assert got.status_code == 200 and got.json()
