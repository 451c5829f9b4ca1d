"""
The listing's fast page reader reads what the wire models read, and refuses the same pages with the same words.
"""

from __future__ import annotations

import json

from typing import Any

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsync_amazon._emulated_pages import Row, page_json
from ecsync_amazon._wire import read_listed_page
from ecsync_amazon.client import _read_page, _read_slowly
from ecsync_amazon.emulator import MARKETPLACE
from ecsync_core.errors import MallError


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=3) | st.just(""),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)


_ODD = st.sampled_from([None, True, False, 0, -1, 2.5, "", "x", [], [1], {}, {"x": 1}])
"""Values of every JSON type, for a fault put in one place of a page."""

_SUMMARY = st.fixed_dictionaries(
    {
        "sellerSku": st.text(min_size=1, max_size=3),
        "inventoryDetails": st.fixed_dictionaries({"fulfillableQuantity": st.integers(0, 9)}),
    },
    optional={"asin": st.text(max_size=3), "stores": _JSON},
)
_PAGE = st.fixed_dictionaries(
    {"payload": st.fixed_dictionaries({"inventorySummaries": st.lists(_SUMMARY, min_size=1, max_size=3)})},
    optional={"pagination": st.fixed_dictionaries({}, optional={"nextToken": st.none() | st.text(max_size=3)})},
)


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in *value*, to put a fault at."""
    found: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else []
    for key in list(keys):
        found.append((value, key))
        found += _places(value[key])
    return found


@st.composite
def _faulty_pages(draw: st.DrawFn) -> Any:
    """A well-formed page, or one with one value somewhere replaced by any JSON, or one key taken out."""
    page = draw(_PAGE)
    places = _places(page)
    choice = draw(st.integers(-1, len(places)))
    if choice == len(places):
        return draw(_JSON)
    if choice >= 0:
        container, key = places[choice]
        if isinstance(container, dict) and draw(st.integers(0, 3)) == 0:
            del container[key]
        else:
            container[key] = draw(_ODD)
    return page


Read = tuple[dict[str, int], dict[str, set[int]], str | None] | str


def _read(body: Any) -> Read:
    """What the listing makes of *body*: its SKUs, the ones listed twice, and nextToken, or the MallError's words."""
    found: dict[str, int] = {}
    clashes: dict[str, set[int]] = {}
    try:
        token = _read_page(body, found, clashes)
    except MallError as exc:
        return exc.message
    return found, clashes, token


def _read_by_models(body: Any) -> Read:
    found: dict[str, int] = {}
    clashes: dict[str, set[int]] = {}
    try:
        token = _read_slowly(body, found, clashes)
    except MallError as exc:
        return exc.message
    return found, clashes, token


@settings(max_examples=600)
@given(_faulty_pages())
def test_any_page_reads_as_the_wire_models_read_it(body: Any) -> None:
    """Well formed or not, a page yields the models' SKUs and token, or fails with the models' located words."""
    assert _read_by_models(body) == _read(body)


@given(st.dictionaries(st.text(min_size=1), st.integers(0, 10**6), max_size=5), st.none() | st.text(min_size=1))
def test_an_emulated_page_is_read_without_the_models(stock: dict[str, int], token: str | None) -> None:
    """A page as Amazon writes it takes the fast road and yields every SKU with its fulfillable quantity."""
    rows = [
        Row(sku, f"B{n:09d}", f"X{n:09d}", "name", "2024-01-01T00:00:00Z", q, 1, 2)
        for n, (sku, q) in enumerate(stock.items())
    ]
    found: dict[str, int] = {}
    clashes: dict[str, set[int]] = {}
    assert token == read_listed_page(json.loads(page_json(rows, True, token, MARKETPLACE)), found, clashes)
    assert (stock, {}) == (found, clashes)


def test_a_sku_listed_twice_with_two_numbers_is_a_clash_on_both_roads() -> None:
    """Neither copy of a SKU listed as 9 and then 40 is taken as its number: both go in the clashes."""
    page = {
        "payload": {
            "inventorySummaries": [
                {"sellerSku": s, "inventoryDetails": {"fulfillableQuantity": q}}
                for s, q in (("A", 3), ("B", 9), ("A", 3), ("B", 40))
            ]
        }
    }
    read = _read(page)
    assert not isinstance(read, str)
    assert {"B": {9, 40}} == read[1]
    assert read == _read_by_models(page)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"payload": {"inventorySummaries": [{"sellerSku": "A", "inventoryDetails": {"fulfillableQuantity": "3"}}]}},
            "inventorySummaries[0].inventoryDetails.fulfillableQuantity",
        ),
        (
            {
                "payload": {
                    "inventorySummaries": [{"sellerSku": "A", "inventoryDetails": {"fulfillableQuantity": True}}]
                }
            },
            "fulfillableQuantity",
        ),
        (
            {"payload": {"inventorySummaries": [{"asin": "B1", "inventoryDetails": {"fulfillableQuantity": 3}}]}},
            "without a sellerSku (asin B1)",
        ),
        ({"payload": {"inventorySummaries": [{"sellerSku": "A"}]}}, "'A' without inventoryDetails.fulfillableQuantity"),
        ({"pagination": {"nextToken": "t"}}, "without a payload"),
        ({"payload": {"inventorySummaries": {}}}, "expected list @ $.payload.inventorySummaries"),  # not "none"
    ],
)
def test_a_bad_page_is_refused_with_where_it_is_wrong(body: dict[str, Any], words: str) -> None:
    """A page with a wrong type or a hole is refused, naming the place, and yields no SKU."""
    read = _read(body)
    assert isinstance(read, str)
    assert words in read
