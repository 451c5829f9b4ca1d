"""
The plan: allocation, then the diff against what each mall holds now. Pure: a dry run is this, rendered.
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata

from collections.abc import Mapping as MappingOf
from collections.abc import Sequence

import attrs

from ecsync_core.domain import Mapping, PlannedUpdate, RuleSet, counted
from ecsync_core.domain.text import INVISIBLE_CLASS
from ecsync_core.ports import StockReading


Row = tuple[str, str, str, int, int | None, int]
"""One planned mall item as PlannedUpdate's fields: sku, mall, item, amazon_qty, before, target."""


@attrs.frozen
class Plan:
    """
    What a sync would do.

    Attributes:
        found: SKUs FBA lists, quantity 0 included (the listing, plus mapped SKUs a lookup found).
        mapped: active mapped SKUs among them.
        rows: every active mall item (see ``items``) as a plain tuple, by mall and SKU. A 100,000-SKU plan holds
            200,000 of them, and most never change: made into objects only when asked for (0.35 s of a sync).
        unmapped: FBA SKUs with no active mapping (listed with -v).
        unreadable: (mall, item) -> why it is not sent: the mall could not answer for it (an ambiguous code), or
            its SKU looks mistyped in the master sheet (``mistyped``); planned, and failed without being sent.
        full: every readable item is sent, whatever the mall holds.
    """

    found: int
    mapped: int
    rows: tuple[Row, ...] = attrs.field(repr=counted)
    unmapped: tuple[str, ...] = attrs.field(default=(), repr=counted)
    unreadable: MappingOf[tuple[str, str], str] = attrs.field(factory=dict, repr=counted)
    full: bool = False

    @functools.cached_property
    def items(self) -> tuple[PlannedUpdate, ...]:
        """Every active mall item with what the mall holds now and what the rule gives it."""
        return tuple(PlannedUpdate(*r) for r in self.rows)

    @functools.cached_property
    def updates(self) -> list[PlannedUpdate]:
        """
        The items whose stock changes (every item with ``full``). An unreadable item is always among them,
        even where the mall already holds its target: it is planned, and fails without being sent, so the run
        says so (a mistyped SKU's item at 0 went unnoticed while FBA held stock).
        """
        unread, full = self.unreadable, self.full
        return [PlannedUpdate(*r) for r in self.rows if full or r[4] != r[5] or (unread and (r[1], r[2]) in unread)]

    @property
    def holding(self) -> int:
        """Mapped mall items that hold stock now."""
        return sum(1 for r in self.rows if r[4] is not None and r[4] > 0)

    @property
    def zeroing(self) -> list[PlannedUpdate]:
        """Updates that take an item holding stock down to 0."""
        return [u for u in self.updates if u.target == 0 and u.before is not None and u.before > 0]


def make_plan(
    stock: MappingOf[str, int],
    mappings: Sequence[Mapping],
    readings: MappingOf[str, StockReading],
    rules: RuleSet,
    *,
    full: bool = False,
    mistyped: MappingOf[str, str] | None = None,
) -> Plan:
    """
    Plan every active mapping against the malls' current stock.

    Args:
        stock: SKU -> fulfillable quantity for every SKU FBA knows (listing plus lookups); an SKU not in it
            gets 0, as the manual says.
        readings: mall -> what it holds now. A mall missing here (it could not be read) gets no items: with its
            stock unknown there is no diff to send. Its SKUs still count as mapped.
    """
    rows: list[Row] = []
    unreadable: dict[tuple[str, str], str] = {}
    active_skus = {m.sku for m in mappings if m.active}
    # One allocation per (mall, quantity): 100,000 SKUs hold a few hundred distinct quantities.
    targets: dict[str, dict[int, int]] = {mall: {} for mall in readings}
    for m in mappings:
        reading = readings.get(m.mall)
        if not m.active or reading is None:
            continue
        q = stock.get(m.sku, 0)
        known = targets[m.mall]
        target = known.get(q)
        if target is None:
            target = known[q] = rules.for_mall(m.mall).allocate(q)
        if reading.problems and m.item in reading.problems:
            unreadable[(m.mall, m.item)] = reading.problems[m.item]
        elif mistyped and m.sku in mistyped:
            unreadable[(m.mall, m.item)] = mistyped[m.sku]
        rows.append((m.sku, m.mall, m.item, q, reading.quantities.get(m.item), target))
    rows.sort(key=operator.itemgetter(1, 0))
    return Plan(
        found=len(stock),
        mapped=sum(1 for sku in active_skus if sku in stock),
        rows=tuple(rows),
        unmapped=tuple(sorted(set(stock) - active_skus)),
        unreadable=unreadable,
        full=full,
    )


def unlisted(stock: MappingOf[str, int], mappings: Sequence[Mapping]) -> list[str]:
    """The active mapped SKUs the source did not list, in order: asked for by name before they count as 0."""
    return sorted({m.sku for m in mappings if m.active} - stock.keys())


def missing_from_file(path: object, missing: Sequence[str], unasked: str | None = None) -> str:
    """
    What to say of the mapped SKUs a stock file leaves out: asked of FBA by name, or, where FBA could not be asked
    (*unasked*: why), taken as 0. Either way a report cut short, or not the one meant, is worth a look.
    """
    shown = ", ".join(map(repr, missing[:3])) + (", ..." if len(missing) > 3 else "")
    if unasked is not None:
        return (
            f"{path}: {len(missing)} mapped SKUs are not in the file ({shown}), and FBA could not be asked for them "
            f"by name ({unasked}): they are taken as 0"
        )
    return (
        f"{path}: {len(missing)} mapped SKUs are not in the file ({shown}): asked FBA for them by name, and their "
        "numbers are FBA's now; a report cut short, or an older one?"
    )


def lost_zeros(stock: MappingOf[str, int], mappings: Sequence[Mapping], path: object) -> str | None:
    """
    Why a stock file cannot be taken as it is, if it lacks mapped SKUs while holding them without their leading
    zeros: the file is mangled (its numbers sit under SKUs nobody mapped), and where FBA cannot be asked by name
    the mapped ones would be zeroed on every mall. `sync --file` refuses it; `simulate --file` warns.
    """
    lost = sorted(
        (sku, bare)
        for sku in {m.sku for m in mappings}
        if sku not in stock and (bare := sku.lstrip("0")) != sku and bare in stock
    )
    if not lost:
        return None
    (sku, seen), more = lost[0], len(lost) - 1
    return (
        f"{path}: mapped SKU {sku!r} is not in the file but {seen!r} is"
        + (f" ({more} more like it)" if more else "")
        + ": the file lost leading zeros (Seller Central's .csv does); use the .txt report "
        "(or --force if these really are different SKUs)"
    )


def mistyped(stock: MappingOf[str, int], mappings: Sequence[Mapping]) -> dict[str, str]:
    """
    Mapped SKUs FBA does not know while it knows one that differs only in character width, letter case, invisible
    characters, spaces, look-alike dashes, quotes or leading zeros (``FBA-０００２０`` or ``fbaー00020`` for
    ``FBA-00020``, ``123`` for ``00123``): SKU -> why.

    Taken as q = 0, such a SKU would zero its items on every mall while FBA holds stock under the real one.
    """
    missing = unlisted(stock, mappings)
    if not missing:
        return {}
    seen: dict[str, str] = {}
    for sku in stock:  # only when a mapped SKU is missing: folding 100,000 SKUs takes a tenth of a second
        seen.setdefault(_fold(sku), sku)
    return {
        sku: (
            f"SKU {sku!r} is not at FBA, but {real!r} is: mistyped in the master sheet? fix it and import again "
            "with --replace (a merge keeps the mistyped SKU's mapping); if they really are different SKUs, sync once "
            "with --force (the item goes to 0), then set is_active to 0"
        )
        for sku in missing
        if (real := seen.get(_fold(sku))) is not None
    }


_UNSEEN = re.compile(rf"[\s{INVISIBLE_CLASS}]")
# What NFKC leaves apart but a sheet typed with a Japanese input method, or exported by a back office, mixes up:
# dashes, and quotes around a code kept as text.
_LOOK_ALIKES = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212", "-"),
        **dict.fromkeys("'\"`\u2018\u2019\u201c\u201d"),
    }
)
# ー is "-" typed in kana mode, except after kana, where it is the long vowel of a word (スーパー).
_KANA_MODE_DASH = re.compile("(?<![\u3041-\u30ff])\u30fc")


def _plain(sku: str) -> str:
    """*sku* as typed in plain ASCII mode: NFKC, look-alike dashes as "-", no quotes."""
    return _KANA_MODE_DASH.sub("-", unicodedata.normalize("NFKC", sku)).translate(_LOOK_ALIKES)


def look_alike(sku: str) -> str | None:
    """
    Why a master sheet's SKU may not be the one FBA lists (full-width characters, a look-alike dash or quotes),
    naming its plain spelling, or ``None``. Said at import, before the sync finds the SKU missing from FBA.
    """
    plain = sku.translate(_LOOK_ALIKES) if sku.isascii() else _plain(sku)  # NFKC keeps ASCII: 0.7 s a 100k sheet
    if plain == sku:
        return None
    return (
        f"holds characters FBA SKUs seldom do (full-width or half-width forms, a look-alike dash, quotes): plainly "
        f"typed it is {plain!r}; check it in Seller Central"
    )


def _fold(sku: str) -> str:
    if sku.isascii():  # most SKUs: the same fold without NFKC and the regexes (a sync folds 100,000 of them)
        return "".join(sku.translate(_LOOK_ALIKES).split()).lower().lstrip("0")
    return _UNSEEN.sub("", _plain(sku)).casefold().lstrip("0")
