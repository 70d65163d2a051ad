"""FileStore on both backends: bytes round-trip in chunks, team scoping, paging, limits, expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from corral.core.errors import InvalidRequest
from corral.files import FileNotFound, FileQuotaExceeded, FileSettings, FileTooLarge, InvalidFile
from corral.files.purge import purge_expired
from corral.files.rows import CHUNK_BYTES
from corral.files.store import FileStore
from corral.store import Database

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LINE = b'{"custom_id": "%d", "method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}}\n'


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def counts(db: Database) -> tuple[int, int]:
    return (await db.fetch_val("SELECT count(*) FROM files"),
            await db.fetch_val("SELECT count(*) FROM file_chunks"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(migrated_db: Database, clock: Clock) -> FileStore:
    return FileStore(migrated_db, FileSettings(), now=clock)


async def test_bytes_round_trip_in_one_mib_chunks(store: FileStore) -> None:
    data = bytes(range(256)) * (CHUNK_BYTES * 5 // 2 // 256)  # 2.5 chunks, fed in odd sizes
    made = await store.create("team-a", "user_data", "blob.bin", pieces(data, 300_001))
    assert made.bytes == len(data) and made.purpose == "user_data" and made.expires_at is None
    assert await counts(store.db) == (1, 3)
    _, chunks = await store.open(made.id, "team-a")
    assert b"".join([c async for c in chunks]) == data
    assert await store.get(made.id, "team-a") == made


async def test_another_team_sees_a_missing_file(store: FileStore) -> None:
    made = await store.create_from_bytes("team-a", "batch_output", "out.jsonl", b"{}\n")
    for call in (store.get, store.open, store.delete, store.read):
        with pytest.raises(FileNotFound) as caught:
            await call(made.id, "team-b")
        assert str(caught.value) == f"No such File object: {made.id}"
    assert (await store.list("team-b")).files == []
    with pytest.raises(InvalidRequest) as bad_cursor:  # another team's id is no cursor either
        await store.list("team-b", after=made.id)
    assert bad_cursor.value.param == "after"
    assert await store.read(made.id, "team-a") == b"{}\n"


async def test_paging_follows_creation_order_both_ways(store: FileStore) -> None:
    ids = [(await store.create_from_bytes("t", "batch_output" if i % 2 else "user_data", f"{i}", b"x")).id
           for i in range(5)]
    first = await store.list("t", limit=2)
    assert [f.id for f in first.files] == ids[:2:-1][:2] and first.has_more
    second = await store.list("t", limit=2, after=first.files[-1].id)
    last = await store.list("t", limit=2, after=second.files[-1].id)
    assert [f.id for f in (*first.files, *second.files, *last.files)] == ids[::-1]
    assert not last.has_more
    up = await store.list("t", order="asc", limit=10)
    assert [f.id for f in up.files] == ids and not up.has_more
    assert [f.id for f in (await store.list("t", purpose="batch_output", order="asc")).files] == ids[1::2]


async def test_delete_removes_the_bytes(store: FileStore) -> None:
    made = await store.create("t", "user_data", "b", pieces(b"y" * (CHUNK_BYTES + 10), 65536))
    await store.delete(made.id, "t")
    assert await counts(store.db) == (0, 0)
    with pytest.raises(FileNotFound):
        await store.delete(made.id, "t")


async def test_an_oversize_upload_stores_nothing(migrated_db: Database) -> None:
    store = FileStore(migrated_db, FileSettings(max_file_bytes=CHUNK_BYTES + CHUNK_BYTES // 2))
    with pytest.raises(FileTooLarge):  # one chunk was already written when the limit passed
        await store.create("t", "user_data", "big", pieces(b"z" * 2 * CHUNK_BYTES, 65536))
    assert await counts(migrated_db) == (0, 0)


async def test_team_limits(migrated_db: Database) -> None:
    store = FileStore(migrated_db, FileSettings(max_files_per_team=2, max_team_bytes=100))
    for name in ("a", "b"):
        await store.create("t", "user_data", name, pieces(b"1" * 40, 7))
    with pytest.raises(FileQuotaExceeded, match="already stores 2 files"):
        await store.create("t", "user_data", "c", pieces(b"1", 1))
    await store.create("other", "user_data", "c", pieces(b"1" * 100, 50))  # teams count apart
    with pytest.raises(FileQuotaExceeded, match="max_team_bytes"):
        await store.create("other", "user_data", "d", pieces(b"1", 1))
    await store.create_from_bytes("t", "batch_output", "out", b"2" * 500)  # Corral's own: unlimited
    assert await counts(migrated_db) == (4, 4)


async def test_the_quota_is_checked_again_at_commit(migrated_db: Database) -> None:
    """Two uploads that both started under the limit: the second to commit is refused."""
    store = FileStore(migrated_db, FileSettings(max_files_per_team=1))
    async with store.upload("t", "first") as first, store.upload("t", "second") as second:
        await first.write(b"a")
        await second.write(b"b")
        await first.commit("user_data")
        with pytest.raises(FileQuotaExceeded):
            await second.commit("user_data")
    assert await counts(migrated_db) == (1, 1)


@pytest.mark.parametrize("purpose_first", [True, False])
async def test_a_bad_batch_file_is_refused_whole(store: FileStore, purpose_first: bool) -> None:
    """Checked as it streams when the purpose is known first, else read back at commit."""
    good = b"".join(LINE % i for i in range(CHUNK_BYTES // len(LINE) + 100))  # past one chunk
    bad = good + b'{"custom_id": "x", "method": "GET", "url": "/v1/embeddings", "body": {}}\n'
    with pytest.raises(InvalidFile, match=r"Line \d+ of the batch file has method 'GET'"):
        async with store.upload("t", "in.jsonl", purpose="batch" if purpose_first else None) as up:
            async for piece in pieces(bad, 65536):
                await up.write(piece)
            await up.commit("batch")
    assert await counts(store.db) == (0, 0)
    made = await store.create("t", "batch", "in.jsonl", pieces(good, 65536))
    assert made.expires_at == T0 + timedelta(days=30)  # batch files expire after 30 days by default


async def test_expired_files_are_gone_and_purged(store: FileStore, clock: Clock) -> None:
    soon = await store.create("t", "user_data", "soon", pieces(b"s" * 10, 10), expires_after_s=3600)
    kept = await store.create("t", "user_data", "kept", pieces(b"k", 1))
    assert soon.expires_at == T0 + timedelta(hours=1)
    clock.at = T0 + timedelta(hours=1)
    with pytest.raises(FileNotFound):
        await store.get(soon.id, "t")
    assert [f.id for f in (await store.list("t")).files] == [kept.id]
    counted = await purge_expired(store.db, clock.at)
    assert (counted.files, counted.bytes, counted.abandoned_uploads) == (1, 10, 0)
    assert await counts(store.db) == (1, 1)
    assert (await purge_expired(store.db, clock.at)).files == 0


async def test_the_purge_removes_abandoned_uploads(store: FileStore, clock: Clock) -> None:
    """A process that died mid-upload leaves an `uploading` row: invisible, then purged."""
    upload_cm = store.upload("t", "half")
    upload = await upload_cm.__aenter__()  # never exited: the process "died"
    await upload.write(b"h" * (CHUNK_BYTES + 1))
    assert await counts(store.db) == (1, 1)
    assert (await store.list("t")).files == []
    assert (await purge_expired(store.db, T0 + timedelta(hours=23))).abandoned_uploads == 0
    counted = await purge_expired(store.db, T0 + timedelta(days=1, seconds=1))
    assert (counted.files, counted.abandoned_uploads) == (0, 1)
    assert await counts(store.db) == (0, 0)
