"""The planner, as properties: allocation then the diff against what each mall holds now."""

from __future__ import annotations

import pytest

from hypothesis import given
from hypothesis import strategies as st

from ecsync_core import planning
from ecsync_core.domain import MANUAL_RULE, Mapping, RuleSet
from ecsync_core.planning import look_alike, make_plan, mistyped
from ecsync_core.ports import StockReading


skus = st.sampled_from([f"S{n}" for n in range(12)])
malls = st.sampled_from(["yahoo", "rakuten"])
stock_st = st.dictionaries(skus, st.integers(min_value=-3, max_value=60), max_size=12)
mappings_st = st.lists(
    st.builds(Mapping, skus, malls, st.sampled_from([f"i{n}" for n in range(20)]), st.booleans()),
    max_size=20,
    unique_by=lambda m: (m.sku, m.mall),
)
held_st = st.dictionaries(st.sampled_from([f"i{n}" for n in range(20)]), st.integers(min_value=0, max_value=20))


def _readings(held: dict[str, int]) -> dict[str, StockReading]:
    return {"yahoo": StockReading(dict(held)), "rakuten": StockReading(dict(held))}


@given(stock_st, mappings_st, held_st)
def test_targets_follow_the_rule_and_updates_are_the_diff(
    stock: dict[str, int], mappings: list[Mapping], held: dict[str, int]
) -> None:
    """Every active item's target is the rule of its SKU's quantity (0 if FBA lacks it); updates are what differs."""
    plan = make_plan(stock, mappings, _readings(held), RuleSet())
    active = [m for m in mappings if m.active]
    assert sorted((m.mall, m.sku) for m in active) == sorted((u.mall, u.sku) for u in plan.items)
    for u in plan.items:
        assert MANUAL_RULE.allocate(stock.get(u.sku, 0)) == u.target
        assert held.get(u.item) == u.before
    assert [u for u in plan.items if u.before != u.target] == plan.updates
    assert len(stock) == plan.found
    assert len({m.sku for m in active if m.sku in stock}) == plan.mapped <= plan.found


@given(stock_st, mappings_st, held_st)
def test_applying_a_plan_leaves_nothing_to_do(
    stock: dict[str, int], mappings: list[Mapping], held: dict[str, int]
) -> None:
    """Once every update is written, the same plan against the new stock has no updates."""
    unique = {}
    for m in mappings:
        unique.setdefault((m.mall, m.item), m)
    mappings = list(unique.values())
    readings = {mall: StockReading(dict(held)) for mall in ("yahoo", "rakuten")}
    plan = make_plan(stock, mappings, readings, RuleSet())
    for u in plan.updates:
        readings[u.mall].quantities[u.item] = u.target
    assert [] == make_plan(stock, mappings, readings, RuleSet()).updates


@given(stock_st, mappings_st, held_st)
def test_full_sends_everything_and_an_unread_mall_gets_nothing(
    stock: dict[str, int], mappings: list[Mapping], held: dict[str, int]
) -> None:
    """
    --full plans every active item. A mall that could not be read (missing from the readings) gets no item,
    but its SKUs still count as mapped.
    """
    full = make_plan(stock, mappings, _readings(held), RuleSet(), full=True)
    assert list(full.items) == full.updates
    unread = make_plan(stock, mappings, {"rakuten": StockReading(dict(held))}, RuleSet())
    assert [] == [u for u in unread.items if u.mall == "yahoo"]
    assert (full.mapped, full.unmapped) == (unread.mapped, unread.unmapped)


@given(stock_st, mappings_st, held_st)
def test_zeroing_counts_only_stocked_items_going_to_zero(
    stock: dict[str, int], mappings: list[Mapping], held: dict[str, int]
) -> None:
    """The safety share is taken over items holding stock now, and counts those whose target is 0."""
    plan = make_plan(stock, mappings, _readings(held), RuleSet())
    assert sum(1 for u in plan.items if (u.before or 0) > 0) == plan.holding
    assert all(u.target == 0 and (u.before or 0) > 0 for u in plan.zeroing)
    assert len(plan.zeroing) <= plan.holding


def test_unmapped_and_unreadable() -> None:
    """FBA SKUs without an active mapping are listed; an item a mall could not resolve is planned but flagged."""
    mappings = [Mapping("A", "rakuten", "p1"), Mapping("B", "rakuten", "p2", active=False)]
    reading = StockReading({}, {"p1": "p1 has 3 variants: name one in the sheet"})
    plan = make_plan({"A": 10, "B": 4, "C": 1}, mappings, {"rakuten": reading}, RuleSet())
    assert ("B", "C") == plan.unmapped
    assert {("rakuten", "p1"): "p1 has 3 variants: name one in the sheet"} == dict(plan.unreadable)
    assert ["p1"] == [u.item for u in plan.updates]


def test_a_mapped_sku_fba_knows_only_spelled_otherwise_is_not_zeroed() -> None:
    """
    A SKU typed full-width, with a zero-width space or without its leading zeros is not at FBA while the real one
    is: its items are planned but not sent, naming both SKUs. A SKU that is simply gone from FBA still goes to 0.
    """
    stock = {"FBA-00020": 20, "00123": 40, "SKU-001": 5}
    mappings = [
        Mapping("FBA-０００２０", "yahoo", "y1"),
        Mapping("123", "rakuten", "r1"),
        Mapping("SKU-\u200b001", "yahoo", "y2"),
        Mapping("RETIRED", "yahoo", "y3"),
        Mapping("FBA-00020", "rakuten", "r2"),
    ]
    suspects = mistyped(stock, mappings)
    assert {"FBA-０００２０", "123", "SKU-\u200b001"} == set(suspects)
    assert "SKU '123' is not at FBA, but '00123' is: mistyped in the master sheet?" in suspects["123"]
    held = {"y1": 4, "r1": 8, "y2": 0, "y3": 2, "r2": 4}
    readings = {"yahoo": StockReading(dict(held)), "rakuten": StockReading(dict(held))}
    plan = make_plan(stock, mappings, readings, RuleSet(), mistyped=suspects)
    assert {("yahoo", "y1"), ("rakuten", "r1"), ("yahoo", "y2")} == set(plan.unreadable)
    assert {"y1", "r1", "y2"} <= {u.item for u in plan.updates}, "y2 already at 0 still fails, loudly"
    assert {"y3": 0} == {u.item: u.target for u in plan.updates if (u.mall, u.item) not in plan.unreadable}
    assert {} == mistyped(stock, [Mapping("FBA-00020", "yahoo", "y1")]), "nothing missing: FBA's SKUs are not folded"


@pytest.mark.parametrize(
    "typed",
    [
        "fba-00020",  # letter case
        "FBA\u221200020",  # minus sign
        "FBA\u201000020",  # hyphen
        "FBA\u30fc00020",  # katakana prolonged sound mark: "-" typed with the IME in kana mode
        "'FBA-00020",  # the apostrophe a back-office export puts before a code to keep its zeros
        '"FBA-00020"',
        "FBA-00020\u2066",  # a bidi isolate, pasted in with the text around it
    ],
)
def test_a_sku_typed_with_a_look_alike_is_taken_for_the_real_one(typed: str) -> None:
    """Japanese input methods and exports give dashes and quotes that look right; the item must not go to 0."""
    suspects = mistyped({"FBA-00020": 20}, [Mapping(typed, "yahoo", "y1")])
    assert [typed] == list(suspects)
    assert "but 'FBA-00020' is" in suspects[typed]


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=12))
def test_an_ascii_sku_folds_as_any_other(sku: str) -> None:
    """The fast path for ASCII SKUs (a sync folds 100,000) agrees with the general fold."""
    assert planning._UNSEEN.sub("", planning._plain(sku)).casefold().lstrip("0") == planning._fold(sku)


def test_a_japanese_sku_keeps_its_long_vowel_mark() -> None:
    """ー after kana is a word's long vowel, not a dash: no warning, and no twin made of an ASCII SKU."""
    assert look_alike("スーパー-01") is None
    assert {} == mistyped({"ス-パ--01": 3}, [Mapping("スーパー-01", "yahoo", "y1")])
    assert look_alike("FBAー00025") is not None


def test_a_plan_prints_its_sizes_not_every_item() -> None:
    """A notebook (and asyncio, at the end of every run) reprs the plan: 100,000 items must not be spelled out."""
    mappings = [Mapping(f"S{n}", "yahoo", f"y{n}") for n in range(1000)]
    plan = make_plan({f"S{n}": 5 for n in range(1000)}, mappings, {"yahoo": StockReading({})}, RuleSet())
    assert "rows=<1000>" in repr(plan)
    assert len(repr(plan)) < 200
