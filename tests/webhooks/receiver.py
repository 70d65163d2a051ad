"""A webhook receiver on loopback, in a thread: records every POST, and on demand refuses
connections (before ``up()``), answers 500, or hangs before answering."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

from tests.integration.processes import free_port


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived
    status: int  # what the receiver answered (0: held past the sender's timeout)


@dataclass
class Receiver:
    """``fail_first``: answer 500 to that many POSTs; ``hang_first``: hold that many for ``hang_s``."""

    fail_first: int = 0
    hang_first: int = 0
    hang_s: float = 10.0
    port: int = field(default_factory=free_port)
    seen: list[Delivery] = field(default_factory=list)  # every POST that reached it
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    n = len(receiver.seen)
                    status = 500 if n < receiver.fail_first else 200
                    held = n < receiver.hang_first  # recorded as 0: the sender is gone by the answer
                    receiver.seen.append(Delivery(body, {k.lower(): v for k, v in self.headers.items()},
                                                  time.monotonic(), 0 if held else status))
                if held:
                    time.sleep(receiver.hang_s)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self, object_id: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.seen
                    if d.status == 200 and (object_id is None or object_id.encode() in d.body)]

    def wait(self, object_id: str, n: int = 1, timeout_s: float = 15.0) -> list[Delivery]:
        """The accepted deliveries about `object_id`, once there are `n` (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted(object_id)) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.accepted(object_id)


def unwrap(delivery: Delivery, secret: str) -> Any:
    """The event as the official SDK's receiver-side verifier reads it (raises on a bad signature)."""
    client = openai.OpenAI(api_key="unused", webhook_secret=secret)
    return client.webhooks.unwrap(delivery.body, delivery.headers)
