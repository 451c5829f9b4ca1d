"""How the CLI's plain tables read on screen."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from rich.cells import cell_len

from ecsync_core.domain import Counts, Outcome, Run, RunItem, RunKind
from ecsync_core.render import render_run, table


def test_columns_line_up_with_full_width_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """A full-width SKU (two screen columns a character) does not push its row's later columns out of line."""
    table(["sku", "mall", "q"], [["ＦＢＡ－０１", "yahoo", 3], ["FBA-02", "rakuten", 12]])
    header, rule, first, second = capsys.readouterr().out.splitlines()
    starts = [
        cell_len(line[: line.index(word)]) for line, word in ((header, "mall"), (first, "yahoo"), (second, "rakuten"))
    ]
    assert [len("ＦＢＡ－０１") * 2 + 2] * 3 == starts
    assert cell_len(rule) == cell_len(second)


def _run(kind: RunKind, status: Outcome) -> Run:
    at = datetime(2026, 11, 30, 19, 0)
    return Run("abc12345", kind, status, at, at, Counts(found=3, mapped=3, updates=3, succeeded=1, failed=1))


ITEMS = [
    RunItem("abc12345", "A", "shop", "a", 4, 0, 2, 2, "ok"),
    RunItem("abc12345", "B", "shop", "b", 4, 0, 2, None, "failed", "not sent: the run was stopped first"),
    RunItem("abc12345", "C", "mart", "c", 4, 0, 2),
]


def test_a_stopped_runs_unconfirmed_items_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    """
    A run stopped mid-push: updates 3, succeeded 1, failed 1, and the third (sent, never read back) is said, not
    left for the operator to work out. A dry run's items are all planned, and say nothing of it.
    """
    render_run(_run(RunKind.SYNC, Outcome.INTERRUPTED), ITEMS, ZoneInfo("Asia/Tokyo"))
    assert "unconfirmed 1 (outcome planned): the run ended before reading them back: whether" in capsys.readouterr().out
    render_run(_run(RunKind.DRY_RUN, Outcome.SUCCESS), ITEMS, ZoneInfo("Asia/Tokyo"))
    assert "unconfirmed" not in capsys.readouterr().out
