"""
The allocation rule as data: banded tiers of exact fractions.
"""

from __future__ import annotations

import hashlib
import json

from collections.abc import Mapping
from fractions import Fraction

import attrs


@attrs.frozen
class Tier:
    """
    One band of Amazon quantities and the share of it each mall gets.

    Attributes:
        low: the smallest Amazon quantity in the band (at least 1).
        high: the largest, or ``None`` for "and above".
        ratio: the share, an exact fraction in (0, 1].
    """

    low: int
    high: int | None
    ratio: Fraction

    def covers(self, q: int) -> bool:
        return q >= self.low and (self.high is None or q <= self.high)

    def as_text(self) -> dict[str, object]:
        return {
            "min": self.low,
            "max": self.high,
            "ratio": f"{self.ratio.numerator}/{self.ratio.denominator}",
        }


@attrs.frozen
class AllocationRule:
    """
    A complete tier table: quantities from 1 upwards, without gaps or overlaps.

    Quantities of 0 and below, and SKUs that FBA does not list, always get 0.
    """

    tiers: tuple[Tier, ...]

    def allocate(self, q: int) -> int:
        """Return floor(q * ratio) of the tier that covers *q*, with integer arithmetic only."""
        if q <= 0:
            return 0
        for tier in self.tiers:
            if tier.covers(q):
                return q * tier.ratio.numerator // tier.ratio.denominator
        return 0

    def as_text(self) -> list[dict[str, object]]:
        return [t.as_text() for t in sorted(self.tiers, key=lambda t: t.low)]


MANUAL_RULE = AllocationRule(
    tiers=(
        Tier(20, None, Fraction(1, 5)),
        Tier(10, 19, Fraction(1, 4)),
        Tier(6, 9, Fraction(1, 3)),
        Tier(1, 5, Fraction(1, 2)),
    )
)
"""The manual's table (配分ロジック), the default when config gives none."""


@attrs.frozen
class RuleSet:
    """
    The default rule and the malls that have their own.
    """

    default: AllocationRule = MANUAL_RULE
    per_mall: Mapping[str, AllocationRule] = attrs.field(factory=dict)

    def for_mall(self, mall: str) -> AllocationRule:
        return self.per_mall.get(mall, self.default)

    def as_text(self) -> dict[str, object]:
        return {
            "default": self.default.as_text(),
            "malls": {m: r.as_text() for m, r in sorted(self.per_mall.items())},
        }

    @property
    def fingerprint(self) -> str:
        """A stable short hash of the table's meaning, independent of how the YAML was written."""
        text = json.dumps(self.as_text(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
