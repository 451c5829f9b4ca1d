"""The FBA inventory report file (sync --file and the Reports API): by header name, UTF-8 or cp932, all or nothing."""

from __future__ import annotations

import gzip

from pathlib import Path

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsync_amazon._emulated_reports import COLUMNS, inventory_tsv
from ecsync_amazon.report import parse_report, read_report_file
from ecsync_core.errors import InputError


STOCK = {"0012": 5, "JP-MUG-001": 42, "日本語-SKU": 0}


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "myi.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def problem(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        read_report_file(path)
    line = caught.value.one_line()
    assert 1 == len(caught.value.problems)
    assert "\n" not in line
    return line


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_the_tsv_as_amazon_writes_it_reads_in_utf8_or_cp932(tmp_path: Path, encoding: str) -> None:
    """Amazon's MYI TSV (21 columns, Japanese names) gives SKU -> afn-fulfillable-quantity in any of its encodings."""
    path = write(tmp_path, inventory_tsv(STOCK), encoding)
    assert STOCK == read_report_file(path)


def test_codes_stay_text_with_leading_zeros(tmp_path: Path) -> None:
    """A SKU written 0012 is "0012", never 12."""
    path = write(tmp_path, "sku\tafn-fulfillable-quantity\n0012\t3\n000\t0\n")
    assert {"0012": 3, "000": 0} == read_report_file(path)


def test_a_csv_with_quoted_commas_reads_by_header_name(tmp_path: Path) -> None:
    """Seller Central's CSV (quoted cells with commas, columns in another order, extra columns) reads the same."""
    text = (
        "product-name,afn-fulfillable-quantity,asin,sku,afn-total-quantity\r\n"
        '"マグカップ, 白",42,B0EXAMPLE1,JP-MUG-001,70\r\n'
        '"Tee ""M""",7,B0EXAMPLE2,JP-TEE-M,9\r\n'
    )
    path = write(tmp_path, text, "cp932", name="myi.csv")
    assert {"JP-MUG-001": 42, "JP-TEE-M": 7} == read_report_file(path)


def test_a_lone_quote_in_a_tsv_name_is_a_character(tmp_path: Path) -> None:
    """Amazon's TSV does not quote; a product name with one '"' does not swallow the rows after it."""
    text = 'sku\tproduct-name\tafn-fulfillable-quantity\nA\t12" ruler\t4\nB\tplain\t5\n'
    assert {"A": 4, "B": 5} == read_report_file(write(tmp_path, text))


def test_header_spelling_variants_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    """seller-sku / AFN_Fulfillable_Quantity headers, CRLF line ends and blank lines are all fine."""
    text = "Seller-SKU\tAFN_Fulfillable_Quantity\r\n\r\nA\t1\r\n\t\r\nB\t2\r\n"
    assert {"A": 1, "B": 2} == read_report_file(write(tmp_path, text))


def test_a_gzipped_download_is_read_as_is(tmp_path: Path) -> None:
    """The Reports API's gzipped document, saved without unpacking, reads the same."""
    path = tmp_path / "report.gz"
    path.write_bytes(gzip.compress(inventory_tsv(STOCK).encode("cp932")))
    assert STOCK == read_report_file(path)


def test_the_same_sku_twice_with_one_quantity_is_fine(tmp_path: Path) -> None:
    """A repeated row that agrees is harmless."""
    assert {"A": 3} == read_report_file(write(tmp_path, "sku\tafn-fulfillable-quantity\nA\t3\nA\t3\n"))


def test_a_missing_column_is_named_with_the_header_row(tmp_path: Path) -> None:
    """A file without afn-fulfillable-quantity fails on row 1 naming the column and what was found."""
    path = write(tmp_path, "sku\tquantity\nA\t3\n")
    line = problem(path)
    assert line.startswith(f"{path}, row 1, column afn-fulfillable-quantity: ")
    assert "found: sku, quantity" in line


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        ("A\t3\nB\t12.0\n", "row 3, column afn-fulfillable-quantity", "not a whole number >= 0 (value '12.0')"),
        ("A\t-1\n", "row 2, column afn-fulfillable-quantity", "(value '-1')"),
        ("A\t\n", "row 2, column afn-fulfillable-quantity", "(value '')"),
        ("A\t3\n\t4\n", "row 3, column sku", "the SKU is empty"),
        ("A\t3\nB\n", "row 3, column afn-fulfillable-quantity", "has 1 cells, the header has 2"),
        ("A\t3\nA\t4\n", "row 3, column afn-fulfillable-quantity", "listed again with another quantity (row 2 says 3)"),
        ("A\t99999999999\n", "row 2, column afn-fulfillable-quantity", "more than any item holds (999,999,999)"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_row_and_column(tmp_path: Path, body: str, where: str, what: str) -> None:
    """The first bad cell stops the read with the file, its row and column, and what is wrong."""
    path = write(tmp_path, "sku\tafn-fulfillable-quantity\n" + body)
    line = problem(path)
    assert line.startswith(f"{path}, {where}: ")
    assert what in line


def test_a_row_wider_than_the_header_is_refused_not_read_shifted(tmp_path: Path) -> None:
    """
    A tab inside a product name shifts the later cells right: the warehouse count (30) would be read as the
    fulfillable one (2). The row is refused instead, in TSV and in a hand-saved CSV.
    """
    header = "sku\tproduct-name\tafn-warehouse-quantity\tafn-fulfillable-quantity\tafn-reserved-quantity\n"
    tsv = write(tmp_path, header + "A\tマグ\t30\t2\t25\nB\tマグカップ\t白\t30\t2\t25\n")
    line = problem(tsv)
    assert line.startswith(f"{tsv}, row 3: has 6 cells, the header has 5")
    assert "shifts the columns" in line
    csv_path = tmp_path / "stock.csv"
    csv_path.write_text("sku,product-name,afn-fulfillable-quantity,afn-reserved-quantity\nA,Mug, white,2,25\n")
    assert problem(csv_path).startswith(f"{csv_path}, row 2: has 5 cells, the header has 4")


def test_bytes_that_are_neither_utf8_nor_cp932_are_refused_with_their_row(tmp_path: Path) -> None:
    """Undecodable bytes name the file and the row they are on."""
    path = tmp_path / "broken.txt"
    path.write_bytes(b"sku\tafn-fulfillable-quantity\nA\t1\n\x85\x40\t2\n")
    assert problem(path).startswith(f"{path}, row 3: is neither UTF-8 nor Shift_JIS")


def test_an_empty_file_and_a_missing_file_are_named(tmp_path: Path) -> None:
    """An empty file says it has no header; a file that is not there says it cannot be read."""
    assert "no header row" in problem(write(tmp_path, ""))
    missing = tmp_path / "nope.txt"
    assert problem(missing).startswith(f"{missing}: cannot read the FBA inventory report")


def test_a_declared_charset_wins_and_a_wrong_one_falls_back() -> None:
    """A download's windows-31j is honoured; a wrong declaration does not garble a UTF-8 file."""
    data = inventory_tsv(STOCK).encode("cp932")
    assert STOCK == parse_report(data, source="r", charset="windows-31j")
    assert STOCK == parse_report(inventory_tsv(STOCK).encode("utf-8"), source="r", charset="windows-31j")


_SKU_CHARS = st.sampled_from("ABCXYZabc0123456789-_.日本語テスト")


@settings(max_examples=60)
@given(
    st.dictionaries(
        st.text(_SKU_CHARS, min_size=1, max_size=15),
        st.integers(0, 100_000),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
    st.permutations(COLUMNS),
)
def test_any_report_round_trips(stock: dict[str, int], encoding: str, order: list[str]) -> None:
    """Whatever the SKUs, the encoding and the column order, the file gives back exactly the stock written."""
    rows = inventory_tsv(stock).splitlines()
    cells = [row.split("\t") for row in rows]
    index = [COLUMNS.index(name) for name in order]
    text = "\n".join("\t".join(row[i] for i in index) for row in cells) + "\n"
    assert stock == parse_report(text.encode(encoding), source="r")
