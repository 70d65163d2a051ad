"""The CLIs' one table helper."""

from corral.core.text_table import text_table


def test_columns_fit_their_widest_cell_and_lines_have_no_trailing_spaces() -> None:
    out = text_table(["ID", "NAME"], [["k1", "web"], ["key_22", ""]])
    assert out.splitlines() == ["ID      NAME", "------  ----", "k1      web", "key_22"]


def test_no_rows_still_prints_the_header() -> None:
    assert text_table(["A", "BB"], []) == "A  BB\n-  --"
