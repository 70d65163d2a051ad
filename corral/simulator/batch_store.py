"""The simulated account's files and batches (openai_batches.py serves them). Its own module
so the app state can hold one without importing the handlers."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any


class SimBatches:
    """The simulated account's files and batches (in memory)."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.inputs: list[dict[str, Any]] = []  # every line of every batch input file, as uploaded
        self.outcome = "completed"  # completed | expired | failed: how the next batches end
        self.expire_after = 0  # with outcome "expired": lines answered before the window "ends"
        self.created = 0
        self.running: dict[str, asyncio.Task[None]] = {}  # batch id -> the task answering it

    def add_file(self, filename: str, purpose: str, data: bytes) -> dict[str, Any]:
        file_id = "file-" + os.urandom(12).hex()
        file: dict[str, Any] = {"id": file_id, "object": "file", "bytes": len(data), "purpose": purpose,
                                "created_at": int(time.time()), "filename": filename, "status": "processed"}
        self.files[file_id] = file
        self.contents[file_id] = data
        return file
