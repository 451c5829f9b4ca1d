"""How the CLI's plain tables read on screen."""

from __future__ import annotations

import pytest

from rich.cells import cell_len

from ecsync_core.render import table


def test_columns_line_up_with_full_width_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """A full-width SKU (two screen columns a character) does not push its row's later columns out of line."""
    table(["sku", "mall", "q"], [["ＦＢＡ－０１", "yahoo", 3], ["FBA-02", "rakuten", 12]])
    header, rule, first, second = capsys.readouterr().out.splitlines()
    starts = [
        cell_len(line[: line.index(word)]) for line, word in ((header, "mall"), (first, "yahoo"), (second, "rakuten"))
    ]
    assert [len("ＦＢＡ－０１") * 2 + 2] * 3 == starts
    assert cell_len(rule) == cell_len(second)
