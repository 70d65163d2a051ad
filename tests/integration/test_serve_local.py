"""`corral serve` as a newcomer runs it: no config, no keys, no network, the local model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.integration.processes import free_port


def _start(home: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "CORRAL_HOME": str(home), "CORRAL_CONFIG": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "corral.cli", "serve", "--workers", "1", "--port", str(port)],
        cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _read_until_ready(proc: subprocess.Popen[str], timeout: float = 60) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("corral serve exited:\n" + "".join(lines))
        lines.append(line)
        if "Uvicorn running" in line:  # printed once the socket is bound
            return lines
    raise AssertionError("corral serve did not become ready:\n" + "".join(lines))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[str], Path]]:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        yield f"http://127.0.0.1:{port}", _read_until_ready(proc), tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_first_start_prints_keys_once_and_local_model_streams(served: tuple[str, list[str], Path]) -> None:
    url, lines, home = served
    output = "".join(lines)
    key_lines = [line for line in lines if "application key" in line]
    assert key_lines, output
    key = key_lines[0].split()[-1]
    assert key.startswith("sk-corral-")
    assert "curl" in output and "from openai import OpenAI" in output
    db = (home / "corral.db").read_bytes()
    assert key.encode() not in db, "only the hash of a key may be stored"

    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    assert "local" in {m.id for m in client.models.list()}
    stream = client.chat.completions.create(
        model="local", stream=True, max_tokens=12, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Say hello."}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert text.strip() and len(content_chunks) >= 2, "real tokens, streamed"
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 12


def test_second_start_creates_no_new_keys(tmp_path: Path) -> None:
    port = free_port()
    for attempt in range(2):
        proc = _start(tmp_path, port)
        try:
            output = "".join(_read_until_ready(proc))
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        assert ("application key" in output) == (attempt == 0)
