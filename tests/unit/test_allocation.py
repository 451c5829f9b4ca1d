"""The allocation rule: the manual's table, exact arithmetic, and config-written tiers."""

from __future__ import annotations

from fractions import Fraction

import pytest

from hypothesis import given
from hypothesis import strategies as st

from ecsync_core.allocation import OVERCOMMIT_SHOWN, non_monotone_edges, overcommitted, parse_rule, tabulate
from ecsync_core.domain import MANUAL_RULE, RuleSet
from ecsync_core.errors import ConfigError


MANUAL_TIERS = [
    {"min": 20, "ratio": "1/5"},
    {"min": 10, "max": 19, "ratio": "1/4"},
    {"min": 6, "max": 9, "ratio": "1/3"},
    {"min": 1, "max": 5, "ratio": "1/2"},
]


def manual(q: int) -> int:
    """The manual's table, written out independently."""
    for low, den in ((20, 5), (10, 4), (6, 3), (1, 2)):
        if q >= low:
            return q // den
    return 0


@pytest.mark.parametrize(("q", "want"), [(25, 5), (16, 4), (9, 3), (4, 2)])
def test_manual_examples(q: int, want: int) -> None:
    """The four examples printed in the manual hold."""
    assert want == MANUAL_RULE.allocate(q)


@given(st.lists(st.tuples(st.integers(1, 40), st.integers(1, 12)), min_size=1, max_size=5), st.integers(0, 120))
def test_edges_found_from_the_tiers_are_every_less_for_more(cuts: list[tuple[int, int]], upto: int) -> None:
    """Checking only the tier starts finds exactly what checking every quantity finds, and fast for any size."""
    starts = sorted({1, *(low for low, _ in cuts)})
    ratios = {low: f"1/{den}" for low, den in cuts} | {1: "1/2"}
    tiers = [
        {"min": low, **({"max": nxt - 1} if nxt else {}), "ratio": ratios[low]}
        for low, nxt in zip(starts, [*starts[1:], None], strict=True)
    ]
    rule = parse_rule(tiers, "rules.default")
    every = [
        (q, rule.allocate(q), rule.allocate(q + 1)) for q in range(1, upto) if rule.allocate(q + 1) < rule.allocate(q)
    ]
    assert every == non_monotone_edges(rule, upto)
    assert non_monotone_edges(rule, starts[-1]) == non_monotone_edges(rule, 10**15), "none past the top tier"


def test_non_monotone_edges_are_the_business_rule() -> None:
    """9 gives 3 but 10 gives 2; 19 gives 4 and 20 gives 4; both are reported as edges where less follows more."""
    assert (MANUAL_RULE.allocate(9), MANUAL_RULE.allocate(10)) == (3, 2)
    assert (MANUAL_RULE.allocate(19), MANUAL_RULE.allocate(20)) == (4, 4)
    assert (9, 3, 2) in non_monotone_edges(MANUAL_RULE, 30)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_rule_matches_manual_table_everywhere(q: int) -> None:
    """For any quantity, the default rule is the manual's floor table."""
    assert manual(q) == MANUAL_RULE.allocate(q)


@given(st.integers(min_value=-(10**9), max_value=0))
def test_nothing_for_nothing(q: int) -> None:
    """Zero and negative quantities (FBA corrections) give every mall 0."""
    assert MANUAL_RULE.allocate(q) == 0


@given(
    st.integers(min_value=1, max_value=10**15),
    st.integers(min_value=1, max_value=97),
    st.integers(min_value=1, max_value=97),
)
def test_floor_of_exact_fraction_never_above_q(q: int, a: int, b: int) -> None:
    """Any single-tier ratio gives exactly floor(q * ratio), computed without floats, and never more than q."""
    num, den = min(a, b), max(a, b)
    rule = parse_rule([{"min": 1, "ratio": f"{num}/{den}"}], "rules.default")
    got = rule.allocate(q)
    assert (q * num) // den == got
    assert 0 <= got <= q
    assert Fraction(got) <= Fraction(q * num, den) < got + 1


def test_config_tiers_equal_default() -> None:
    """The manual's table written in config is the same rule, with the same fingerprint."""
    rule = parse_rule(MANUAL_TIERS, "rules.default")
    assert MANUAL_RULE.tiers == rule.tiers
    assert RuleSet().fingerprint == RuleSet(rule).fingerprint


def test_fingerprint_changes_with_meaning_only() -> None:
    """Tier order does not change the fingerprint; a different ratio does."""
    reordered = parse_rule(list(reversed(MANUAL_TIERS)), "rules.default")
    changed = parse_rule([*MANUAL_TIERS[:3], {"min": 1, "max": 5, "ratio": "1/3"}], "rules.default")
    assert RuleSet().fingerprint == RuleSet(reordered).fingerprint
    assert RuleSet().fingerprint != RuleSet(changed).fingerprint
    assert RuleSet().fingerprint != RuleSet(per_mall={"yahoo": changed}).fingerprint


def test_per_mall_table() -> None:
    """A mall with its own tiers gets its own number; the others keep the default."""
    rules = RuleSet(per_mall={"rakuten": parse_rule([{"min": 1, "ratio": "1/10"}], "rules.malls.rakuten")})
    rows = tabulate(rules, ["yahoo", "rakuten"], [25])
    assert rows[0].malls == {"yahoo": 5, "rakuten": 2}


@pytest.mark.parametrize(
    ("tiers", "key", "fault"),
    [
        ([{"min": 1, "ratio": "0.2"}], "rules.default[0].ratio", "decimal"),
        ([{"min": 1, "ratio": "3/2"}], "rules.default[0].ratio", "(0, 1]"),
        ([{"min": 1, "ratio": "0/5"}], "rules.default[0].ratio", "(0, 1]"),
        ([{"min": 1, "ratio": 0.2}], "rules.default[0].ratio", "fraction"),
        ([{"min": 1, "max": 10, "ratio": "1/2"}, {"min": 10, "ratio": "1/5"}], "rules.default", "overlap"),
        ([{"min": 1, "max": 5, "ratio": "1/2"}, {"min": 7, "ratio": "1/5"}], "rules.default", "gap"),
        ([{"min": 2, "ratio": "1/2"}], "rules.default", "gap"),
        ([{"min": 1, "max": 5, "ratio": "1/2"}], "rules.default", "gap"),
        ([{"min": 1, "ratio": "1/2", "cap": 3}], "rules.default[0].cap", "unknown"),
        ([{"min": 0, "ratio": "1/2"}], "rules.default[0].min", "at least 1"),
    ],
)
def test_bad_tiers_name_the_key(tiers: list[dict[str, object]], key: str, fault: str) -> None:
    """Every fault in a tier table is refused with the key that holds it."""
    with pytest.raises(ConfigError) as info:
        parse_rule(tiers, "rules.default")
    assert key == info.value.key
    assert fault in info.value.problem


def test_a_proposed_table_is_checked_for_less_for_more_too() -> None:
    """simulate --rules points out the proposed table's own tier edges, the reason to simulate it at all."""
    from ecsync_core.domain import RuleSet
    from ecsync_core.services.simulate import simulate_quantities

    tiers = [{"min": 10, "ratio": "1/5"}, {"min": 1, "max": 9, "ratio": "1/2"}]
    proposed = RuleSet(parse_rule(tiers, "rules.default"))
    sim = simulate_quantities(RuleSet(), ["yahoo"], range(31), proposed)
    assert (9, 4, 2) in sim.proposed_edges["yahoo"]
    assert (9, 4, 2) not in sim.edges["yahoo"], "today's table has its own edges, not these"


def _table(cuts: list[tuple[int, int, int]]) -> list[dict[str, object]]:
    starts = sorted({1, *(low for low, _, _ in cuts)})
    ratios = {low: f"{num}/{den}" for low, num, den in cuts if num <= den} | {1: "1/2"}
    return [
        {"min": low, **({"max": nxt - 1} if nxt else {}), "ratio": ratios.get(low, "1/3")}
        for low, nxt in zip(starts, [*starts[1:], None], strict=True)
    ]


@given(
    st.lists(
        st.lists(st.tuples(st.integers(1, 30), st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=4),
        min_size=1,
        max_size=4,
    )
)
def test_overcommit_is_every_quantity_where_the_malls_get_more_than_fba_holds(
    tables: list[list[tuple[int, int, int]]],
) -> None:
    """
    What the tiers tell equals counting every quantity: the quantities up to the last tier start, and above it
    the first one where the top tiers (adding up to more than 1) overcommit again; none above it otherwise.
    """
    malls = [f"m{n}" for n in range(len(tables))]
    rules = RuleSet(per_mall={m: parse_rule(_table(t), f"rules.malls.{m}") for m, t in zip(malls, tables, strict=True)})
    found = overcommitted(rules, malls)
    highest = max(t.low for m in malls for t in rules.for_mall(m).tiers)
    over = [q for q in range(1, highest + 400) if sum(rules.for_mall(m).allocate(q) for m in malls) > q]
    below = [q for q in over if q < highest]
    assert (below[:OVERCOMMIT_SHOWN], len(below) > OVERCOMMIT_SHOWN) == ([q for q, _ in found.at], found.more)
    assert (min((q for q in over if q >= highest), default=None), found.top_share > 1) == (
        found.tail_from,
        found.tail_from is not None,
    )


def test_a_tier_starting_at_a_million_is_checked_without_counting_to_it() -> None:
    """Stretches whose ratios add up to at most 1 are skipped whole: no count up to the highest tier start."""
    rule = parse_rule([{"min": 1, "max": 999_999, "ratio": "1/3"}, {"min": 1_000_000, "ratio": "1/2"}], "r")
    found = overcommitted(RuleSet(default=rule), ["a", "b", "c"])
    assert ((), 1_000_000) == (found.at, found.tail_from)


def test_top_ratios_a_hair_above_1_are_checked_without_counting_for_ever() -> None:
    """Shares adding up to 1 + 1e-15 overcommit only past q = 2e15: the bound is taken, not counted to."""
    half = parse_rule([{"min": 1, "ratio": "1/2"}], "a")
    hair = parse_rule([{"min": 1, "ratio": f"{10**15 // 2 + 1}/{10**15}"}], "b")
    found = overcommitted(RuleSet(per_mall={"x": half, "y": hair}), ["x", "y"])
    q = found.tail_from
    assert q is not None
    assert half.allocate(q) + hair.allocate(q) > q


def test_overcommit_far_into_a_long_stretch_is_still_found() -> None:
    """Shares of 1/2 and 150001/300000 on 1-499999 overcommit only from 300000: found, not lost to the count."""
    half = parse_rule([{"min": 1, "max": 499_999, "ratio": "1/2"}, {"min": 500_000, "ratio": "1/10"}], "a")
    more = parse_rule([{"min": 1, "max": 499_999, "ratio": "150001/300000"}, {"min": 500_000, "ratio": "1/10"}], "b")
    found = overcommitted(RuleSet(per_mall={"x": half, "y": more}), ["x", "y"])
    assert (300_000, 150_001 + 150_000) == found.at[0]


def test_two_malls_on_the_manual_table_never_overcommit_and_three_do() -> None:
    """The manual's table is safe for two malls; a third mall plugin makes q = 2, 4 and 5 offer more than FBA has."""
    assert not overcommitted(RuleSet(), ["yahoo", "rakuten"])
    assert ((2, 3), (4, 6), (5, 6)) == overcommitted(RuleSet(), ["yahoo", "rakuten", "qmall"]).at
