"""
The sandbox's demo catalogue: the manual's first dry run (142 FBA SKUs, 138 mapped, 15 updates), scalable.

A pure function of the catalogue size, the seed, the installed malls and the rule table: no I/O, the same
catalogue for the same arguments.
"""

from __future__ import annotations

import random

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import attrs

from ecsync_core.domain import RuleSet
from ecsync_core.mall import MallPlugin
from ecsync_core.master_sheet import SheetRow


MANUAL_SKUS = 142
"""The manual's dry run: 142 FBA SKUs ..."""
MANUAL_UNMAPPED = 4
"""... of which 138 are mapped and active, 4 not (no row, or inactive rows only) ..."""
MANUAL_GONE = 2
"""... plus 2 active mapped SKUs that FBA no longer lists ..."""
MANUAL_UPDATES = 15
"""... and 15 mall items to update."""
MIN_SKUS = 5
"""The smallest catalogue that still holds one of each kind (see ``demo_catalogue``)."""

EDGE_QUANTITIES = (25, 9, 10, 0, 1, 2, 5, 6, 19, 20, 250)
"""
Quantities every catalogue holds among its mapped SKUs: each tier's edges, and a large one. A quantity
that every mall gets a share of comes first, so the smallest catalogue still has an item to raise on each.
"""

Role = Literal["mapped", "inactive", "absent", "gone"]


@attrs.frozen
class DemoMall:
    """A target mall as the catalogue needs it: code, sheet column, and how its item codes are spelt."""

    code: str
    column: str
    item_key: Callable[[int], str]

    @classmethod
    def of(cls, plugin: MallPlugin) -> DemoMall:
        if plugin.sheet_column is None:
            msg = f"mall plugin {plugin.code!r} has no sheet column"
            raise ValueError(msg)
        return cls(plugin.code, plugin.sheet_column, plugin.sample_item_key or _numbered(plugin.code))


def _numbered(code: str) -> Callable[[int], str]:
    def key(n: int) -> str:
        return f"{code}-{n:05d}"

    return key


@attrs.frozen
class Catalogue:
    """
    The demo data: what FBA lists, what each target mall holds, and the master sheet.

    Attributes:
        source: SKU -> fulfillable quantity, for every SKU FBA lists (0 included).
        malls: target mall code -> item key -> quantity the mall holds now.
        rows: the master sheet's rows, in SKU order.
        columns: the sheet's mall columns, in target order.
        mapped: how many active mapped SKUs FBA lists (the dry run's "Mapped SKUs").
        updates: how many mall items the first dry run updates.
    """

    source: dict[str, int]
    malls: dict[str, dict[str, int]]
    rows: tuple[SheetRow, ...]
    columns: tuple[str, ...]
    mapped: int
    updates: int

    @property
    def found(self) -> int:
        return len(self.source)


def scaled_counts(skus: int, targets: int) -> dict[str, int]:
    """
    The manual's mix scaled to *skus* FBA SKUs, at least one of each kind.

    Returns ``unmapped`` (at least 2: one with inactive rows only, one with no row), ``gone``, ``updates``
    (at least one raise per target mall and one zeroing), ``zeroings`` and ``raises``.
    """
    if skus < MIN_SKUS:
        msg = f"the demo catalogue needs at least {MIN_SKUS} SKUs to hold its mix, got {skus}"
        raise ValueError(msg)
    unmapped = max(2, round(skus * MANUAL_UNMAPPED / MANUAL_SKUS))
    gone = max(1, round(skus * MANUAL_GONE / MANUAL_SKUS))
    updates = max(targets + 1, round(skus * MANUAL_UPDATES / MANUAL_SKUS)) if targets else 0
    zeroings = max(1, round(updates / 3)) if targets else 0
    return {"unmapped": unmapped, "gone": gone, "updates": updates, "zeroings": zeroings, "raises": updates - zeroings}


def _draw(rng: random.Random) -> int:
    """An FBA quantity as a real catalogue spreads them: some sold out, most in the tens, a few large."""
    r = rng.random()
    if r < 0.12:
        return 0
    if r < 0.25:
        return rng.randint(1, 5)
    if r < 0.45:
        return rng.randint(6, 19)
    if r < 0.92:
        return rng.randint(20, 120)
    return rng.randint(121, 800)


def demo_catalogue(
    targets: Sequence[DemoMall],
    *,
    skus: int = MANUAL_SKUS,
    seed: int = 0,
    source_key: Callable[[int], str] | None = None,
    rules: RuleSet | None = None,
) -> Catalogue:
    """
    Build the demo catalogue for the given target malls.

    What it holds (for the default 142; other sizes scale it, see ``scaled_counts``):

    - 142 FBA SKUs with a spread of quantities (0, every tier edge, large ones); 138 of them active-mapped,
      most on every target mall, exactly one on the first target mall only (a Rakuten-only product);
      the other 4 have inactive rows only, or no row at all;
    - 2 more active mapped SKUs that FBA no longer lists, whose mall stock is already 0;
    - every item of an active mapping exists on its mall; each mall holds what the rule gives it, except
      15 items across the malls, on every target mall: raises (the mall holds less than a target above 0,
      one at least on each mall) and zeroings (the mall holds stock, the target is 0).

    Args:
        targets: the target malls, in the order of the sheet's columns.
        source_key: how the source spells its *n*-th SKU (default ``SKU-00001``...).
        rules: the rule table the updates are counted against (default the manual's).

    Raises:
        ValueError: when *skus* is below ``MIN_SKUS``, or the rule leaves too few items to update.
    """
    rules = rules or RuleSet()
    counts = scaled_counts(skus, len(targets))
    rng = random.Random(seed)
    sku_of = source_key or (lambda n: f"SKU-{n:05d}")

    roles = _roles(rng, skus, counts)
    skus_by_n = [sku_of(n + 1) for n in range(len(roles))]
    if len(set(skus_by_n)) != len(skus_by_n):
        msg = "the source's sample SKUs are not unique"
        raise ValueError(msg)
    qty, single = _quantities(rng, roles, counts["zeroings"], single_mall=len(targets) >= 2)

    # Each mall's items (the single-mall product on the first mall only), and what the rule gives them.
    keys: dict[str, dict[int, str]] = {}
    target: dict[tuple[str, int], int] = {}
    for j, mall in enumerate(targets):
        on = [n for n, r in enumerate(roles) if r != "absent" and (j == 0 or n != single)]
        keys[mall.code] = {n: mall.item_key(n + 1) for n in on}
        if len(set(keys[mall.code].values())) != len(on):
            msg = f"mall plugin {mall.code!r}: sample item keys are not unique"
            raise ValueError(msg)
        rule = rules.for_mall(mall.code)
        target.update({(mall.code, n): rule.allocate(qty.get(n, 0)) for n in on if roles[n] in ("mapped", "gone")})

    held = _held(rng, target, roles, [m.code for m in targets], counts)
    malls = {
        # Inactive rows name real items too, holding what they hold; the sync must leave them be.
        mall.code: {item: held.get((mall.code, n), rng.randint(0, 12)) for n, item in keys[mall.code].items()}
        for mall in targets
    }
    rows = tuple(
        SheetRow(
            sku=skus_by_n[n],
            codes={mall.column: keys[mall.code][n] for mall in targets if n in keys[mall.code]},
            active=role != "inactive",
        )
        for n, role in enumerate(roles)
        if role != "absent"
    )
    return Catalogue(
        source={skus_by_n[n]: q for n, q in sorted(qty.items())},
        malls=malls,
        rows=rows,
        columns=tuple(m.column for m in targets),
        mapped=roles.count("mapped"),
        updates=sum(1 for k in target if held[k] != target[k]),
    )


def _roles(rng: random.Random, skus: int, counts: Mapping[str, int]) -> list[Role]:
    """Each SKU's kind, shuffled so the sheet does not read in blocks."""
    unmapped = counts["unmapped"]
    kinds: list[tuple[Role, int]] = [
        ("mapped", skus - unmapped),
        ("inactive", unmapped // 2),
        ("absent", unmapped - unmapped // 2),
        ("gone", counts["gone"]),
    ]
    roles = [role for role, count in kinds for _ in range(count)]
    rng.shuffle(roles)
    return roles


def _quantities(
    rng: random.Random, roles: Sequence[Role], zeroings: int, *, single_mall: bool
) -> tuple[dict[int, int], int | None]:
    """
    FBA's quantity of each listed SKU, and which mapped SKU is the single-mall product.

    Among the mapped SKUs: the single-mall product first, then *zeroings* SKUs at 0 or 1 (the rule gives
    them 0), then the tier edges; the rest are drawn.
    """
    mapped = [n for n, r in enumerate(roles) if r == "mapped"]
    order = rng.sample(mapped, len(mapped))
    single = order[0] if single_mall else None
    zero_skus = order[1 : 1 + zeroings]
    edge_skus = order[1 + zeroings :][: len(EDGE_QUANTITIES)]
    qty = {n: _draw(rng) for n, r in enumerate(roles) if r != "gone"}
    qty.update({n: i % 2 for i, n in enumerate(zero_skus)})
    qty.update(dict(zip(edge_skus, EDGE_QUANTITIES, strict=False)))
    return qty, single


def _held(
    rng: random.Random,
    target: Mapping[tuple[str, int], int],
    roles: Sequence[Role],
    malls: Sequence[str],
    counts: Mapping[str, int],
) -> dict[tuple[str, int], int]:
    """
    What each active mapped item holds now: its target, except the items the first dry run updates.

    Zeroings hold 1-3 where the target is 0; raises hold less than a target above 0, one on each mall first.
    """
    held = dict(target)
    zero_candidates = sorted(k for k, t in target.items() if t == 0 and roles[k[1]] == "mapped")
    raise_candidates = sorted(k for k, t in target.items() if t > 0)
    if len(zero_candidates) < counts["zeroings"]:
        msg = f"the rule leaves only {len(zero_candidates)} mall items at 0, the catalogue needs {counts['zeroings']}"
        raise ValueError(msg)
    for key in rng.sample(zero_candidates, counts["zeroings"]):
        held[key] = rng.randint(1, 3)
    raises: list[tuple[str, int]] = []
    for mall in malls:
        own = [k for k in raise_candidates if k[0] == mall]
        if not own:
            msg = f"the rule gives no {mall} item a quantity above 0; nothing to raise there"
            raise ValueError(msg)
        raises.append(rng.choice(own))
    rest = [k for k in raise_candidates if k not in raises]
    wanted = counts["raises"] - len(raises)
    if len(rest) < wanted:
        msg = (
            f"only {len(rest) + len(raises)} mall items have a target above 0, the catalogue raises {counts['raises']}"
        )
        raise ValueError(msg)
    raises += rng.sample(rest, wanted)
    for key in raises:
        held[key] = rng.randint(0, target[key] - 1)
    return held
