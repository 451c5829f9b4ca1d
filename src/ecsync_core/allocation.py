"""
The allocation rule: parse a tier table, allocate, and tabulate for `simulate`. Pure.
"""

from __future__ import annotations

import itertools
import math

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import attrs

from ecsync_core.domain import AllocationRule, RuleSet, Tier
from ecsync_core.errors import ConfigError


def parse_ratio(text: object, key: str) -> Fraction:
    """Read "1/5" (or an int 1) as an exact fraction in (0, 1]; floats are refused as inexact."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ConfigError(key, f'ratio must be a fraction written as text like "1/5", got {text!r}')
    try:
        value = Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise ConfigError(key, f'ratio must be a fraction like "1/5", got {text!r}') from None
    if "." in str(text):
        raise ConfigError(key, f'ratio must be an exact fraction like "1/5", not a decimal {text!r}')
    if not 0 < value <= 1:
        raise ConfigError(key, f"ratio must be in (0, 1], got {text!r}")
    return value


def _bound(raw: Mapping[str, object], name: str, key: str, *, optional: bool) -> int | None:
    value = raw.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}.{name}", f"must be a whole number, got {value!r}")
    return value


def parse_rule(raw: object, key: str) -> AllocationRule:
    """
    Build a rule from config's tier list and check that it covers 1.. without gaps or overlaps.

    Args:
        raw: a list of ``{min, max, ratio}`` mappings, ``max`` omitted on the open top tier.
        key: the config key the list sits under, for the error line.
    """
    if not isinstance(raw, list) or not raw:
        raise ConfigError(key, "must be a non-empty list of tiers ({min, max, ratio})")
    tiers = []
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(where, f"must be a mapping with min, max and ratio, got {item!r}")
        unknown = set(item) - {"min", "max", "ratio"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}", "unknown key (a tier has min, max, ratio)")
        low = _bound(item, "min", where, optional=False)
        high = _bound(item, "max", where, optional=True)
        assert low is not None
        if low < 1:
            raise ConfigError(f"{where}.min", f"must be at least 1 (0 and below always get 0), got {low}")
        if high is not None and high < low:
            raise ConfigError(f"{where}.max", f"is below min ({high} < {low})")
        tiers.append(Tier(low, high, parse_ratio(item.get("ratio"), f"{where}.ratio")))
    _check_cover(tiers, key)
    return AllocationRule(tuple(sorted(tiers, key=lambda t: t.low, reverse=True)))


def _check_cover(tiers: Sequence[Tier], key: str) -> None:
    expect = 1
    ordered = sorted(tiers, key=lambda t: t.low)
    for n, tier in enumerate(ordered):
        if tier.low < expect:
            raise ConfigError(key, f"tiers overlap at quantity {tier.low}")
        if tier.low > expect:
            raise ConfigError(key, f"tiers leave a gap: quantities {expect}-{tier.low - 1} are in no tier")
        if tier.high is None:
            if n != len(ordered) - 1:
                raise ConfigError(key, f"tiers overlap: the open tier from {tier.low} is not the last")
            return
        expect = tier.high + 1
    raise ConfigError(key, f"tiers leave a gap: quantities from {expect} up are in no tier (omit max on the top tier)")


@attrs.frozen
class AllocationRow:
    """One Amazon quantity and what each mall gets for it."""

    amazon_qty: int
    malls: dict[str, int]


def tabulate(rules: RuleSet, malls: Iterable[str], quantities: Iterable[int]) -> list[AllocationRow]:
    """What each mall would get for each quantity: the `simulate --qty` table."""
    codes = list(malls)
    return [AllocationRow(q, {m: rules.for_mall(m).allocate(q) for m in codes}) for q in quantities]


def non_monotone_edges(rule: AllocationRule, upto: int) -> list[tuple[int, int, int]]:
    """
    Quantities below *upto* where one more unit on Amazon gives the mall less: (q, alloc(q), alloc(q+1)).

    Within a tier floor(q x ratio) never falls as q grows, so only the quantity just below a tier can be one:
    the tiers are checked, not every quantity (a report line of 99,999,999 units stays instant).
    """
    edges = []
    for q in sorted(t.low - 1 for t in rule.tiers):
        if 1 <= q < upto and (after := rule.allocate(q + 1)) < (before := rule.allocate(q)):
            edges.append((q, before, after))
    return edges


@attrs.frozen
class Overcommit:
    """
    Where the target malls together are given more units than FBA holds: one unit offered twice.

    Attributes:
        at: (q, the malls' total) for the first such quantities up to the highest tier start (at most
            ``OVERCOMMIT_SHOWN``; *more* says whether there are others).
        top_share: the malls' top-tier ratios added up; above 1, quantities above the tiers are overcommitted too
            (the first from *tail_from*, and past ``len(malls) / (top_share - 1)`` every one).
    """

    at: tuple[tuple[int, int], ...]
    top_share: Fraction
    tail_from: int | None = None
    more: bool = False

    def __bool__(self) -> bool:
        return bool(self.at) or self.more or self.tail_from is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "at": [list(p) for p in self.at],
            "more": self.more,
            "top_share": str(self.top_share),
            "tail_from": self.tail_from,
        }


OVERCOMMIT_SHOWN = 50
OVERCOMMIT_COUNTED = 200_000
"""Quantities tried one by one at most, over all stretches: past a bound every quantity is overcommitted."""


def overcommitted(rules: RuleSet, malls: Sequence[str]) -> Overcommit:
    """
    Quantities where the *malls* together get more than q.

    Between two tier starts (of any mall) each mall keeps one ratio, and their total lies within *len(malls)*
    below q times their ratios' sum S (each floor loses under 1), and never above it. So a stretch with S at
    most 1 holds none and is skipped whole; where S is above 1 none lies below ``1 / (S - 1)`` and every q
    from ``len(malls) / (S - 1)`` on is overcommitted. Between the two, quantities are counted one by one, up
    to ``OVERCOMMIT_COUNTED`` in all; past that the search jumps to the certain bound and *more* says that
    some may have gone unseen. So *at* holds the first quantities found, and *tail_from* an overcommitted
    quantity above the highest tier start, the first one unless the count ran out.
    """
    chosen = [rules.for_mall(m) for m in malls]
    if not chosen:
        return Overcommit((), Fraction(0))
    starts = sorted({t.low for rule in chosen for t in rule.tiers})
    budget = OVERCOMMIT_COUNTED
    at: list[tuple[int, int]] = []
    more = False
    for low, high in itertools.pairwise(starts):
        share = _share_at(chosen, low)
        if share <= 1:
            continue
        found, budget, skipped = _first_over(chosen, low, high, share, OVERCOMMIT_SHOWN - len(at) + 1, budget)
        at += found
        more = more or skipped
        if len(at) > OVERCOMMIT_SHOWN:
            at, more = at[:OVERCOMMIT_SHOWN], True
            break
    top_share = _share_at(chosen, starts[-1])
    tail_from = None
    if top_share > 1:
        [(tail_from, _)] = _first_over(chosen, starts[-1], None, top_share, 1, budget)[0]
    return Overcommit(tuple(at), top_share, tail_from, more)


def _first_over(
    rules: Sequence[AllocationRule], low: int, high: int | None, share: Fraction, wanted: int, budget: int
) -> tuple[list[tuple[int, int]], int, bool]:
    """
    Up to *wanted* overcommitted (q, total) in [low, high), the budget left, and whether quantities were
    skipped unseen when it ran out; share > 1 throughout.
    """
    sure = max(low, math.ceil(len(rules) / (share - 1)))  # from here on every q is overcommitted
    found: list[tuple[int, int]] = []
    skipped = False
    q = max(low, math.ceil(1 / (share - 1)))  # below, q x share < q + 1: no total can pass q
    while len(found) < wanted and (high is None or q < high):
        if q < sure and budget == 0:
            q, skipped = sure, True  # the count ran out: the bound is certain
            continue
        total = sum(r.allocate(q) for r in rules)
        if q < sure:
            budget -= 1
        if total > q:
            found.append((q, total))
        q += 1
    return found, budget, skipped


def _share_at(rules: Sequence[AllocationRule], q: int) -> Fraction:
    """The malls' ratios added up at quantity *q* (each in the tier that holds q)."""
    return sum((next(t.ratio for t in r.tiers if t.low <= q) for r in rules), Fraction(0))
