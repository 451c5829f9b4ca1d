"""
`simulate`: what each mall would get, changing nothing anywhere.
"""

from __future__ import annotations

import re

from collections.abc import Collection, Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ecsync_core.aio import close_all, lookup_once, run_to_end
from ecsync_core.allocation import Overcommit, non_monotone_edges, overcommitted
from ecsync_core.domain import RuleSet
from ecsync_core.errors import EcsyncError
from ecsync_core.logging import get_logger
from ecsync_core.planning import lost_zeros, missing_from_file, mistyped
from ecsync_core.services.runs import not_during_a_run


if TYPE_CHECKING:
    from ecsync_core.bootstrap import App


log = get_logger("ecsync.simulate")


class QuantityRangeError(EcsyncError):
    """Raised when `--qty` is not a quantity or a range like 0-30: a usage error (exit 2), in one line."""

    exit_code = 2


_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
MAX_QTY_ROWS = 100_000


def parse_quantities(text: str) -> list[int]:
    """Read "0-30", "25" or "0-30,50,100" as the quantities to show, in order, without repeats."""
    seen: dict[int, None] = {}
    for part in text.split(","):
        m = _PART.match(part)
        if not m:
            raise QuantityRangeError(f"--qty: {part.strip()!r} is not a quantity or a range like 0-30")
        low, high = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if high < low:
            raise QuantityRangeError(f"--qty: the range {part.strip()!r} runs backwards")
        if high - low + len(seen) >= MAX_QTY_ROWS:
            raise QuantityRangeError(f"--qty: more than {MAX_QTY_ROWS} quantities asked for")
        seen.update(dict.fromkeys(range(low, high + 1)))
    return list(seen)


@attrs.frozen
class SimulationRow:
    """
    One line of a simulation.

    Attributes:
        sku: the SKU, when the row is one item of the current stock or a file; ``None`` for `--qty`.
        malls: what each mall would get; ``None`` for a mall the SKU is not mapped on (nothing is sent there).
        proposed: what each mall would get under the proposed rules (``--rules``), else ``None``.
    """

    amazon_qty: int
    malls: dict[str, int | None]
    sku: str | None = None
    proposed: dict[str, int | None] | None = None

    @property
    def changed(self) -> bool:
        return self.proposed is not None and self.proposed != self.malls

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"amazon_qty": self.amazon_qty, "malls": self.malls}
        if self.sku is not None:
            out = {"sku": self.sku, **out}
        if self.proposed is not None:
            out["proposed"] = self.proposed
            out["changed"] = self.changed
        return out


@attrs.frozen
class Simulation:
    """
    A simulation's table; ``records()`` feeds ``pandas.DataFrame`` directly in a notebook.

    Attributes:
        edges: per mall, quantities where one more unit on Amazon gives the mall less (the manual's 9 -> 3,
            10 -> 2), within the simulated range; *proposed_edges* the same under the proposed rules.
        overcommit: where the malls together get more units than FBA holds (any quantity, not only the
            simulated ones); *proposed_overcommit* the same under the proposed rules.
        warnings: what a sync would warn of about the stock itself (a file missing mapped SKUs, mistyped SKUs).
    """

    malls: tuple[str, ...]
    rows: tuple[SimulationRow, ...]
    edges: dict[str, list[tuple[int, int, int]]]
    rule_fingerprint: str
    proposed_fingerprint: str | None = None
    proposed_edges: dict[str, list[tuple[int, int, int]]] = attrs.field(factory=dict)
    overcommit: Overcommit = Overcommit((), Fraction(0))
    proposed_overcommit: Overcommit | None = None
    warnings: tuple[str, ...] = ()

    def records(self) -> list[dict[str, Any]]:
        flat = []
        for row in self.rows:
            rec: dict[str, Any] = {"sku": row.sku, "amazon_qty": row.amazon_qty}
            rec.update(row.malls)
            if row.proposed is not None:
                rec.update({f"{m}_proposed": v for m, v in row.proposed.items()})
                rec["changed"] = row.changed
            flat.append(rec)
        return flat

    @property
    def changed(self) -> list[SimulationRow]:
        return [r for r in self.rows if r.changed]


def simulate(
    rules: RuleSet,
    malls: Sequence[str],
    stock: Iterable[tuple[str | None, int]],
    proposed: RuleSet | None = None,
    mapped: Mapping[str, Collection[str]] | None = None,
) -> Simulation:
    """
    What each mall gets for each (SKU or ``None``, quantity), today and under *proposed*. Pure.

    Args:
        mapped: SKU -> the malls it is mapped on; given, a SKU's row shows only those malls (the others
            ``None``), as a sync sends.
    """
    rows = []
    top, bottom = 0, None
    for sku, q in stock:
        top, bottom = max(top, q), q if bottom is None else min(bottom, q)
        on = malls if mapped is None or sku is None else mapped.get(sku, ())
        today = {m: rules.for_mall(m).allocate(q) if m in on else None for m in malls}
        new = None if proposed is None else {m: proposed.for_mall(m).allocate(q) if m in on else None for m in malls}
        rows.append(SimulationRow(q, today, sku, new))
    return Simulation(
        tuple(malls),
        tuple(rows),
        _edges(rules, malls, bottom or 0, top),
        rules.fingerprint,
        None if proposed is None else proposed.fingerprint,
        {} if proposed is None else _edges(proposed, malls, bottom or 0, top),
        overcommitted(rules, malls),
        None if proposed is None else overcommitted(proposed, malls),
    )


def _edges(rules: RuleSet, malls: Sequence[str], bottom: int, top: int) -> dict[str, list[tuple[int, int, int]]]:
    """The less-for-more edges q -> q + 1 with both ends in the simulated range."""
    found = {m: [e for e in non_monotone_edges(rules.for_mall(m), top) if e[0] >= bottom] for m in malls}
    return {m: e for m, e in found.items() if e}


def simulate_quantities(
    rules: RuleSet, malls: Sequence[str], quantities: Iterable[int], proposed: RuleSet | None = None
) -> Simulation:
    return simulate(rules, malls, ((None, q) for q in quantities), proposed)


def simulate_for(
    app: App, quantities: Iterable[int] | None = None, file: Path | None = None, rules_file: Path | None = None
) -> Simulation:
    """
    `simulate` as the CLI and the API run it: for *quantities*, else over the current stock (or *file*), with
    the proposed table in *rules_file* beside today's.
    """
    proposed = app.proposed_rules(rules_file) if rules_file is not None else None
    malls = [p.code for p in app.host.targets()] or ["mall"]
    if quantities is not None:
        return simulate_quantities(app.settings.rules, malls, quantities, proposed)
    stock, mapped, warnings = current_stock(app, file)
    return attrs.evolve(simulate(app.settings.rules, malls, stock, proposed, mapped), warnings=warnings)


def current_stock(
    app: App, file: Path | None
) -> tuple[list[tuple[str | None, int]], dict[str, set[str]] | None, tuple[str, ...]]:
    """
    FBA stock to simulate over, as a sync would take it, SKUs in order, the malls each SKU is sent to, and what a
    sync would warn of about that stock.

    With active mappings, the rows are the mapped SKUs: those the listing (or *file*) leaves out are asked for by
    name, and a SKU FBA does not hold gets 0 (the sync sets it to 0), but for one that looks mistyped (FBA holds it
    spelled otherwise), which a sync sends nowhere. With none yet (before the first import), every SKU the source
    lists, on every mall. Reads only: a database that is not there is not made.
    """
    mappings = app.mappings.active()
    mapped: dict[str, set[str]] = {}
    for m in mappings:
        mapped.setdefault(m.sku, set()).add(m.mall)
    warnings: list[str] = []
    source = app.host.source()
    if file is not None:
        if source.read_stock_file is None:
            raise EcsyncError(f"the source plugin {source.code!r} cannot read stock report files")
        stock = source.read_stock_file(file)
        if doubt := lost_zeros(stock, mappings, file):
            warnings.append(f"a sync from this file would be refused: {doubt}")
        if mapped and (missing := sorted(set(mapped) - set(stock))):
            asked, unasked = _asked_by_name(app, missing, file)
            stock.update(asked)
            warnings.append(missing_from_file(file, missing, unasked))
    else:
        not_during_a_run(app)
        adapter = app.source()

        async def listing() -> dict[str, int]:
            try:
                listed = await adapter.snapshot()
                if listed and (missing := sorted(set(mapped) - set(listed))):
                    listed.update(await adapter.lookup(missing))
                return listed
            finally:
                await close_all([adapter])

        stock = run_to_end(listing())
    if not mapped:
        return [(sku, stock[sku]) for sku in sorted(stock)], None, ()
    if suspects := mistyped(stock, mappings):
        for sku in suspects:
            mapped[sku] = set()  # shown as sent nowhere
        first, more = next(iter(suspects.values())), len(suspects) - 1
        warnings.append(f"not sent by a sync: {first}" + (f" ({more} more SKUs like it)" if more else ""))
    return [(sku, stock.get(sku, 0)) for sku in sorted(mapped)], mapped, tuple(warnings)


def _asked_by_name(app: App, missing: list[str], file: Path) -> tuple[dict[str, int], str | None]:
    """
    Mapped SKUs a stock file leaves out, asked of FBA by name as ``sync --file`` asks for them, and why FBA could
    not be asked, if it could not (or a live run is using its limits: a look from a file is not refused for it):
    they then show as 0, as the sync then takes them.
    """
    try:
        not_during_a_run(app)
        return run_to_end(lookup_once(app.source(), missing)), None
    except EcsyncError as exc:
        log.warning("file_missing_skus_unasked", file=str(file), skus=len(missing), error=exc.one_line())
        return {}, exc.one_line()
