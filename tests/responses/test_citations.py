"""Citation markers -> file_citation annotations, whole and streamed (corral.knowledge.citations)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from corral.knowledge.citations import Citer, cite


@dataclass(frozen=True)
class Src:
    file_id: str
    filename: str


SOURCES = [Src("file-a", "returns.md"), Src("file-b", "shipping.txt"), Src("file-a", "returns.md")]


def note(file_id: str, filename: str, index: int) -> dict[str, object]:
    return {"type": "file_citation", "file_id": file_id, "filename": filename, "index": index}


def test_markers_become_annotations_at_the_place_they_stood() -> None:
    text, notes = cite("Refunds take five days [1]. Parcels ship daily [2][3].", SOURCES)
    assert text == "Refunds take five days. Parcels ship daily."
    assert notes == [note("file-a", "returns.md", 22), note("file-b", "shipping.txt", 42),
                     note("file-a", "returns.md", 42)]
    assert text[:22].endswith("days") and text[:42].endswith("daily")


def test_a_list_marker_and_one_file_cited_twice_at_one_place() -> None:
    text, notes = cite("Both say so [1, 3].", SOURCES)
    assert text == "Both say so." and notes == [note("file-a", "returns.md", 11)]


@pytest.mark.parametrize("answer", [
    "There are [7] of them.",  # no source 7
    "In [2024] it changed.",  # four digits
    "Use arr[1] here.",  # an index in code
    "f(x)[2] is the second.",  # after a call
    "A [1 of them].",  # not a marker
])
def test_other_brackets_stay_as_written(answer: str) -> None:
    assert cite(answer, SOURCES) == (answer, [])


def test_no_sources_no_citations() -> None:
    assert cite("It is [1].", []) == ("It is [1].", [])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_a_stream_gives_what_the_whole_text_gives(size: int) -> None:
    answer = "Refunds take five days [1]. Parcels ship daily [2][3], see arr[1] and [9].  End [1, 2]"
    citer = Citer(SOURCES)
    out: list[str] = []
    streamed: list[dict[str, object]] = []
    for i in range(0, len(answer), size):
        text, added = citer.feed(answer[i:i + size])
        out.append(text)
        streamed += added
        for a in added:  # an annotation is announced only once the text before it went out
            assert a["index"] <= len("".join(out))
    text, added = citer.feed("", final=True)
    out.append(text)
    streamed += added
    assert ("".join(out), streamed) == cite(answer, SOURCES)
    assert "[1]" not in "".join(out).replace("arr[1]", "") and "[9]" in "".join(out)


def test_a_stream_holds_back_only_a_short_tail() -> None:
    citer = Citer(SOURCES)
    assert citer.feed("days ") == ("days", [])  # the space may precede a marker
    assert citer.feed("[") == ("", [])
    assert citer.feed("x]") == (" [x]", [])
    long_run = " " * 100
    assert citer.feed(long_run)[0] == long_run  # more than a marker could be: handed out
