"""Spool.erase: a live process removes one subject's records from the segments it holds (the
erasure of the spool directory must skip them), keeping every other record, in order, and its
own bookkeeping (records, bytes, the segment being replayed) right."""

from __future__ import annotations

from pathlib import Path

from corral.observe.queries import COLUMNS, Row
from corral.observe.spool import Spool


def _row(request_id: str, user: str) -> Row:
    values = {"request_id": request_id, "created_at": 1_700_000_000.0, "latency_ms": 5, "end_user": user,
              "response": f"answer for {user}"}
    return [values.get(c) for c in COLUMNS]


def test_erase_rewrites_held_segments_and_keeps_the_replay_position(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=2**20, segment_bytes=600)  # a few rows a segment
    spool.open()
    try:
        users = ["alice", "bob", "alice", "bob", "bob", "alice", "alice", "bob"]
        for i, user in enumerate(users):
            assert spool.append([_row(f"req_{i}", user)]) == 1
        assert len(list(tmp_path.glob("*.jsonl"))) > 2
        head = spool.peek(1)  # the head segment is loaded, as during a replay
        spool.commit(1)
        assert head[0][0] == "req_0"
        removed, files = spool.erase("end_user", "alice")  # req_0 was replayed: its line goes, uncounted
        assert removed == 3 and files >= 2
        assert spool.records == 4
        assert all(b"alice" not in p.read_bytes() for p in tmp_path.glob("*.jsonl"))
        assert spool.bytes == sum(p.stat().st_size for p in tmp_path.glob("*.jsonl"))
        replayed = []
        while rows := spool.peek(10):
            replayed += [r[0] for r in rows]
            spool.commit(len(rows))
        assert replayed == ["req_1", "req_3", "req_4", "req_7"] and spool.records == 0
        assert spool.erase("end_user", "alice") == (0, 0)
    finally:
        spool.close()
