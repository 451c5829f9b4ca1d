"""The sandbox's demo catalogue reproduces the manual's first dry run, recomputed here from the data itself."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsync_core.domain import MANUAL_RULE
from ecsync_core.sandbox.demo import MIN_SKUS, Catalogue, DemoMall, demo_catalogue, scaled_counts


RAKUTEN = DemoMall("rakuten", "rakuten_item_number", lambda n: f"shop-item-{n:04d}")
YAHOO = DemoMall("yahoo", "yahoo_item_code", lambda n: f"Y{n:06d}")
OTHER = DemoMall("other", "other_code", lambda n: f"o-{n}")


@attrs.frozen
class Recount:
    """What a dry run over the catalogue would count, computed the way SPEC's sync does."""

    found: int
    mapped: int
    updates: list[tuple[str, str, int, int, int]]  # mall, item, q, held, target
    unmapped_listed: set[str]
    gone: set[str]


def recount(cat: Catalogue, malls: Sequence[DemoMall]) -> Recount:
    active = [r for r in cat.rows if r.active]
    active_skus = {r.sku for r in active}
    updates = []
    for row in active:
        q = cat.source.get(row.sku, 0)
        for mall in malls:
            item = row.codes.get(mall.column)
            if item:
                target = MANUAL_RULE.allocate(q)
                if cat.malls[mall.code][item] != target:
                    updates.append((mall.code, item, q, cat.malls[mall.code][item], target))
    return Recount(
        found=len(cat.source),
        mapped=len(active_skus & set(cat.source)),
        updates=updates,
        unmapped_listed=set(cat.source) - active_skus,
        gone=active_skus - set(cat.source),
    )


def test_the_default_catalogue_is_the_manuals_dry_run() -> None:
    """142 FBA SKUs, 138 of them mapped and active, 15 mall items to update: the manual's numbers."""
    cat = demo_catalogue([RAKUTEN, YAHOO])
    counted = recount(cat, [RAKUTEN, YAHOO])
    assert (142, 138, 15) == (counted.found, counted.mapped, len(counted.updates))
    assert (142, 138, 15) == (cat.found, cat.mapped, cat.updates)


def test_the_updates_raise_and_zero_on_every_mall() -> None:
    """The first dry run raises stock above 0 on every mall and sets some held stock to 0 (q of 0 or 1)."""
    updates = recount(demo_catalogue([RAKUTEN, YAHOO]), [RAKUTEN, YAHOO]).updates
    raised = {mall for mall, _i, _q, held, target in updates if 0 <= held < target}
    zeroed = [(q, held) for _m, _i, q, held, target in updates if target == 0]
    assert {"rakuten", "yahoo"} == raised
    assert zeroed
    assert all(q in (0, 1) and held > 0 for q, held in zeroed)
    assert {"rakuten", "yahoo"} == {mall for mall, *_ in updates}


def test_the_sheet_holds_the_manuals_odd_rows() -> None:
    """Inactive rows, one product on the first mall only, 2 mapped SKUs FBA no longer lists, 4 unmapped."""
    cat = demo_catalogue([RAKUTEN, YAHOO])
    counted = recount(cat, [RAKUTEN, YAHOO])
    by_sku = {r.sku: r for r in cat.rows}
    single = [r for r in cat.rows if r.active and set(r.codes) == {RAKUTEN.column}]
    assert 1 == len(single)
    assert single[0].sku in cat.source
    assert 4 == len(counted.unmapped_listed)
    assert any(s in by_sku and not by_sku[s].active for s in counted.unmapped_listed)
    assert any(s not in by_sku for s in counted.unmapped_listed)
    assert 2 == len(counted.gone)
    for sku in counted.gone:
        assert [0, 0] == [cat.malls[m.code][by_sku[sku].codes[m.column]] for m in (RAKUTEN, YAHOO)]


def test_every_active_item_exists_on_its_mall() -> None:
    """Each mall item an active row names is an item of that mall's emulator (the sync reads it back)."""
    cat = demo_catalogue([RAKUTEN, YAHOO])
    for row in cat.rows:
        for mall in (RAKUTEN, YAHOO):
            if mall.column in row.codes:
                assert row.codes[mall.column] in cat.malls[mall.code]


def test_quantities_spread_over_every_tier_edge() -> None:
    """FBA stock includes 0, the tier edges 9 and 10, 19 and 20, and large quantities."""
    quantities = set(demo_catalogue([RAKUTEN, YAHOO]).source.values())
    assert {0, 1, 5, 6, 9, 10, 19, 20} <= quantities
    assert max(quantities) >= 100


def test_the_same_seed_gives_the_same_catalogue() -> None:
    """The catalogue is deterministic for a seed, and another seed gives another one."""
    assert demo_catalogue([RAKUTEN, YAHOO], seed=7) == demo_catalogue([RAKUTEN, YAHOO], seed=7)
    assert demo_catalogue([RAKUTEN, YAHOO], seed=7).source != demo_catalogue([RAKUTEN, YAHOO], seed=8).source


def test_one_target_mall_alone_still_gets_the_manuals_numbers() -> None:
    """With a single target mall installed the demo is still 142/138/15, all on that mall."""
    cat = demo_catalogue([OTHER])
    counted = recount(cat, [OTHER])
    assert (142, 138, 15) == (counted.found, counted.mapped, len(counted.updates))


def test_too_few_skus_are_refused() -> None:
    """A catalogue too small to hold the mix is a clear error, not a wrong demo."""
    with pytest.raises(ValueError, match=f"at least {MIN_SKUS} SKUs"):
        demo_catalogue([RAKUTEN, YAHOO], skus=MIN_SKUS - 1)


@settings(max_examples=40, deadline=None)
@given(
    skus=st.integers(MIN_SKUS, 800),
    seed=st.integers(0, 2**32),
    malls=st.sampled_from([[RAKUTEN], [RAKUTEN, YAHOO], [RAKUTEN, YAHOO, OTHER]]),
)
def test_scaled_catalogues_keep_the_mix(skus: int, seed: int, malls: list[DemoMall]) -> None:
    """--skus N scales the mix: N found, the scaled unmapped, gone and update counts, every mall raised."""
    cat = demo_catalogue(malls, skus=skus, seed=seed)
    counted = recount(cat, malls)
    want = scaled_counts(skus, len(malls))
    assert skus == counted.found
    assert skus - want["unmapped"] == counted.mapped
    assert want["unmapped"] == len(counted.unmapped_listed)
    assert want["gone"] == len(counted.gone)
    assert want["updates"] == len(counted.updates)
    assert {m.code for m in malls} == {mall for mall, _i, _q, held, target in counted.updates if held < target}
    assert any(target == 0 for *_, target in counted.updates)
