"""The HTTP edge drops slow and oversized requests (issue 8, item 10); normal ones pass.

Small timeouts via server settings keep the suite fast; each check leaves a margin of
about one second for a loaded machine.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from corral.api.server import GuardedHttpToolsProtocol, uvicorn_options
from corral.config import ServerSettings
from tests.api.edge import connect, is_closed, read_until_closed, serve_edge, status_of
from tests.conftest import RunningServer

TIMEOUT = 0.5
SLACK = 1.5  # seconds allowed beyond a deadline


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_edge(tmp_path_factory.mktemp("edge"), header_timeout_s=TIMEOUT,
                          body_timeout_s=TIMEOUT, keep_alive_timeout_s=TIMEOUT,
                          max_header_bytes=16 * 1024)


def _chat_head(server: RunningServer, length: int) -> bytes:
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + server.app_key.encode() + b"\r\n"
            b"content-length: %d\r\n\r\n" % length)


def test_settings_reach_the_protocol() -> None:
    options = uvicorn_options(ServerSettings(header_timeout_s=3, body_timeout_s=4,
                                             max_header_bytes=2048, keep_alive_timeout_s=6))
    protocol = options["http"]
    assert issubclass(protocol, GuardedHttpToolsProtocol)
    assert (protocol.limits.header_timeout_s, protocol.limits.body_timeout_s,
            protocol.limits.max_header_bytes) == (3, 4, 2048)
    assert options["timeout_keep_alive"] == 6 and options["loop"] == "uvloop"


def test_slowloris_partial_headers_are_closed_within_the_timeout(edge: RunningServer) -> None:
    socks = [connect(edge) for _ in range(30)]
    for s in socks:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    start = time.monotonic()
    deadline = start + TIMEOUT + SLACK
    while not all(is_closed(s) for s in socks):
        assert time.monotonic() < deadline, "partial-header connections still open"
        time.sleep(0.05)
    for s in socks:
        s.close()


def test_partial_headers_get_408(edge: RunningServer) -> None:
    with connect(edge) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        data, took = read_until_closed(s, TIMEOUT + SLACK)
    assert status_of(data) == 408
    assert orjson.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_timeout"
    assert took < TIMEOUT + SLACK


def test_dripping_headers_do_not_extend_the_deadline(edge: RunningServer) -> None:
    with connect(edge) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        while time.monotonic() - start < TIMEOUT + SLACK:
            try:
                s.sendall(b"X-a: b\r\n")
            except OSError:
                break
            if is_closed(s):
                break
            time.sleep(0.05)
        assert time.monotonic() - start < TIMEOUT + SLACK


def test_a_silent_connection_is_closed(edge: RunningServer) -> None:
    with connect(edge) as s:
        data, took = read_until_closed(s, TIMEOUT + SLACK)
    assert data == b"" and took < TIMEOUT + SLACK


def test_partial_bodies_are_dropped_within_the_timeout(edge: RunningServer) -> None:
    socks = [connect(edge) for _ in range(20)]
    for s in socks:
        s.sendall(_chat_head(edge, 1000) + b'{"model":')
    answers = [read_until_closed(s, TIMEOUT + SLACK) for s in socks]
    assert {status_of(data) for data, _ in answers} == {408}
    assert max(took for _, took in answers) < TIMEOUT + SLACK
    for s in socks:
        s.close()


def test_partial_body_on_a_starlette_route_is_dropped_quietly(
    edge: RunningServer, caplog: pytest.LogCaptureFixture,
) -> None:
    with connect(edge) as s:
        s.sendall(b"POST /admin/keys HTTP/1.1\r\nHost: t\r\ncontent-length: 500\r\n"
                  b"authorization: Bearer " + edge.admin_key.encode() + b"\r\n\r\n{")
        data, took = read_until_closed(s, TIMEOUT + SLACK)
    assert status_of(data) == 408 and took < TIMEOUT + SLACK
    time.sleep(0.2)  # the handler sees the disconnect after the close
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "a client that stops sending is not a server error"


def test_oversized_headers_get_431(edge: RunningServer) -> None:
    with connect(edge) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        data, _ = read_until_closed(s, 5)
    assert status_of(data) == 431
    assert b"server.max_header_bytes" in data


# The RSS check runs the protocol in its own small process: in the test process other
# tests' freed memory would absorb the growth and hide it.
_TINY_SERVER = """
import sys, uvicorn
from corral.api.server import uvicorn_options
from corral.config import ServerSettings
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
config = uvicorn.Config(app, **{**uvicorn_options(ServerSettings()), "port": 0},
                        log_level="warning", lifespan="off")
server = uvicorn.Server(config)
import threading, time
threading.Thread(target=server.run, daemon=True).start()
while not server.started:
    time.sleep(0.01)
print(server.servers[0].sockets[0].getsockname()[1], flush=True)
sys.stdin.read()
"""


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_16_mib_header_is_refused_without_buffering_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _TINY_SERVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # warm up
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nconnection: close\r\n\r\n")
            read_until_closed(s, 5)
        before = _peak_rss_kib(proc.pid)
        received: list[bytes] = []
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            reader = threading.Thread(target=lambda: received.append(read_until_closed(s, 10)[0]))
            reader.start()
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ")
                for _ in range(256):
                    s.sendall(b"a" * 65536)
                s.sendall(b"\r\n\r\n")
            except OSError:
                pass  # the server closed the connection part way: what we want
            reader.join(10)
        grown_mib = (_peak_rss_kib(proc.pid) - before) / 1024
    finally:
        proc.kill()
        proc.wait()
    assert grown_mib < 4, f"peak RSS grew {grown_mib:.1f} MiB for one oversized header"
    assert received and status_of(received[0]) in (431, 0)  # 0: reset before the answer was read


def test_idle_keep_alive_connections_are_closed(edge: RunningServer) -> None:
    with connect(edge) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        data, took = read_until_closed(s, TIMEOUT + SLACK)
    assert status_of(data) == 200 and took < TIMEOUT + SLACK


def test_blank_lines_between_requests_do_not_hold_a_connection(edge: RunningServer) -> None:
    """uvicorn cancels its keep-alive timer on any byte: a CRLF must start the header deadline."""
    with connect(edge) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)
        s.sendall(b"\r\n")
        start = time.monotonic()
        while not is_closed(s):
            assert time.monotonic() - start < TIMEOUT + SLACK, "connection held by CRLFs"
            time.sleep(0.05)
            try:
                s.sendall(b"\r\n")
            except OSError:
                break


def test_normal_requests_are_unaffected(edge: RunningServer) -> None:
    with httpx.Client(base_url=edge.url, timeout=5) as client:
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
            time.sleep(TIMEOUT / 3)  # keep-alive reuse inside the idle window
        r = client.post("/v1/chat/completions", headers={"authorization": f"Bearer {edge.app_key}"},
                        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        assert client.get("/healthz", headers={"x-pad": "p" * 8000}).status_code == 200


def test_slow_but_timely_request_is_served(edge: RunningServer) -> None:
    body = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
    head = _chat_head(edge, len(body))
    with connect(edge) as s:
        for part in (head[:20], head[20:], body[:10], body[10:]):
            s.sendall(part)
            time.sleep(TIMEOUT / 6)
        data = s.recv(65536)
    assert status_of(data) == 200


def test_pipelined_requests_are_answered(edge: RunningServer) -> None:
    with connect(edge) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 2
                  + b"GET /healthz HTTP/1.1\r\nHost: t\r\nconnection: close\r\n\r\n")
        data, _ = read_until_closed(s, 5)
    assert data.count(b"HTTP/1.1 200 OK") == 3
