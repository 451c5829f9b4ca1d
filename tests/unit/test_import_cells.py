"""Master-sheet cells as text and flags: the rules Excel's habits make necessary."""

from __future__ import annotations

import math
import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from ecsync_core.master_sheet import EXCEL_ERRORS, UncachedFormula, active_cell, code_cell, header_key, trim


SPACES = st.text(alphabet=" \t\n\u3000\u00a0\u200b\ufeff\u2060\u00ad\u2028", max_size=4)
CODES = st.text(alphabet=st.characters(categories=("L", "N", "Pd")), min_size=1, max_size=20)


@given(st.integers(min_value=-(10**14), max_value=10**14))
def test_whole_numbers_read_as_their_digits(n: int) -> None:
    """A whole number, stored as an int or a float, reads as its digits: never "1234.0"."""
    for value in (n, float(n)):
        cell = code_cell(value)
        assert (str(n), None) == (cell.text, cell.problem)
        assert cell.warning is not None


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not (math.isfinite(f) and f.is_integer())))
def test_fractional_numbers_are_refused(value: float) -> None:
    """A number with a fractional part (or not a number at all) is never a code."""
    cell = code_cell(value)
    assert ("", True) == (cell.text, cell.problem is not None)


def test_numbers_past_excel_precision_are_refused() -> None:
    """A float of 16 digits or more has lost digits in Excel already."""
    assert code_cell(1e15).problem is not None
    assert "999999999999999" == code_cell(999999999999999.0).text


@given(SPACES, CODES, SPACES)
def test_surrounding_whitespace_is_trimmed(before: str, code: str, after: str) -> None:
    """Spaces around a code, full-width and invisible ones too, are not part of it."""
    assert trim(code) == code_cell(before + code + after).text


@given(CODES, st.sampled_from(["\n", "\r\n", "\t", "\x00", "\x7f", "\x85", "\u2028", "\u2029"]), CODES)
def test_a_control_character_inside_a_code_is_a_problem(head: str, mark: str, tail: str) -> None:
    """A line break typed into a cell (Alt+Enter), or a tab, inside a code is refused, never stored."""
    assert "line break or another control character" in str(code_cell(head + mark + tail).problem)


@given(CODES, st.sampled_from(["\u00ad", "\u200b", "\u2060", "\u180e", "\ufe0f", "\ufeff"]), CODES)
def test_an_invisible_character_inside_a_code_is_a_problem(head: str, mark: str, tail: str) -> None:
    """Pasted from a web page or a chat, the code looks right and matches nothing."""
    assert "invisible character" in str(code_cell(head + mark + tail).problem)


def test_every_format_character_unicode_knows_is_refused_inside_a_code() -> None:
    """Bidi isolates (U+2066..2069) and tags came in with pasted text and passed, unseen."""
    formats = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert [] == [f"U+{ord(ch):04X}" for ch in formats if "invisible" not in str(code_cell(f"FBA{ch}001").problem)]
    assert [] == [f"U+{ord(ch):04X}" for ch in formats if code_cell(f"{ch}FBA-001{ch}").text != "FBA-001"]


def test_excel_errors_and_uncached_formulas_are_problems() -> None:
    """An error value (#N/A...) or a formula with no saved value cannot be read as a code or a flag."""
    for error in EXCEL_ERRORS:
        assert code_cell(error).problem is not None
        assert isinstance(active_cell(error), str)
    formula = UncachedFormula("=A1")
    assert "=A1" in str(code_cell(formula).problem)
    assert "=A1" in str(active_cell(formula))


@given(st.sampled_from(["TRUE", "FALSE", "1", "0"]), st.booleans(), SPACES)
def test_is_active_text_in_any_case_and_width(word: str, upper: bool, pad: str) -> None:
    """TRUE/FALSE/1/0 as text count in any letter case, with spaces, in half or full width."""
    text = word.upper() if upper else word.lower()
    full = text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    for written in (text, full):
        assert (word in {"TRUE", "1"}) is active_cell(pad + written + pad)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.none()))
def test_is_active_anything_else_is_a_problem(value: object) -> None:
    """Anything but a boolean, 1/0 or their text is a problem, never silently on or off."""
    flag = active_cell(value)
    ok_text = isinstance(value, str) and header_key(value) in {"true", "false", "1", "0"}
    ok_number = isinstance(value, int | float) and value in {0, 1}
    assert isinstance(flag, bool) is (ok_text or ok_number)


def test_header_matching_is_trimmed_width_folded_and_case_blind() -> None:
    """Headers typed with spaces, capitals or full-width letters still match."""
    assert "amazon_sku" == header_key(" Amazon_SKU\u3000")
    assert "is_active" == header_key("ｉｓ＿ａｃｔｉｖｅ")
    assert "" == header_key(None)
