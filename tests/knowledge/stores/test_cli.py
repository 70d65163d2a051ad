"""`corral kb` through click's CliRunner against a real gateway (SQLite: the client speaks
only the public API, which tests/knowledge/test_vector_stores_sdk.py runs on both backends)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from corral.knowledge.cli import kb
from tests.conftest import RunningServer
from tests.files.server import new_key
from tests.knowledge.stores.server import client, kb_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with kb_server("sqlite", tmp_path_factory.mktemp("kb-cli")) as running:
        yield running


def _run(server: RunningServer, *args: str, key: str | None = None, url: str | None = None) -> Result:
    connection = ["--url", url or server.url, "--key", key or server.app_key]
    return CliRunner().invoke(kb, [*args, *connection],
                              env={"CORRAL_URL": None, "CORRAL_API_KEY": None, "OPENAI_API_KEY": None})


def _docs(root: Path) -> Path:
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "returns.md").write_text("# Returns\n\nReturn any item within thirty days.")
    (root / "shipping.txt").write_text("Parcels leave Lyon every weekday.")
    (root / ".hidden.txt").write_text("never ingested")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    return root


def test_ingest_a_directory_then_search_and_list(server: RunningServer, tmp_path: Path) -> None:
    key = new_key(server, "cli-docs")
    docs = _docs(tmp_path / "docs")
    result = _run(server, "ingest", str(docs), "--store", "handbook", "--interval", "0.05", key=key)
    assert result.exit_code == 1, result.output  # photo.png cannot be read: reported, exit 1
    assert "created vector store handbook" in result.stderr
    assert "2 ingested, 1 failed of 3" in result.stdout
    assert "failed: photo.png: unsupported_file:" in result.stderr
    assert ".hidden" not in result.output

    found = _run(server, "search", "handbook", "how long can I return an item", key=key)
    assert found.exit_code == 0, found.output
    assert found.stdout.splitlines()[0].endswith("guides/returns.md")
    filtered = _run(server, "search", "handbook", "parcels", "-f", "path=shipping.txt", "--json", key=key)
    assert [r["attributes"]["path"] for r in orjson.loads(filtered.stdout)["data"]] == ["shipping.txt"]

    listed = _run(server, "list", "--json", key=key)
    [store] = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert store["name"] == "handbook" and store["file_counts"]["completed"] == 2
    table = _run(server, "list", key=key)
    assert "handbook" in table.stdout and "READY" in table.stdout


def test_ingest_again_skips_unchanged_files_and_replaces_changed_ones(server: RunningServer,
                                                                       tmp_path: Path) -> None:
    key = new_key(server, "cli-again")
    docs = tmp_path / "notes"
    docs.mkdir()
    (docs / "a.txt").write_text("Badgers dig setts.")
    (docs / "b.txt").write_text("Foxes hunt at dusk.")
    assert _run(server, "ingest", f"{docs}/*.txt", "--store", "notes", key=key).exit_code == 0
    (docs / "b.txt").write_text("Foxes cache food for winter.")
    again = _run(server, "ingest", f"{docs}/*.txt", "--store", "notes", key=key)
    assert again.exit_code == 0, again.output
    assert "1 files unchanged" in again.stderr and "1 ingested, 0 failed of 1" in again.stdout
    oa = client(server, key)
    [store] = list(oa.vector_stores.list())
    files = list(oa.vector_stores.files.list(vector_store_id=store.id))
    assert len(files) == 2  # the old b.txt went
    assert not list(oa.files.list())[2:]  # and so did its upload
    found = oa.vector_stores.search(store.id, query="foxes", max_num_results=5)
    texts = [r.content[0].text for r in found.data]
    assert "Foxes cache food for winter." in texts and "Foxes hunt at dusk." not in texts


def test_errors_say_what_to_do(server: RunningServer, tmp_path: Path) -> None:
    nothing = _run(server, "ingest", str(tmp_path / "*.md"), "--store", "x")
    assert nothing.exit_code == 1 and "No files match" in nothing.output
    missing = _run(server, "search", "no-such-store", "q")
    assert missing.exit_code == 1 and "corral kb list" in missing.output
    other = _run(server, "search", "vs_00000000000000000000000000000000", "q")
    assert other.exit_code == 1 and "corral kb list" in other.output
    refused = _run(server, "list", key="sk-corral-not-a-key")
    assert refused.exit_code == 1 and "CORRAL_API_KEY" in refused.output
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = _run(server, "list", url=f"http://127.0.0.1:{port}")
    assert down.exit_code == 1 and "corral serve" in down.output


def test_reembed_follows_the_store_and_names_what_is_wrong(server: RunningServer, tmp_path: Path) -> None:
    key = new_key(server, "cli-reembed")
    docs = tmp_path / "kb"
    docs.mkdir()
    (docs / "a.txt").write_text("Badgers dig setts.")
    assert _run(server, "ingest", str(docs), "--store", "burrows", key=key).exit_code == 0
    done = _run(server, "reembed", "burrows", "--model", "all-minilm-l6-v2", "--interval", "0.05", key=key)
    assert done.exit_code == 0, done.output
    assert "embedding" in done.stderr and "1 re-embedded with all-minilm-l6-v2, 0 failed of 1" in done.stdout
    found = _run(server, "search", "burrows", "badgers", key=key)
    assert found.stdout.splitlines()[0].endswith("a.txt")
    unknown = _run(server, "reembed", "burrows", "--model", "no-such-route", key=key)
    assert unknown.exit_code == 1 and "no-such-route" in unknown.output and "400" in unknown.output
    missing = _run(server, "reembed", "no-such-store", "--model", "all-minilm-l6-v2", key=key)
    assert missing.exit_code == 1 and "corral kb list" in missing.output
